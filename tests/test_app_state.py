"""One application state: each app owns the services built from its own settings, so two
apps in one process never see each other's jobs or models; loaded models and cached model
files stay within their bounds."""

from __future__ import annotations

import tempfile
from pathlib import Path

import keras
import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.networks.architecture import ArchitectureSpec, build_model
from app.networks.inference import LoadedModels
from app.networks.registry import Registry
from app.storage import migrate
from app.storage.database import Database, database_url
from app.web.application import create_app
from tests.conftest import ROOT

TINY = {"architecture": {"name": "tiny", "input_shape": [28, 28, 1], "layers": [
    {"type": "Conv2D", "filters": 2, "kernel_size": 3, "activation": "relu"},
    {"type": "MaxPooling2D", "pool_size": 2}, {"type": "Flatten"},
    {"type": "Dense", "units": 10, "activation": "softmax"}]},
    "dataset": "mnist", "training": {"epochs": 1, "train_samples": 100}}


def keras_bytes(seed: int) -> bytes:
    """A small model with its own random weights, as a `.keras` archive."""
    keras.utils.set_random_seed(seed)
    model = build_model(ArchitectureSpec.model_validate(TINY["architecture"]))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.keras"
        model.save(path)
        return path.read_bytes()


def save_model(registry: Registry, name: str, seed: int) -> str:
    return registry.save_trained(
        name=name, dataset="mnist", input_shape=[28, 28, 1],
        class_names=[str(i) for i in range(10)], test_accuracy=0.5, test_loss=1.0,
        total_params=3390, architecture=TINY["architecture"], training=TINY["training"],
        keras_bytes=keras_bytes(seed))


def test_two_apps_in_one_process_never_see_each_others_jobs_or_models(tmp_path):
    a_settings = Settings(data_dir=tmp_path / "a", workers=0)
    b_settings = Settings(data_dir=tmp_path / "b", workers=0)
    with TestClient(create_app(a_settings)) as a, TestClient(create_app(b_settings)) as b:
        job = a.post("/api/jobs", json=TINY)
        assert job.status_code == 202, job.text
        assert [j["id"] for j in a.get("/api/jobs").json()] == [job.json()["id"]]
        assert b.get("/api/jobs").json() == []
        assert b.get(f"/api/jobs/{job.json()['id']}").status_code == 404

        model_id = save_model(a.app.state.services.registry, "only-in-a", seed=1)
        assert model_id in {m["id"] for m in a.get("/api/models").json()}
        assert model_id not in {m["id"] for m in b.get("/api/models").json()}
        assert b.get(f"/api/models/{model_id}").status_code == 404
        pixels = {"pixels": np.load(ROOT / "tests" / "data" / "mnist.npz")["x_test"][0].tolist()}
        assert a.post("/predict", params={"model": model_id}, json=pixels).status_code == 200
        assert b.post("/predict", params={"model": model_id}, json=pixels).status_code == 404

        # Each app's services come from its own settings, through its own database.
        sa, sb = a.app.state.services, b.app.state.services
        assert sa.settings.data_dir != sb.settings.data_dir
        assert sa.database.url == database_url(a_settings) != sb.database.url
        assert sa.models is not sb.models and sa.registry is not sb.registry
        assert (tmp_path / "a" / "playground.db").is_file()
        assert (tmp_path / "b" / "playground.db").is_file()
        assert migrate.current(database_url(b_settings)) == migrate.head()


def test_loaded_models_and_cached_files_stay_within_their_bounds(tmp_path):
    settings = Settings(data_dir=tmp_path)
    migrate.upgrade(database_url(settings))
    database = Database(settings)
    one_file = len(keras_bytes(0))
    # Room on disk for two models' files and memory for two loaded models, then five used.
    registry = Registry(database, ROOT / "models", tmp_path / "cache", cache_bytes=2 * one_file + 100)
    models = LoadedModels(registry, capacity=2)
    ids = [save_model(registry, f"m{i}", seed=i) for i in range(5)]
    x = np.load(ROOT / "tests" / "data" / "mnist.npz")["x_test"][:3, :, :, None] / 255.0
    x = x.astype(np.float32)
    for model_id in ids:
        loaded = models.get(model_id)
        expected = loaded.model(x, training=False).numpy()
        np.testing.assert_allclose(loaded.predict(x), expected, atol=1e-5)
        assert len(models) <= 2
        assert len(registry.cached_files()) <= 2
    assert len(models) == 2 and models.loaded_ids() == ids[-2:]
    assert [p.stem for p in registry.cached_files()] == sorted(ids[-2:])
    # The ones dropped from memory and from disk still predict: loaded again from the database.
    for model_id in ids[:3]:
        again = models.get(model_id)
        expected = keras.saving.load_model(registry.path(model_id), safe_mode=True)(x).numpy()
        np.testing.assert_allclose(again.predict(x), expected, atol=1e-5)
        assert len(models) == 2 and len(registry.cached_files()) <= 2
    database.dispose()


@pytest.mark.parametrize("token, reason", [
    ("change-me-to-a-long-secret", "placeholder"),
    ("short-secret", "at least 24 characters"),
    ("a" * 40, "too few distinct characters"),
])
def test_a_guessable_admin_token_is_refused(tmp_path, token, reason):
    from app.config import SettingsError, load_settings

    with pytest.raises(SettingsError, match=reason) as info:
        load_settings(data_dir=tmp_path, admin_token=token)
    assert "CNNPG_ADMIN_TOKEN" in str(info.value)
