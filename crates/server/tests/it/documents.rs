//! `POST /v1/documents/summarize`: the summary tool called directly — for the roles it is open
//! to, over a text, an upload or a knowledge document the caller's role may read — its
//! decision and execution audited; bad requests refused with the field named.

use axum::http::StatusCode;
use base64::Engine as _;
use fulcrum_retrieval::{ChunkLimits, KnowledgeStore};
use serde_json::{json, Value};

use super::governed::{call, governed, ADMIN, AUDITOR, EMPLOYEE, FINANCE};

const REPORT: &str = "# Acme annual report 2024\n\n## Financial highlights\n\nRevenue rose 12.7% year on year to 42.8 billion yuan.\n\n## Kunming subsidiary\n\nAccounts receivable turnover at the Kunming subsidiary fell 26% year on year.\n";
const SUMMARIZE: &str = "/v1/documents/summarize";

/// The model's answers: the labels of the report's two sentences (one part each), then the
/// overview.
fn answers() -> [&'static str; 3] {
    [
        r#"{"labels": [{"figure": "key", "news": "good"}]}"#,
        r#"{"labels": [{"figure": "routine", "news": "bad"}]}"#,
        r#"{"overview": "Revenue rose 12.7% to 42.8 billion yuan; Kunming's receivable turnover fell 26%."}"#,
    ]
}

#[tokio::test]
async fn finance_summarizes_an_uploaded_report_and_both_steps_are_audited() {
    let g = governed(&answers());
    let upload = json!({
        "filename": "acme.md",
        "content_base64": base64::engine::general_purpose::STANDARD.encode(REPORT),
    });
    let (status, summary) = call(&g.app, "POST", SUMMARIZE, Some(FINANCE), Some(upload)).await;
    assert_eq!(status, StatusCode::OK, "{summary}");
    assert_eq!(summary["object"], "document.summary");
    assert_eq!(summary["title"], "Acme annual report 2024");
    assert_eq!(summary["mode"], "map_reduce");
    assert_eq!(summary["indicators"][0]["section"], "Financial highlights");
    assert_eq!(summary["risks"][0]["section"], "Kunming subsidiary");
    assert_eq!(summary["stats"]["parts"], 2);
    assert_eq!(summary["stats"]["candidate_sentences"], 2);
    assert_eq!(summary["stats"]["dropped"], 0);
    let markdown = summary["markdown"].as_str().unwrap_or_default();
    assert!(markdown.contains("(§ Kunming subsidiary)"), "{markdown}");

    let (_, audit) = call(&g.app, "GET", "/v1/audit?limit=1000", Some(AUDITOR), None).await;
    let rows: Vec<&Value> = audit["data"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .filter(|r| {
                    r["tool"] == "summarize_document" || r["data"]["tool"] == "summarize_document"
                })
                .collect()
        })
        .unwrap_or_default();
    let kinds: Vec<&str> = rows.iter().filter_map(|r| r["kind"].as_str()).collect();
    assert!(
        kinds.contains(&"decision") && kinds.contains(&"execution"),
        "{audit}"
    );
    assert!(rows.iter().all(|r| r["user"] == "zhao.finance"), "{rows:?}");
}

#[tokio::test]
async fn a_knowledge_document_is_summarized_only_for_a_role_its_collection_admits() {
    let g = governed(&answers());
    let mut store = KnowledgeStore::open(&g.knowledge).expect("knowledge db");
    store
        .ingest("board", "acme.md", REPORT, ChunkLimits::default(), None)
        .expect("ingest");
    store
        .set_roles("board", &["admin".to_string()])
        .expect("roles");
    drop(store);
    let ask = json!({"collection": "board", "document": "acme.md", "mode": "map_reduce"});

    let (status, refused) = call(&g.app, "POST", SUMMARIZE, Some(FINANCE), Some(ask.clone())).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("may not read the collection `board`")),
        "{refused}"
    );
    let (status, summary) = call(&g.app, "POST", SUMMARIZE, Some(ADMIN), Some(ask)).await;
    assert_eq!(status, StatusCode::OK, "{summary}");
    assert_eq!(summary["risks"][0]["section"], "Kunming subsidiary");

    let missing = json!({"collection": "board", "document": "nothing.md"});
    let (status, body) = call(&g.app, "POST", SUMMARIZE, Some(ADMIN), Some(missing)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

#[tokio::test]
async fn roles_without_the_tool_and_bad_requests_are_refused_with_the_field_named() {
    let g = governed(&answers());
    let (status, body) = call(
        &g.app,
        "POST",
        SUMMARIZE,
        Some(EMPLOYEE),
        Some(json!({"text": REPORT})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    let cases = [
        (
            json!({"text": REPORT, "collection": "board", "document": "a.md"}),
            None,
        ),
        (json!({}), None),
        (json!({"collection": "board"}), Some("document")),
        (
            json!({"filename": "a.md", "content_base64": "%%%"}),
            Some("content_base64"),
        ),
        (
            json!({"filename": "a.exe", "content_base64": "AAAA"}),
            Some("filename"),
        ),
        (json!({"text": REPORT, "mode": "sideways"}), Some("mode")),
        (json!({"text": "  "}), Some("text")),
    ];
    for (request, param) in cases {
        let (status, body) = call(
            &g.app,
            "POST",
            SUMMARIZE,
            Some(FINANCE),
            Some(request.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{request} → {body}");
        assert_eq!(body["error"]["param"].as_str(), param, "{request} → {body}");
    }
}
