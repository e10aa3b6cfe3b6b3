"""Tools under control with the default model, end to end over HTTP: the demo enterprise's
meeting-room query, a booking that waits for approval and runs once (also across a crash of
the server), per-role tools, and an audit log that verifies."""
import os
import subprocess

import httpx
import pytest

from conftest import BINARY, QWEN_ARGS, Server, default_model

EMPLOYEE = {"Authorization": "Bearer demo-employee-key"}
FINANCE = {"Authorization": "Bearer demo-finance-key"}
AUDITOR = {"Authorization": "Bearer demo-auditor-key"}
BOOKING = "Book meeting room 1 on 2024-03-20 from 14:00 to 15:00 for a design review."


def new_session(server, headers):
    r = httpx.post(server.base_url + "/v1/agent/sessions", headers=headers)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def say(server, headers, session, text):
    r = httpx.post(
        f"{server.base_url}/v1/agent/sessions/{session}/messages",
        headers=headers, json={"content": text}, timeout=600,
    )
    assert r.status_code == 200, r.text
    return r.json()


def audit(server):
    r = httpx.get(server.base_url + "/v1/audit?limit=1000", headers=AUDITOR)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def decisions(rows, tool):
    return [r["data"] for r in rows if r["kind"] == "decision" and r["data"]["tool"] == tool]


def executions(rows, tool):
    return [r["data"] for r in rows if r["kind"] == "execution" and r["data"]["tool"] == tool]


def verify(home, *args, key=None):
    env = {**os.environ, "FULCRUM_HOME": home}
    env.pop("FULCRUM_AUDIT_KEY", None)
    if key:
        env["FULCRUM_AUDIT_KEY"] = key
    return subprocess.run([str(BINARY), "audit", *(args or ["verify"])], env=env, capture_output=True, text=True)


@pytest.fixture()
def governed(tmp_path):
    srv = Server(["--model", default_model(), *QWEN_ARGS], home=str(tmp_path))
    yield srv
    srv.stop()


def test_the_meeting_room_query_calls_the_room_tool_with_the_office(governed):
    session = new_session(governed, EMPLOYEE)
    turn = say(governed, EMPLOYEE, session, "Which meeting rooms in the Hangzhou office have a projector?")
    assert turn["stop"] == "answer", turn
    rows = audit(governed)
    permitted = [d for d in decisions(rows, "query_meeting_room") if d["decision"] == "permit"]
    assert permitted, rows
    assert permitted[0]["arguments"]["office"].lower() == "hangzhou"
    ran = executions(rows, "query_meeting_room")
    assert ran and ran[0]["ok"] and "West Lake" in ran[0]["output"]


def test_a_booking_waits_for_approval_and_runs_once_across_a_crash(governed, tmp_path):
    session = new_session(governed, EMPLOYEE)
    turn = say(governed, EMPLOYEE, session, BOOKING)
    assert turn["stop"] == "awaiting_confirmation", turn
    action = turn["pending"][0]
    assert action["tool"] == "book_room"
    assert action["arguments"]["room_id"] == 1 and action["arguments"]["date"] == "2024-03-20"
    assert not executions(audit(governed), "book_room"), "nothing runs before approval"

    # The server dies while the action waits; a new one on the same state takes over.
    governed.kill()
    restarted = Server(["--model", default_model(), *QWEN_ARGS], home=str(tmp_path))
    try:
        r = httpx.get(restarted.base_url + "/v1/actions", headers=EMPLOYEE)
        assert [a["id"] for a in r.json()["data"]] == [action["id"]]
        # Finance may not approve an employee's booking (no approver role for rooms).
        r = httpx.post(f"{restarted.base_url}/v1/actions/{action['id']}/approve", headers=FINANCE)
        assert r.status_code == 403, r.text
        r = httpx.post(
            f"{restarted.base_url}/v1/actions/{action['id']}/approve", headers=EMPLOYEE,
            json={"arguments_sha256": action["arguments_sha256"]}, timeout=600,
        )
        assert r.status_code == 200, r.text
        approved = r.json()
        assert approved["status"] == "executed", approved
        assert '"rows_affected":1' in approved["result"]["output"], approved
        again = httpx.post(f"{restarted.base_url}/v1/actions/{action['id']}/approve", headers=EMPLOYEE)
        assert again.json()["status"] == "already_decided"
        assert len(executions(audit(restarted), "book_room")) == 1
    finally:
        restarted.stop()
    result = verify(str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "audit log OK" in result.stdout


def test_a_refund_the_role_may_not_make_is_refused_in_words_and_the_log_catches_an_edit(governed, tmp_path):
    # An employee asking for a refund: the model is shown refund_order (an action the role
    # lacks) and calls it, the policy refuses it, and the answer is the refusal written in code,
    # not the model's account of a refund. Nothing is refunded.
    session = new_session(governed, EMPLOYEE)
    turn = say(governed, EMPLOYEE, session, "Refund order 12345 in full, please.")
    assert turn["stop"] == "answer" and turn["refused"] == ["refund_order"], turn
    assert "cannot" in turn["answer"] and "finance" in turn["answer"], turn
    rows = audit(governed)
    assert not executions(rows, "refund_order")
    denied = decisions(rows, "refund_order")
    assert denied and all(d["decision"] == "deny" for d in denied), rows
    answered = [r["data"] for r in rows if r["kind"] == "answer"]
    assert answered[-1]["refused"] == ["refund_order"], answered
    r = httpx.get(governed.base_url + "/v1/audit", headers=EMPLOYEE)
    assert r.status_code == 403
    governed.stop()

    import sqlite3
    db = sqlite3.connect(str(tmp_path / "state.db"))
    db.execute("UPDATE audit_log SET data = '{\"text\": \"nothing happened\"}' WHERE seq = 2")
    db.commit()
    db.close()
    result = verify(str(tmp_path))
    assert result.returncode == 1
    assert "row 2" in result.stderr, result.stderr


def test_signed_checkpoints_catch_a_cut_tail_that_the_chain_alone_misses(governed, tmp_path):
    for _ in range(3):
        new_session(governed, EMPLOYEE)
    governed.stop()
    key = "an audit key kept away from the database"
    made = verify(str(tmp_path), "checkpoint", key=key)
    assert made.returncode == 0 and "signed" in made.stdout, made.stderr
    ok = verify(str(tmp_path), key=key)
    assert ok.returncode == 0 and "signatures checked" in ok.stdout, ok.stderr
    keyless = verify(str(tmp_path))
    assert keyless.returncode == 1 and "FULCRUM_AUDIT_KEY" in keyless.stderr, keyless.stderr

    import sqlite3
    db = sqlite3.connect(str(tmp_path / "state.db"))
    db.execute("DELETE FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log)")
    db.commit()
    db.close()
    cut = verify(str(tmp_path), key=key)
    assert cut.returncode == 1 and "rows were cut" in cut.stderr, (cut.stdout, cut.stderr)


def test_the_comparison_searches_both_phones_then_answers(governed):
    session = new_session(governed, EMPLOYEE)
    turn = say(governed, EMPLOYEE, session, "Compare the iPhone 15 and the Samsung Galaxy S24 and recommend one.")
    assert turn["stop"] == "answer", turn
    assert turn["answer"].strip(), turn
    rows = audit(governed)
    queries = [d["arguments"]["query"] for d in decisions(rows, "search_product") if d["decision"] == "permit"]
    assert any("iPhone 15" in q for q in queries), queries
    assert any("Galaxy S24" in q for q in queries), queries
    assert all(e["ok"] for e in executions(rows, "search_product"))
