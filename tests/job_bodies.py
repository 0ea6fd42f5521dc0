"""Job requests the tests share: quick ones that learn, and slow ones to catch running."""

from __future__ import annotations

QUICK = {"architecture": "mnist_book", "dataset": "mnist",
         "training": {"optimizer": "adam", "learning_rate": 0.002, "batch_size": 32, "epochs": 1,
                      "train_samples": 3000, "validation_split": 0.1, "seed": 3}}
# Long enough to be caught running: the course model, many epochs.
SLOW = {"architecture": "mnist_course_dropout", "dataset": "mnist",
        "training": {"optimizer": "adam", "batch_size": 32, "epochs": 30, "train_samples": 3000}}
# A job that is over in a second or two: a model to have, not to measure.
TINY_JOB = {"architecture": {"name": "tiny", "input_shape": [28, 28, 1], "layers": [
    {"type": "Conv2D", "filters": 4, "kernel_size": 3, "activation": "relu"},
    {"type": "MaxPooling2D", "pool_size": 2}, {"type": "Flatten"},
    {"type": "Dense", "units": 10, "activation": "softmax"}]},
    "dataset": "mnist", "training": {"epochs": 1, "train_samples": 300, "batch_size": 32,
                                     "seed": 1}}
