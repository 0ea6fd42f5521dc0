"""The seeded, stratified train/test split: every class split by the same fraction, so
that each has at least one training and one test image."""

from __future__ import annotations

import math

import numpy as np


def held_out(n: int, test_fraction: float) -> int:
    """Images of a class of n that go to the test split (rounded half up)."""
    return math.floor(n * test_fraction + 0.5)


def min_per_class(test_fraction: float) -> int:
    """The fewest images a class needs for at least one training and one test image."""
    n = 2
    while held_out(n, test_fraction) < 1 or n - held_out(n, test_fraction) < 1:
        n += 1
    return n


def split(images: np.ndarray, labels: np.ndarray, n_classes: int, test_fraction: float,
          seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Train and test, stratified (each class split by the same fraction) and seeded, each
    shuffled: Keras' validation_split takes the last images, which must not be one class."""
    rng = np.random.default_rng(seed)
    train: list[np.ndarray] = []
    test: list[np.ndarray] = []
    for c in range(n_classes):
        idx = rng.permutation(np.flatnonzero(labels == c))
        k = held_out(len(idx), test_fraction)
        test.append(idx[:k])
        train.append(idx[k:])
    tr = rng.permutation(np.concatenate(train))
    te = rng.permutation(np.concatenate(test))
    return images[tr], labels[tr], images[te], labels[te]
