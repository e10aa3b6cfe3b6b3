//! What the web console stands on: its page served without a key and kept to this server,
//! `/v1/me` per role, the approver's queue, and the events a screen shows (passages and
//! context of a turn, a report's progress).

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::governed::{
    call, governed, governed_with_passages, hermes, AdminStrategy, ADMIN, AUDITOR, EMPLOYEE,
    FINANCE,
};

const SUPERVISOR: &str = "demo-supervisor-key";

fn events(body: &Value) -> Vec<Value> {
    let text = body.as_str().expect("an event stream");
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    text.lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .filter(|data| *data != "[DONE]")
        .map(|data| serde_json::from_str(data).expect("event json"))
        .collect()
}

#[tokio::test]
async fn the_page_and_its_assets_need_no_key_and_load_only_from_this_server() {
    let g = governed(&[]);
    for (path, media_type) in [
        ("/", "text/html"),
        ("/console/app.js", "text/javascript"),
        ("/console/i18n.js", "text/javascript"),
        ("/console/app.css", "text/css"),
    ] {
        let response = g
            .app
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).expect("request"))
            .await
            .expect("response");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        assert!(header("content-type").starts_with(media_type), "{path}");
        assert!(
            header("content-security-policy").starts_with("default-src 'self'"),
            "{path}"
        );
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let text = String::from_utf8_lossy(&body);
        // Nothing names another host: no CDN, no web font, no analytics.
        assert!(
            !text.contains("http://") && !text.contains("https://"),
            "{path}"
        );
    }
    let (status, missing) = call(&g.app, "GET", "/console/nothing.js", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
    // The API stays behind the key.
    let (status, _) = call(&g.app, "GET", "/v1/me", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn me_says_what_each_role_may_do_as_the_api_decides_it() {
    let g = governed(&[]);
    let me = |key: &'static str| {
        let app = g.app.clone();
        async move {
            let (status, me) = call(&app, "GET", "/v1/me", Some(key), None).await;
            assert_eq!(status, StatusCode::OK, "{me}");
            me
        }
    };
    let employee = me(EMPLOYEE).await;
    assert_eq!(employee["user"], "li.employee");
    assert_eq!(employee["role"], "employee");
    let tools: Vec<&str> = employee["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(tools.contains(&"book_room") && !tools.contains(&"refund_order"));
    assert_eq!(employee["approves"], json!([]));
    assert_eq!(
        employee["may"],
        json!({"chat": true, "read_audit": false, "manage_knowledge": false, "write_reports": false})
    );
    assert_eq!(me(FINANCE).await["approves"], json!(["refund_order"]));
    assert_eq!(me(AUDITOR).await["may"]["read_audit"], true);
    let admin = me(ADMIN).await;
    assert_eq!(admin["may"]["manage_knowledge"], true);
    assert_eq!(admin["may"]["write_reports"], true);
    // What `me` says matches what the API does.
    let (status, _) = call(&g.app, "GET", "/v1/audit", Some(EMPLOYEE), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_supervisors_refund_waits_in_the_finance_queue_and_leaves_it_when_decided() {
    let refund = hermes(
        "refund_order",
        json!({"order_id": 12345, "reason": "damaged"}),
    );
    let g = governed(&[&refund, "The refund is done."]);
    let (_, session) = call(&g.app, "POST", "/v1/agent/sessions", Some(SUPERVISOR), None).await;
    let id = session["id"].as_str().expect("id");
    let (status, turn) = call(
        &g.app,
        "POST",
        &format!("/v1/agent/sessions/{id}/messages"),
        Some(SUPERVISOR),
        Some(json!({"content": "Refund order 12345, it came back damaged"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{turn}");
    assert_eq!(turn["stop"], "awaiting_confirmation", "{turn}");
    let action = turn["pending"][0]["id"]
        .as_str()
        .expect("action")
        .to_string();
    let queue = |key: &'static str| {
        let app = g.app.clone();
        async move {
            let (status, list) = call(&app, "GET", "/v1/actions/queue", Some(key), None).await;
            assert_eq!(status, StatusCode::OK, "{list}");
            list["data"]
                .as_array()
                .expect("data")
                .iter()
                .map(|a| a["id"].as_str().unwrap_or_default().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(queue(FINANCE).await, vec![action.clone()]);
    // Not the requester's queue (it is among their own actions), nor another role's.
    assert!(queue(SUPERVISOR).await.is_empty());
    assert!(queue(EMPLOYEE).await.is_empty());
    let (_, own) = call(&g.app, "GET", "/v1/actions", Some(SUPERVISOR), None).await;
    assert_eq!(own["data"][0]["id"], action.as_str());
    let (status, decided) = call(
        &g.app,
        "POST",
        &format!("/v1/actions/{action}/approve"),
        Some(FINANCE),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{decided}");
    assert_eq!(decided["status"], "executed");
    assert!(queue(FINANCE).await.is_empty());
}

#[tokio::test]
async fn a_streamed_turn_names_its_passages_and_its_context_layers() {
    let strategy = Arc::new(AdminStrategy {
        asked_by: std::sync::Mutex::new(Vec::new()),
    });
    let g = governed_with_passages(&["Online should reach 45% [S1]."], Some(strategy));
    let (_, session) = call(&g.app, "POST", "/v1/agent/sessions", Some(ADMIN), None).await;
    let id = session["id"].as_str().expect("id");
    let (status, body) = call(
        &g.app,
        "POST",
        &format!("/v1/agent/sessions/{id}/messages"),
        Some(ADMIN),
        Some(json!({"content": "What is the online target?", "stream": true})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let events = events(&body);
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(kinds.first(), Some(&"passages"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"answer"), "{kinds:?}");
    assert_eq!(events[0]["passages"][0]["id"], "S1");
    assert_eq!(events[0]["passages"][0]["source"], "strategy-2024.md");
    let context = events
        .iter()
        .find(|e| e["type"] == "context")
        .expect("a context event");
    let tokens = &context["tokens"];
    assert!(tokens["passages"].as_u64().unwrap_or(0) > 0, "{tokens}");
    assert!(
        tokens["total"].as_u64().unwrap_or(0) <= tokens["budget"].as_u64().unwrap_or(0),
        "{tokens}"
    );
}

#[tokio::test]
async fn a_streamed_report_tells_each_stage_and_section_then_the_report() {
    let plain = "Sales held up well this month.";
    let g = governed(&[plain, plain, plain, plain]);
    let (status, body) = call(
        &g.app,
        "POST",
        "/v1/reports/monthly",
        Some(ADMIN),
        Some(json!({"month": "2024-03", "formats": ["md"], "stream": true})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let events = events(&body);
    let stages: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "stage")
        .filter_map(|e| e["stage"].as_str())
        .collect();
    assert_eq!(
        stages,
        ["data", "analysis", "charts", "strategy", "prose", "md"]
    );
    let sections = events.iter().filter(|e| e["type"] == "section").count();
    let last = events.last().expect("events");
    assert_eq!(last["type"], "report", "{last}");
    assert_eq!(
        last["report"]["sections"].as_array().map(Vec::len),
        Some(sections)
    );
    assert_eq!(
        last["report"]["files"][0]["name"],
        "sales-report-2024-03.md"
    );
    // A refused report is refused before any stream starts, in the API's error shape.
    let (status, refused) = call(
        &g.app,
        "POST",
        "/v1/reports/monthly",
        Some(EMPLOYEE),
        Some(json!({"month": "2024-03", "stream": true})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert!(refused["error"]["message"].is_string());
}
