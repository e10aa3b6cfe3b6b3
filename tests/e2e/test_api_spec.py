"""Schemathesis against a live server, with every demo key: requests generated from the
OpenAPI document (`/openapi.json`, generated from the code) must get no 5xx and only responses
that match the document. The seed is fixed, so a failure reproduces; the examples per operation
are bounded, so the run takes a few minutes."""
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

KEYS = ["demo-admin-key", "demo-employee-key", "demo-supervisor-key", "demo-finance-key", "demo-auditor-key"]
ST = Path(sys.executable).parent / "st"


def test_the_document_is_served_without_a_key(server):
    document = httpx.get(server.base_url + "/openapi.json").json()
    assert document["openapi"].startswith("3.")
    assert "/v1/chat/completions" in document["paths"]


@pytest.mark.parametrize("key", KEYS)
def test_schemathesis_finds_no_server_error_and_no_response_off_the_document(server, key):
    run = subprocess.run(
        [str(ST), "run", server.base_url + "/openapi.json",
         "--checks", "not_a_server_error,response_schema_conformance",
         "--header", f"Authorization: Bearer {key}",
         "--max-examples", "10", "--seed", "17", "--request-timeout", "60", "--no-color"],
        capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "passed" in run.stdout
