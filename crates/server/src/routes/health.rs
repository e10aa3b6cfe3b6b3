//! Liveness, readiness and metrics.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::error::ApiError;
use crate::state::AppState;
use crate::wire::ErrorResponse;

/// The process is up (even while the model loads).
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "the process is up", body = Object)), security(()))]
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// 200 once the model is loaded and requests can be served, 503 before.
#[utoipa::path(get, path = "/readyz", tag = "health", responses((status = 200, description = "the model is loaded", body = Object), (status = 503, description = "still loading", body = Object)), security(()))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    match state.model.get() {
        Some(model) => {
            Json(json!({ "status": "ready", "model": model.backend.info().id })).into_response()
        }
        None => ApiError::not_ready().into_response(),
    }
}

#[utoipa::path(get, path = "/metrics", tag = "health", responses((status = 200, description = "Prometheus metrics", body = String, content_type = "text/plain"), (status = 500, description = "metrics could not be encoded", body = ErrorResponse)), security(()))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    if let Some(model) = state.model.get() {
        state.metrics.observe_engine(model.backend.occupancy());
        state.metrics.observe_upstreams(&model.backend.upstreams());
    }
    let answers = state
        .governance
        .as_ref()
        .and_then(|g| g.agent())
        .and_then(|agent| agent.answer_cache().map(|cache| cache.counts()));
    if let Some(counts) = answers {
        state.metrics.observe_answer_cache(counts);
    }
    match state.metrics.render() {
        Ok(text) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(err) => {
            tracing::error!(%err, "cannot render metrics");
            ApiError::internal().into_response()
        }
    }
}
