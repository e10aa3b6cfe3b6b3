//! Pending actions: list the caller's, approve (which runs it, once) or deny.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use fulcrum_tools::{Principal, Resolution};
use serde::Deserialize;

use super::agent::{agent, detached};
use crate::auth::caller;
use crate::error::ApiError;
use crate::state::AppState;
use crate::wire::actions::{ActionList, ActionResult, ActionView, Decision};
use crate::wire::agent::Turn;
use crate::wire::ApiErrors;

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// The hash of the arguments the approver was shown; the action runs only if it matches.
    #[serde(default)]
    arguments_sha256: Option<String>,
}

#[utoipa::path(get, path = "/v1/actions", tag = "actions", responses((status = 200, body = ActionList), ApiErrors), security(("api_key" = [])))]
pub async fn pending(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
) -> Result<Json<ActionList>, ApiError> {
    let principal = caller(principal)?;
    let agent = agent(&state)?;
    let actions = agent.policy().actions().pending_for(&principal.user)?;
    Ok(Json(ActionList {
        data: actions.into_iter().map(ActionView::from).collect(),
    }))
}

/// The approver's queue: pending calls of the tools the caller's role approves, asked for by
/// others, oldest first (each with its `expires_at`).
#[utoipa::path(get, path = "/v1/actions/queue", tag = "actions", responses((status = 200, body = ActionList), ApiErrors), security(("api_key" = [])))]
pub async fn queue(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
) -> Result<Json<ActionList>, ApiError> {
    let principal = caller(principal)?;
    let agent = agent(&state)?;
    let actions = agent.policy().approval_queue(&principal)?;
    Ok(Json(ActionList {
        data: actions.into_iter().map(ActionView::from).collect(),
    }))
}

#[utoipa::path(post, path = "/v1/actions/{id}/approve", tag = "actions", request_body(content = Option<Approval>, description = "optional: the argument hash the approver was shown"), params(("id" = String, Path, description = "the action id")), responses((status = 200, body = Decision), ApiErrors), security(("api_key" = [])))]
pub async fn approve(
    state: State<AppState>,
    principal: Option<Extension<Principal>>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    // The body is optional: an approval without the hash approves what is stored.
    let approval: Approval = if body.iter().all(u8::is_ascii_whitespace) {
        Approval::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|err| ApiError::invalid_request(format!("invalid approval body: {err}")))?
    };
    decide(state, principal, id, true, approval.arguments_sha256).await
}

#[utoipa::path(post, path = "/v1/actions/{id}/deny", tag = "actions", params(("id" = String, Path, description = "the action id")), responses((status = 200, body = Decision), ApiErrors), security(("api_key" = [])))]
pub async fn deny(
    state: State<AppState>,
    principal: Option<Extension<Principal>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    decide(state, principal, id, false, None).await
}

async fn decide(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
    id: String,
    approve: bool,
    expected_hash: Option<String>,
) -> Result<Response, ApiError> {
    let principal = caller(principal)?;
    let agent = agent(&state)?;
    // The session's turn goes on after the decision (model steps), so it comes through the
    // same admission as a turn.
    let admission = match state.admit(Some(&principal)) {
        Ok(admission) => admission,
        Err(refused) => return Ok(*refused),
    };
    let (resolution, continued) = {
        let (agent, principal) = (std::sync::Arc::clone(&agent), principal.clone());
        detached(async move {
            agent
                .decide(&principal, &id, approve, expected_hash.as_deref(), None)
                .await
        })
        .await?
    };
    let (status, action, result) = match resolution {
        Resolution::Ran(action, result) => {
            let result = match result {
                Ok(output) => ActionResult::Output {
                    ok: true,
                    output: output.text,
                },
                Err(err) => ActionResult::Error {
                    ok: false,
                    error: err.to_string(),
                },
            };
            ("executed", action, Some(result))
        }
        Resolution::Denied(action) => ("denied", action, None),
        Resolution::Expired(action) => ("expired", action, None),
        Resolution::AlreadyDecided(action) => ("already_decided", action, None),
        Resolution::HashMismatch(_) => {
            return Err(ApiError::invalid_value(
                "arguments_sha256",
                "`arguments_sha256` does not match the action's arguments; nothing was run",
            )
            .with_code("arguments_mismatch"))
        }
        Resolution::NotAllowed(reason) => return Err(ApiError::forbidden(reason)),
    };
    drop(admission);
    let turn_continued = continued.is_some();
    // The continued turn ran as the session's owner, with the owner's role and passages: it
    // is theirs to read, not the approver's.
    let turn = continued.filter(|_| action.user == principal.user);
    Ok(Json(Decision {
        status,
        action: ActionView::from(action),
        result,
        turn: turn.map(Turn::from),
        turn_continued,
    })
    .into_response())
}
