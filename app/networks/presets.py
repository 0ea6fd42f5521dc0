"""The lesson models, as architecture specs with the training settings each lesson used."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any


@dataclass(frozen=True)
class Preset:
    name: str
    label: str
    lesson: str
    dataset: str
    architecture: dict[str, Any]
    training: dict[str, Any]
    reported_test_accuracy: float | None
    note: str = ""


def _conv(filters: int, k: int, **kw: Any) -> dict[str, Any]:
    return {"type": "Conv2D", "filters": filters, "kernel_size": [k, k], "activation": "relu", **kw}


POOL = {"type": "MaxPooling2D", "pool_size": [2, 2]}
BOOK = Preset(
    "mnist_book", "Book chapter: MNIST, two 5×5 convolutions",
    "A book chapter on CNNs for MNIST", "mnist",
    {"name": "mnist_book", "input_shape": [28, 28, 1], "layers": [
        _conv(32, 5), POOL, _conv(64, 5), POOL, {"type": "Flatten"},
        {"type": "Dense", "units": 10, "activation": "softmax"}]},
    {"optimizer": "sgd", "learning_rate": 0.01, "batch_size": 100, "epochs": 5,
     "validation_split": 0.0},
    0.9704,
    "62,346 parameters; the chapter reports 97.04% after 5 epochs of plain SGD.",
)

PRESETS: tuple[Preset, ...] = (
    Preset(
        "cifar_model_intro", "Workshop: cifar_model_intro (CIFAR-10)",
        "Build a Convolutional Neural Network (workshop episode)", "cifar10",
        {"name": "cifar_model_intro", "input_shape": [32, 32, 3], "layers": [
            _conv(16, 3), POOL, _conv(32, 3), POOL, {"type": "Flatten"},
            {"type": "Dense", "units": 64, "activation": "relu"},
            {"type": "Dense", "units": 10, "activation": "softmax"}]},
        {"optimizer": "adam", "learning_rate": 0.001, "batch_size": 32, "epochs": 10,
         "validation_split": 0.2},
        None,
        "79,530 parameters. The episode builds the model; it is trained in the next episode, "
        "which reports no test accuracy here, so the settings are Keras' defaults.",
    ),
    Preset(
        "mnist_course_dropout", "Course task: MNIST with Dropout",
        "Convolutional Neural Networks (course task)", "mnist",
        {"name": "mnist_course_dropout", "input_shape": [28, 28, 1], "layers": [
            _conv(32, 3), _conv(64, 3), POOL, {"type": "Dropout", "rate": 0.25},
            {"type": "Flatten"}, {"type": "Dense", "units": 128, "activation": "relu"},
            {"type": "Dropout", "rate": 0.5},
            {"type": "Dense", "units": 10, "activation": "softmax"}]},
        {"optimizer": "adam", "learning_rate": 0.001, "batch_size": 128, "epochs": 5,
         "validation_split": 0.0},
        0.9895,
        "The lesson validates on the test set and reports 98.95% after 5 epochs.",
    ),
    BOOK,
    # The tutorial trains the book's model for twice as long.
    replace(
        BOOK, name="mnist_book_10_epochs", label="Tutorial: the book's model, 10 epochs",
        lesson="CNN tutorial with Keras",
        architecture={**BOOK.architecture, "name": "mnist_book_10_epochs"},
        training={**BOOK.training, "epochs": 10}, reported_test_accuracy=0.9806,
        note="The same model trained for 10 epochs; the tutorial reports 98.06%.",
    ),
)

_BY_NAME = {p.name: p for p in PRESETS}
# The presets' names as an enum, so request schemas list exactly the presets there are.
PresetName = StrEnum("PresetName", {p.name: p.name for p in PRESETS})  # type: ignore[misc]


def get_preset(name: str) -> Preset | None:
    return _BY_NAME.get(name)
