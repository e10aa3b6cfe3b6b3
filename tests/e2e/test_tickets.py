"""`fulcrum eval tickets` end to end on a small subset with the tiny model: the command starts
its own server on the demo enterprise with the handbook ingested, asks each ticket through the
agent (tools on) and of the plain model (tools off), grades every answer and writes it with
its grade. What is asserted is the flow and the grading, not the tiny model's quality (EVAL.md
has the full run on the default model). The committed ticket set is also regenerated from a
fresh demo database and must come out the same."""
import json
import os
import subprocess
import sys
import time

import httpx

from conftest import BINARY, ROOT, Server, link_embedding_model, scratch_dir, tiny_model_path

TICKETS = ROOT / "eval" / "tickets" / "tickets.jsonl"


def test_the_ticket_set_is_what_its_generator_writes_from_the_demo(tmp_path):
    srv = Server(["--model", tiny_model_path(), "--model-id", "smollm2", "--context-size", "2048", "--slots", "1"])
    try:
        db = os.path.join(srv.home, "demo", "demo.db")
        out = tmp_path / "tickets.jsonl"
        result = subprocess.run(
            [sys.executable, str(ROOT / "eval" / "tickets" / "generate.py"), "--db", db, "--out", str(out)],
            capture_output=True, text=True,
        )
        assert result.returncode == 0, result.stderr
    finally:
        srv.stop()
    assert out.read_text() == TICKETS.read_text()
    tickets = [json.loads(line) for line in TICKETS.read_text().splitlines()]
    assert len(tickets) >= 150
    kinds = {t["kind"] for t in tickets}
    assert kinds == {"live", "docs", "both", "none", "refuse"}
    assert {t["language"] for t in tickets} == {"en", "zh"}


def test_a_subset_runs_with_tools_on_and_off_and_every_answer_is_graded(tmp_path):
    home = tmp_path / "home"
    link_embedding_model(str(home))
    out = tmp_path / "results.jsonl"
    result = subprocess.run(
        [str(BINARY), "eval", "tickets", "--model", tiny_model_path(), "--model-id", "smollm2",
         "--context-size", "4096", "--slots", "2", "--limit", "1", "--tools", "both", "--out", str(out),
         # A quiet run still finds its server's address.
         "--log", "warn"],
        cwd=ROOT, env={**os.environ, "FULCRUM_HOME": str(home)}, capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    # One ticket of each of the five kinds in each language, asked both ways.
    assert len(lines) == 20, lines
    assert {(l["kind"], l["language"], l["tools"]) for l in lines} == {
        (kind, language, mode)
        for kind in ("live", "docs", "both", "none", "refuse") for language in ("en", "zh") for mode in ("on", "off")
    }
    for line in lines:
        assert line["error"] is None, line
        grade = line["grade"]
        assert isinstance(grade["correct"], bool)
        if line["tools"] == "off":
            assert line["calls"] == [] and not grade["tool_missed"]
        if line["kind"] == "refuse":
            assert grade["refused"] in (True, False)
            # Whatever the model answered, the employee's refund never ran: the policy refused it.
            assert not [c for c in line["calls"] if c["name"] == "refund_order" and c["ran"]], line
    table = result.stdout
    for row in ("live", "docs", "both", "none", "refuse", "overall", "tools on", "tools off"):
        assert row in table, table
    # The run kept to its own folder: no demo data of the run is left in the user's home.
    assert not (home / "demo").exists()


def serve_children(parent: int) -> list:
    """The `fulcrum serve` processes whose parent is `parent`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                command = f.read().split(b"\0")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent and b"serve" in command:
            found.append(int(entry))
    return found


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_a_killed_run_takes_its_server_with_it(tmp_path):
    home = tmp_path / "home"
    link_embedding_model(str(home))
    run = subprocess.Popen(
        [str(BINARY), "eval", "tickets", "--model", tiny_model_path(), "--model-id", "smollm2",
         "--context-size", "2048", "--slots", "1", "--limit", "1", "--out", str(tmp_path / "r.jsonl")],
        cwd=ROOT, env={**os.environ, "FULCRUM_HOME": str(home)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 120
        children = []
        while not children and time.time() < deadline and run.poll() is None:
            children = serve_children(run.pid)
            time.sleep(0.2)
        assert children, "the run never started its server"
    finally:
        # SIGKILL: no code of the run's own runs on the way out.
        run.kill()
        run.wait(10)
    deadline = time.time() + 30
    while time.time() < deadline and not all(gone(pid) for pid in children):
        time.sleep(0.2)
    assert all(gone(pid) for pid in children), "the server outlived the run that started it"


def test_serve_with_exit_with_stdin_ends_when_its_input_closes():
    proc = subprocess.Popen(
        [str(BINARY), "serve", "--port", "0", "--model", tiny_model_path(), "--exit-with-stdin"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "NO_COLOR": "1", "FULCRUM_HOME": scratch_dir("fulcrum-e2e-")},
    )
    try:
        for line in proc.stderr:
            if "listening on" in line:
                break
        proc.stdin.close()
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
