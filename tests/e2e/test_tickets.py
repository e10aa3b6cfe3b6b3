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

import httpx

from conftest import BINARY, ROOT, Server, link_embedding_model, tiny_model_path

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
