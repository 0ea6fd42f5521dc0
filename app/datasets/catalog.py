"""Every dataset a job can train on and a model can be explained with, by id.

The built-in ones (MNIST, Fashion-MNIST, CIFAR-10) come from `CNNPG_DATASETS_DIR` or
`keras.datasets`. Loaded arrays are kept (the few most recent), so picking test images
one at a time does not reread a file each time.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from app.datasets.builtin import BUILTIN, DATASETS, Dataset, DatasetInfo, load_dataset
from app.errors import InvalidInput

KEPT = 2  # loaded datasets kept in memory


class DatasetCatalog:
    def __init__(self, datasets_dir: Path | None) -> None:
        self.datasets_dir = datasets_dir
        self._loaded: OrderedDict[str, Dataset] = OrderedDict()
        self._lock = threading.Lock()

    def list_datasets(self) -> list[DatasetInfo]:
        return list(BUILTIN)

    def get(self, dataset_id: str, field: str = "dataset") -> DatasetInfo:
        info = DATASETS.get(dataset_id)
        if info is None:
            raise InvalidInput(field, f"unknown dataset {dataset_id!r}; choose one of "
                               f"{', '.join(d.id for d in self.list_datasets())}")
        return info

    def available(self, dataset_id: str) -> bool:
        """Whether its files are here (the datasets directory, or Keras' download cache),
        so that it can be used without a download."""
        self.get(dataset_id)
        if self.datasets_dir is not None and (Path(self.datasets_dir) / f"{dataset_id}.npz").is_file():
            return True
        cache = Path.home() / ".keras" / "datasets"
        return any(cache.glob(f"{dataset_id}*")) if cache.is_dir() else False

    def load(self, dataset_id: str) -> Dataset:
        """The whole dataset as arrays in [0, 1] (raises DatasetUnavailable when it cannot be read
        or downloaded). Callers must not change the arrays: they are shared."""
        self.get(dataset_id)
        with self._lock:
            data = self._loaded.get(dataset_id)
            if data is not None:
                self._loaded.move_to_end(dataset_id)
                return data
        data = load_dataset(dataset_id, self.datasets_dir)
        with self._lock:
            self._loaded[dataset_id] = data
            while len(self._loaded) > KEPT:
                self._loaded.popitem(last=False)
        return data

    def test_image(self, dataset_id: str, index: int, field: str = "test_index"
                   ) -> tuple[np.ndarray, int]:
        """Test image `index` (H, W, C in [0, 1]) and its label."""
        data = self.load(dataset_id)
        if not 0 <= index < len(data.x_test):
            raise InvalidInput(field, f"{dataset_id} has {len(data.x_test)} test images here: "
                               f"0 to {len(data.x_test) - 1}")
        return data.x_test[index], int(data.y_test[index])
