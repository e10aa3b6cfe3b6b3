"""Schemathesis against a live server, with every demo key: requests generated from the
OpenAPI document (`/openapi.json`, generated from the code) must get no 5xx and only responses
that match the document. The seed is fixed, so a failure reproduces; the examples per operation
are bounded, and the server's generations are capped short (what the model writes is not what
these tests check), so the run takes a few minutes."""
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from conftest import MODEL_ID, Server, tiny_model_path

KEYS = ["demo-admin-key", "demo-employee-key", "demo-supervisor-key", "demo-finance-key", "demo-auditor-key"]
ST = Path(sys.executable).parent / "st"


def test_the_document_is_served_without_a_key(server):
    document = httpx.get(server.base_url + "/openapi.json").json()
    assert document["openapi"].startswith("3.")
    assert "/v1/chat/completions" in document["paths"]


@pytest.fixture(scope="module")
def fuzzed_server():
    """A server of its own, whose every generation (chat, completions, Responses, each agent
    step) stops at 24 tokens: the fuzzer's requests mostly send no `max_tokens`, and the tiny
    model, given random text, writes to the cap (an agent message ran past the fuzzer's 60 s
    limit under load at the default cap of 512 tokens a step). Larger `max_tokens` are
    refused with a documented 400. Its own state also keeps the fuzzer's sessions, approvals
    and documents away from the other tests' server."""
    srv = Server(
        ["--model", tiny_model_path(), "--model-id", MODEL_ID, "--context-size", "4096", "--slots", "4"],
        env={"FULCRUM_MAX_TOKENS_LIMIT": "24"},
    )
    yield srv
    srv.stop()


@pytest.mark.parametrize("key", KEYS)
def test_schemathesis_finds_no_server_error_and_no_response_off_the_document(fuzzed_server, key):
    run = subprocess.run(
        [str(ST), "run", fuzzed_server.base_url + "/openapi.json",
         "--checks", "not_a_server_error,response_schema_conformance",
         "--header", f"Authorization: Bearer {key}",
         "--max-examples", "10", "--seed", "17", "--request-timeout", "60", "--no-color"],
        capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "passed" in run.stdout
