use std::time::Duration;

use fulcrum_tools::{Action, ActionState, CallContext, Decision, Policy, Resolution};
use serde_json::json;

use crate::{as_user, open_policy, refunds_in, Shop, SHOP_POLICY};

fn kinds_and_decisions(shop: &Shop) -> Vec<(String, String)> {
    shop.policy
        .audit()
        .records(0, 1000)
        .expect("records")
        .into_iter()
        .map(|r| {
            let decision = r.event.data["decision"]
                .as_str()
                .or(r.event.data["event"].as_str())
                .unwrap_or("")
                .to_string();
            (r.event.kind, decision)
        })
        .collect()
}

/// Asks for a refund as `context`; it must wait for confirmation.
fn request_refund(policy: &Policy, context: &CallContext, order_id: i64) -> Box<Action> {
    match policy
        .authorize(context, "refund_order", &json!({ "order_id": order_id }))
        .expect("decides")
    {
        Decision::Confirm(action) => action,
        other => panic!("refunds need confirmation: {other:?}"),
    }
}

#[tokio::test]
async fn a_permitted_call_runs_after_its_decision_is_logged() {
    let shop = Shop::new();
    let context = as_user("erin", "employee");
    let Decision::Permit(permit) = shop
        .policy
        .authorize(&context, "query_order", &json!({"order_id": 12345}))
        .expect("decides")
    else {
        panic!("employee may query orders");
    };
    // The decision row exists before the tool runs.
    let rows = shop.policy.audit().records(0, 10).expect("records");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].seq, permit.decision_seq());
    let output = shop.policy.execute(&context, permit).await.expect("runs");
    assert!(output.text.contains("Li Wei"), "{}", output.text);
    assert_eq!(
        kinds_and_decisions(&shop),
        vec![
            ("decision".into(), "permit".into()),
            ("execution".into(), String::new())
        ]
    );
}

#[tokio::test]
async fn a_forbidden_call_is_refused_and_logged() {
    let shop = Shop::new();
    let context = as_user("erin", "employee");
    let decision = shop
        .policy
        .authorize(&context, "refund_order", &json!({"order_id": 12345}))
        .expect("decides");
    let Decision::Deny(reason) = decision else {
        panic!("an employee may not refund: {decision:?}");
    };
    assert!(
        reason.contains("employee") && reason.contains("refund_order"),
        "{reason}"
    );
    assert_eq!(shop.refunds(12345), 0);
    let rows = shop.policy.audit().records(0, 10).expect("records");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].event.data["decision"], "deny");
    assert_eq!(rows[0].event.user.as_deref(), Some("erin"));

    // Unknown tools and arguments outside the schema are refused the same way.
    for (tool, arguments) in [
        ("drop_tables", json!({})),
        (
            "query_order",
            json!({"order_id": "12345; DROP TABLE orders"}),
        ),
        (
            "query_order",
            json!({"order_id": 1, "extra": true, "order_id2": 3}),
        ),
    ] {
        let decision = shop
            .policy
            .authorize(&context, tool, &arguments)
            .expect("decides");
        if tool == "query_order" && arguments.get("extra").is_some() {
            // The schema allows extra properties here; it is the executor that binds only
            // the named parameters.
            assert!(matches!(decision, Decision::Permit(_)), "{decision:?}");
        } else {
            assert!(
                matches!(decision, Decision::Deny(_)),
                "{tool}: {decision:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_sensitive_call_waits_and_runs_once_however_often_it_is_approved() {
    let shop = Shop::new();
    let fiona = as_user("fiona", "finance");
    let action = request_refund(&shop.policy, &fiona, 12345);
    assert_eq!(action.state, ActionState::Pending);
    assert_eq!(action.summary, "Refund order 12345");
    assert_eq!(shop.refunds(12345), 0, "nothing ran before approval");

    let first = shop
        .policy
        .approve(&fiona, &action.id, Some(&action.arguments_sha256))
        .await
        .expect("approve");
    let Resolution::Ran(done, result) = first else {
        panic!("first approval runs it: {first:?}");
    };
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(done.state, ActionState::Executed);
    // Approving again (a retry, a double click) does not run it again.
    let second = shop
        .policy
        .approve(&fiona, &action.id, None)
        .await
        .expect("approve");
    assert!(
        matches!(second, Resolution::AlreadyDecided(_)),
        "{second:?}"
    );
    assert_eq!(shop.refunds(12345), 1);
    let events: Vec<_> = kinds_and_decisions(&shop);
    assert_eq!(
        events,
        vec![
            ("decision".into(), "confirm".into()),
            ("confirmation".into(), "approved".into()),
            ("execution".into(), String::new()),
            ("confirmation".into(), "approve_after_decision".into()),
        ]
    );
}

#[tokio::test]
async fn concurrent_approvals_run_the_action_once() {
    let shop = Shop::new();
    let fiona = as_user("fiona", "finance");
    let action = request_refund(&shop.policy, &fiona, 12346);
    let approvals = (0..8).map(|_| shop.policy.approve(&fiona, &action.id, None));
    let results = futures::future::join_all(approvals).await;
    let ran = results
        .iter()
        .filter(|r| matches!(r, Ok(Resolution::Ran(..))))
        .count();
    assert_eq!(ran, 1);
    assert_eq!(shop.refunds(12346), 1);
}

#[tokio::test]
async fn deny_expiry_and_strangers_never_run_it() {
    let shop = Shop::new();
    let fiona = as_user("fiona", "finance");
    let action = request_refund(&shop.policy, &fiona, 12345);
    // An employee who did not ask, without an approver role, may not decide.
    let erin = as_user("erin", "employee");
    let refused = shop
        .policy
        .approve(&erin, &action.id, None)
        .await
        .expect("answers");
    assert!(matches!(refused, Resolution::NotAllowed(_)), "{refused:?}");
    // Approving other arguments than the stored ones is refused.
    let mismatch = shop
        .policy
        .approve(&fiona, &action.id, Some("00"))
        .await
        .expect("answers");
    assert!(
        matches!(mismatch, Resolution::HashMismatch(_)),
        "{mismatch:?}"
    );
    let denied = shop.policy.deny(&fiona, &action.id).expect("deny");
    assert!(matches!(denied, Resolution::Denied(_)), "{denied:?}");
    let after = shop
        .policy
        .approve(&fiona, &action.id, None)
        .await
        .expect("answers");
    assert!(matches!(after, Resolution::AlreadyDecided(_)), "{after:?}");
    assert_eq!(shop.refunds(12345), 0);

    let hasty = Shop::with_ttl(Duration::from_millis(1));
    let action = request_refund(&hasty.policy, &fiona, 12345);
    std::thread::sleep(Duration::from_millis(20));
    assert!(
        hasty
            .policy
            .actions()
            .pending_for("fiona")
            .expect("listed")
            .is_empty(),
        "an expired action is not listed as waiting"
    );
    let expired = hasty
        .policy
        .approve(&fiona, &action.id, None)
        .await
        .expect("answers");
    assert!(matches!(expired, Resolution::Expired(_)), "{expired:?}");
    assert_eq!(hasty.refunds(12345), 0);
}

#[tokio::test]
async fn a_pending_action_survives_a_restart_and_runs_once() {
    let shop = Shop::new();
    let fiona = as_user("fiona", "finance");
    let action = request_refund(&shop.policy, &fiona, 12345);
    drop(shop.policy);
    let reopened = open_policy(shop.dir.path(), Duration::from_secs(600));
    let pending = reopened.actions().pending_for("fiona").expect("pending");
    assert_eq!(pending.len(), 1);
    let first = reopened
        .approve(&fiona, &action.id, None)
        .await
        .expect("approve");
    assert!(matches!(first, Resolution::Ran(_, Ok(_))), "{first:?}");
    let again = open_policy(shop.dir.path(), Duration::from_secs(600));
    let second = again
        .approve(&fiona, &action.id, None)
        .await
        .expect("approve");
    assert!(
        matches!(second, Resolution::AlreadyDecided(_)),
        "{second:?}"
    );
    let refunds = refunds_in(shop.dir.path(), 12345);
    assert_eq!(refunds, 1);
    assert!(again.audit().verify().expect("verify").first_bad.is_none());
}

/// An approval checks the policy as it is now, not as it was when the call was made: after a
/// restart with a policy that demoted the requester, their pending refund is refused (and
/// closed, audited), not run with the role stored in the action.
#[tokio::test]
async fn a_pending_action_of_a_demoted_user_does_not_run_after_a_policy_change() {
    let shop = Shop::new();
    let fiona = as_user("fiona", "finance");
    let action = request_refund(&shop.policy, &fiona, 12345);
    drop(shop.policy);
    let demoted = SHOP_POLICY.replace(
        "name = \"fiona\"\nrole = \"finance\"",
        "name = \"fiona\"\nrole = \"employee\"",
    );
    assert_ne!(demoted, SHOP_POLICY, "the policy changed");
    std::fs::write(shop.dir.path().join("policy.toml"), demoted).expect("policy");
    let reopened = open_policy(shop.dir.path(), Duration::from_secs(600));
    let approver = as_user("boss", "finance");
    let resolution = reopened
        .approve(&approver, &action.id, None)
        .await
        .expect("decides");
    match resolution {
        Resolution::NotAllowed(reason) => {
            assert!(reason.contains("now has role `employee`"), "{reason}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let refunds = refunds_in(shop.dir.path(), 12345);
    assert_eq!(refunds, 0, "nothing ran");
    let closed = reopened
        .actions()
        .get(&action.id)
        .expect("read")
        .expect("exists");
    assert_eq!(closed.state, ActionState::Denied);
    let rows = reopened.audit().records(0, 100).expect("rows");
    assert!(rows
        .iter()
        .any(|r| r.event.data["event"] == "refused_by_current_policy"));
    assert!(reopened
        .audit()
        .verify()
        .expect("verify")
        .first_bad
        .is_none());
}

/// Four eyes: a tool with `self_approval = false` runs only when someone else of an approver
/// role approves; the requester (even of an approver role) may not, but may still withdraw it.
#[tokio::test]
async fn four_eyes_tools_need_someone_elses_approval() {
    let shop = Shop::new();
    let four_eyes = SHOP_POLICY.replace(
        "approver_roles = [\"finance\"]",
        "approver_roles = [\"finance\"]\nself_approval = false",
    );
    assert_ne!(four_eyes, SHOP_POLICY);
    std::fs::write(shop.dir.path().join("policy.toml"), four_eyes).expect("policy");
    let policy = open_policy(shop.dir.path(), Duration::from_secs(600));
    let fiona = as_user("fiona", "finance");
    let first = request_refund(&policy, &fiona, 12345);
    match policy
        .approve(&fiona, &first.id, None)
        .await
        .expect("answers")
    {
        Resolution::NotAllowed(reason) => assert!(reason.contains("four eyes"), "{reason}"),
        other => panic!("the requester approved their own refund: {other:?}"),
    }
    assert!(
        matches!(
            policy.deny(&fiona, &first.id).expect("answers"),
            Resolution::Denied(_)
        ),
        "the requester may withdraw it"
    );

    let second = request_refund(&policy, &fiona, 12345);
    // Frank, another finance user, approves it.
    let colleague = as_user("frank", "finance");
    let ran = policy
        .approve(&colleague, &second.id, None)
        .await
        .expect("answers");
    assert!(matches!(ran, Resolution::Ran(_, Ok(_))), "{ran:?}");
    let refunds = refunds_in(shop.dir.path(), 12345);
    assert_eq!(refunds, 1);
}

#[test]
fn an_approvers_queue_holds_the_pending_calls_of_the_tools_their_role_approves() {
    let shop = Shop::new();
    let fiona = as_user("fiona", "finance");
    let action = request_refund(&shop.policy, &fiona, 12345);
    let queue_of = |user: &str, role: &str| -> Vec<String> {
        shop.policy
            .approval_queue(&as_user(user, role).principal)
            .expect("queue")
            .into_iter()
            .map(|a| a.id)
            .collect()
    };
    assert_eq!(queue_of("frank", "finance"), vec![action.id.clone()]);
    // The requester finds it among their own actions, not in their queue; other roles not at all.
    assert!(queue_of("fiona", "finance").is_empty());
    assert!(queue_of("erin", "employee").is_empty());
    shop.policy.deny(&fiona, &action.id).expect("deny");
    assert!(
        queue_of("frank", "finance").is_empty(),
        "a decided call leaves the queue"
    );
}
