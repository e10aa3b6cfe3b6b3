//! The public API's own JSON (agent sessions and turns, streamed events, actions, the audit log,
//! reports), snapshotted: a renamed field in a core crate must not change what clients read.
//! Ids, times and hashes that differ from run to run are redacted; everything else is compared
//! byte for byte with `snapshots/`.

use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use super::governed::{call, governed, hermes, ADMIN, AUDITOR, EMPLOYEE, FINANCE};

/// Keys whose values differ from run to run (or between machines).
const VOLATILE: &[&str] = &[
    "id",
    "session_id",
    "action_id",
    "call_id",
    "tool_call_id",
    "request_id",
    "created",
    "created_at",
    "updated_at",
    "expires_at",
    "decided_at",
    "at",
    "ts",
    "hash",
    "prev_hash",
    "content_base64",
    "files",
    "timings_ms",
    "elapsed_ms",
    "duration_ms",
    "took_ms",
    "latency_ms",
    "seconds",
    "pending_actions",
];

/// `value` with volatile keys' values replaced, and in every string the temporary folder named
/// `dir` and any run of 32 hexadecimal digits (a UUID) replaced.
fn redact(value: &mut Value, dir: &str) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map.iter_mut() {
                if VOLATILE.contains(&key.as_str()) || key.ends_with("_ms") {
                    if !inner.is_null() {
                        *inner = Value::String("[redacted]".into());
                    }
                } else {
                    redact(inner, dir);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| redact(item, dir)),
        Value::String(text) => *text = redact_text(&text.replace(dir, "[dir]")),
        _ => {}
    }
}

fn redact_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    for c in text.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_hexdigit() {
            run.push(c);
            continue;
        }
        out.push_str(if run.len() >= 32 { "[hex]" } else { &run });
        run.clear();
        out.push(c);
    }
    out.pop();
    out
}

fn events(body: &Value) -> Value {
    let text = body.as_str().unwrap_or_default();
    Value::Array(
        text.lines()
            .filter_map(|line| line.strip_prefix("data: "))
            .map(|data| serde_json::from_str(data).unwrap_or(Value::String(data.to_string())))
            .collect(),
    )
}

#[tokio::test]
async fn the_public_api_answers_as_it_did() {
    let refund = hermes(
        "refund_order",
        json!({"order_id": 12345, "reason": "damaged"}),
    );
    let second_refund = hermes("refund_order", json!({"order_id": 67890, "reason": "late"}));
    let search = hermes("search_product", json!({"query": "iPhone 15"}));
    let report_call = hermes(
        "generate_report",
        json!({"month": "2024-03", "formats": ["md"]}),
    );
    let section = "Sales held up well this month.";
    let g = governed(&[
        &refund,
        "Order 12345 is refunded.",
        &second_refund,
        "The refund of order 67890 was not made.",
        &search,
        "The iPhone 15 costs 5999.",
        &report_call,
        section,
        section,
        section,
        section,
        "The March report is written.",
        section,
        section,
        section,
        section,
    ]);
    let mut snapshot = Map::new();
    let mut record = |name: &str, status: StatusCode, body: Value| {
        snapshot.insert(
            name.to_string(),
            json!({"status": status.as_u16(), "body": body}),
        );
    };

    let (status, session) = call(&g.app, "POST", "/v1/agent/sessions", Some(FINANCE), None).await;
    let id = session["id"].as_str().expect("session id").to_string();
    record("create_session", status, session);
    let messages = format!("/v1/agent/sessions/{id}/messages");

    let (status, turn) = call(
        &g.app,
        "POST",
        &messages,
        Some(FINANCE),
        Some(json!({"content": "Refund order 12345, it arrived damaged"})),
    )
    .await;
    let action = turn["pending"][0].clone();
    let action_id = action["id"].as_str().expect("action id").to_string();
    record("turn_awaiting_confirmation", status, turn);
    let (status, pending) = call(&g.app, "GET", "/v1/actions", Some(FINANCE), None).await;
    record("list_pending_actions", status, pending);
    let (status, busy) = call(
        &g.app,
        "POST",
        &messages,
        Some(FINANCE),
        Some(json!({"content": "hello?"})),
    )
    .await;
    record("message_while_waiting", status, busy);
    let (status, approved) = call(
        &g.app,
        "POST",
        &format!("/v1/actions/{action_id}/approve"),
        Some(FINANCE),
        Some(json!({"arguments_sha256": action["arguments_sha256"]})),
    )
    .await;
    record("approve", status, approved);
    let (status, again) = call(
        &g.app,
        "POST",
        &format!("/v1/actions/{action_id}/approve"),
        Some(FINANCE),
        None,
    )
    .await;
    record("approve_again", status, again);

    let (status, turn) = call(
        &g.app,
        "POST",
        &messages,
        Some(FINANCE),
        Some(json!({"content": "Refund order 67890 too, it came late"})),
    )
    .await;
    let second = turn["pending"][0]["id"]
        .as_str()
        .expect("action id")
        .to_string();
    record("second_turn_awaiting_confirmation", status, turn);
    let (status, denied) = call(
        &g.app,
        "POST",
        &format!("/v1/actions/{second}/deny"),
        Some(FINANCE),
        None,
    )
    .await;
    record("deny", status, denied);
    let (status, read_back) = call(&g.app, "GET", &messages, Some(FINANCE), None).await;
    record("session_messages", status, read_back);
    let (status, listed) = call(&g.app, "GET", "/v1/agent/sessions", Some(FINANCE), None).await;
    record("list_sessions", status, listed);

    let (_, session) = call(&g.app, "POST", "/v1/agent/sessions", Some(EMPLOYEE), None).await;
    let employee_session = session["id"].as_str().expect("session id").to_string();
    let (status, streamed) = call(
        &g.app,
        "POST",
        &format!("/v1/agent/sessions/{employee_session}/messages"),
        Some(EMPLOYEE),
        Some(json!({"content": "How much is the iPhone 15?", "stream": true})),
    )
    .await;
    record("streamed_turn_events", status, events(&streamed));
    let (status, refused) = call(&g.app, "GET", "/v1/audit", Some(EMPLOYEE), None).await;
    record("audit_refused", status, refused);

    let (_, session) = call(&g.app, "POST", "/v1/agent/sessions", Some(ADMIN), None).await;
    let admin_session = session["id"].as_str().expect("session id").to_string();
    let (status, turn) = call(
        &g.app,
        "POST",
        &format!("/v1/agent/sessions/{admin_session}/messages"),
        Some(ADMIN),
        Some(json!({"content": "Write the sales report for March 2024"})),
    )
    .await;
    record("report_tool_turn", status, turn);
    let (status, report) = call(
        &g.app,
        "POST",
        "/v1/reports/monthly",
        Some(ADMIN),
        Some(json!({"month": "2024-03", "formats": ["md"]})),
    )
    .await;
    record("report_route", status, report);
    let (status, bad_month) = call(
        &g.app,
        "POST",
        "/v1/reports/monthly",
        Some(ADMIN),
        Some(json!({"month": "March"})),
    )
    .await;
    record("report_bad_month", status, bad_month);

    let (status, audit) = call(&g.app, "GET", "/v1/audit?limit=1000", Some(AUDITOR), None).await;
    record("audit", status, audit);

    let mut snapshot = Value::Object(snapshot);
    redact(&mut snapshot, &g.dir.path().display().to_string());
    insta::assert_json_snapshot!("public_api", snapshot);
}
