//! The policy file's per-user limits over HTTP: refusals at the door and their configuration.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use fulcrum_tools::Registry;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

use super::governed::{call, governed_with, EMPLOYEE, FINANCE};

/// The policy's limits hold each user at the door: a third turn within the minute is a 429
/// naming the limit, with `Retry-After`, counted by reason; another user of the role is not
/// affected.
#[tokio::test]
async fn a_user_over_the_per_minute_limit_gets_a_429_naming_it() {
    let limits = "\n[[limits]]\nrole = \"employee\"\nrequests_per_minute = 2\n";
    let g = governed_with(&["One.", "Two.", "Three."], None, limits);
    let (_, session) = call(&g.app, "POST", "/v1/agent/sessions", Some(EMPLOYEE), None).await;
    let id = session["id"].as_str().expect("id").to_string();
    let uri = format!("/v1/agent/sessions/{id}/messages");
    for turn in ["first", "second"] {
        let (status, body) = call(
            &g.app,
            "POST",
            &uri,
            Some(EMPLOYEE),
            Some(json!({"content": turn})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let request = Request::builder()
        .method("POST")
        .uri(&uri)
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {EMPLOYEE}"))
        .body(Body::from(json!({"content": "third"}).to_string()))
        .expect("request");
    let response = g.app.clone().oneshot(request).await.expect("response");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let body: Value = serde_json::from_slice(&bytes).expect("json");
    assert_eq!(body["error"]["code"], "requests_per_minute_limit", "{body}");
    assert_eq!(body["error"]["type"], "rate_limit_error");
    // The finance user is not an employee: no limit.
    let (_, other) = call(&g.app, "POST", "/v1/agent/sessions", Some(FINANCE), None).await;
    let other = other["id"].as_str().expect("id").to_string();
    let (status, _) = call(
        &g.app,
        "POST",
        &format!("/v1/agent/sessions/{other}/messages"),
        Some(FINANCE),
        Some(json!({"content": "hello"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, metrics) = call(&g.app, "GET", "/metrics", None, None).await;
    let metrics = metrics.as_str().unwrap_or_default().to_string();
    assert!(
        metrics.contains("fulcrum_rejected_total{reason=\"requests_per_minute\"} 1"),
        "{metrics}"
    );
}

/// Tokens are charged when a generation ends, whichever route started it: after one agent
/// turn used more than the role's `tokens_per_minute`, the next request is refused with a 429
/// naming that limit; the agent's step is counted in the metrics by the caller's role.
#[tokio::test]
async fn an_agent_turn_is_metered_and_charged_against_tokens_per_minute() {
    let limits = "\n[[limits]]\nrole = \"employee\"\ntokens_per_minute = 20\n";
    let g = governed_with(&["One two three.", "Four."], None, limits);
    let (_, session) = call(&g.app, "POST", "/v1/agent/sessions", Some(EMPLOYEE), None).await;
    let id = session["id"].as_str().expect("id").to_string();
    let uri = format!("/v1/agent/sessions/{id}/messages");
    let (status, body) = call(
        &g.app,
        "POST",
        &uri,
        Some(EMPLOYEE),
        Some(json!({"content": "first"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "nothing used yet: {body}");
    let (status, body) = call(
        &g.app,
        "POST",
        &uri,
        Some(EMPLOYEE),
        Some(json!({"content": "second"})),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"]["code"], "tokens_per_minute_limit", "{body}");
    let (_, metrics) = call(&g.app, "GET", "/metrics", None, None).await;
    let metrics = metrics.as_str().unwrap_or_default().to_string();
    assert!(
        metrics.contains("fulcrum_queue_wait_by_class_seconds_count{class=\"employee\"} 1"),
        "the agent step is metered by role: {metrics}"
    );
    assert!(
        metrics.contains("fulcrum_rejected_total{reason=\"tokens_per_minute\"} 1"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("fulcrum_completion_tokens_total 0\n"),
        "the step's tokens are counted: {metrics}"
    );
}

/// A limit that names no known role or user, or both, stops the policy from loading.
#[test]
fn a_limit_on_an_unknown_role_is_a_configuration_error() {
    let dir = tempfile::tempdir().expect("dir");
    let policy_path = fulcrum_tools::demo::install(dir.path()).expect("demo");
    let original = std::fs::read_to_string(&policy_path).expect("policy");
    for (extra, expected) in [
        (
            "[[limits]]\nrole = \"intern\"\nconcurrent_requests = 1\n",
            "role `intern`",
        ),
        (
            "[[limits]]\nrole = \"employee\"\nuser = \"admin\"\n",
            "exactly one of",
        ),
        (
            "[[limits]]\nrole = \"employee\"\nconcurrent_requests = 0\n",
            "at least 1",
        ),
    ] {
        std::fs::write(&policy_path, format!("{original}\n{extra}")).expect("write");
        let err = Registry::load(&policy_path).expect_err("refused");
        assert!(err.to_string().contains(expected), "{err}");
    }
}
