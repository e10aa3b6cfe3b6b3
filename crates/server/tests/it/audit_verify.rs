//! `GET /v1/audit/verify`: the auditor reads whether the chain holds, and the first row that
//! does not once someone edits the database behind the server's back.

use axum::http::StatusCode;
use serde_json::Value;

use super::governed::{call, governed, ADMIN, AUDITOR, EMPLOYEE};

#[tokio::test]
async fn the_chain_verifies_until_a_row_is_edited_in_the_database() {
    let g = governed(&["Hello."]);
    // Some rows: a chat completion is audited.
    let body =
        serde_json::json!({"model": "scripted", "messages": [{"role": "user", "content": "Hi"}]});
    let (status, answer) = call(
        &g.app,
        "POST",
        "/v1/chat/completions",
        Some(ADMIN),
        Some(body),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    let (status, report) = call(&g.app, "GET", "/v1/audit/verify", Some(AUDITOR), None).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["ok"], true, "{report}");
    let rows = report["rows"].as_u64().unwrap_or(0);
    assert!(rows >= 1, "{report}");
    assert_eq!(report["first_bad"], Value::Null);

    let database = rusqlite::Connection::open(g.dir.path().join("state.db")).expect("state db");
    database
        .execute(
            "UPDATE audit_log SET data = '{\"edited\": true}' WHERE seq = 1",
            [],
        )
        .expect("edit a row");
    let (_, report) = call(&g.app, "GET", "/v1/audit/verify", Some(AUDITOR), None).await;
    assert_eq!(report["ok"], false, "{report}");
    assert_eq!(report["first_bad"]["seq"], 1, "{report}");
    assert!(report["first_bad"]["reason"]
        .as_str()
        .is_some_and(|r| !r.is_empty()));

    let (status, _) = call(&g.app, "GET", "/v1/audit/verify", Some(EMPLOYEE), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_audit_rows_can_be_filtered_and_a_bad_time_is_refused() {
    let g = governed(&["Hello."]);
    let body =
        serde_json::json!({"model": "scripted", "messages": [{"role": "user", "content": "Hi"}]});
    for key in [ADMIN, EMPLOYEE] {
        let (status, answer) = call(
            &g.app,
            "POST",
            "/v1/chat/completions",
            Some(key),
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    let (status, page) = call(
        &g.app,
        "GET",
        "/v1/audit?kind=chat_completion&user=li.employee&since=2000-01-01",
        Some(AUDITOR),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let rows = page["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(rows.len(), 1, "{page}");
    assert_eq!(rows[0]["user"], "li.employee");
    assert_eq!(rows[0]["kind"], "chat_completion");
    let (status, refused) = call(
        &g.app,
        "GET",
        "/v1/audit?since=last%20week",
        Some(AUDITOR),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(refused["error"]["param"], "since");
}
