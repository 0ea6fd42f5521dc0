"""The input object every endpoint that runs a model on an image shares: pixels, an image
(decoded elsewhere), or image N of the test split of the model's dataset."""

from __future__ import annotations

import numpy as np

from app.datasets.catalog import DatasetCatalog
from app.errors import InvalidInput
from app.networks import inference
from app.networks.registry import ModelInfo


def test_image(datasets: DatasetCatalog, info: ModelInfo, index: int,
               field: str = "test_index") -> tuple[np.ndarray, int]:
    """Test image `index` of the model's dataset as the model's input, and its label."""
    if not info.dataset:
        raise InvalidInput(field, f"model {info.id} was uploaded without naming its dataset, so "
                           "it has no test images: send pixels or an image instead")
    try:
        datasets.get(info.dataset)
    except InvalidInput:
        raise InvalidInput(field, f"model {info.id}'s dataset {info.dataset!r} is not on this "
                           "server any more: send pixels or an image instead") from None
    if not datasets.available(info.dataset):
        raise InvalidInput(field, f"the {info.dataset} dataset's files are not available on this "
                           f"server (put {info.dataset}.npz in CNNPG_DATASETS_DIR): send pixels "
                           "or an image instead")
    x, label = datasets.test_image(info.dataset, index, field)
    if tuple(x.shape) != info.input_shape:  # a model of another size: prepared like pixels
        x = inference.prepare_pixels(x * 255.0, info, field)
    return np.asarray(x, dtype=np.float32), label


def test_indices(datasets: DatasetCatalog, info: ModelInfo, label: int) -> list[int]:
    """The test images of one class, in order (for picking a test image by class)."""
    test_image(datasets, info, 0)  # the same refusals, when there are none to pick
    data = datasets.load(info.dataset)
    return np.flatnonzero(data.y_test == label).tolist()
