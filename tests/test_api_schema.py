"""Schemathesis against the running server's own OpenAPI document, on both databases:
requests generated from the document for every operation, with an admin's token and
without one, answer no 5xx and exactly what the document says (status codes, media
types, headers and bodies)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from bench.balancer import free_port

# Examples per operation: enough to reach every branch of a declaration, few enough for CI.
EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def server(database_url, dialer) -> Iterator[tuple[str, str]]:
    """`dialer serve` on a free port over the test database, with a few entries listed;
    yields the API's base URL and an admin's token."""
    assert dialer("users", "add", "ann", "--role", "admin").exit_code == 0
    token = dialer("tokens", "create", "--user", "ann").stdout.strip()
    assert dialer("dnc", "add", "305-555-0134", "212-555-0123", "--reason", "=1+1").exit_code == 0
    port = free_port()
    env = {
        **os.environ,
        "DIALER_DATABASE_URL": database_url,
        "DIALER_LOG_LEVEL": "ERROR",
        "DIALER_WEBHOOK_PORT": str(port),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "dialer", "serve"], env=env, stdout=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        _wait_until_up(process, f"{base}/healthz")
        yield base, token
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def _wait_until_up(process: subprocess.Popen, url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "serve exited early"
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"{url} did not answer within 30 s")


@pytest.mark.parametrize(
    ("token", "mode"),
    [
        pytest.param(True, GenerationMode.POSITIVE, id="admin-valid"),
        pytest.param(True, GenerationMode.NEGATIVE, id="admin-invalid"),
        pytest.param(False, GenerationMode.POSITIVE, id="no token"),
    ],
)
def test_every_operation_answers_as_its_document_says(server, token, mode):
    """Valid requests (by the document) and invalid ones, with a token; without one,
    every operation but the public ones answers its documented 401."""
    base, secret = server
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    headers = {"Authorization": f"Bearer {secret}"} if token else {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 10
    own_token = secret.split("_")[1]

    def keeps_the_token(case: schemathesis.Case) -> bool:
        """Not DELETE /tokens/{id} of the token the run goes on with."""
        return str((case.path_parameters or {}).get("id")) != own_token

    for operation in operations:
        has_input = operation.path_parameters or operation.query or operation.body
        if mode is GenerationMode.NEGATIVE and not has_input:
            continue  # nothing to make invalid

        @given(case=operation.as_strategy(mode).filter(keeps_the_token))
        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def conforms(case: schemathesis.Case) -> None:
            case.call_and_validate(base_url=base, headers=headers, checks=CHECKS)

        conforms()
