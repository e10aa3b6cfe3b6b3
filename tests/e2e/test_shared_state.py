"""Two Fulcrum instances on one PostgreSQL (a real PostgreSQL server from Debian, started by
the test in a folder and on a port of its own, as the `postgres` user when the tests run as
root): a session begun on one continues on the other, an action approved on both at the same
moment runs once, and the one audit chain verifies after turns on both and fails after an edit."""
import glob
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import httpx
import pytest

from conftest import BINARY, QWEN_ARGS, Server, default_model, free_port, scratch_dir

EMPLOYEE = {"Authorization": "Bearer demo-employee-key"}
BOOKING = "Book meeting room 1 on 2024-03-20 from 14:00 to 15:00 for a design review."


def pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    assert found, "PostgreSQL's server is not installed: run scripts/setup --test"
    return Path(found[-1]).parent


class Postgres:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="fulcrum-pg-")
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        self.run("initdb", "-D", self.data, "-U", "fulcrum", "--auth=trust", "--no-sync")
        self.run("pg_ctl", "-D", self.data, "-l", os.path.join(self.dir, "log"), "-w", "start",
                 "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1")
        self.url = f"postgres://fulcrum@127.0.0.1:{self.port}/postgres"

    def run(self, program, *args):
        command = [str(pg_bin() / program), *args]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def sql(self, statement):
        return self.run("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "fulcrum", "-d", "postgres",
                        "-At", "-c", statement)

    def stop(self):
        self.run("pg_ctl", "-D", self.data, "-m", "immediate", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def shared():
    pg = Postgres()
    servers = []
    try:
        for _ in range(2):
            home = scratch_dir("fulcrum-shared-")
            config = Path(home) / "fulcrum.toml"
            config.write_text(f'state_url = "{pg.url}"\n')
            servers.append(Server(["--config", str(config), "--model", default_model(), *QWEN_ARGS], home=home))
        yield pg, servers
    finally:
        for server in servers:
            server.stop()
        pg.stop()


def say(server, session, text):
    r = httpx.post(f"{server.base_url}/v1/agent/sessions/{session}/messages", headers=EMPLOYEE,
                   json={"content": text}, timeout=600)
    assert r.status_code == 200, r.text
    return r.json()


def test_a_session_begun_on_one_instance_continues_on_the_other(shared):
    _, (a, b) = shared
    session = httpx.post(a.base_url + "/v1/agent/sessions", headers=EMPLOYEE).json()["id"]
    say(a, session, "Hello! My name is Li.")
    listed = httpx.get(b.base_url + "/v1/agent/sessions", headers=EMPLOYEE).json()["data"]
    assert session in [s["id"] for s in listed]
    say(b, session, "Thank you.")
    messages = httpx.get(f"{a.base_url}/v1/agent/sessions/{session}/messages", headers=EMPLOYEE).json()["messages"]
    users = [m["content"] for m in messages if m["role"] == "user"]
    assert users == ["Hello! My name is Li.", "Thank you."], messages


def test_an_action_approved_on_both_instances_at_once_runs_once(shared):
    pg, (a, b) = shared
    session = httpx.post(a.base_url + "/v1/agent/sessions", headers=EMPLOYEE).json()["id"]
    turn = say(a, session, BOOKING)
    assert turn["stop"] == "awaiting_confirmation", turn
    action = turn["pending"][0]
    assert [x["id"] for x in httpx.get(b.base_url + "/v1/actions", headers=EMPLOYEE).json()["data"]] == [action["id"]]
    results = {}

    def approve(name, server):
        r = httpx.post(f"{server.base_url}/v1/actions/{action['id']}/approve", headers=EMPLOYEE,
                       json={"arguments_sha256": action["arguments_sha256"]}, timeout=600)
        results[name] = (r.status_code, r.json())

    threads = [threading.Thread(target=approve, args=(n, s)) for n, s in (("a", a), ("b", b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    statuses = sorted(body.get("status") for _, body in results.values())
    assert statuses == ["already_decided", "executed"], results
    executions = pg.sql("SELECT count(*) FROM audit_log WHERE kind = 'execution' AND data LIKE '%book_room%'")
    assert executions.strip() == "1"


def test_the_one_audit_chain_verifies_and_catches_an_edit(shared):
    pg, (a, _) = shared
    config = Path(a.home) / "fulcrum.toml"
    env = {**os.environ, "FULCRUM_HOME": a.home}
    verify = subprocess.run([str(BINARY), "--config", str(config), "audit", "verify"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert verify.returncode == 0, verify.stderr
    assert "audit log OK" in verify.stdout
    rows = int(pg.sql("SELECT count(*) FROM audit_log").strip())
    users = pg.sql("SELECT DISTINCT kind FROM audit_log").split()
    assert rows > 10 and "decision" in users
    pg.sql("UPDATE audit_log SET data = '{}' WHERE seq = 3")
    broken = subprocess.run([str(BINARY), "--config", str(config), "audit", "verify"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert broken.returncode == 1
    assert "broken at row 3" in broken.stderr and "edited" in broken.stderr, broken.stderr
