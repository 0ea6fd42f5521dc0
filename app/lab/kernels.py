"""The kernel catalog: named 2-D filters, each with what it finds in an image."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True)
class Kernel:
    name: str
    label: str
    matrix: tuple[tuple[float, ...], ...]
    description: str


def _m(rows: Sequence[Sequence[float]], scale: float = 1.0) -> tuple[tuple[float, ...], ...]:
    return tuple(tuple(v / scale for v in row) for row in rows)


_SOBEL_DOWN = [[-1, -2, -1], [0, 0, 0], [1, 2, 1]]
_SOBEL_RIGHT = [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]


def _neg(rows: Sequence[Sequence[float]]) -> list[list[float]]:
    return [[-v for v in row] for row in rows]


KERNELS: tuple[Kernel, ...] = (
    Kernel("identity", "Identity", _m([[0, 0, 0], [0, 1, 0], [0, 0, 0]]),
           "Copies the image unchanged: the centre pixel times one."),
    Kernel("horizontal_edge", "Horizontal edge (lesson)",
           _m([[-1, -1, -1], [0, 0, 0], [1, 1, 1]]),
           "Large where a dark row lies above a light one (negative for light above dark): "
           "horizontal borders, as in the workshop lesson."),
    Kernel("vertical_edge", "Vertical edge", _m([[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]]),
           "Large where a dark column lies left of a light one: vertical borders."),
    Kernel("sobel_top", "Sobel (top)", _m(_neg(_SOBEL_DOWN)),
           "Edges brighter above than below, weighting the centre row twice."),
    Kernel("sobel_bottom", "Sobel (bottom)", _m(_SOBEL_DOWN),
           "Edges brighter below than above, weighting the centre row twice."),
    Kernel("sobel_left", "Sobel (left)", _m(_neg(_SOBEL_RIGHT)),
           "Edges brighter on the left than the right, weighting the centre column twice."),
    Kernel("sobel_right", "Sobel (right)", _m(_SOBEL_RIGHT),
           "Edges brighter on the right than the left, weighting the centre column twice."),
    Kernel("laplacian", "Laplacian", _m([[0, 1, 0], [1, -4, 1], [0, 1, 0]]),
           "Second derivative: zero on flat areas and ramps, large at corners and thin lines."),
    Kernel("outline", "Outline", _m([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]),
           "A pixel against all eight neighbours: outlines every edge, whatever its direction."),
    Kernel("sharpen", "Sharpen", _m([[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
           "The image plus its Laplacian: exaggerates the difference between neighbours."),
    Kernel("box_blur", "Box blur", _m([[1, 1, 1], [1, 1, 1], [1, 1, 1]], 9),
           "The mean of the 3×3 neighbourhood: smooths noise and detail alike."),
    Kernel("gaussian_blur_3x3", "Gaussian blur 3×3", _m([[1, 2, 1], [2, 4, 2], [1, 2, 1]], 16),
           "A weighted mean favouring the centre: a softer blur than the box."),
    Kernel("gaussian_blur_5x5", "Gaussian blur 5×5",
           _m([[1, 4, 6, 4, 1], [4, 16, 24, 16, 4], [6, 24, 36, 24, 6],
               [4, 16, 24, 16, 4], [1, 4, 6, 4, 1]], 256),
           "A wider Gaussian: removes fine texture, keeps large shapes."),
    Kernel("emboss", "Emboss", _m([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]),
           "Light from the top left: edges facing it rise, the others sink, like a relief."),
    Kernel("x_filter", "X filter (lesson)", _m([[1, 0, 1], [0, 1, 0], [1, 0, 1]]),
           "The course task's X-shaped filter: counts ink on both diagonals around a pixel."),
)

_BY_NAME = {k.name: k for k in KERNELS}
# The catalog's names as an enum, so request schemas list exactly the kernels there are.
KernelName = StrEnum("KernelName", {k.name: k.name for k in KERNELS})  # type: ignore[misc]


def get_kernel(name: str) -> Kernel | None:
    return _BY_NAME.get(name)


def kernel_names() -> list[str]:
    return list(_BY_NAME)
