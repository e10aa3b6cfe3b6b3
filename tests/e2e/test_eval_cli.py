"""`fulcrum eval bfcl` end to end on the tiny model: the command runs the shipped BFCL data
through the embedded engine's HTTP API, prints the table and writes one JSON line per entry."""
import json
import subprocess
from pathlib import Path

from conftest import BINARY, ROOT, tiny_model_path


def test_eval_bfcl_writes_results_and_a_table(tmp_path):
    out = tmp_path / "results.jsonl"
    run = subprocess.run(
        [str(BINARY), "--log", "warn", "eval", "bfcl", "--model", tiny_model_path(), "--context-size", "4096",
         "--categories", "simple_python,irrelevance", "--limit", "2", "--out", str(out)],
        # From the repository root, the default --data is the BFCL copy inside the repository.
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 0, run.stderr
    assert "| simple_python | 2 |" in run.stdout
    assert "| irrelevance | 2 |" in run.stdout
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    # One line per entry, written as each ends (entries start in order, several at a time).
    assert sorted(line["id"] for line in lines) == ["irrelevance_0", "irrelevance_1", "simple_python_0", "simple_python_1"]
    for line in lines:
        assert isinstance(line["correct"], bool)
        assert line["request_error"] is None, line
        assert line["usage"]["prompt_tokens"] > 0


def test_eval_bfcl_rejects_an_unknown_category():
    run = subprocess.run([str(BINARY), "eval", "bfcl", "--categories", "java"], capture_output=True, text=True)
    assert run.returncode == 1
    assert run.stderr.startswith("error: unknown category `java`")


def test_eval_bfcl_resume_keeps_answered_entries_and_runs_the_rest(tmp_path):
    out = tmp_path / "results.jsonl"

    def run(limit, *extra):
        return subprocess.run(
            [str(BINARY), "--log", "warn", "eval", "bfcl", "--model", tiny_model_path(), "--context-size", "4096",
             "--data", str(ROOT / "eval" / "bfcl"),
             "--categories", "simple_python", "--limit", str(limit), "--out", str(out), *extra],
            capture_output=True, text=True, timeout=600,
        )

    first = run(1)
    assert first.returncode == 0, first.stderr
    kept = out.read_text().splitlines()[0]
    # A run killed mid-write leaves a partial line: it is dropped and asked again.
    with out.open("a") as f:
        f.write('{"id": "simple_python_1", "categ')
    second = run(3, "--resume")
    assert second.returncode == 0, second.stderr
    assert "resuming: 1 entries already answered" in second.stderr
    lines = out.read_text().splitlines()
    assert lines[0] == kept, "the answered entry is kept as it was"
    # The rest, one line each, written as each ends.
    assert sorted(json.loads(line)["id"] for line in lines[1:]) == ["simple_python_1", "simple_python_2"]
    assert "| simple_python | 3 |" in second.stdout
