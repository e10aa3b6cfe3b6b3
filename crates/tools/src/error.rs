//! Errors of the tools layer; each says what was wrong and, where it can, what to do.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ToolsError {
    #[error("cannot read the tool configuration {path}: {reason}")]
    ConfigRead { path: PathBuf, reason: String },
    #[error("invalid tool configuration in {origin}: {reason}")]
    Config { origin: String, reason: String },
    #[error("invalid tool configuration in {origin}: tool `{tool}`: {reason}")]
    ToolConfig {
        origin: String,
        tool: String,
        reason: String,
    },
    #[error("the audit key cannot be used: {0}")]
    AuditKey(String),
    #[error("the state database failed: {0}")]
    Database(String),
    #[error("no tool named `{0}` is registered")]
    UnknownTool(String),
    #[error("no pending action `{0}`")]
    UnknownAction(String),
    #[error("the arguments of `{tool}` are not valid: {reason}")]
    InvalidArguments { tool: String, reason: String },
    #[error("tool `{tool}` failed: {reason}")]
    Execution { tool: String, reason: String },
    #[error("MCP server `{server}`: {reason}")]
    Mcp { server: String, reason: String },
    #[error("tool `{tool}` did not finish within {timeout_ms} ms")]
    Timeout { tool: String, timeout_ms: u64 },
}

impl From<rusqlite::Error> for ToolsError {
    fn from(err: rusqlite::Error) -> Self {
        ToolsError::Database(err.to_string())
    }
}
