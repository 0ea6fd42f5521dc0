"""The test images insight searches and places: the test split of the model's dataset, at
the model's input size, in 0–1 (moved to the model's input range batch by batch, where it
runs). A model uploaded without its dataset has none: a 409 that says how to attach one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.datasets.catalog import DatasetCatalog
from app.errors import Conflict, InvalidInput, Unavailable
from app.networks import inference
from app.networks.insight.cache import InsightCache
from app.networks.registry import ModelInfo

ATTACH = ("attach one by uploading the model again with its dataset (POST /api/models with "
          "`dataset`, or “Trained on” on the Models page)")


class NoDataset(Conflict):
    """The model has no test images here to search or place."""


@dataclass(frozen=True)
class TestSplit:
    dataset: str
    x: np.ndarray  # (N, H, W, C) in 0–1, the model's input size
    y: np.ndarray  # (N,) true classes

    def __len__(self) -> int:
        return len(self.y)


def test_split(info: ModelInfo, datasets: DatasetCatalog, cache: InsightCache,
               what: str = "examples") -> TestSplit:
    """The model's test images (a 409 for a model with no dataset, a 503 where the files of
    a built-in dataset are not on this server)."""
    if not info.dataset:
        raise NoDataset(f"model {info.id} was uploaded without naming its dataset, so it has no "
                        f"test images for {what}: {ATTACH}")
    try:
        datasets.get(info.dataset)
    except InvalidInput:
        raise NoDataset(f"model {info.id}'s dataset {info.dataset!r} is not on this server any "
                        f"more, so it has no test images for {what}: {ATTACH}") from None
    if not datasets.available(info.dataset):
        raise Unavailable(f"the {info.dataset} dataset's files are not on this server (put "
                          f"{info.dataset}.npz in CNNPG_DATASETS_DIR), so {info.id} has no test "
                          f"images for {what}")
    data = datasets.load(info.dataset)
    if tuple(data.x_test.shape[1:]) == tuple(info.input_shape):
        return TestSplit(info.dataset, data.x_test, data.y_test)
    # A model of another size than its dataset: each image prepared as pixels are (once).
    x = cache.compute(("split", info.dataset), lambda _: np.stack([
        inference.prepare_pixels(img * 255.0, info) for img in data.x_test]).astype(np.float32))
    return TestSplit(info.dataset, x, data.y_test)
