//! Errors of the agent layer.

use fulcrum_chat::ChatError;
use fulcrum_engine::EngineError;
use fulcrum_tools::ToolsError;

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Chat(#[from] ChatError),
    #[error(transparent)]
    Tools(#[from] ToolsError),
    #[error("the session store failed: {0}")]
    Store(String),
    #[error("no session `{0}`")]
    UnknownSession(String),
    #[error("session `{0}` belongs to another user")]
    NotYourSession(String),
    #[error("session `{session}` waits for the confirmation of action `{action}`: approve or deny it first")]
    AwaitingConfirmation { session: String, action: String },
    #[error("the generation ended without finishing")]
    Incomplete,
    /// A per-user or per-session bound of the agent's options; nothing was stored.
    #[error("{0}")]
    LimitReached(String),
}

impl From<rusqlite::Error> for AgentError {
    fn from(err: rusqlite::Error) -> Self {
        AgentError::Store(err.to_string())
    }
}
