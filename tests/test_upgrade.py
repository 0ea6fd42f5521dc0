"""Upgrades keep every job and model: databases written by release 0.1 (tests/data/release-0.1,
real jobs trained through that release's API) are migrated as this release's application
starts, on SQLite and on PostgreSQL, and everything in them is still there and still works."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
from PIL import Image

from app.storage import migrate
from tests.conftest import ROOT, playground_app
from tests.digits_data import encode

FIXTURE = ROOT / "tests" / "data" / "release-0.1"
JOB_FIELDS = ("name", "status", "dataset", "architecture", "training", "progress", "error",
              "worker")


def expected(kind: str) -> dict:
    return json.loads((FIXTURE / f"{kind}-expected.json").read_text())


def instant(text: str | None) -> dt.datetime | None:
    return None if text is None else dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def check_everything_survived(http, exp: dict) -> None:
    jobs = {j["id"]: j for j in http.get("/api/jobs").json()}
    assert set(jobs) == {j["id"] for j in exp["jobs"]}
    for old in exp["jobs"]:
        new = jobs[old["id"]]
        assert {k: new[k] for k in JOB_FIELDS} == {k: old[k] for k in JOB_FIELDS}
        for when in ("created", "started", "finished"):
            assert instant(new[when]) == instant(old[when])
        if old["result"] is None:
            assert new["result"] is None
            continue
        mis_new = [{k: v for k, v in m.items() if k != "image"} for m in new["result"]["misclassified"]]
        assert mis_new == old["result"]["misclassified"]
        assert all(m["image"].startswith("data:image/png;base64,")
                   for m in new["result"]["misclassified"])
        rest = ("test_loss", "test_accuracy", "model_id", "confusion_matrix", "train_seconds")
        assert {k: new["result"][k] for k in rest} == {k: old["result"][k] for k in rest}
    # The job whose worker was killed still says why it failed; the history of every epoch is kept.
    statuses = sorted(j["status"] for j in jobs.values())
    assert statuses == ["cancelled", "failed", "succeeded", "succeeded"]
    trained = [j for j in jobs.values() if j["status"] == "succeeded"]
    assert all(len(j["progress"]["history"]) == j["training"]["epochs"] for j in trained)

    models = {m["id"]: m for m in http.get("/api/models").json()}
    for old in exp["models"]:
        new = models[old["id"]]
        assert {k: new[k] for k in old if k != "created"} == {k: old[k] for k in old if k != "created"}
        assert instant(new["created"]) == instant(old["created"])
        detail = http.get(f"/api/models/{old['id']}").json()
        if not old["shipped"]:
            assert detail["summary"]["total_params"] == detail["total_params"]

    # Every trained model still predicts exactly what release 0.1 answered.
    digits = np.load(ROOT / "tests" / "data" / "mnist.npz")
    cifar = np.load(ROOT / "tests" / "data" / "cifar10.npz")
    answers = exp["predictions"]["answers"]
    assert len(answers) == 2
    for model_id, recorded in answers.items():
        for i, old in enumerate(recorded):
            if models[model_id]["dataset"] == "mnist":
                r = http.post("/predict", params={"model": model_id},
                               json={"pixels": digits["x_test"][i].tolist()})
            else:
                r = http.post("/predict", params={"model": model_id},
                               files={"file": ("x.png", encode(Image.fromarray(cifar["x_test"][i]),
                                                               "PNG"), "image/png")})
            assert r.status_code == 200, r.text
            new = r.json()
            assert new["label"] == old["label"] and new["class_name"] == old["class_name"]
            np.testing.assert_allclose(new["probabilities"], old["probabilities"], atol=2e-6)

    # The owner token of release 0.1 still owns its models: others may not delete, it may.
    victim = next(iter(answers))
    assert http.delete(f"/api/models/{victim}").status_code == 403
    r = http.delete(f"/api/models/{victim}", headers={"X-Owner-Token": exp["owner_token"]})
    assert r.status_code == 204


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=ROOT, text=True,
                          capture_output=True, env={**os.environ, **env}, timeout=120)


def test_a_release_0_1_sqlite_database_is_upgraded_at_start_and_keeps_everything(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(FIXTURE / "playground.db", data / "playground.db")
    with playground_app(data) as pg:
        check_everything_survived(pg.client, expected("sqlite"))
    done = cli("db", "current", env={"CNNPG_DATA_DIR": str(data)})
    assert done.returncode == 0 and f"revision {migrate.head()}" in done.stdout, done.stderr


def test_db_upgrade_command_says_what_it_did(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(FIXTURE / "playground.db", data / "playground.db")
    env = {"CNNPG_DATA_DIR": str(data)}
    first = cli("db", "upgrade", env=env)
    assert first.returncode == 0, first.stderr
    assert f"0001 → {migrate.head()} (a release 0.1 database" in first.stdout
    again = cli("db", "upgrade", env=env)
    assert again.returncode == 0 and f"{migrate.head()} → {migrate.head()}" in again.stdout
    empty = cli("db", "upgrade", env={"CNNPG_DATA_DIR": str(tmp_path / "new")})
    assert empty.returncode == 0 and f"empty → {migrate.head()}" in empty.stdout


def test_an_upgrade_that_fails_changes_nothing(tmp_path):
    """A migration that breaks halfway rolls back whole: the 0.1 data and schema stay."""
    scripts = tmp_path / "migrations"
    shutil.copytree(migrate.MIGRATIONS, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    (scripts / "versions" / "9999_broken.py").write_text(f'''
import sqlalchemy as sa
from alembic import op

revision = "9999"
down_revision = "{migrate.head()}"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("jobs", sa.Column("half_done", sa.Integer(), nullable=True))
    op.execute("DELETE FROM models")
    raise RuntimeError("this migration breaks halfway")


def downgrade():
    pass
''')
    db = tmp_path / "playground.db"
    shutil.copy(FIXTURE / "playground.db", db)
    with pytest.raises(RuntimeError, match="breaks halfway"):
        migrate.upgrade(f"sqlite:///{db}", script_location=scripts)
    with sqlite3.connect(db) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(jobs)")]
        assert "half_done" not in columns
        assert conn.execute("SELECT count(*) FROM models").fetchone()[0] == 2
        assert conn.execute("SELECT count(*) FROM jobs").fetchone()[0] == 4
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        assert "alembic_version" not in tables  # not even the stamp: still release 0.1's file


def test_a_database_from_a_newer_release_is_refused_with_a_reason(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(FIXTURE / "playground.db", data / "playground.db")
    with sqlite3.connect(data / "playground.db") as conn:
        conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        conn.execute("INSERT INTO alembic_version VALUES ('7777')")
    done = cli("db", "upgrade", env={"CNNPG_DATA_DIR": str(data)})
    assert done.returncode == 1
    assert "upgraded by a newer CNN Playground" in done.stderr
    assert "Traceback" not in done.stderr


def psql() -> str:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/psql"))
    return str(found[-1]) if found else "psql"


def test_a_release_0_1_postgres_database_is_upgraded_at_start_and_keeps_everything(
        tmp_path, postgres_url):
    where = urlparse(postgres_url.replace("postgresql+psycopg", "postgresql"))
    dump = gzip.decompress((FIXTURE / "postgres.sql.gz").read_bytes())
    restored = subprocess.run([psql(), "-q", "-h", where.hostname, "-p", str(where.port), "-U",
                               "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1"],
                              input=dump, capture_output=True, timeout=60)
    assert restored.returncode == 0, restored.stderr
    with playground_app(tmp_path / "web", database_url=postgres_url) as pg:
        check_everything_survived(pg.client, expected("postgres"))
    assert migrate.current(postgres_url) == migrate.head()
