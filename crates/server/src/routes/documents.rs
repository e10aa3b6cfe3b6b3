//! `POST /v1/documents/summarize`: the key figures, trends and risks of a long document, each
//! point citing its section, every number checked against the document. The route is the
//! `summarize_document` tool called directly: the policy decides on it for the caller and
//! logs the decision and the execution, and a knowledge document is read only by a role its
//! collection admits.

use std::path::Path;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use fulcrum_report::summary::{SummaryMode, SUMMARIZE_DOCUMENT};
use fulcrum_retrieval::{extract_bytes, KnowledgeStore};
use fulcrum_tools::{CallContext, Principal, ToolsError};
use serde_json::{json, Map, Value};

use crate::auth::caller;
use crate::error::ApiError;
use crate::json::ApiJson;
use crate::state::AppState;
use crate::wire::documents::{DocumentSummary, SummarizeRequest};
use crate::wire::{ApiErrors, ErrorResponse};

/// The tool's arguments for the request: exactly one document source, plus task and mode.
fn arguments(body: SummarizeRequest) -> Result<Map<String, Value>, ApiError> {
    let mut arguments = Map::new();
    let sources = [
        body.collection.is_some() || body.document.is_some(),
        body.filename.is_some() || body.content_base64.is_some(),
        body.text.is_some(),
    ];
    if sources.iter().filter(|given| **given).count() != 1 {
        return Err(ApiError::invalid_request(
            "give one document: `collection` and `document`, `filename` and `content_base64`, or `text`",
        ));
    }
    if let Some(mode) = &body.mode {
        SummaryMode::parse(mode).map_err(|err| ApiError::invalid_value("mode", err.to_string()))?;
        arguments.insert("mode".into(), json!(mode));
    }
    if let Some(task) = body.task {
        arguments.insert("task".into(), json!(task));
    }
    match (body.collection, body.document) {
        (Some(collection), Some(document)) => {
            arguments.insert("collection".into(), json!(collection));
            arguments.insert("document".into(), json!(document));
            return Ok(arguments);
        }
        (Some(_), None) => {
            return Err(ApiError::invalid_value(
                "document",
                "`collection` needs `document`: the ingested document's name",
            ))
        }
        (None, Some(_)) => {
            return Err(ApiError::invalid_value(
                "collection",
                "`document` needs `collection`: the collection it was ingested into",
            ))
        }
        (None, None) => {}
    }
    if let Some(text) = body.text {
        if text.trim().is_empty() {
            return Err(ApiError::invalid_value("text", "`text` is empty"));
        }
        arguments.insert("text".into(), json!(text));
        return Ok(arguments);
    }
    let content = body.content_base64.ok_or_else(|| {
        ApiError::invalid_value("content_base64", "`filename` needs `content_base64`")
    })?;
    let (name, bytes) =
        super::knowledge::uploaded_file(body.filename.as_deref().unwrap_or_default(), &content)?;
    let text = extract_bytes(Path::new(&name), bytes)
        .map_err(|err| ApiError::invalid_value("content_base64", err.to_string()))?;
    arguments.insert("name".into(), json!(name));
    arguments.insert("text".into(), json!(text));
    Ok(arguments)
}

/// A knowledge document the caller may not read is refused (403) and one that does not exist
/// answered 404 before anything runs; the tool checks again for the agent's calls.
fn check_readable(
    state: &AppState,
    principal: &Principal,
    arguments: &Map<String, Value>,
) -> Result<(), ApiError> {
    let (Some(collection), Some(document)) = (
        arguments.get("collection").and_then(Value::as_str),
        arguments.get("document").and_then(Value::as_str),
    ) else {
        return Ok(());
    };
    let missing = || {
        ApiError::not_found(
            format!("no document `{document}` in the collection `{collection}`"),
            "document_not_found",
        )
    };
    let database = state
        .governance
        .as_ref()
        .and_then(|g| g.knowledge.clone())
        .filter(|path| path.is_file())
        .ok_or_else(missing)?;
    let store = KnowledgeStore::open(&database).map_err(|err| {
        tracing::error!(%err, "cannot open the knowledge database");
        ApiError::internal()
    })?;
    let may_read = store
        .may_read(collection, std::slice::from_ref(&principal.role))
        .map_err(|err| {
            tracing::error!(%err, "cannot read the collection's roles");
            ApiError::internal()
        })?;
    if !may_read {
        return Err(ApiError::forbidden(format!(
            "role `{}` may not read the collection `{collection}`",
            principal.role
        )));
    }
    match store.document_text(collection, document) {
        Ok(_) => Ok(()),
        Err(fulcrum_retrieval::RetrievalError::NoDocument { .. }) => Err(missing()),
        Err(err) => Err(ApiError::invalid_value("document", err.to_string())),
    }
}

#[utoipa::path(post, path = "/v1/documents/summarize", tag = "documents", request_body = SummarizeRequest, responses((status = 200, description = "the summary", body = DocumentSummary), ApiErrors, (status = 503, description = "the model is not loaded", body = ErrorResponse)), security(("api_key" = [])))]
pub async fn summarize(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
    ApiJson(body): ApiJson<SummarizeRequest>,
) -> Result<Response, ApiError> {
    let principal = caller(principal)?;
    let governance = state.governance.clone().ok_or_else(|| {
        ApiError::not_found("this server runs without a policy", "not_configured")
    })?;
    if state.model.get().is_none() {
        return Err(ApiError::not_ready());
    }
    let arguments = {
        let state = state.clone();
        let principal = principal.clone();
        tokio::task::spawn_blocking(move || {
            let arguments = arguments(body)?;
            check_readable(&state, &principal, &arguments)?;
            Ok::<_, ApiError>(arguments)
        })
        .await
        .map_err(|err| {
            tracing::error!(%err, "reading a document to summarize failed");
            ApiError::internal()
        })??
    };
    let context = CallContext {
        principal,
        request_id: Some(format!("req_{}", uuid::Uuid::new_v4().simple())),
        session_id: None,
    };
    let permit = super::host_tool::authorize(
        &governance.policy,
        &context,
        SUMMARIZE_DOCUMENT,
        &Value::Object(arguments),
        "ask for the summary through the agent",
    )?;
    let admission = match state.admit(Some(&context.principal)) {
        Ok(admission) => admission,
        Err(refused) => return Ok(*refused),
    };
    let output = governance.policy.execute(&context, permit).await;
    drop(admission);
    let output = output.map_err(|err| match err {
        ToolsError::Timeout { .. } => {
            ApiError::invalid_request(err.to_string()).with_code("timeout")
        }
        other => ApiError::invalid_request(other.to_string()).with_code("summary_failed"),
    })?;
    let summary = serde_json::from_str::<DocumentSummary>(&output.text).map_err(|err| {
        tracing::error!(%err, truncated = output.truncated, "the summary tool's output is not a summary");
        ApiError::internal()
    })?;
    Ok(Json(summary).into_response())
}
