"""Schemathesis against the app's own OpenAPI schema: every operation, a fixed seed, a
bounded number of cases; no 5xx, and no response that breaks its own schema."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from tests.conftest import Server

CASES = 50  # per operation; derandomized, so every run sends the same cases


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory):
    # No workers: fuzzed jobs just wait in the queue (and fill it: a 429 is documented).
    srv = Server(tmp_path_factory.mktemp("fuzz"), {"CNNPG_MAX_QUEUED_JOBS": "5"})
    yield srv
    srv.stop()


def operations(url: str):
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]


def test_every_operation(fuzz_server):
    ops = operations(fuzz_server.url)
    assert len(ops) >= 15  # every JSON API operation is in the schema
    sent = {}

    for op in ops:
        count = 0

        @given(case=op.as_strategy())
        @settings(max_examples=CASES, derandomize=True, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def fuzz(case):
            nonlocal count
            count += 1
            case.call_and_validate(base_url=fuzz_server.url, timeout=60,
                                   checks=[not_a_server_error, response_schema_conformance,
                                           content_type_conformance])

        fuzz()
        sent[f"{op.method.upper()} {op.path}"] = count
    print(f"fuzzed {len(sent)} operations with {sum(sent.values())} cases: {sent}")
    assert all(n > 0 for n in sent.values())
