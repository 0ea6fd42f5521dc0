"""The datasets learners train on, through `keras.datasets`, a local directory read first.

Classrooms without internet (and these build machines) put the files Keras would
download, in the same layout (`mnist.npz` with x_train, y_train, x_test, y_test), in
`CNNPG_DATASETS_DIR`; anything missing there is left to `keras.datasets` to download.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.errors import InvalidInput

CLASS_NAMES: dict[str, list[str]] = {
    "mnist": [str(d) for d in range(10)],
    "fashion_mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                      "Sneaker", "Bag", "Ankle boot"],
    "cifar10": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                "truck"],
}
INPUT_SHAPES: dict[str, tuple[int, int, int]] = {
    "mnist": (28, 28, 1), "fashion_mnist": (28, 28, 1), "cifar10": (32, 32, 3),
}


class DatasetUnavailable(RuntimeError):
    """Neither the datasets directory nor keras.datasets' download has the files."""


@dataclass
class Dataset:
    name: str
    x_train: np.ndarray  # float32 in [0, 1], (N, H, W, C)
    y_train: np.ndarray  # int64 labels, (N,)
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def class_names(self) -> list[str]:
        return CLASS_NAMES[self.name]


def _raw(name: str, datasets_dir: Path | None):
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


def load_dataset(name: str, datasets_dir: Path | None = None) -> Dataset:
    if name not in CLASS_NAMES:
        raise InvalidInput("dataset", f"unknown dataset {name!r}; choose one of "
                           f"{', '.join(CLASS_NAMES)}")
    (x_train, y_train), (x_test, y_test) = _raw(name, datasets_dir)

    def prep(x: np.ndarray) -> np.ndarray:
        x = x.astype(np.float32) / 255.0
        return x[..., None] if x.ndim == 3 else x

    return Dataset(name, prep(x_train), y_train.reshape(-1).astype(np.int64), prep(x_test),
                   y_test.reshape(-1).astype(np.int64))
