"""The model's input, one way for every page and endpoint that runs a model on an image
(`/predict`, the feature maps, the explanation API, Draw and Explain):

- `Pixels`: H×W or H×W×C numbers 0–255, as a client sends them;
- `DataUrl`: an image as a data URL (Draw's canvas, an upload in the browser);
- `ImageFile`: an uploaded file's bytes (PNG, JPEG, WebP, GIF);
- `TestImage`: image N of the test split of the model's dataset;
- `Seen`: the input exactly as the network saw it, 0–255 bytes in base64url (what a link
  to a view keeps, so that it shows the very same numbers).

`ModelInputs.prepare` turns any of them into the model's input exactly as `/predict`
prepares it (a 28×28×1 MNIST model reads drawings the MNIST way, app/networks/digits.py),
with the decoding limits of the settings. `drawable` says whether the drawing canvas fits
a model.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Literal

import numpy as np

from app.config import Settings
from app.datasets.catalog import DatasetCatalog
from app.errors import InvalidInput
from app.imaging.decoding import ImageLimits, decode_data_url, open_image
from app.networks import inference
from app.networks.ranges import to_model
from app.networks.registry import ModelInfo

DRAWING_SHAPE = (28, 28, 1)


def drawable(info: ModelInfo) -> bool:
    """Whether a model reads drawings: the canvas is 28×28 grayscale, as MNIST is."""
    return tuple(info.input_shape) == DRAWING_SHAPE
@dataclass(frozen=True)
class Pixels:
    values: object  # nested lists or an array


@dataclass(frozen=True)
class DataUrl:
    text: str


@dataclass(frozen=True)
class ImageFile:
    data: bytes


@dataclass(frozen=True)
class TestImage:
    index: int


@dataclass(frozen=True)
class Seen:
    px: str


ModelInput = Pixels | DataUrl | ImageFile | TestImage | Seen
# The request field each kind of input comes in, named by a refusal.
FIELDS: dict[type, str] = {Pixels: "pixels", DataUrl: "image", ImageFile: "file",
                           TestImage: "test_index", Seen: "px"}


@dataclass
class Prepared:
    """The model's input (H, W, C in [0, 1]); for a test image, its index and label."""

    x: np.ndarray
    index: int | None = None
    label: int | None = None


def encode_px(x: np.ndarray) -> str:
    """The input the network saw (in 0–1: `to_unit`), as 0–255 bytes in base64url: small
    enough for a URL."""
    data = np.clip(np.rint(x * 255), 0, 255).astype(np.uint8).tobytes()
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def decode_px(text: str, shape: tuple[int, int, int], field_name: str = "px") -> np.ndarray:
    """`encode_px` reversed: the picture again (H, W, C in [0, 1])."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InvalidInput(field_name, "is not base64url") from None
    h, w, c = shape
    if len(raw) != h * w * c:
        raise InvalidInput(field_name, f"holds {len(raw)} pixels; this model takes {h}×{w}×{c}")
    return np.frombuffer(raw, np.uint8).astype(np.float32).reshape(h, w, c) / np.float32(255)


class ModelInputs:
    """Prepares any `ModelInput` for a model, with one application's limits and datasets."""

    def __init__(self, settings: Settings, datasets: DatasetCatalog) -> None:
        self.limits = ImageLimits(settings.max_upload_bytes, settings.max_image_pixels)
        self.datasets = datasets

    def prepare(self, source: ModelInput, info: ModelInfo, field: str | None = None) -> Prepared:
        """The model's input, in its input range; a refusal names `field` (by default the
        source's own field)."""
        given = self._unit(source, info, field or FIELDS[type(source)])
        given.x = to_model(given.x, info)
        return given

    def _unit(self, source: ModelInput, info: ModelInfo, field: str) -> Prepared:
        match source:
            case Pixels(values):
                return Prepared(inference.prepare_pixels(values, info, field))
            case DataUrl(text):
                return Prepared(inference.prepare(decode_data_url(text, self.limits, field),
                                                  info, field))
            case ImageFile(data):
                return Prepared(inference.prepare(open_image(data, self.limits, field), info,
                                                  field))
            case TestImage(index):
                x, label = self.test_image(info, index, field)
                return Prepared(x, index, label)
            case Seen(px):
                return Prepared(decode_px(px, info.input_shape, field))
        raise AssertionError(source)

    # --------------------------------------------------------------- test images

    def test_image(self, info: ModelInfo, index: int,
                   field: str = "test_index") -> tuple[np.ndarray, int]:
        """Test image `index` of the model's dataset as the model's input, and its label."""
        self._check_dataset(info, field)
        x, label = self.datasets.test_image(info.dataset, index, field)
        if tuple(x.shape) != info.input_shape:  # a model of another size: prepared like pixels
            x = inference.prepare_pixels(x * 255.0, info, field)
        return np.asarray(x, dtype=np.float32), label

    def _check_dataset(self, info: ModelInfo, field: str) -> None:
        datasets = self.datasets
        if not info.dataset:
            raise InvalidInput(field, f"model {info.id} was uploaded without naming its dataset, "
                               "so it has no test images: send pixels or an image instead")
        try:
            datasets.get(info.dataset)
        except InvalidInput:
            raise InvalidInput(field, f"model {info.id}'s dataset {info.dataset!r} is not on "
                               "this server any more: send pixels or an image instead") from None
        if not datasets.available(info.dataset):
            raise InvalidInput(field, f"the {info.dataset} dataset's files are not available on "
                               f"this server (put {info.dataset}.npz in CNNPG_DATASETS_DIR): "
                               "send pixels or an image instead")

    def test_count(self, info: ModelInfo, field: str = "test_index") -> int:
        """How many test images the model's dataset has here (a 422 that says why when none)."""
        self._check_dataset(info, field)
        return len(self.datasets.load(info.dataset).x_test)

    def pick(self, info: ModelInfo, cls: int, after: int | None,
             direction: Literal["first", "next", "previous"], field: str = "class") -> int:
        """A test image of class `cls`: its first, or the next or previous one after `after`
        (wrapping around)."""
        if not 0 <= cls < len(info.class_names):
            raise InvalidInput(field, f"{cls} is out of range: {info.id} has "
                               f"{len(info.class_names)} classes")
        self._check_dataset(info, field)
        found = np.flatnonzero(self.datasets.load(info.dataset).y_test == cls).tolist()
        if not found:
            raise InvalidInput(field, f"no test image of class {info.class_names[cls]!r} here")
        if direction == "first" or after is None:
            return int(found[0])
        if direction == "next":
            return int(next((i for i in found if i > after), found[0]))
        return int(next((i for i in reversed(found) if i < after), found[-1]))
