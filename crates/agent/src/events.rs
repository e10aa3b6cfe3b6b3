//! What a turn reports as it goes, for streaming to the client.

use fulcrum_retrieval::Passage;
use serde_json::Value;

use crate::LayerTokens;

/// Core type: the server's `wire::agent::TurnEvent` is what clients read.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentEvent {
    /// A piece of the model's text as it is generated.
    Token {
        text: String,
    },
    /// A call the model made (validated, not yet decided).
    ToolCall {
        id: String,
        name: String,
        arguments: Value,
    },
    /// What came of a call: its output, a refusal, or an error.
    ToolResult {
        id: String,
        name: String,
        ok: bool,
        output: String,
    },
    /// A sensitive call waits for approval.
    ConfirmationRequired {
        call_id: String,
        action_id: String,
        tool: String,
        summary: String,
        arguments_sha256: String,
        expires_at: String,
    },
    /// The passages retrieved for the turn, which the answer cites as `[S1]`, `[S2]`…
    Passages {
        passages: Vec<Passage>,
    },
    /// Tokens per prompt layer of the step's prompt, as it went to the model.
    Context {
        tokens: LayerTokens,
    },
    Answer {
        text: String,
    },
    Error {
        message: String,
    },
}
