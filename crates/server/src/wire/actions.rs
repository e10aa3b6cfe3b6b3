//! Pending actions and the decisions on them.

use fulcrum_tools::Action;
use serde::Serialize;
use serde_json::Value;

use super::agent::Turn;

/// A sensitive call waiting for (or past) its second confirmation.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ActionView {
    pub id: String,
    pub session_id: Option<String>,
    pub user: String,
    pub role: String,
    pub tool: String,
    pub arguments: Value,
    pub arguments_sha256: String,
    pub summary: String,
    pub created_at: String,
    pub expires_at: String,
    pub state: &'static str,
    pub decided_by: Option<String>,
    pub result: Option<String>,
}

impl From<Action> for ActionView {
    fn from(action: Action) -> Self {
        ActionView {
            id: action.id,
            session_id: action.session_id,
            user: action.user,
            role: action.role,
            tool: action.tool,
            arguments: action.arguments,
            arguments_sha256: action.arguments_sha256,
            summary: action.summary,
            created_at: action.created_at,
            expires_at: action.expires_at,
            // The stored name: persisted in the state database, it cannot drift.
            state: action.state.as_str(),
            decided_by: action.decided_by,
            result: action.result,
        }
    }
}

/// `GET /v1/actions`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ActionList {
    pub data: Vec<ActionView>,
}

/// What came of running an approved action.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum ActionResult {
    Output { ok: bool, output: String },
    Error { ok: bool, error: String },
}

/// `POST /v1/actions/{id}/approve` and `…/deny`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Decision {
    /// `executed`, `denied`, `expired` or `already_decided`.
    pub status: &'static str,
    pub action: ActionView,
    pub result: Option<ActionResult>,
    /// The turn the action's session went on with, when it did and the caller owns the
    /// session; an approver who does not reads only the action's result.
    pub turn: Option<Turn>,
    /// Whether the session's turn went on (its owner reads it in the session's messages).
    pub turn_continued: bool,
}
