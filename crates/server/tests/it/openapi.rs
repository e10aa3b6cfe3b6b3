//! The OpenAPI document covers the router exactly: a route added without its
//! `#[utoipa::path]` (or documented but not routed) fails here.

use std::collections::BTreeSet;

use axum::http::StatusCode;
use serde_json::Value;

use crate::governed::{call, governed};

/// `(METHOD, /path)` of every `.route(…)` in the router's source.
fn routed() -> BTreeSet<(String, String)> {
    let source = include_str!("../../src/lib.rs");
    let mut out = BTreeSet::new();
    for block in source.split(".route(").skip(1) {
        let block = block.split("\n        .").next().unwrap_or(block);
        let path = block.split('"').nth(1).expect("a route's path").to_string();
        for method in ["get", "post", "put", "patch", "delete"] {
            if block.contains(&format!("{method}(")) {
                out.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

#[tokio::test]
async fn every_route_is_in_the_openapi_document_and_nothing_else_is() {
    let g = governed(&[]);
    // Served without a key: the API's description is no secret.
    let (status, document) = call(&g.app, "GET", "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK, "{document}");
    assert!(document["openapi"]
        .as_str()
        .is_some_and(|v| v.starts_with("3.")));
    let mut documented = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("methods").keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let routed = routed();
    assert!(routed.len() >= 16, "{routed:?}");
    assert_eq!(documented, routed, "the document and the router disagree");
    // Every route but the open ones asks for the API key.
    for (method, path) in &routed {
        let operation = &document["paths"][path][method.to_lowercase()];
        let open = ["/healthz", "/readyz", "/metrics", "/openapi.json"].contains(&path.as_str());
        let secured = operation["security"]
            .as_array()
            .is_some_and(|s| s.iter().any(|r| r.get("api_key").is_some()));
        assert_eq!(secured, !open, "{method} {path}: {operation}");
    }
    let error = &document["components"]["schemas"]["ErrorResponse"];
    assert_ne!(error, &Value::Null, "errors are described");
}
