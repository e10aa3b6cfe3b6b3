use fulcrum_tools::{open_state_database, AuditEvent, AuditLog};
use serde_json::json;

fn log_with_rows(dir: &std::path::Path, rows: usize) -> AuditLog {
    let log = AuditLog::new(open_state_database(&dir.join("state.db")).expect("db")).expect("log");
    for i in 0..rows {
        log.append(AuditEvent::new(
            "user_input",
            json!({"text": format!("message {i}")}),
        ))
        .expect("append");
    }
    log
}

/// Tampers with the table through a separate connection, as someone with file access would.
fn tamper(dir: &std::path::Path, sql: &str) {
    let connection = rusqlite::Connection::open(dir.join("state.db")).expect("db");
    connection.execute_batch(sql).expect("tamper");
}

fn first_bad(log: &AuditLog) -> Option<i64> {
    log.verify().expect("verify").first_bad.map(|(seq, _)| seq)
}

#[test]
fn an_untouched_chain_verifies_and_reports_its_head() {
    let dir = tempfile::tempdir().expect("dir");
    let log = log_with_rows(dir.path(), 5);
    let report = log.verify().expect("verify");
    assert_eq!(report.rows, 5);
    assert_eq!(report.head_seq, 5);
    assert_eq!(report.first_bad, None);
    let last = log.records(4, 1).expect("records");
    assert_eq!(report.head_hash, last[0].hash);
}

#[test]
fn verify_names_the_first_edited_deleted_inserted_or_reordered_row() {
    let cases = [
        // An edit of the content.
        ("UPDATE audit_log SET data = '{\"text\":\"nothing to see\"}' WHERE seq = 3", 3),
        // An edit of who did it.
        ("UPDATE audit_log SET user = 'mallory' WHERE seq = 2", 2),
        // A deletion in the middle.
        ("DELETE FROM audit_log WHERE seq = 3", 4),
        // The first row deleted.
        ("DELETE FROM audit_log WHERE seq = 1", 2),
        // Two rows swapped (their contents exchanged, numbers kept).
        (
            "UPDATE audit_log SET seq = -2 WHERE seq = 2;
             UPDATE audit_log SET seq = 2 WHERE seq = 4;
             UPDATE audit_log SET seq = 4 WHERE seq = -2;",
            2,
        ),
        // A row inserted between two, with a plausible hash of its own.
        (
            "UPDATE audit_log SET seq = seq + 1000 WHERE seq >= 4;
             UPDATE audit_log SET seq = seq - 999 WHERE seq > 1000;
             INSERT INTO audit_log (seq, at, kind, data, prev_hash, hash)
                SELECT 4, at, 'user_input', '{\"text\":\"forged\"}', hash, hash FROM audit_log WHERE seq = 3;",
            4,
        ),
    ];
    for (sql, expected) in cases {
        let dir = tempfile::tempdir().expect("dir");
        let log = log_with_rows(dir.path(), 6);
        tamper(dir.path(), sql);
        assert_eq!(first_bad(&log), Some(expected), "after: {sql}");
    }
}

#[test]
fn export_writes_every_row_as_json_lines() {
    let dir = tempfile::tempdir().expect("dir");
    let log = log_with_rows(dir.path(), 3);
    let mut out = Vec::new();
    assert_eq!(log.export_jsonl(&mut out).expect("export"), 3);
    let lines: Vec<serde_json::Value> = String::from_utf8(out)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[2]["seq"], 3);
    assert_eq!(lines[2]["data"]["text"], "message 2");
    assert_eq!(lines[2]["prev_hash"], lines[1]["hash"]);
}
