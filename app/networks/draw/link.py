"""Draw's state as a link (app/links.py): the model and the input, read back to the nearest
valid state.

The link holds the model and the input: the strokes themselves (`d`, a few hundred
characters: points on a 140×140 grid, 2 canvas pixels apart, which is where the page puts
them as they are drawn, so a link redraws exactly the same canvas), or a test image of the
model's dataset (`test`), or an uploaded image as the network saw it (`px`). A link that
cannot be used as it is opens with the nearest one that can, and says what changed.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Self

from pydantic import Field, PrivateAttr

from app.errors import InvalidInput
from app.links import LinkState
from app.networks.inputs import ModelInputs, decode_px
from app.networks.registry import DEFAULT_MODEL, MODEL_ID_PATTERN, ModelInfo, Registry

GRID = 140  # the canvas (280×280) in steps of 2 pixels: a stroke's points are on this grid
END = 255  # ends a stroke in the encoded drawing
MAX_DRAWING_BYTES = 3000  # about 1,500 points: more than any digit needs, short enough for a QR code
Strokes = list[list[list[int]]]  # [[[x, y], …], …] on GRID


@dataclass
class DrawContext:
    registry: Registry
    inputs: ModelInputs


class DrawLink(LinkState):
    """The page's state as its link has it: the model and one input."""

    model: str = Field(DEFAULT_MODEL, pattern=MODEL_ID_PATTERN, max_length=64)
    d: str | None = Field(None, max_length=4 * MAX_DRAWING_BYTES)
    test: int | None = Field(None, ge=0, le=1_000_000_000)
    px: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]*$", max_length=2_000_000)

    _strokes: Strokes = PrivateAttr(default_factory=list)
    _info: ModelInfo | None = PrivateAttr(None)

    @property
    def strokes(self) -> Strokes:
        return self._strokes

    @property
    def info(self) -> ModelInfo:
        assert self._info is not None, "read the link first"
        return self._info

    def fix(self, context: DrawContext, changes: list[str]) -> Self:
        info, change = context.registry.get_or_shipped(self.model)
        if change:
            changes.append(change)
        given = [k for k in ("d", "test", "px") if getattr(self, k)]
        if len(given) > 1:
            changes.append(f"a link holds one input, this one had {' and '.join(given)}: kept "
                           f"{given[0]}")
        kind = given[0] if given else None
        state = type(self)(model=info.id)
        state._info = info
        if kind == "d" and self.d is not None:
            state._strokes = decode_strokes(self.d, changes)
            state.d = encode_strokes(state._strokes) if state._strokes else None
        elif kind == "test" and self.test is not None:
            state.test = _test_index(self.test, info, context.inputs, changes)
        elif kind == "px" and self.px is not None:
            try:
                decode_px(self.px, info.input_shape)
                state.px = self.px
            except InvalidInput as exc:
                changes.append(f"the image in the link (px) {exc.message}: the canvas is left "
                               "empty")
        return state


def encode_strokes(strokes: list[list[list[int]]]) -> str:
    """Strokes on the GRID as base64url: x, y bytes per point, END after each stroke but
    the last (the page writes the same: static/js/draw.js)."""
    out = bytearray()
    for i, stroke in enumerate(strokes):
        if i:
            out.append(END)
        for x, y in stroke:
            out += bytes((x, y))
    return base64.urlsafe_b64encode(bytes(out)).decode("ascii").rstrip("=")


def decode_strokes(text: str, changes: list[str]) -> list[list[list[int]]]:
    """`encode_strokes` reversed, repaired where it can be: points off the grid move to its
    edge, a point missing its y is dropped, an empty stroke is dropped, and a drawing too
    long is cut; something that is not base64url is no drawing at all."""
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        changes.append("the drawing (d) is not base64url: the canvas is left empty")
        return []
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        changes.append("the drawing (d) is not base64url: the canvas is left empty")
        return []
    if len(raw) > MAX_DRAWING_BYTES:
        changes.append(f"the drawing is longer than {MAX_DRAWING_BYTES:,} bytes: cut there")
        raw = raw[:MAX_DRAWING_BYTES]
    strokes: list[list[list[int]]] = []
    moved = odd = empty = 0
    for part in raw.split(bytes((END,))):
        if len(part) % 2:
            odd += 1
            part = part[:-1]
        if not part:
            empty += 1
            continue
        stroke = []
        for i in range(0, len(part), 2):
            x, y = part[i], part[i + 1]
            if x >= GRID or y >= GRID:
                moved += 1
                x, y = min(x, GRID - 1), min(y, GRID - 1)
            stroke.append([x, y])
        strokes.append(stroke)
    if moved:
        changes.append(f"{moved} point{'s' * (moved != 1)} of the drawing lay outside the "
                       "canvas: moved to its edge")
    if odd:
        changes.append(f"{odd} stroke{'s' * (odd != 1)} of the drawing ended in half a point: "
                       "dropped it")
    if empty and raw:
        changes.append(f"{empty} empty stroke{'s' * (empty != 1)} in the drawing: dropped")
    return strokes


def _test_index(index: int, info: ModelInfo, inputs: ModelInputs,
                changes: list[str]) -> int | None:
    try:
        count = inputs.test_count(info)
    except InvalidInput as exc:
        changes.append(f"no test image: {exc.message}")
        return None
    if index >= count:
        changes.append(f"test image {index} is not there ({info.dataset} has {count:,} here): "
                       f"using the last one, {count - 1}")
        index = count - 1
    return index
