//! A governed server (the demo enterprise's policy, a scripted model): API keys, agent
//! sessions, confirmations and the audit log over HTTP.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use fulcrum_agent::{AgentOptions, AnswerCache, LoadedModel, SessionStore};
use fulcrum_engine::scripted::ScriptedBackend;
use fulcrum_report::summary::{SummarizeFunction, SummaryOptions, SUMMARIZE_DOCUMENT};
use fulcrum_report::{MonthlyReportFunction, MONTHLY_REPORT};
use fulcrum_retrieval::{
    ChunkLimits, KnowledgeSearchFunction, KnowledgeStore, Passage, PassageSource, SharedEmbedder,
    SEARCH_KNOWLEDGE,
};
use fulcrum_server::{router, Governance};
use fulcrum_tools::{
    open_state_database, Actions, AuditLog, Identities, Policy, Principal, Registry,
};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

pub(super) const EMPLOYEE: &str = "demo-employee-key";
pub(super) const FINANCE: &str = "demo-finance-key";
pub(super) const AUDITOR: &str = "demo-auditor-key";
pub(super) const ADMIN: &str = "demo-admin-key";

pub(super) struct Governed {
    pub(super) app: Router,
    pub(super) dir: tempfile::TempDir,
    reports: std::path::PathBuf,
    pub(super) knowledge: std::path::PathBuf,
}

pub(super) fn governed(outputs: &[&str]) -> Governed {
    governed_with_passages(outputs, None)
}

/// A governed server whose agent turns and reports draw on `passages`.
pub(super) fn governed_with_passages(
    outputs: &[&str],
    passages: Option<Arc<dyn PassageSource>>,
) -> Governed {
    governed_with(outputs, passages, "")
}

/// A governed server over the demo policy with `extra_policy` appended to its file.
pub(super) fn governed_with(
    outputs: &[&str],
    passages: Option<Arc<dyn PassageSource>>,
    extra_policy: &str,
) -> Governed {
    governed_with_policy(outputs, passages, |text| text + extra_policy)
}

/// A governed server over the demo policy as `edit` rewrites its text.
fn governed_with_policy(
    outputs: &[&str],
    passages: Option<Arc<dyn PassageSource>>,
    edit: impl FnOnce(String) -> String,
) -> Governed {
    governed_tuned(outputs, passages, edit, super::exact_tuning())
}

/// [`governed_with_policy`] with the call checks of `tuning`.
fn governed_tuned(
    outputs: &[&str],
    passages: Option<Arc<dyn PassageSource>>,
    edit: impl FnOnce(String) -> String,
    tuning: fulcrum_agent::ToolCallTuning,
) -> Governed {
    let dir = tempfile::tempdir().expect("dir");
    let policy_path = fulcrum_tools::demo::install(dir.path()).expect("demo");
    let text = std::fs::read_to_string(&policy_path).expect("policy");
    std::fs::write(&policy_path, edit(text)).expect("policy");
    let registry = Registry::load(&policy_path).expect("policy");
    let identities = Identities::from_config(registry.config());
    let state_db = dir.path().join("state.db");
    let policy = Policy::new(
        Arc::new(registry),
        Arc::new(AuditLog::new(open_state_database(&state_db).expect("db")).expect("audit")),
        Arc::new(Actions::new(open_state_database(&state_db).expect("db")).expect("actions")),
        Duration::from_secs(600),
    )
    .expect("policy");
    let sessions = SessionStore::open(&state_db).expect("sessions");
    let policy = Arc::new(policy);
    let state = super::state_tuned(tuning);
    let reports = dir.path().join("reports");
    let function = MonthlyReportFunction::new(
        &policy,
        Arc::clone(&state.model),
        reports.clone(),
        passages.clone(),
    );
    policy
        .provide(MONTHLY_REPORT, Arc::new(function))
        .expect("the demo runs the report function");
    let knowledge = dir.path().join("knowledge.db");
    policy
        .provide(
            SEARCH_KNOWLEDGE,
            Arc::new(KnowledgeSearchFunction::new(
                knowledge.clone(),
                SharedEmbedder::default(),
            )),
        )
        .expect("the demo runs the search function");
    policy
        .provide(
            SUMMARIZE_DOCUMENT,
            Arc::new(SummarizeFunction::new(
                Arc::clone(&state.model),
                knowledge.clone(),
                SummaryOptions::default(),
            )),
        )
        .expect("the demo runs the summary function");
    let mut governance = Governance::new(
        identities,
        policy,
        Arc::new(sessions),
        AgentOptions {
            tuning,
            ..AgentOptions::default()
        },
    )
    .with_answer_cache(Arc::new(AnswerCache::new(Duration::from_secs(60))))
    .with_knowledge(knowledge.clone());
    if let Some(passages) = passages {
        governance = governance.with_passages(passages);
    }
    let limits = fulcrum_server::CallerLimits::new(&governance.policy.registry().config().limits);
    let state = state.with_governance(governance.with_limits(limits));
    let backend = Arc::new(ScriptedBackend::new(outputs.iter().copied()));
    state.set_model(LoadedModel::new(backend).expect("model"));
    Governed {
        app: router(state),
        dir,
        reports,
        knowledge,
    }
}

pub(super) async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json");
    if let Some(key) = key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    let request = request
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .expect("request");
    let response = app.clone().oneshot(request).await.expect("response");
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

pub(super) fn hermes(name: &str, arguments: Value) -> String {
    format!(
        "<tool_call>\n{}\n</tool_call>",
        json!({"name": name, "arguments": arguments})
    )
}

/// Starts a session as `key`'s user and sends one message; the turn must succeed.
async fn one_turn(app: &Router, key: &str, content: &str) -> Value {
    let (status, session) = call(app, "POST", "/v1/agent/sessions", Some(key), None).await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    let id = session["id"].as_str().expect("id");
    let (status, turn) = call(
        app,
        "POST",
        &format!("/v1/agent/sessions/{id}/messages"),
        Some(key),
        Some(json!({ "content": content })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{turn}");
    turn
}

#[tokio::test]
async fn a_repeated_first_question_is_answered_from_the_cache_and_counted() {
    let g = governed(&["Our offices open at nine.", "Something else."]);
    let first = one_turn(&g.app, FINANCE, "When do the offices open?").await;
    assert_eq!(first["steps"], 1, "{first}");
    let again = one_turn(&g.app, FINANCE, "when do the offices open").await;
    assert_eq!(again["steps"], 0, "{again}");
    assert_eq!(again["answer"], "Our offices open at nine.");
    let (status, metrics) = call(&g.app, "GET", "/metrics", Some(ADMIN), None).await;
    assert_eq!(status, StatusCode::OK);
    let text = metrics.as_str().expect("text exposition");
    assert!(text.contains("fulcrum_answer_cache_hits_total 1"), "{text}");
    assert!(
        text.contains("fulcrum_answer_cache_misses_total 1"),
        "{text}"
    );
}

#[tokio::test]
async fn every_route_but_health_needs_a_valid_key() {
    let g = governed(&["Hello."]);
    let (status, body) = call(&g.app, "GET", "/v1/models", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"]["code"], "invalid_api_key");
    let (status, _) = call(&g.app, "GET", "/v1/models", Some("demo-wrong-key"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(&g.app, "GET", "/v1/models", Some(EMPLOYEE), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(&g.app, "GET", "/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(&g.app, "POST", "/v1/agent/sessions", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_agent_writes_a_report_with_the_generate_report_tool() {
    let report_call = hermes(
        "generate_report",
        json!({"month": "2024-03", "formats": ["md", "docx"]}),
    );
    // The call, then one draft per section of the report, then the answer.
    let section = "Sales held up well this month.";
    let g = governed(&[
        &report_call,
        section,
        section,
        section,
        section,
        "The March report is written.",
    ]);
    let turn = one_turn(&g.app, ADMIN, "Write the sales report for March 2024").await;
    assert_eq!(turn["answer"], "The March report is written.", "{turn}");
    assert_eq!(turn["steps"], 2);
    let folders: Vec<_> = std::fs::read_dir(&g.reports)
        .expect("the reports folder")
        .filter_map(Result::ok)
        .collect();
    assert_eq!(folders.len(), 1);
    let folder = folders[0].path();
    assert!(folder.join("sales-report-2024-03.md").is_file());
    assert!(folder.join("sales-report-2024-03.docx").is_file());
    assert!(!folder.join("sales-report-2024-03.pdf").exists());
    let markdown =
        std::fs::read_to_string(folder.join("sales-report-2024-03.md")).expect("markdown");
    assert!(markdown.contains(section));

    // The report's own data calls went through the policy as the admin, and are audited.
    let (status, audit) = call(&g.app, "GET", "/v1/audit?limit=1000", Some(ADMIN), None).await;
    assert_eq!(status, StatusCode::OK, "{audit}");
    let rows = audit["data"].as_array().expect("rows");
    let permitted = |tool: &str| {
        rows.iter()
            .filter(|r| {
                r["kind"] == "decision"
                    && r["data"]["tool"] == tool
                    && r["data"]["decision"] == "permit"
                    && r["user"] == "admin"
            })
            .count()
    };
    assert_eq!(permitted("generate_report"), 1);
    assert_eq!(
        permitted("query_sales_data"),
        13,
        "the trend's 13 months, the year before among them"
    );
}

/// The strategy document, readable by the admin role only (as a collection limited by
/// `--roles` is), and the roles that asked for it.
pub(super) struct AdminStrategy {
    pub(super) asked_by: std::sync::Mutex<Vec<String>>,
}

impl PassageSource for AdminStrategy {
    fn passages(&self, caller: &Principal, _query: &str) -> Result<Vec<Passage>, String> {
        self.asked_by
            .lock()
            .map_err(|err| err.to_string())?
            .push(caller.role.clone());
        if caller.role != "admin" {
            return Ok(Vec::new());
        }
        Ok(vec![Passage {
            id: "S1".into(),
            source: "strategy-2024.md".into(),
            section: "Online channel".into(),
            text: "Online sales should reach 45% of revenue by December.".into(),
        }])
    }
}

/// The report the agent writes draws on the strategy passages its caller may read: the
/// section that cites one lists it under its text.
#[tokio::test]
async fn a_report_section_cites_the_strategy_its_reader_may_read() {
    let report_call = hermes(
        "generate_report",
        json!({"month": "2024-03", "formats": ["md"]}),
    );
    let cited = "Online sales keep growing, as the plan for the channel expects [S1].";
    let plain = "Sales held up well this month.";
    let strategy = Arc::new(AdminStrategy {
        asked_by: std::sync::Mutex::new(Vec::new()),
    });
    let g = governed_with_passages(
        &[
            &report_call,
            plain,
            plain,
            plain,
            cited,
            "The March report is written.",
        ],
        Some(strategy.clone()),
    );
    let turn = one_turn(&g.app, ADMIN, "Write the sales report for March 2024").await;
    assert_eq!(turn["answer"], "The March report is written.", "{turn}");
    // Once for the turn, once per section of the report: always as the admin.
    let asked_by = strategy.asked_by.lock().expect("lock").clone();
    assert_eq!(asked_by.len(), 5, "{asked_by:?}");
    assert!(asked_by.iter().all(|role| role == "admin"), "{asked_by:?}");
    let folder = std::fs::read_dir(&g.reports)
        .expect("the reports folder")
        .filter_map(Result::ok)
        .next()
        .expect("a report")
        .path();
    let markdown =
        std::fs::read_to_string(folder.join("sales-report-2024-03.md")).expect("markdown");
    assert!(markdown.contains(cited), "{markdown}");
    assert_eq!(
        markdown
            .matches("_Sources: [S1] strategy-2024.md, Online channel._")
            .count(),
        1,
        "{markdown}"
    );
}

#[tokio::test]
async fn the_agent_searches_ingested_documents_and_the_passage_is_audited() {
    let search = hermes(
        "search_documents",
        json!({"collection": "strategy", "query": "target for the Southwest region"}),
    );
    let g = governed(&[
        &search,
        "The Southwest target is a 15% recovery (strategy.md).",
    ]);
    let mut store = KnowledgeStore::open(&g.knowledge).expect("knowledge db");
    store
        .ingest(
            "strategy",
            "strategy.md",
            "# Regions\n## Southwest\nAfter the supply gap, the Southwest target for 2024 is a 15% recovery.\n## East China\nHold the Mate 60 promotion through the second quarter.",
            ChunkLimits::default(),
            None,
        )
        .expect("ingest");
    let turn = one_turn(&g.app, ADMIN, "What is our target for the Southwest?").await;
    assert_eq!(turn["steps"], 2, "{turn}");
    let execution = search_execution(&g.app).await;
    assert_eq!(execution["data"]["ok"], true, "{execution}");
    let output: Value =
        serde_json::from_str(execution["data"]["output"].as_str().expect("output")).expect("json");
    assert_eq!(output["passages"][0]["source"], "strategy.md");
    assert_eq!(output["passages"][0]["section"], "Regions > Southwest");
    assert!(output["passages"][0]["text"]
        .as_str()
        .is_some_and(|t| t.contains("15% recovery")));
}

/// The audit log's record of the (one) `search_documents` execution.
async fn search_execution(app: &Router) -> Value {
    let (_, audit) = call(app, "GET", "/v1/audit?limit=1000", Some(ADMIN), None).await;
    audit["data"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["kind"] == "execution" && r["data"]["tool"] == "search_documents")
        .expect("the search ran")
        .clone()
}

#[tokio::test]
async fn a_collection_limited_to_a_role_is_refused_to_another_at_execution() {
    let search = hermes(
        "search_documents",
        json!({"collection": "board", "query": "acquisition"}),
    );
    let g = governed(&[&search, "I cannot read that collection."]);
    let mut store = KnowledgeStore::open(&g.knowledge).expect("knowledge db");
    store
        .ingest(
            "board",
            "minutes.md",
            "# Minutes\nThe board approved the acquisition of a Chengdu retailer.",
            ChunkLimits::default(),
            None,
        )
        .expect("ingest");
    store
        .set_roles("board", &["admin".to_string()])
        .expect("roles");
    // Finance may use the search tool, but not this collection: the passage never reaches it.
    let turn = one_turn(&g.app, FINANCE, "What did the board approve?").await;
    assert_eq!(turn["steps"], 2, "{turn}");
    let execution = search_execution(&g.app).await;
    assert_eq!(execution["data"]["ok"], false, "{execution}");
    let text = execution.to_string();
    assert!(
        text.contains("may not read the collection `board`"),
        "{execution}"
    );
    assert!(!text.contains("Chengdu"), "{execution}");
}

#[tokio::test]
async fn a_refund_waits_for_approval_over_http_and_runs_once() {
    let refund = hermes(
        "refund_order",
        json!({"order_id": 12345, "reason": "damaged"}),
    );
    let g = governed(&[&refund, "Order 12345 is refunded."]);
    let (status, session) = call(&g.app, "POST", "/v1/agent/sessions", Some(FINANCE), None).await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    let id = session["id"].as_str().expect("id").to_string();
    assert_eq!(session["role"], "finance");

    let (status, turn) = call(
        &g.app,
        "POST",
        &format!("/v1/agent/sessions/{id}/messages"),
        Some(FINANCE),
        Some(json!({"content": "Refund order 12345, it arrived damaged"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{turn}");
    assert_eq!(turn["stop"], "awaiting_confirmation");
    let action = &turn["pending"][0];
    let action_id = action["id"].as_str().expect("action id").to_string();
    assert_eq!(action["summary"], "Refund order 12345 in full");

    // The session waits: a new message is a 409 until the action is decided.
    let (status, body) = call(
        &g.app,
        "POST",
        &format!("/v1/agent/sessions/{id}/messages"),
        Some(FINANCE),
        Some(json!({"content": "hello?"})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    // The owner lists it; another user neither lists nor reads it.
    let (_, listed) = call(&g.app, "GET", "/v1/agent/sessions", Some(FINANCE), None).await;
    assert_eq!(listed["data"][0]["id"], id.as_str(), "{listed}");
    let (_, others) = call(&g.app, "GET", "/v1/agent/sessions", Some(EMPLOYEE), None).await;
    assert_eq!(others["data"], json!([]), "{others}");
    let (status, _) = call(
        &g.app,
        "GET",
        &format!("/v1/agent/sessions/{id}/messages"),
        Some(EMPLOYEE),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // An employee cannot approve a finance action.
    let (status, _) = call(
        &g.app,
        "POST",
        &format!("/v1/actions/{action_id}/approve"),
        Some(EMPLOYEE),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A wrong argument hash runs nothing.
    let (status, body) = call(
        &g.app,
        "POST",
        &format!("/v1/actions/{action_id}/approve"),
        Some(FINANCE),
        Some(json!({"arguments_sha256": "00"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    let (status, approved) = call(
        &g.app,
        "POST",
        &format!("/v1/actions/{action_id}/approve"),
        Some(FINANCE),
        Some(json!({"arguments_sha256": action["arguments_sha256"]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{approved}");
    assert_eq!(approved["status"], "executed");
    assert_eq!(approved["result"]["ok"], true);
    assert_eq!(approved["turn"]["answer"], "Order 12345 is refunded.");
    let (_, again) = call(
        &g.app,
        "POST",
        &format!("/v1/actions/{action_id}/approve"),
        Some(FINANCE),
        None,
    )
    .await;
    assert_eq!(again["status"], "already_decided");

    // The auditor reads the whole story; an employee may not.
    let (status, _) = call(&g.app, "GET", "/v1/audit", Some(EMPLOYEE), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, audit) = call(&g.app, "GET", "/v1/audit?limit=1000", Some(AUDITOR), None).await;
    assert_eq!(status, StatusCode::OK, "{audit}");
    let kinds: Vec<&str> = audit["data"]
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|r| r["kind"].as_str())
        .collect();
    for kind in [
        "user_input",
        "model_output",
        "parsed_calls",
        "decision",
        "confirmation",
        "execution",
        "answer",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    let executions = kinds.iter().filter(|k| **k == "execution").count();
    assert_eq!(executions, 1, "the refund ran once");
}

#[tokio::test]
async fn an_approver_reads_the_result_not_the_turn_and_a_repeat_is_flagged() {
    let refund =
        |reason: &str| hermes("refund_order", json!({"order_id": 99999, "reason": reason}));
    let first = refund("damaged");
    let again = refund("customer insists");
    let g = governed(&[&first, &again]);
    let (_, session) = call(&g.app, "POST", "/v1/agent/sessions", Some(ADMIN), None).await;
    let id = session["id"].as_str().expect("id").to_string();
    let messages = format!("/v1/agent/sessions/{id}/messages");
    let (_, turn) = call(
        &g.app,
        "POST",
        &messages,
        Some(ADMIN),
        Some(json!({"content": "Refund order 99999"})),
    )
    .await;
    let action = &turn["pending"][0];
    assert!(!action["summary"]
        .as_str()
        .expect("summary")
        .contains("REPEAT"));
    let action_id = action["id"].as_str().expect("id");

    // The finance approver gets the action's result, not the admin's continued turn.
    let (status, approved) = call(
        &g.app,
        "POST",
        &format!("/v1/actions/{action_id}/approve"),
        Some(FINANCE),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{approved}");
    assert_eq!(approved["status"], "executed");
    assert!(approved["turn"].is_null(), "{approved}");
    assert_eq!(approved["turn_continued"], true);
    // A write that matched no row is an error the approver and the model read.
    assert_eq!(approved["result"]["ok"], false, "{approved}");
    let error = approved["result"]["error"].as_str().expect("error");
    assert!(
        error.contains("no order 99999 in a refundable state"),
        "{error}"
    );

    // The owner reads the continued turn in the session: the model asked again, and the new
    // pending call is shown as a repeat of the failed one.
    let (_, history) = call(&g.app, "GET", &messages, Some(ADMIN), None).await;
    let text = history.to_string();
    assert!(
        text.contains("no order 99999 in a refundable state"),
        "{text}"
    );
    let (_, pending) = call(&g.app, "GET", "/v1/actions", Some(ADMIN), None).await;
    let summary = pending["data"][0]["summary"].as_str().expect("summary");
    assert!(
        summary.contains(&format!(
            "REPEAT: asked for before in this session as {action_id}"
        )),
        "{summary}"
    );
    assert!(summary.contains("failed"), "{summary}");
}

#[tokio::test]
async fn a_client_that_leaves_mid_turn_does_not_cut_the_turn_short() {
    const SLOW_TOOL: &str = r#"
[[tools]]
name = "count_slowly"
description = "Counts for a while."
roles = ["employee"]
timeout_ms = 20000
executor = { kind = "sql", database = "demo", statement = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) SELECT count(*) AS n FROM c" }
"#;
    let slow = hermes("count_slowly", json!({}));
    let g = governed_with(&[&slow, "Counted."], None, SLOW_TOOL);
    let (_, session) = call(&g.app, "POST", "/v1/agent/sessions", Some(EMPLOYEE), None).await;
    let id = session["id"].as_str().expect("id").to_string();
    // The client gives up while the tool runs: its request future is dropped.
    let gave_up = tokio::time::timeout(
        Duration::from_millis(100),
        call(
            &g.app,
            "POST",
            &format!("/v1/agent/sessions/{id}/messages"),
            Some(EMPLOYEE),
            Some(json!({"content": "Count, please."})),
        ),
    )
    .await;
    assert!(gave_up.is_err(), "the turn must still be running at 100 ms");
    // The turn runs on: the execution is logged and the answer stored.
    let mut kinds = Vec::new();
    for _ in 0..200 {
        let (_, audit) = call(&g.app, "GET", "/v1/audit?limit=1000", Some(AUDITOR), None).await;
        kinds = audit["data"]
            .as_array()
            .expect("rows")
            .iter()
            .filter(|r| r["session_id"] == id.as_str())
            .filter_map(|r| r["kind"].as_str().map(str::to_string))
            .collect();
        if kinds.iter().any(|k| k == "answer") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(kinds.iter().any(|k| k == "execution"), "{kinds:?}");
    assert!(kinds.iter().any(|k| k == "answer"), "{kinds:?}");
    let (_, history) = call(
        &g.app,
        "GET",
        &format!("/v1/agent/sessions/{id}/messages"),
        Some(EMPLOYEE),
        None,
    )
    .await;
    assert!(history.to_string().contains("Counted."), "{history}");
}

async fn chat(app: &Router, key: &str) -> (StatusCode, Value) {
    let tool = json!({"type": "function", "function": {"name": "lookup", "description": "Look an order up.",
        "parameters": {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]}}});
    let body = json!({"model": "scripted", "messages": [{"role": "user", "content": "Where is order 7?"}],
        "tools": [tool], "max_tokens": 64});
    call(app, "POST", "/v1/chat/completions", Some(key), Some(body)).await
}

async fn chat_rows(app: &Router) -> Vec<Value> {
    let (_, audit) = call(app, "GET", "/v1/audit?limit=1000", Some(AUDITOR), None).await;
    audit["data"]
        .as_array()
        .expect("rows")
        .iter()
        .filter(|r| r["kind"] == "chat_completion")
        .cloned()
        .collect()
}

#[tokio::test]
async fn chat_completions_are_audited_and_limited_to_the_policy_s_roles() {
    let lookup = hermes("lookup", json!({"id": 7}));
    let header = "chat_roles = [\"employee\", \"finance\"]\naudit_chat_content = \"metadata\"\n";
    let g = governed_with_policy(&[&lookup], None, |text| format!("{header}{text}"));
    let (status, refused) = chat(&g.app, AUDITOR).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert_eq!(refused["error"]["code"], "not_allowed");
    let (status, answer) = chat(&g.app, EMPLOYEE).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let rows = chat_rows(&g.app).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0]["role"], "auditor");
    assert!(rows[0]["data"]["refused"]
        .as_str()
        .is_some_and(|r| r.contains("chat_roles")));
    let done = &rows[1];
    assert_eq!(
        (done["user"].as_str(), done["role"].as_str()),
        (Some("li.employee"), Some("employee"))
    );
    assert_eq!(done["data"]["model"], "scripted");
    assert!(done["data"]["prompt_tokens"].as_u64() > Some(0), "{done}");
    assert_eq!(done["data"]["tools_offered"], json!(["lookup"]));
    assert_eq!(done["data"]["tool_calls"], json!([{"name": "lookup"}]));
    assert!(
        done["data"].get("messages").is_none(),
        "metadata only: {done}"
    );

    // By default every role may chat and the row keeps the messages and the output.
    let g = governed(&[&lookup]);
    let (status, _) = chat(&g.app, AUDITOR).await;
    assert_eq!(status, StatusCode::OK);
    let rows = chat_rows(&g.app).await;
    assert_eq!(
        rows[0]["data"]["messages"][0]["content"],
        "Where is order 7?"
    );
    assert_eq!(
        rows[0]["data"]["tool_calls"],
        json!([{"name": "lookup", "arguments": {"id": 7}}])
    );
    assert!(rows[0]["data"]["output"]
        .as_str()
        .is_some_and(|o| o.contains("<tool_call>")));
}

#[tokio::test]
async fn what_the_call_checks_change_is_audited_with_the_models_own_answer() {
    let invented = hermes("lookup", json!({"id": 99}));
    for (content, full) in [("full", true), ("metadata", false)] {
        let header = format!("audit_chat_content = \"{content}\"\n");
        let g = governed_tuned(
            &[&invented, "I cannot find it."],
            None,
            |text| format!("{header}{text}"),
            fulcrum_agent::ToolCallTuning::default(),
        );
        let (status, answer) = chat(&g.app, EMPLOYEE).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(
            answer["choices"][0]["message"]["content"],
            "I cannot find it."
        );
        let rows = chat_rows(&g.app).await;
        let checks = &rows[0]["data"]["call_checks"];
        assert_eq!(checks["answered_in_text"], true, "{checks}");
        assert_eq!(checks["dropped"][0]["name"], "lookup");
        assert_eq!(checks["dropped"][0]["reason"], "not_in_conversation");
        if full {
            assert_eq!(checks["model_answer"], invented.as_str());
            assert_eq!(checks["dropped"][0]["arguments"], json!({"id": 99}));
        } else {
            assert!(checks.get("model_answer").is_none(), "{checks}");
            assert!(checks["dropped"][0].get("arguments").is_none(), "{checks}");
        }
    }
}

#[tokio::test]
async fn a_streamed_turn_sends_call_result_and_answer_events() {
    let search = hermes("search_product", json!({"query": "iPhone 15"}));
    let g = governed(&[&search, "The iPhone 15 costs 5999."]);
    let (_, session) = call(&g.app, "POST", "/v1/agent/sessions", Some(EMPLOYEE), None).await;
    let id = session["id"].as_str().expect("id");
    let (status, body) = call(
        &g.app,
        "POST",
        &format!("/v1/agent/sessions/{id}/messages"),
        Some(EMPLOYEE),
        Some(json!({"content": "How much is the iPhone 15?", "stream": true})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let text = body.as_str().expect("an event stream");
    let events: Vec<Value> = text
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .filter(|data| *data != "[DONE]")
        .map(|data| serde_json::from_str(data).expect("event json"))
        .collect();
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    let position = |kind: &str| kinds.iter().position(|k| *k == kind);
    let (Some(call_at), Some(result_at), Some(answer_at)) = (
        position("tool_call"),
        position("tool_result"),
        position("answer"),
    ) else {
        panic!("missing events: {kinds:?}");
    };
    assert!(call_at < result_at && result_at < answer_at, "{kinds:?}");
    assert_eq!(events[result_at]["ok"], true);
    assert!(events[result_at]["output"]
        .as_str()
        .unwrap_or("")
        .contains("5999"));
    assert_eq!(events[answer_at]["text"], "The iPhone 15 costs 5999.");
}
