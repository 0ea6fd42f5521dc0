"""The command line: `cnn-playground train` with its progress bar, into the same registry."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT, playground_app


def test_train_a_preset_from_the_command_line(tmp_path):
    env = {**os.environ, "CNNPG_DATA_DIR": str(tmp_path), "CNNPG_DATASETS_DIR": str(ROOT / "tests" / "data")}
    out = subprocess.run(
        [sys.executable, "-m", "app.cli", "train", "--preset", "mnist_book", "--dataset", "mnist",
         "--epochs", "2", "--train-samples", "2000", "--optimizer", "adam",
         "--learning-rate", "0.002", "--seed", "4"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Epoch 2/2" in out.stdout and "20/20" in out.stdout  # Keras' progress bar: 2,000 / 100
    line = next(ln for ln in out.stdout.splitlines() if "saved as model" in ln)
    model_id = line.rsplit(" ", 1)[1]
    accuracy = float(line.split("test accuracy ")[1].split(" ")[0])
    # Chance is 0.10; seeds 0-5 gave 0.845-0.896 here (seeded, and with margin for another CPU).
    assert accuracy > 0.8
    with playground_app(tmp_path) as pg:  # the web application sees it in the registry
        models = {m["id"]: m for m in pg.client.get("/api/models").json()}
        assert models[model_id]["test_accuracy"] == pytest.approx(accuracy, abs=1e-4)


def test_unknown_preset_is_refused(tmp_path):
    out = subprocess.run([sys.executable, "-m", "app.cli", "train", "--preset", "resnet"],
                         cwd=ROOT, env={**os.environ, "CNNPG_DATA_DIR": str(tmp_path)},
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "unknown preset 'resnet'" in out.stderr
