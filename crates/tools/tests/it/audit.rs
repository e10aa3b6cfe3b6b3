use fulcrum_tools::{open_state_database, AuditEvent, AuditFilter, AuditLog};
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

/// A 0600 key file in `dir` and the key read from it.
fn audit_key(dir: &std::path::Path) -> fulcrum_tools::AuditKey {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("audit.key");
    std::fs::write(&path, "a-long-enough-secret-key").expect("key");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let refused = fulcrum_tools::AuditKey::from_file(&path).expect_err("readable by others");
    assert!(refused.to_string().contains("chmod 600"), "{refused}");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    fulcrum_tools::AuditKey::from_file(&path).expect("key")
}

/// Ten rows checkpointed every four (and at the start), signed with a key kept outside.
fn anchored_log(dir: &std::path::Path) -> (AuditLog, fulcrum_tools::AuditKey, std::path::PathBuf) {
    let key = audit_key(dir);
    let checkpoints = dir.join("checkpoints.jsonl");
    let log = log_with_rows(dir, 0);
    let anchor = fulcrum_tools::AuditAnchor::new(checkpoints.clone(), Some(key.clone()), 4);
    log.anchor_with(std::sync::Arc::new(anchor))
        .expect("anchor");
    for i in 0..10 {
        log.append(AuditEvent::new(
            "user_input",
            json!({"text": format!("message {i}")}),
        ))
        .expect("append");
    }
    (log, key, checkpoints)
}

fn anchor_problem(
    log: &AuditLog,
    checkpoints: &std::path::Path,
    key: &fulcrum_tools::AuditKey,
) -> Option<String> {
    let recorded = fulcrum_tools::read_checkpoints(checkpoints).expect("checkpoints");
    let report = log
        .verify_anchored(&fulcrum_tools::AnchorCheck {
            checkpoints: &recorded,
            key: Some(key),
            expect_head: None,
        })
        .expect("verify");
    report.anchor_problem
}

#[test]
fn checkpoints_show_a_consistent_rewrite_a_cut_tail_and_an_emptied_table() {
    let dir = tempfile::tempdir().expect("dir");
    let (log, key, checkpoints) = anchored_log(dir.path());
    assert_eq!(
        fulcrum_tools::read_checkpoints(&checkpoints)
            .expect("read")
            .len(),
        2,
        "rows 4 and 8"
    );
    assert_eq!(anchor_problem(&log, &checkpoints, &key), None);

    // Rows 5 onward rewritten with a consistent chain (by someone writing the file, not
    // through Fulcrum's anchored log): the chain alone says OK.
    tamper(dir.path(), "DELETE FROM audit_log WHERE seq >= 5");
    let forger = log_with_rows(dir.path(), 0);
    for i in 0..6 {
        forger
            .append(AuditEvent::new(
                "user_input",
                json!({"text": format!("rewritten {i}")}),
            ))
            .expect("append");
    }
    assert_eq!(
        first_bad(&log),
        None,
        "a consistent rewrite fools the chain"
    );
    let problem = anchor_problem(&log, &checkpoints, &key).expect("caught");
    assert!(
        problem.contains("row 8") && problem.contains("rewritten"),
        "{problem}"
    );

    let dir = tempfile::tempdir().expect("dir");
    let (log, key, checkpoints) = anchored_log(dir.path());
    tamper(dir.path(), "DELETE FROM audit_log WHERE seq >= 7");
    assert_eq!(first_bad(&log), None, "a cut tail fools the chain");
    let problem = anchor_problem(&log, &checkpoints, &key).expect("caught");
    assert!(
        problem.contains("ends at row 6") && problem.contains("row 8"),
        "{problem}"
    );

    tamper(dir.path(), "DELETE FROM audit_log");
    let problem = anchor_problem(&log, &checkpoints, &key).expect("caught");
    assert!(problem.contains("ends at row 0"), "{problem}");
}

#[test]
fn a_forged_checkpoint_and_a_missing_expected_head_are_reported() {
    let dir = tempfile::tempdir().expect("dir");
    let (log, key, checkpoints) = anchored_log(dir.path());
    let head = log.verify().expect("verify").head_hash;
    let mut recorded = fulcrum_tools::read_checkpoints(&checkpoints).expect("read");
    // Someone without the key moves the last checkpoint back to hide a cut.
    recorded[1].seq = 6;
    let report = log
        .verify_anchored(&fulcrum_tools::AnchorCheck {
            checkpoints: &recorded,
            key: Some(&key),
            expect_head: None,
        })
        .expect("verify");
    assert!(report
        .anchor_problem
        .expect("caught")
        .contains("wrong signature"));

    let check = |expect_head: &str| {
        log.verify_anchored(&fulcrum_tools::AnchorCheck {
            expect_head: Some(expect_head),
            ..Default::default()
        })
        .expect("verify")
        .anchor_problem
    };
    assert_eq!(check(&head), None);
    tamper(dir.path(), "DELETE FROM audit_log WHERE seq = 10");
    assert!(check(&head).expect("caught").contains("expected head"));
}

/// Appends rows of two users, kinds, tools and sessions, and checks that each filter (and two
/// together) returns exactly its rows, paged by `seq`. Shared with the PostgreSQL test.
pub(super) fn filters_select_exactly_their_rows(log: &AuditLog) {
    let rows = [
        ("ana", "decision", Some("refund_order"), Some("s1")),
        ("ana", "execution", Some("refund_order"), Some("s1")),
        ("bo", "decision", Some("query_stock"), Some("s2")),
        ("bo", "chat_completion", None, None),
        ("ana", "decision", Some("query_stock"), Some("s3")),
    ];
    for (user, kind, tool, session) in rows {
        log.append(AuditEvent {
            user: Some(user.into()),
            session_id: session.map(str::to_string),
            ..AuditEvent::new(kind, json!({"tool": tool}))
        })
        .expect("append");
    }
    let seqs = |filter: AuditFilter| -> Vec<i64> {
        log.records_matching(0, 100, &filter)
            .expect("records")
            .iter()
            .map(|r| r.seq)
            .collect()
    };
    assert_eq!(seqs(AuditFilter::default()), [1, 2, 3, 4, 5]);
    let user = |name: &str| AuditFilter {
        user: Some(name.into()),
        ..AuditFilter::default()
    };
    assert_eq!(seqs(user("ana")), [1, 2, 5]);
    assert_eq!(
        seqs(AuditFilter {
            kind: Some("decision".into()),
            ..user("ana")
        }),
        [1, 5]
    );
    let tool = AuditFilter {
        tool: Some("query_stock".into()),
        ..AuditFilter::default()
    };
    assert_eq!(seqs(tool), [3, 5]);
    let session = AuditFilter {
        session_id: Some("s1".into()),
        ..AuditFilter::default()
    };
    assert_eq!(seqs(session.clone()), [1, 2]);
    // Paged: after the first match, at most one.
    let paged: Vec<i64> = log
        .records_matching(1, 1, &session)
        .expect("records")
        .iter()
        .map(|r| r.seq)
        .collect();
    assert_eq!(paged, [2]);
    // Times: everything was written today, nothing before 2000 or from tomorrow on.
    let since = |text: &str| AuditFilter {
        since: AuditFilter::time(text),
        ..AuditFilter::default()
    };
    assert_eq!(seqs(since("2000-01-01")).len(), 5);
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    assert!(seqs(since(&tomorrow)).is_empty());
    let until_2000 = AuditFilter {
        until: AuditFilter::time("2000-01-01T00:00:00+08:00"),
        ..AuditFilter::default()
    };
    assert!(seqs(until_2000).is_empty());
    assert_eq!(AuditFilter::time("yesterday"), None);
}

#[test]
fn filters_select_exactly_their_rows_in_sqlite() {
    let dir = tempfile::tempdir().expect("dir");
    filters_select_exactly_their_rows(&log_with_rows(dir.path(), 0));
}
