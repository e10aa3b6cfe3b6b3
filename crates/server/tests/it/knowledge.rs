//! The knowledge routes: an administrator adds a document and searches it; other roles, bad
//! files and unknown roles are refused; every upload is audited.

use axum::http::StatusCode;
use base64::Engine as _;
use serde_json::{json, Value};

use super::governed::{call, governed, ADMIN, AUDITOR, EMPLOYEE};

const HANDBOOK: &str = "# Returns\n## Window\nCustomers may return any product within 30 days of delivery.\n## Refunds\nRefunds go back to the original payment method within 5 working days.";

fn upload(filename: &str, text: &str, roles: Value) -> Value {
    json!({
        "filename": filename,
        "content_base64": base64::engine::general_purpose::STANDARD.encode(text),
        "roles": roles,
    })
}

const DOCUMENTS: &str = "/v1/knowledge/collections/handbook/documents";

#[tokio::test]
async fn an_administrator_adds_a_document_lists_and_searches_it() {
    let g = governed(&["unused"]);
    let body = upload("../../handbook.md", HANDBOOK, json!(["employee", "admin"]));
    let (status, added) = call(&g.app, "POST", DOCUMENTS, Some(ADMIN), Some(body.clone())).await;
    assert_eq!(status, StatusCode::OK, "{added}");
    // The name names the document; a path in it is dropped.
    assert_eq!(added["source"], "handbook.md");
    assert_eq!(added["outcome"], "added");
    let chunks = added["chunks"].as_u64().unwrap_or(0);
    assert!(chunks >= 1, "{added}");
    let (_, again) = call(&g.app, "POST", DOCUMENTS, Some(ADMIN), Some(body)).await;
    assert_eq!(again["outcome"], "unchanged", "{again}");

    let (status, list) = call(
        &g.app,
        "GET",
        "/v1/knowledge/collections",
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let collection = &list["data"][0];
    assert_eq!(collection["name"], "handbook");
    assert_eq!(collection["roles"], json!(["admin", "employee"]));
    assert_eq!(collection["documents"], 1);
    assert_eq!(collection["chunks"], chunks);

    let (status, found) = call(
        &g.app,
        "GET",
        "/v1/knowledge/collections/handbook/search?query=return%20within%20how%20many%20days&limit=2",
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found["data"][0]["source"], "handbook.md");
    assert!(
        found["data"][0]["text"]
            .as_str()
            .is_some_and(|t| t.contains("30 days")),
        "{found}"
    );

    // The upload is in the audit log with who made it.
    let (_, audit) = call(&g.app, "GET", "/v1/audit?limit=1000", Some(AUDITOR), None).await;
    let rows: Vec<&Value> = audit["data"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .filter(|r| r["kind"] == "knowledge_ingested")
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(rows.len(), 2, "{audit}");
    assert_eq!(rows[0]["user"], "admin");
    assert_eq!(rows[0]["data"]["roles"], json!(["admin", "employee"]));
}

#[tokio::test]
async fn other_roles_bad_files_and_unknown_roles_are_refused() {
    let g = governed(&["unused"]);
    for key in [EMPLOYEE, AUDITOR] {
        let (status, body) =
            call(&g.app, "GET", "/v1/knowledge/collections", Some(key), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        let upload = upload("a.md", "text", Value::Null);
        let (status, _) = call(&g.app, "POST", DOCUMENTS, Some(key), Some(upload)).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let cases = [
        (upload("tool.exe", "text", Value::Null), "filename"),
        (upload("notes.txt", "text", json!(["nobody"])), "roles"),
        (
            json!({"filename": "a.md", "content_base64": "not base64!"}),
            "content_base64",
        ),
        (
            upload("broken.docx", "not a zip", Value::Null),
            "content_base64",
        ),
    ];
    for (body, param) in cases {
        let (status, answer) = call(&g.app, "POST", DOCUMENTS, Some(ADMIN), Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert_eq!(answer["error"]["param"], param, "{answer}");
    }
    let (status, answer) = call(
        &g.app,
        "POST",
        "/v1/knowledge/collections/bad%20name/documents",
        Some(ADMIN),
        Some(upload("a.md", "text", Value::Null)),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    // Nothing of the refused uploads was stored.
    let (_, list) = call(
        &g.app,
        "GET",
        "/v1/knowledge/collections",
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(list["data"], json!([]), "{list}");
}
