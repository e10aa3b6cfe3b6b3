//! Agent sessions: create one, send it messages (JSON or a stream of events), read it back.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use fulcrum_agent::{Agent, AgentEvent, TurnOutcome, TurnStop};
use fulcrum_tools::Principal;
use serde::Deserialize;

use crate::auth::caller;
use crate::error::ApiError;
use crate::json::ApiJson;
use crate::routes::sse::sse_with_done;
use crate::state::AppState;
use crate::wire::agent::{Session, SessionList, SessionMessages, StoredMessage, Turn, TurnEvent};
use crate::wire::{ApiErrors, ErrorResponse};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendMessage {
    content: String,
    #[serde(default)]
    stream: bool,
}

pub(crate) fn agent(state: &AppState) -> Result<Arc<Agent>, ApiError> {
    let governance = state.governance.as_ref().ok_or_else(|| {
        ApiError::not_found("this server runs without a policy", "not_configured")
    })?;
    governance.agent().cloned().ok_or_else(ApiError::not_ready)
}

#[utoipa::path(post, path = "/v1/agent/sessions", tag = "agent", responses((status = 201, body = Session), ApiErrors), security(("api_key" = [])))]
pub async fn create_session(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
) -> Result<Response, ApiError> {
    let principal = caller(principal)?;
    let agent = agent(&state)?;
    let info = agent.create_session(&principal)?;
    Ok((axum::http::StatusCode::CREATED, Json(Session::from(info))).into_response())
}

/// The caller's sessions, newest first.
#[utoipa::path(get, path = "/v1/agent/sessions", tag = "agent", responses((status = 200, body = SessionList), ApiErrors), security(("api_key" = [])))]
pub async fn list_sessions(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
) -> Result<Json<SessionList>, ApiError> {
    let principal = caller(principal)?;
    let agent = agent(&state)?;
    let sessions = agent.sessions().list_owned(&principal, 100)?;
    Ok(Json(SessionList {
        data: sessions.into_iter().map(Session::from).collect(),
    }))
}

#[utoipa::path(get, path = "/v1/agent/sessions/{id}/messages", tag = "agent", params(("id" = String, Path, description = "the session id")), responses((status = 200, body = SessionMessages), ApiErrors), security(("api_key" = [])))]
pub async fn messages(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
    Path(id): Path<String>,
) -> Result<Json<SessionMessages>, ApiError> {
    let principal = caller(principal)?;
    let agent = agent(&state)?;
    let session = agent.sessions().get_owned(&id, &principal)?;
    let messages = agent.sessions().messages(&session.id)?;
    let pending = agent.sessions().pending_calls(&session.id)?;
    Ok(Json(SessionMessages {
        session: Session::from(session),
        messages: messages.into_iter().map(StoredMessage::from).collect(),
        pending_actions: pending.into_iter().map(|p| p.action_id).collect(),
    }))
}

#[utoipa::path(post, path = "/v1/agent/sessions/{id}/messages", tag = "agent", request_body = SendMessage, params(("id" = String, Path, description = "the session id")), responses((status = 200, description = "the turn (or, with `stream`, its events)", content((Turn = "application/json"), (serde_json::Value = "text/event-stream"))), ApiErrors, (status = 409, description = "the session waits for a confirmation", body = ErrorResponse), (status = 503, description = "the model is not loaded", body = ErrorResponse), (status = 504, description = "a generation ran out of time", body = ErrorResponse)), security(("api_key" = [])))]
pub async fn send(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<SendMessage>,
) -> Result<Response, ApiError> {
    let principal = caller(principal)?;
    let agent = agent(&state)?;
    if body.content.trim().is_empty() {
        return Err(ApiError::invalid_value("content", "`content` is empty"));
    }
    // A turn runs model steps like chat completions do, under the same admission limit.
    let admission = match state.admit(Some(&principal)) {
        Ok(admission) => admission,
        Err(refused) => return Ok(*refused),
    };
    if !body.stream {
        let outcome = {
            let (agent, principal, id) = (Arc::clone(&agent), principal.clone(), id.clone());
            detached(async move { agent.send(&principal, &id, &body.content, None).await }).await?
        };
        drop(admission);
        remember_later(&agent, &principal, &id, &outcome);
        return Ok(Json(Turn::from(outcome)).into_response());
    }
    // Fail fast on a bad session before the stream starts; errors later become events.
    agent.sessions().get_owned(&id, &principal)?;
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let _admission = admission;
        match agent
            .send(&principal, &id, &body.content, Some(&sender))
            .await
        {
            Ok(outcome) => remember_later(&agent, &principal, &id, &outcome),
            Err(err) => {
                let _ = sender.send(AgentEvent::Error {
                    message: ApiError::from(err).message,
                });
            }
        }
    });
    Ok(event_stream(receiver).into_response())
}

/// Runs `work` in a task of its own: a client that goes away mid-turn cancels neither a turn
/// nor an approval halfway (a tool run without its audit row, a turn half stored).
pub(crate) async fn detached<T: Send + 'static>(
    work: impl std::future::Future<Output = Result<T, fulcrum_agent::AgentError>> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::spawn(work).await {
        Ok(result) => result.map_err(ApiError::from),
        Err(err) => {
            tracing::error!(%err, "an agent task failed");
            Err(ApiError::internal())
        }
    }
}

/// After an answered turn, folds the turns leaving the window into the session's summary in
/// the background: the answer is not delayed, and until the summary is written those turns
/// stay verbatim in the prompt.
pub(crate) fn remember_later(
    agent: &Arc<Agent>,
    principal: &Principal,
    session_id: &str,
    outcome: &TurnOutcome,
) {
    if outcome.stop != TurnStop::Answer {
        return;
    }
    let (agent, principal, session_id) =
        (Arc::clone(agent), principal.clone(), session_id.to_string());
    tokio::spawn(async move {
        if let Err(err) = agent.remember(&principal, &session_id).await {
            tracing::warn!(%err, session = %session_id, "the session summary was not updated");
        }
    });
}

/// Agent events as SSE, one JSON object each (in the API's shape), then `[DONE]`.
pub(crate) fn event_stream(
    receiver: tokio::sync::mpsc::UnboundedReceiver<AgentEvent>,
) -> Sse<impl futures::Stream<Item = Result<Event, Infallible>>> {
    use futures::StreamExt;
    sse_with_done(
        tokio_stream::wrappers::UnboundedReceiverStream::new(receiver).map(TurnEvent::from),
    )
}
