//! Fulcrum's OpenAI-compatible HTTP API.
//!
//! [`router`] builds the axum application over an [`AppState`]; [`serve`] runs it on a listener
//! until shutdown. The server listens before the model is loaded (health answers, `readyz` and
//! the API say 503) and becomes ready when [`AppState::set_model`] is called.

mod auth;
mod console;
mod error;
mod json;
mod limits;
mod metering;
mod metrics;
pub mod openapi;
mod routes;
mod state;
mod validate;
mod wire;

use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;

pub use error::ApiError;
pub use limits::CallerLimits;
pub use metrics::Metrics;
pub use state::{AppState, Governance, RequestLimits, ServerOptions};

/// The application: every route, the body limit, metrics and OpenAI-shaped fallbacks.
pub fn router(state: AppState) -> Router {
    let max_body = state.options.max_body_bytes;
    Router::new()
        .route("/v1/chat/completions", post(routes::chat::chat_completions))
        .route("/v1/responses", post(routes::responses::create_response))
        .route("/v1/embeddings", post(routes::embeddings::embeddings))
        .route("/v1/completions", post(routes::completions::completions))
        .route("/tokenize", post(routes::tokenizer::tokenize))
        .route("/detokenize", post(routes::tokenizer::detokenize))
        .route("/tokenizer_info", get(routes::tokenizer::info))
        .route("/v1/models", get(routes::models::list))
        .route("/v1/models/{id}", get(routes::models::get))
        .route("/healthz", get(routes::health::healthz))
        .route("/readyz", get(routes::health::readyz))
        .route("/metrics", get(routes::health::metrics))
        .route("/openapi.json", get(openapi::document))
        .route(
            "/v1/agent/sessions",
            post(routes::agent::create_session).get(routes::agent::list_sessions),
        )
        .route(
            "/v1/agent/sessions/{id}/messages",
            post(routes::agent::send).get(routes::agent::messages),
        )
        .route("/v1/me", get(routes::me::whoami))
        .route("/v1/actions", get(routes::actions::pending))
        .route("/v1/actions/queue", get(routes::actions::queue))
        .route("/v1/actions/{id}/approve", post(routes::actions::approve))
        .route("/v1/actions/{id}/deny", post(routes::actions::deny))
        .route("/v1/audit", get(routes::audit::list))
        .route("/v1/audit/verify", get(routes::audit::verify))
        .route("/v1/reports/monthly", post(routes::reports::monthly))
        .route(
            "/v1/documents/summarize",
            post(routes::documents::summarize).layer(DefaultBodyLimit::max(
                routes::knowledge::MAX_UPLOAD_BODY_BYTES.max(max_body),
            )),
        )
        .route(
            "/v1/knowledge/collections",
            get(routes::knowledge::collections),
        )
        .route(
            "/v1/knowledge/collections/{name}/documents",
            post(routes::knowledge::add_document).layer(DefaultBodyLimit::max(
                routes::knowledge::MAX_UPLOAD_BODY_BYTES.max(max_body),
            )),
        )
        .route(
            "/v1/knowledge/collections/{name}/search",
            get(routes::knowledge::search),
        )
        .merge(console::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_key,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), track))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route: see the README for the API", "unknown_route")
}

async fn method_not_allowed() -> ApiError {
    ApiError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        message: "this route does not take that HTTP method".into(),
        kind: "invalid_request_error",
        param: None,
        code: Some("method_not_allowed"),
    }
}

/// Counts requests and their latency by route (the matched pattern, so paths cannot blow up
/// the label set).
async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |path| path.as_str().to_string());
    let started = Instant::now();
    let response = next.run(request).await;
    state
        .metrics
        .request_seconds
        .with_label_values(&[&route])
        .observe(started.elapsed().as_secs_f64());
    state
        .metrics
        .requests
        .with_label_values(&[&route, response.status().as_str()])
        .inc();
    response
}

/// Serves `router(state)` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
