"""Small Keras models the explanation and upload tests build, each with its own weights."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import keras
import numpy as np

from tests.conftest import ROOT

CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                 "truck"]


def randomize(model: keras.Model, seed: int) -> keras.Model:
    """Weights of a useful size everywhere (batch-norm statistics too), not the initial ones."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        if type(layer).__name__ == "BatchNormalization":
            gamma, beta, mean, var = weights
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.1, beta.shape),
                               rng.normal(0, 0.2, mean.shape), rng.uniform(0.5, 2, var.shape)])
            continue
        layer.set_weights([rng.normal(0, 0.3, w.shape).astype(np.float32) for w in weights])
    return model


def cifar_model(seed: int = 3) -> keras.Model:
    """A CIFAR-10 model with what the explainer must get right: stride, "same" padding,
    dilation, batch norm, separable and depthwise convolutions, both poolings, dense layers."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((32, 32, 3), name="image")
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="conv_s2")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.SeparableConv2D(8, 3, padding="same", activation="relu", name="sep")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="pool_same")(x)
    x = keras.layers.Conv2D(12, 3, padding="same", dilation_rate=2, activation="tanh",
                            name="conv_dil")(x)
    x = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, activation="relu", name="depthwise")(x)
    x = keras.layers.AveragePooling2D(2, name="avg")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(16, activation="relu", name="hidden")(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="probabilities")(x)
    return randomize(keras.Model(inputs, outputs, name="cifar_explained"), seed)


def digits_model(seed: int = 5) -> keras.Model:
    """A small MNIST-shaped Sequential model."""
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(6, 5, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(8, 3, activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(10, activation="softmax"),
    ], name="my_digits")
    return randomize(model, seed)


def models_dir(folder: Path, extra: dict[str, tuple[keras.Model, str]]) -> Path:
    """A shipped-models folder: the real digit model, and `extra` models (id: model, dataset)."""
    for suffix in (".keras", ".json"):
        shutil.copy(ROOT / "models" / f"mnist_digits{suffix}", folder / f"mnist_digits{suffix}")
    for model_id, (model, dataset) in extra.items():
        model.save(folder / f"{model_id}.keras")
        shape = [int(d) for d in model.inputs[0].shape[1:]]
        names = CIFAR_CLASSES if dataset == "cifar10" else [str(i) for i in range(10)]
        (folder / f"{model_id}.json").write_text(json.dumps({
            "name": model_id, "dataset": dataset, "input_shape": shape, "class_names": names,
            "test_accuracy": None}))
    return folder
