//! Bearer API keys: when the server is governed, every route but health needs one, and the
//! caller's [`Principal`] travels with the request to the handlers.

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use fulcrum_tools::Principal;

use crate::error::ApiError;
use crate::state::AppState;

/// Routes anyone may call: probes and metrics carry no user data.
const OPEN_PATHS: [&str; 4] = ["/healthz", "/readyz", "/metrics", "/openapi.json"];

pub(crate) async fn require_key(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(governance) = &state.governance else {
        return next.run(request).await;
    };
    let path = request.uri().path();
    if OPEN_PATHS.contains(&path) || crate::console::is_console_path(path) {
        return next.run(request).await;
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(key) = presented else {
        return unauthorized("an API key is required: send `Authorization: Bearer <key>`");
    };
    match governance.identities.authenticate(key) {
        Some(principal) => {
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        None => unauthorized("the API key is not valid"),
    }
}

fn unauthorized(message: &str) -> Response {
    ApiError {
        status: StatusCode::UNAUTHORIZED,
        message: message.into(),
        kind: "invalid_request_error",
        param: None,
        code: Some("invalid_api_key"),
    }
    .into_response()
}

/// The caller, for handlers of governed routes.
pub(crate) fn caller(principal: Option<axum::Extension<Principal>>) -> Result<Principal, ApiError> {
    principal
        .map(|axum::Extension(principal)| principal)
        .ok_or_else(|| ApiError {
            status: StatusCode::NOT_FOUND,
            message: "agents, actions and the audit log need a policy with users; this server runs without one".into(),
            kind: "invalid_request_error",
            param: None,
            code: Some("not_configured"),
        })
}
