"""Every curl example in README.md, run as written, in order, by curl itself, against a live
server: each must answer what the README says (a 2xx, unless the README says it is refused).

The examples stand for what a reader has at hand: a photo, a drawn digit, a zip of pets, a
.keras file (made here, in a scratch folder), and the ids and tokens earlier answers gave
(`3e0bd54d2544`, `pets-3f9a1c2e`, `$TOKEN`, …), which are swapped for the real ones as the
answers come. The server has no worker, so jobs wait in the queue: a model of the pets
dataset (uploaded here) stands in for the one its job would train.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import ROOT
from tests.digits_data import as_canvas_png, encode, mnist_test

README_URL = "http://127.0.0.1:8000"
ADMIN = "readme-admin-" + "5f1c9e2a7b3d4c6e8f0a1b2c"
# Examples the README itself says are refused, with the status and why.
REFUSED = {
    r"/timelapse$": (404, "the README's job was cancelled before it started: no timelapse"),
}
# curl with the status of each answer written to stderr, and a failed answer failing the command.
CURL = "curl() { command curl --fail-with-body --show-error -w '%{stderr}HTTP %{http_code}\\n' \"$@\"; }"


def examples(text: str) -> list[str]:
    """Each shell command of the README's ```sh blocks that runs curl, continuation lines
    (a trailing \\ or |, or a quote still open) joined."""
    found: list[str] = []
    for block in re.findall(r"^ *```sh\n(.*?)^ *```", text, re.S | re.M):
        lines: list[str] = []
        for line in block.splitlines():
            if not lines and (not line.strip() or line.strip().startswith("#")):
                continue
            lines.append(line)
            command = "\n".join(lines)
            try:
                shlex.split(command, comments=True)
            except ValueError:  # a quotation still open
                continue
            if line.rstrip().endswith(("\\", "|")):
                continue
            found.append(command)
            lines = []
    return [c for c in found if re.search(r"(^|[\s|])curl\s", c)]


@dataclass
class Reader:
    """What a reader following the README has: the ids and tokens the answers gave."""

    url: str
    ids: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    jobs: list[str] = field(default_factory=list)

    def command(self, example: str) -> str:
        text = example.replace(README_URL, self.url)
        for placeholder, real in self.ids.items():
            text = text.replace(placeholder, real)
        return text

    def learn(self, example: str, out: str) -> None:
        token = re.search(r"(?im)^x-owner-token: *(\S+)", out)
        if token:
            self.env["TOKEN"] = token[1]
        body = _json_of(out)
        if "/api/jobs -H" in example and body.get("id"):
            self.jobs.append(body["id"])
            names = ["3e0bd54d2544", "9a41c0e2b7d1"]
            if len(self.jobs) <= len(names):
                self.ids[names[len(self.jobs) - 1]] = body["id"]
        if "/api/sweeps -H" in example and body.get("id"):
            self.ids["5d1c0a7e9b24"] = body["id"]
        if "/api/datasets -F" in example and body.get("id"):
            self.ids["pets-3f9a1c2e"] = body["id"]
        if "/api/classes -H" in example:
            self.ids["K7M2QX"] = body["code"]
            self.env["TEACHER"] = body["teacher_token"]
        if "/join" in example:
            self.env["LEARNER"] = body["owner_token"]


def _json_of(out: str) -> dict:
    start = out.find("{")
    try:
        value = json.loads(out[start:]) if start >= 0 else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _statuses(stderr: str) -> list[int]:
    return [int(s) for s in re.findall(r"^HTTP (\d{3})$", stderr, re.M)]


@pytest.fixture
def readme_server(make_playground):
    pg = make_playground(workers=0, admin_token=ADMIN)
    assert pg.services.models.warmed.wait(120)
    return pg


@pytest.fixture
def reader_files(tmp_path):
    """The files the examples send, in the folder they run in."""
    import keras

    from tests.dataset_zips import cifar_zip, photo
    from tests.explain_models import cifar_model

    x, _ = mnist_test()
    (tmp_path / "digit.png").write_bytes(as_canvas_png(x[0]))
    cat = Image.open(ROOT / "static" / "samples" / "cat.png").convert("RGB")
    (tmp_path / "photo.jpg").write_bytes(encode(cat, "JPEG"))
    (tmp_path / "my_cat.jpg").write_bytes(encode(photo(3).resize((96, 96)), "JPEG"))
    (tmp_path / "pets.zip").write_bytes(cifar_zip("pets", classes={3: "cats", 5: "dogs"}))
    cifar_model().save(tmp_path / "my_model.keras")
    keras.utils.set_random_seed(1)
    pets = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(4, 3, activation="relu"),
                             keras.layers.Flatten(), keras.layers.Dense(2, activation="softmax")])
    pets.save(tmp_path / "pets_cnn.keras")
    return tmp_path


def _after(example: str, reader: Reader, pg, folder: Path) -> None:
    """What the reader does between examples that the README says in words."""
    if "/api/datasets -F" in example:  # the pets job's model, which no worker trains here
        with (folder / "pets_cnn.keras").open("rb") as f:
            made = pg.client.post("/api/models", files={"file": ("pets_cnn.keras", f)},
                                  data={"name": "pets_cnn", "class_names": "cats,dogs",
                                        "dataset": reader.ids["pets-3f9a1c2e"]})
        assert made.status_code == 201, made.text
        reader.ids["pets_cnn-…"] = made.json()["id"]
    if "predict?model=pets_cnn" in example:  # the pets job is done in the README's story
        done = pg.client.post(f"/api/jobs/{reader.jobs[1]}/cancel", headers={"X-Owner-Token": ADMIN})
        assert done.status_code == 200, done.text
    if "/join" in example:  # the learner trains something, which their teacher may cancel
        job = pg.client.post("/api/jobs", headers={"X-Owner-Token": reader.env["LEARNER"]},
                             json={"architecture": "mnist_book", "dataset": "mnist"})
        assert job.status_code == 202, job.text
        reader.ids["3e0bd54d2544"] = job.json()["id"]
    if "| grep -i x-owner-token" in example:  # the job just submitted, whose token it printed
        reader.ids["/api/jobs/ID/"] = f"/api/jobs/{pg.client.get('/api/jobs').json()[0]['id']}/"


def test_every_curl_example_in_the_readme(readme_server, reader_files):
    text = (ROOT / "README.md").read_text()
    found = examples(text)
    assert len(found) >= 40, found  # the parser found the examples
    pg = readme_server
    reader = Reader(pg.live.url)
    digit = base64.b64encode((reader_files / "digit.png").read_bytes()).decode()
    reader.ids["data:image/png;base64,iVBORw0…"] = f"data:image/png;base64,{digit}"
    reader.env["ADMIN"] = ADMIN
    bin_dir = os.path.dirname(sys.executable)  # python3 is the test's own
    failures = []
    for example in found:
        command = reader.command(example)
        done = subprocess.run(["bash", "-c", f"set -euo pipefail\n{CURL}\n{command}"],
                              cwd=reader_files, capture_output=True, text=True, timeout=300,
                              env={**os.environ, **reader.env,
                                   "PATH": f"{bin_dir}:{os.environ['PATH']}"})
        statuses = _statuses(done.stderr)
        refused = next((want for pattern, want in REFUSED.items()
                        if re.search(pattern, command.split("#")[0].strip().strip("'"))), None)
        if refused:
            ok = statuses == [refused[0]]
        else:
            ok = done.returncode == 0 and statuses and all(200 <= s < 300 for s in statuses)
        if not ok:
            failures.append(f"{example}\n→ exit {done.returncode}, HTTP {statuses}\n"
                            f"{done.stdout[-600:]}\n{done.stderr[-600:]}")
            continue
        reader.learn(example, done.stdout)
        _after(example, reader, pg, reader_files)
    assert not failures, ("README examples that do not work as written (an example needing a "
                          "file, id or token a reader would have: see Reader and _after):\n\n"
                          + "\n\n".join(failures))


def test_every_python_example_in_the_readme(server, tmp_path):
    """The README's Python examples that talk to a server, run as written against one."""
    text = (ROOT / "README.md").read_text()
    blocks = [b for b in re.findall(r"^ *```python\n(.*?)^ *```", text, re.S | re.M)
              if "127.0.0.1:8000" in b]
    assert blocks
    host = server.url.removeprefix("http://")
    for block in blocks:
        done = subprocess.run([sys.executable, "-c", block.replace("127.0.0.1:8000", host)],
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{block}\n{done.stdout}\n{done.stderr}"
