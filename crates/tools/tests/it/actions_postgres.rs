//! Pending actions in PostgreSQL, shared by two instances: created on one, listed and read on
//! the other, and approved on both at the same moment, each action claimed exactly once.

use std::time::Duration;

use fulcrum_tools::{ActionState, Actions, ApprovalOutcome, PgConnection, Principal};
use serde_json::json;

use fulcrum_testing::PgCluster as Cluster;

fn instance(cluster: &Cluster) -> Actions {
    Actions::postgres(PgConnection::connect(&cluster.url).expect("connect")).expect("migrated")
}

#[test]
fn an_action_approved_on_two_instances_at_once_is_claimed_once() {
    let cluster = Cluster::start();
    let (a, b) = (instance(&cluster), instance(&cluster));
    let li = Principal {
        user: "li".into(),
        role: "employee".into(),
    };
    let ids: Vec<String> = (0..20)
        .map(|n| {
            a.create(
                &li,
                Some("session-1"),
                "refund_order",
                &json!({"order_id": 1000 + n}),
                "Refund an order",
                Duration::from_secs(600),
            )
            .expect("created")
            .id
        })
        .collect();
    let listed = b.pending_for("li").expect("listed on the other instance");
    assert_eq!(listed.len(), 20);
    assert_eq!(listed[0].arguments, json!({"order_id": 1000}));
    assert_eq!(b.pending_on_tool("refund_order").expect("queue").len(), 20);
    assert!(b.pending_on_tool("book_room").expect("queue").is_empty());

    for id in &ids {
        let outcomes: Vec<ApprovalOutcome> = std::thread::scope(|scope| {
            let claims: Vec<_> = [&a, &b]
                .into_iter()
                .map(|actions| scope.spawn(move || actions.claim(id, "finance", None)))
                .collect();
            claims
                .into_iter()
                .map(|claim| claim.join().expect("thread").expect("decided"))
                .collect()
        });
        let claimed = outcomes
            .iter()
            .filter(|o| matches!(o, ApprovalOutcome::Claimed(_)))
            .count();
        let already = outcomes
            .iter()
            .filter(|o| matches!(o, ApprovalOutcome::AlreadyDecided(_)))
            .count();
        assert_eq!((claimed, already), (1, 1), "{outcomes:?}");
        a.finish(id, true, "{\"rows_affected\":1}")
            .expect("finished");
    }
    let done = b.get(&ids[3]).expect("read").expect("exists");
    assert_eq!(done.state, ActionState::Executed);
    assert_eq!(done.decided_by.as_deref(), Some("finance"));
    assert!(b.pending_for("li").expect("listed").is_empty());
}

#[test]
fn a_denial_and_a_wrong_hash_on_postgres_change_what_they_should() {
    let cluster = Cluster::start();
    let actions = instance(&cluster);
    let li = Principal {
        user: "li".into(),
        role: "employee".into(),
    };
    let create = || {
        actions
            .create(
                &li,
                None,
                "book_room",
                &json!({"room_id": 1}),
                "Book",
                Duration::from_secs(60),
            )
            .expect("created")
    };
    let first = create();
    assert!(matches!(
        actions.claim(&first.id, "boss", Some("not-the-hash")),
        Ok(ApprovalOutcome::HashMismatch(_))
    ));
    assert_eq!(
        actions.get(&first.id).expect("read").expect("exists").state,
        ActionState::Pending,
        "a wrong hash decides nothing"
    );
    assert!(matches!(
        actions.deny(&first.id, "boss"),
        Ok(ApprovalOutcome::Denied(_))
    ));
    assert!(matches!(
        actions.claim(&first.id, "boss", None),
        Ok(ApprovalOutcome::AlreadyDecided(_))
    ));
    let expired = actions
        .create(
            &li,
            None,
            "book_room",
            &json!({"room_id": 2}),
            "Book",
            Duration::ZERO,
        )
        .expect("created");
    assert!(matches!(
        actions.claim(&expired.id, "boss", None),
        Ok(ApprovalOutcome::Expired(_))
    ));
    assert!(matches!(
        actions.claim("act_nothing", "boss", None),
        Err(fulcrum_tools::ToolsError::UnknownAction(_))
    ));
}
