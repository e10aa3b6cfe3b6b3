"""A tool of a real MCP server (tests/mcp/warehouse.py, the `mcp` Python SDK over stdio) used
by the agent with the default model, end to end: only the registered tool is shown and run,
and a policy naming a tool the server lacks stops start-up with a one-line reason."""
import hashlib
import subprocess
import sys
from pathlib import Path

import httpx

from conftest import BINARY, QWEN_ARGS, ROOT, Server, default_model

EMPLOYEE_KEY = "mcp-test-employee-key"
AUDITOR_KEY = "mcp-test-auditor-key"


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def write_policy(directory: Path, remote_tool: str = "stock_level") -> Path:
    journal = directory / "journal.jsonl"
    policy = directory / "policy.toml"
    policy.write_text(f'''
system_prompt = "You help the staff of a phone shop. Use the tools for stock questions."
roles = ["employee", "auditor"]
auditor_roles = ["auditor"]

[[users]]
name = "erin"
role = "employee"
key_sha256 = ["{digest(EMPLOYEE_KEY)}"]

[[users]]
name = "ada"
role = "auditor"
key_sha256 = ["{digest(AUDITOR_KEY)}"]

[[mcp_servers]]
name = "warehouse"
transport = {{ kind = "stdio", command = "{sys.executable}", args = ["{ROOT / 'tests/mcp/warehouse.py'}"], env = {{ WAREHOUSE_JOURNAL = "{journal}" }} }}

[[tools]]
name = "stock_level"
description = "Units on hand in the warehouse for a product SKU such as IP15-128."
roles = ["employee"]
parameters = {{ type = "object", properties = {{ sku = {{ type = "string", description = "The SKU" }} }}, required = ["sku"] }}
executor = {{ kind = "mcp", server = "warehouse", tool = "{remote_tool}" }}
''')
    return policy


def test_the_agent_answers_from_a_registered_mcp_tool(tmp_path):
    policy = write_policy(tmp_path)
    server = Server(["--model", default_model(), *QWEN_ARGS, "--policy", str(policy)], home=str(tmp_path))
    try:
        employee = {"Authorization": f"Bearer {EMPLOYEE_KEY}"}
        r = httpx.post(server.base_url + "/v1/agent/sessions", headers=employee)
        assert r.status_code == 201, r.text
        session = r.json()["id"]
        r = httpx.post(
            f"{server.base_url}/v1/agent/sessions/{session}/messages", headers=employee,
            json={"content": "How many units of SKU IP15-128 are on hand?"}, timeout=600,
        )
        assert r.status_code == 200, r.text
        turn = r.json()
        assert turn["stop"] == "answer", turn

        r = httpx.get(server.base_url + "/v1/audit?limit=1000", headers={"Authorization": f"Bearer {AUDITOR_KEY}"})
        assert r.status_code == 200, r.text
        rows = r.json()["data"]
        ran = [row["data"] for row in rows if row["kind"] == "execution"]
        assert ran, rows
        assert all(call["tool"] == "stock_level" for call in ran), ran
        assert any(call["ok"] and "42 units" in call["output"] for call in ran), ran
        assert "42" in turn["answer"], turn
    finally:
        server.stop()


def test_a_tool_the_mcp_server_lacks_stops_start_up(tmp_path):
    policy = write_policy(tmp_path, remote_tool="stock_levels")
    result = subprocess.run(
        [str(BINARY), "serve", "--port", "0", "--model", default_model(), "--policy", str(policy)],
        env={"FULCRUM_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 1, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert "warehouse" in last and "`stock_levels`" in last, result.stderr
