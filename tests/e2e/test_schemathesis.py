"""The server against its own OpenAPI document, with schemathesis.

Test rules: one ``otelctx serve`` per backend (localhost, port 0, no rate limit) holding
the checkout scenario of tests/e2e/sdk_scenario.py. The schemathesis CLI (a
subprocess: its pytest plugin does not work with this pytest) loads
``/api/openapi.json`` from it and, for every operation, sends the documented
examples, boundary values (valid and invalid: the coverage phase) and a bounded
number of generated requests. Each response must not be a 5xx, and its status,
content type, headers and body must be the documented ones; data the schema calls
invalid must be refused; an undocumented method must get 405.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import backends
from tests.conftest import ServerProcess, start_server
from tests.e2e.sdk_scenario import SECOND, export_checkout

pytestmark = pytest.mark.timeout(300)

MAX_EXAMPLES = 25  # generated requests per operation, on top of the coverage phase's
SEED = 20260424
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "unsupported_method",
]
# Not checked: ignored_auth and missing_required_header (this server runs without
# API_KEY, so auth is off by design), positive_data_acceptance (a valid-looking step
# can still make more than 10 000 buckets, which is a documented 400).


@pytest.fixture(scope="module", params=backends.BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    backends.require(request.param)
    # a rate limiter would answer 429 to a fuzzer (unknown variables are ignored)
    srv = start_server(tmp_path_factory.mktemp("schemathesis"), driver=request.param,
                       env={"API_RATE_LIMIT_RPS": "0"})  # fmt: skip
    try:
        export_checkout(srv, "default", (time.time_ns() // SECOND - 600) * SECOND)
        yield srv
    finally:
        srv.stop()


def test_responses_match_the_document(server: ServerProcess, tmp_path: Path) -> None:
    cmd = [
        sys.executable, "-m", "schemathesis.cli", "run", f"{server.http_base}/api/openapi.json",
        "--checks", ",".join(CHECKS), "--phases", "examples,coverage,fuzzing",
        "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED), "--workers", "1",
        "--generation-database", "none", "--request-timeout", "30", "--no-color",
        "--output-truncate", "false",
        # /v1/*: hypercorn stalls a keep-alive connection when the receiver refuses
        # before the body arrived (test_api_bad_input xfails on it); fuzzing finds it
        "--exclude-path-regex", "^/v1/",
    ]  # fmt: skip
    # cwd: schemathesis keeps a cache directory (.schemathesis/) where it runs
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    report = done.stdout + done.stderr
    assert done.returncode == 0, report
    assert "No issues found" in report or "passed" in report, report
