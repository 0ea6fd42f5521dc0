"""Train the shipped digit model on the full MNIST: seeded, augmented, with metadata.

Reads `mnist.npz` from CNNPG_DATASETS_DIR (here: ../shared/data) or lets keras.datasets
download it. Augmentation (small shifts, rotations, scale and stroke thickness) makes
digits drawn with a mouse or a finger, after app.digits' MNIST-style normalisation,
read as well as scanned ones. Writes models/<name>.keras and models/<name>.json.

    CNNPG_DATASETS_DIR=../shared/data .venv/bin/python scripts/train_digit_model.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from app.datasets.builtin import load_dataset  # noqa: E402
from app.networks.architecture import ArchitectureSpec, build_model, check  # noqa: E402

ARCHITECTURE = {
    "name": "mnist_digits",
    "input_shape": [28, 28, 1],
    "layers": [
        {"type": "Conv2D", "filters": 32, "kernel_size": 3, "activation": "relu", "name": "conv1"},
        {"type": "Conv2D", "filters": 32, "kernel_size": 3, "activation": "relu", "name": "conv2"},
        {"type": "MaxPooling2D", "pool_size": 2, "name": "pool1"},
        {"type": "Conv2D", "filters": 64, "kernel_size": 3, "activation": "relu", "name": "conv3"},
        {"type": "Conv2D", "filters": 64, "kernel_size": 3, "activation": "relu", "name": "conv4"},
        {"type": "MaxPooling2D", "pool_size": 2, "name": "pool2"},
        {"type": "Flatten", "name": "flatten"},
        {"type": "Dropout", "rate": 0.3, "name": "dropout1"},
        {"type": "Dense", "units": 128, "activation": "relu", "name": "dense"},
        {"type": "Dropout", "rate": 0.4, "name": "dropout2"},
        {"type": "Dense", "units": 10, "activation": "softmax", "name": "probabilities"},
    ],
}
AUGMENTATION = {
    "translation": 0.1,   # of the side: ±2.8 px
    "rotation": 0.04,     # of a full turn: ±14°
    "zoom": 0.12,
    "stroke": "1 px thinner or thicker, each with probability 0.25",
}


def augmenter(seed: int) -> keras.Sequential:
    return keras.Sequential([
        keras.layers.RandomTranslation(AUGMENTATION["translation"], AUGMENTATION["translation"],
                                       fill_mode="constant", seed=seed),
        keras.layers.RandomRotation(AUGMENTATION["rotation"], fill_mode="constant", seed=seed + 1),
        keras.layers.RandomZoom(AUGMENTATION["zoom"], fill_mode="constant", seed=seed + 2),
    ], name="augment")


def stroke_thickness(x: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Per image: erode (thinner), keep, or dilate (thicker) by one pixel."""
    thicker = tf.nn.max_pool2d(x, 2, 1, "SAME")
    thinner = -tf.nn.max_pool2d(-x, 2, 1, "SAME")
    pick = tf.random.stateless_uniform((tf.shape(x)[0], 1, 1, 1), seed=seed)
    return tf.where(pick < 0.25, thinner, tf.where(pick > 0.75, thicker, x))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--out", type=Path, default=ROOT / "models")
    args = parser.parse_args()

    keras.utils.set_random_seed(args.seed)
    datasets_dir = os.environ.get("CNNPG_DATASETS_DIR")
    data = load_dataset("mnist", Path(datasets_dir) if datasets_dir else None)
    spec = ArchitectureSpec.model_validate(ARCHITECTURE)
    summary = check(spec)
    model = build_model(spec, summary)

    steps = int(np.ceil(len(data.x_train) / args.batch_size))
    schedule = keras.optimizers.schedules.CosineDecay(2e-3, decay_steps=steps * args.epochs,
                                                      alpha=0.02)
    model.compile(optimizer=keras.optimizers.Adam(schedule),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])

    augment = augmenter(args.seed)

    def augment_batch(x, y, i):
        x = augment(x, training=True)
        x = stroke_thickness(x, tf.stack([tf.cast(i, tf.int32), args.seed % 65536]))
        return tf.clip_by_value(x, 0.0, 1.0), y

    train = (tf.data.Dataset.from_tensor_slices((data.x_train, data.y_train))
             .shuffle(len(data.x_train), seed=args.seed, reshuffle_each_iteration=True)
             .batch(args.batch_size)
             .enumerate()
             .map(lambda i, xy: augment_batch(xy[0], xy[1], i), num_parallel_calls=1)
             .prefetch(2))

    start = time.monotonic()
    model.fit(train, epochs=args.epochs, validation_data=(data.x_test, data.y_test), verbose=2,
              shuffle=False)
    seconds = time.monotonic() - start
    test_loss, test_accuracy = model.evaluate(data.x_test, data.y_test, verbose=0)
    print(f"test accuracy {test_accuracy:.4f}, loss {test_loss:.4f}, {seconds:.0f} s")

    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{spec.name}.keras"
    # Shipped for inference only: the same layers and weights, without the optimizer state.
    shipped = build_model(spec, summary)
    shipped.set_weights(model.get_weights())
    shipped.save(path)
    meta = {
        "id": spec.name,
        "name": "MNIST digits (shipped)",
        "dataset": "mnist",
        "input_shape": list(spec.input_shape),
        "class_names": data.class_names,
        "architecture": spec.model_dump(mode="json", exclude_none=True),
        "total_params": summary.total_params,
        "test_accuracy": round(float(test_accuracy), 4),
        "test_loss": round(float(test_loss), 4),
        "training": {"epochs": args.epochs, "batch_size": args.batch_size, "optimizer": "adam",
                     "learning_rate": "cosine decay from 0.002", "seed": args.seed,
                     "train_samples": len(data.x_train), "augmentation": AUGMENTATION,
                     "seconds": round(seconds, 1)},
        "created": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "keras_version": keras.__version__,
        "tensorflow_version": tf.__version__,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }
    (args.out / f"{spec.name}.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {path} ({path.stat().st_size} bytes) and its metadata")


if __name__ == "__main__":
    main()
