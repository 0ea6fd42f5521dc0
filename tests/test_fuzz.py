"""Schemathesis against the app's own OpenAPI schema, as `schemathesis run -c all` runs it:
every check (server errors, status codes, response schemas and headers, valid requests
accepted, invalid ones refused, undeclared methods, Allow headers, …), a fixed seed, a
bounded number of cases. The rules a schema cannot state are named in schemathesis.toml."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, playground_app

CASES = 15  # per operation and phase; with --seed, every run sends the same cases


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory):
    # No workers: fuzzed jobs just wait in the queue (and fill it: a 429 is documented).
    # Schemathesis' own command line sends the requests, to a real uvicorn serving it.
    with playground_app(tmp_path_factory.mktemp("fuzz"), max_queued_jobs=5) as pg:
        yield pg.live


def test_every_operation_with_every_check(fuzz_server, tmp_path):
    cli = Path(sys.executable).with_name("schemathesis")
    done = subprocess.run(
        [str(cli), "--no-color", "--config-file", str(ROOT / "tests" / "schemathesis.toml"),
         "run", f"{fuzz_server.url}/openapi.json", "--checks", "all", "--seed", "1",
         "--max-examples", str(CASES), "--workers", "1", "--request-timeout", "60",
         "--generation-database", "none", "--output-truncate", "true",
         "--report", "junit", "--report-dir", str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=600)
    out = done.stdout + done.stderr
    summary = out[out.rfind("API Operations:"):]
    print(summary)
    assert done.returncode == 0, out[-20_000:]
    assert "Tested: 47" in summary  # every JSON operation is in the schema, and fuzzed
    cases = re.search(r"(\d+) generated, (\d+) passed", summary)
    assert cases and cases[1] == cases[2] and int(cases[1]) > 1000, summary
