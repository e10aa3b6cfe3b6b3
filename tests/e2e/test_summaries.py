"""Long-document summaries end to end with the tiny model on one short generated report:
`fulcrum summarize` writes a summary whose every point cites a section of the report, and
`fulcrum eval summaries` summarizes the report both ways (map-reduce and whole) and grades
each summary. What is asserted is the flow and the grading, and that no summary carries a
number the report does not — not the tiny model's coverage (EVAL.md has the default model's
run over the five long reports). The committed set is also regenerated and must come out
the same."""
import json
import os
import subprocess
import sys

from conftest import BINARY, ROOT, tiny_model_path

SET = ROOT / "eval" / "summaries"


def generate(out, *extra):
    result = subprocess.run(
        [sys.executable, str(SET / "generate.py"), "--out", str(out), *extra],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in (out / "reports.jsonl").read_text().splitlines()]


def run(args, home, timeout=600):
    return subprocess.run(
        [str(BINARY), *args], cwd=ROOT, env={**os.environ, "FULCRUM_HOME": str(home)},
        capture_output=True, text=True, timeout=timeout,
    )


def test_the_committed_set_is_what_its_generator_writes(tmp_path):
    cases = generate(tmp_path)
    assert (tmp_path / "reports.jsonl").read_text() == (SET / "reports.jsonl").read_text()
    assert len(cases) >= 5
    for case in cases:
        text = (tmp_path / case["file"]).read_text()
        assert text == (SET / case["file"]).read_text(), case["file"]
        # 20-30K tokens at ~3.8 characters a token (EVAL.md gives the model's own counts).
        assert 76_000 < len(text) < 114_000, (case["file"], len(text))
        deep = [item for item in case["items"] if item["deep"]]
        assert len(deep) == 1 and deep[0]["kind"] == "risk", case["items"]
        assert 3 <= sum(item["kind"] == "indicator" for item in case["items"]) <= 5
        assert 2 <= sum(item["kind"] == "risk" for item in case["items"]) <= 3
        # The deep item sits in one sentence near the middle.
        at = text.index("Accounts receivable turnover")
        assert 0.3 < at / len(text) < 0.7


def test_summarize_cites_sections_of_the_report_and_refuses_a_bad_file(tmp_path):
    case = generate(tmp_path, "--short")[0]
    report = tmp_path / case["file"]
    headings = {line.lstrip("#").strip() for line in report.read_text().splitlines() if line.startswith("#")}
    out = tmp_path / "summary.json"
    result = run(["summarize", str(report), "--model", tiny_model_path(), "--context-size", "4096",
                  "--slots", "2", "--json", "--out", str(out)], tmp_path / "home")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(out.read_text())
    assert summary["title"] == case["title"]
    assert summary["mode"] == "map_reduce"
    stats = summary["stats"]
    assert stats["sections"] > 10 and stats["parts"] >= 1 and stats["model_calls"] >= stats["parts"]
    assert stats["largest_prompt_tokens"] <= 20_000
    for point in summary["indicators"] + summary["risks"] + summary["other"]:
        assert point["section"] in headings, point
        assert point["text"], point

    missing = run(["summarize", str(tmp_path / "nothing.md"), "--model", tiny_model_path()], tmp_path / "home")
    assert missing.returncode == 1
    assert missing.stderr.strip().startswith("error:") and len(missing.stderr.strip().splitlines()) == 1
    whole = run(["summarize", str(report), "--model", tiny_model_path(), "--context-size", "1024",
                 "--slots", "1", "--mode", "whole"], tmp_path / "home")
    assert whole.returncode == 1
    assert "use map-reduce" in whole.stderr, whole.stderr


def test_eval_summaries_grades_both_modes_and_no_summary_invents_a_number(tmp_path):
    case = generate(tmp_path, "--short")[0]
    out = tmp_path / "results.jsonl"
    result = run(["eval", "summaries", "--set", str(tmp_path), "--model", tiny_model_path(),
                  "--context-size", "4096", "--slots", "1", "--mode", "both", "--out", str(out)],
                 tmp_path / "home", timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["by"] for line in lines] == ["fulcrum map-reduce", "fulcrum whole"]
    ids = {item["id"] for item in case["items"]}
    for line in lines:
        assert line["error"] is None, line
        grade = line["grade"]
        assert set(grade["covered"]) | set(grade["missed"]) == ids
        assert not set(grade["covered"]) & set(grade["missed"])
        # Every number of a summary passed the check against the report.
        assert grade["invented"] == [], line["summary"]
        assert line["summary"].startswith("# Summary: "), line["summary"]
    assert "fulcrum map-reduce" in result.stdout and "fulcrum whole" in result.stdout
