//! The audit log in PostgreSQL, as several Fulcrum instances share it: appends from two
//! connections at once make one chain that verifies, and an edited row breaks it where the
//! edit is. A real PostgreSQL server, started for the test.

use fulcrum_tools::{AuditEvent, AuditLog, PgConnection};
use serde_json::json;

use fulcrum_testing::PgCluster as Cluster;

#[test]
fn two_instances_appending_at_once_make_one_chain_that_catches_an_edit() {
    let cluster = Cluster::start();
    let instances: Vec<AuditLog> = (0..2)
        .map(|_| {
            AuditLog::postgres(PgConnection::connect(&cluster.url).expect("connect"))
                .expect("migrated")
        })
        .collect();
    std::thread::scope(|scope| {
        for (n, log) in instances.iter().enumerate() {
            scope.spawn(move || {
                for i in 0..40 {
                    let event = AuditEvent {
                        user: Some(format!("instance-{n}")),
                        ..AuditEvent::new("decision", json!({"instance": n, "call": i}))
                    };
                    log.append(event).expect("appended");
                }
            });
        }
    });
    let report = instances[1].verify().expect("verify");
    assert_eq!(report.rows, 80);
    assert_eq!(report.head_seq, 80);
    assert_eq!(report.first_bad, None, "{report:?}");
    // Both instances' rows are in the one chain, interleaved as they came.
    let rows = instances[0].records(0, 1_000).expect("records");
    let firsts: Vec<_> = rows.iter().map(|r| r.event.user.clone()).collect();
    assert!(
        firsts.contains(&Some("instance-0".into())) && firsts.contains(&Some("instance-1".into()))
    );

    // Someone with database access edits row 30.
    let admin = PgConnection::connect(&cluster.url).expect("connect");
    admin
        .run(|client| {
            client.execute(
                "UPDATE audit_log SET data = '{\"instance\":0,\"call\":99}' WHERE seq = 30",
                &[],
            )
        })
        .expect("edited");
    let report = instances[0].verify().expect("verify");
    let (seq, reason) = report.first_bad.expect("the edit is caught");
    assert_eq!(seq, 30);
    assert!(reason.contains("edited"), "{reason}");
}

#[test]
fn a_second_instance_starting_on_migrated_tables_keeps_the_chain() {
    let cluster = Cluster::start();
    let first = AuditLog::postgres(PgConnection::connect(&cluster.url).expect("connect"))
        .expect("migrated");
    first
        .append(AuditEvent::new("user_input", json!({"text": "hi"})))
        .expect("appended");
    drop(first);
    let second = AuditLog::postgres(PgConnection::connect(&cluster.url).expect("connect"))
        .expect("migrations already applied are skipped");
    let record = second
        .append(AuditEvent::new("answer", json!({"text": "hello"})))
        .expect("appended");
    assert_eq!(record.seq, 2);
    assert_eq!(second.verify().expect("verify").first_bad, None);
}

#[test]
fn a_wrong_state_url_is_a_clear_error() {
    let err = PgConnection::connect("postgres://fulcrum@127.0.0.1:1/postgres")
        .err()
        .expect("nothing listens on port 1")
        .to_string();
    assert!(err.contains("cannot connect to PostgreSQL"), "{err}");
    let err = PgConnection::connect("not a url at all ::")
        .err()
        .expect("not a URL")
        .to_string();
    assert!(err.contains("not a PostgreSQL URL"), "{err}");
}

#[test]
fn filters_select_exactly_their_rows_in_postgres() {
    let cluster = Cluster::start();
    let log = AuditLog::postgres(PgConnection::connect(&cluster.url).expect("connect"))
        .expect("migrated");
    super::audit::filters_select_exactly_their_rows(&log);
}
