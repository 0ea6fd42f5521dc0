"""Every dataset a job can train on and a model can be explained with, by id.

The built-in ones (MNIST, Fashion-MNIST, CIFAR-10) come from `CNNPG_DATASETS_DIR` or
`keras.datasets`; uploaded ones (a zip of class folders, or webcam frames) from the
database (app/datasets/store.py), once they are ready. Loaded arrays are kept (the few
most recent), so picking test images one at a time does not reread them each time.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from app.datasets.builtin import BUILTIN, DATASETS, Dataset, DatasetInfo, load_dataset, load_raw
from app.datasets.gallery import ClassSamples, class_samples
from app.datasets.store import DatasetStore
from app.errors import InvalidInput
from app.storage.tables import DatasetRow

KEPT = 2  # loaded datasets kept in memory
SAMPLES_KEPT = 16  # datasets whose sample grids are kept


def info_of(row: DatasetRow) -> DatasetInfo:
    """An uploaded dataset as every part of the application sees a dataset."""
    shape = (row.image_size, row.image_size, 1 if row.color == "grayscale" else 3)
    train, test = sum(row.train_counts), sum(row.test_counts)
    source = "webcam frames" if row.source == "webcam" else "an uploaded zip"
    return DatasetInfo(
        row.id, row.name, shape, tuple(row.class_names), train, test,
        f"{train + test} {row.color} images ({shape[0]}×{shape[1]}) in "
        f"{len(row.class_names)} classes, from {source}.",
        builtin=False, fit=row.fit,
    )


class DatasetCatalog:
    def __init__(self, datasets_dir: Path | None, store: DatasetStore | None = None) -> None:
        self.datasets_dir = datasets_dir
        self.store = store
        self._loaded: OrderedDict[str, Dataset] = OrderedDict()
        self._samples: OrderedDict[str, list[ClassSamples]] = OrderedDict()
        self._lock = threading.Lock()

    def list_datasets(self) -> list[DatasetInfo]:
        """The built-in datasets, then the uploaded ones that are ready, newest first."""
        uploaded = [info_of(r) for r in self.store.rows()] if self.store is not None else []
        return [*BUILTIN, *uploaded]

    def get(self, dataset_id: str, field: str = "dataset") -> DatasetInfo:
        info = DATASETS.get(dataset_id)
        if info is not None:
            return info
        row = self.store.row(dataset_id) if self.store is not None else None
        if row is None or row.status == "failed":
            raise InvalidInput(field, f"unknown dataset {dataset_id!r}; choose one of "
                               f"{', '.join(d.id for d in self.list_datasets())}")
        if row.status != "ready":
            raise InvalidInput(field, f"dataset {dataset_id!r} is still being processed; "
                               "wait until it is ready")
        return info_of(row)

    def available(self, dataset_id: str) -> bool:
        """Whether its files are here (the datasets directory, or Keras' download cache, or
        the database), so that it can be used without a download."""
        if not self.get(dataset_id).builtin:
            return True
        if self.datasets_dir is not None and (Path(self.datasets_dir) / f"{dataset_id}.npz").is_file():
            return True
        cache = Path.home() / ".keras" / "datasets"
        return any(cache.glob(f"{dataset_id}*")) if cache.is_dir() else False

    def load(self, dataset_id: str) -> Dataset:
        """The whole dataset as arrays in [0, 1] (raises DatasetUnavailable when it cannot be read
        or downloaded). Callers must not change the arrays: they are shared."""
        info = self.get(dataset_id)
        with self._lock:
            data = self._loaded.get(dataset_id)
            if data is not None:
                self._loaded.move_to_end(dataset_id)
                return data
        data = load_dataset(dataset_id, self.datasets_dir) if info.builtin else self._uploaded(info)
        with self._lock:
            self._loaded[dataset_id] = data
            while len(self._loaded) > KEPT:
                self._loaded.popitem(last=False)
        return data

    def _uploaded(self, info: DatasetInfo) -> Dataset:
        assert self.store is not None
        arrays = self.store.arrays(info.id)

        def prep(x: np.ndarray) -> np.ndarray:
            return x.astype(np.float32) / 255.0

        return Dataset(info, prep(arrays["x_train"]), arrays["y_train"].astype(np.int64),
                       prep(arrays["x_test"]), arrays["y_test"].astype(np.int64))

    def forget(self, dataset_id: str) -> None:
        """Drop a deleted dataset's arrays from memory."""
        with self._lock:
            self._loaded.pop(dataset_id, None)
            self._samples.pop(dataset_id, None)

    def samples(self, dataset_id: str) -> list[ClassSamples] | None:
        """Each class with its train and test counts and its first few images (for the
        dataset's page); None for a built-in dataset whose files are not here (a page view
        does not start a download)."""
        with self._lock:
            cached = self._samples.get(dataset_id)
        if cached is not None:
            return cached
        info = self.get(dataset_id)
        if info.builtin:
            if not self.available(dataset_id):
                return None
            (_, y_train), (x_test, y_test) = load_raw(dataset_id, self.datasets_dir)
            n = info.num_classes
            result = class_samples(info.class_names, x_test, y_test,
                                   np.bincount(y_train, minlength=n).tolist(),
                                   np.bincount(y_test, minlength=n).tolist())
        else:
            assert self.store is not None
            row = self.store.get(dataset_id, "dataset")
            arrays = self.store.arrays(dataset_id)
            result = class_samples(info.class_names, arrays["x_train"], arrays["y_train"],
                                   row.train_counts, row.test_counts)
        with self._lock:
            self._samples[dataset_id] = result
            while len(self._samples) > SAMPLES_KEPT:
                self._samples.popitem(last=False)
        return result

    def test_image(self, dataset_id: str, index: int, field: str = "test_index"
                   ) -> tuple[np.ndarray, int]:
        """Test image `index` (H, W, C in [0, 1]) and its label."""
        data = self.load(dataset_id)
        if not 0 <= index < len(data.x_test):
            raise InvalidInput(field, f"{dataset_id} has {len(data.x_test)} test images here: "
                               f"0 to {len(data.x_test) - 1}")
        return data.x_test[index], int(data.y_test[index])
