"""The built-in datasets, through `keras.datasets`, a local directory read first.

Each dataset is one `DatasetInfo`: its id, its images' shape, its class names and split
sizes. Classrooms without internet (and these build machines) put the files Keras would
download, in the same layout (`mnist.npz` with x_train, y_train, x_test, y_test), in
`CNNPG_DATASETS_DIR`; anything missing there is left to `keras.datasets` to download.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.errors import InvalidInput, Unavailable


@dataclass(frozen=True)
class DatasetInfo:
    id: str
    label: str
    input_shape: tuple[int, int, int]
    class_names: tuple[str, ...]
    train_size: int
    test_size: int
    description: str
    builtin: bool = True
    # How photos of another shape are fitted to input_shape ("crop" or "pad"), for datasets
    # made from photos; None for the built-in ones, whose images are already their size.
    fit: str | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


BUILTIN: tuple[DatasetInfo, ...] = (
    DatasetInfo("mnist", "MNIST handwritten digits", (28, 28, 1),
                tuple(str(d) for d in range(10)), 60_000, 10_000,
                "28×28 grayscale digits 0–9, white ink on black."),
    DatasetInfo("fashion_mnist", "Fashion-MNIST", (28, 28, 1),
                ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                 "Sneaker", "Bag", "Ankle boot"), 60_000, 10_000,
                "28×28 grayscale photos of clothing in 10 classes."),
    DatasetInfo("cifar10", "CIFAR-10", (32, 32, 3),
                ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                 "ship", "truck"), 50_000, 10_000,
                "32×32 colour photos in 10 classes."),
)
DATASETS: dict[str, DatasetInfo] = {d.id: d for d in BUILTIN}


class DatasetUnavailable(Unavailable):
    """Neither the datasets directory nor keras.datasets' download has the files."""


def get_dataset(dataset_id: str, field: str = "dataset") -> DatasetInfo:
    info = DATASETS.get(dataset_id)
    if info is None:
        raise InvalidInput(field, f"unknown dataset {dataset_id!r}; choose one of "
                           f"{', '.join(DATASETS)}")
    return info


@dataclass
class Dataset:
    info: DatasetInfo
    x_train: np.ndarray  # float32 in [0, 1], (N, H, W, C)
    y_train: np.ndarray  # int64 labels, (N,)
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def class_names(self) -> list[str]:
        return list(self.info.class_names)


def _raw(name: str, datasets_dir: Path | None) -> Any:
    if datasets_dir is not None:
        path = Path(datasets_dir) / f"{name}.npz"
        if path.is_file():
            with np.load(path) as f:
                return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])
    import keras

    try:
        return getattr(keras.datasets, name).load_data()
    except Exception as exc:  # keras raises a bare Exception when the download fails
        where = f"{datasets_dir}/{name}.npz" if datasets_dir else "CNNPG_DATASETS_DIR (unset)"
        raise DatasetUnavailable(
            f"{name} is not in {where}, and keras.datasets could not download it ({exc}); "
            f"without internet, set CNNPG_DATASETS_DIR to a folder holding {name}.npz"
        ) from None


def load_raw(name: str, datasets_dir: Path | None = None
             ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The files' own arrays: uint8 images (N, H, W, C) and int labels (N,), train and test."""
    get_dataset(name)
    (x_train, y_train), (x_test, y_test) = _raw(name, datasets_dir)

    def images(x: np.ndarray) -> np.ndarray:
        return x[..., None] if x.ndim == 3 else x

    return ((images(x_train), y_train.reshape(-1)), (images(x_test), y_test.reshape(-1)))


def load_dataset(name: str, datasets_dir: Path | None = None) -> Dataset:
    info = get_dataset(name)
    (x_train, y_train), (x_test, y_test) = _raw(name, datasets_dir)

    def prep(x: np.ndarray) -> np.ndarray:
        x = x.astype(np.float32) / 255.0
        return x[..., None] if x.ndim == 3 else x

    return Dataset(info, prep(x_train), y_train.reshape(-1).astype(np.int64), prep(x_test),
                   y_test.reshape(-1).astype(np.int64))
