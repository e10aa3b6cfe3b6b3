//! Agent sessions, turns, stored messages and the events of a streamed turn.

use fulcrum_agent::{AgentEvent, LayerTokens, SessionInfo, TurnOutcome, TurnStop};
use fulcrum_chat::Message;
use serde::Serialize;
use serde_json::Value;

use super::actions::ActionView;

/// A session, as created and listed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Session {
    pub id: String,
    pub user: String,
    pub role: String,
    pub created_at: String,
}

impl From<SessionInfo> for Session {
    fn from(info: SessionInfo) -> Self {
        Session {
            id: info.id,
            user: info.user,
            role: info.role,
            created_at: info.created_at,
        }
    }
}

/// `GET /v1/agent/sessions`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionList {
    pub data: Vec<Session>,
}

/// `GET /v1/agent/sessions/{id}/messages`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionMessages {
    pub session: Session,
    pub messages: Vec<StoredMessage>,
    /// Ids of the actions its calls wait for.
    pub pending_actions: Vec<String>,
}

/// One message of a session as stored.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StoredMessage {
    pub role: &'static str,
    pub content: Option<String>,
    pub reasoning_content: Option<String>,
    pub tool_calls: Vec<StoredCall>,
    pub tool_call_id: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StoredCall {
    pub id: String,
    pub name: String,
    /// JSON text, as OpenAI's API carries arguments.
    pub arguments: String,
}

impl From<Message> for StoredMessage {
    fn from(message: Message) -> Self {
        StoredMessage {
            role: message.role.as_str(),
            content: message.content,
            reasoning_content: message.reasoning_content,
            tool_calls: message
                .tool_calls
                .into_iter()
                .map(|call| StoredCall {
                    id: call.id,
                    name: call.name,
                    arguments: call.arguments,
                })
                .collect(),
            tool_call_id: message.tool_call_id,
            name: message.name,
        }
    }
}

/// How a turn ended.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Turn {
    pub stop: &'static str,
    pub answer: Option<String>,
    pub pending: Vec<ActionView>,
    pub steps: usize,
    pub context: Option<ContextTokens>,
    /// Tools the model called that the caller's role may not use; the answer is the refusal.
    pub refused: Vec<String>,
}

fn stop_name(stop: TurnStop) -> &'static str {
    match stop {
        TurnStop::Answer => "answer",
        TurnStop::AwaitingConfirmation => "awaiting_confirmation",
    }
}

impl From<TurnOutcome> for Turn {
    fn from(outcome: TurnOutcome) -> Self {
        Turn {
            stop: stop_name(outcome.stop),
            answer: outcome.answer,
            pending: outcome.pending.into_iter().map(ActionView::from).collect(),
            steps: outcome.steps,
            context: outcome.context.map(ContextTokens::from),
            refused: outcome.refused,
        }
    }
}

/// Tokens per prompt layer of a turn's last generation.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ContextTokens {
    pub system: usize,
    pub passages: usize,
    pub memory: usize,
    pub recent: usize,
    pub current: usize,
    pub total: usize,
    pub budget: usize,
    pub passages_used: usize,
    pub key_events_used: usize,
    pub recent_turns: usize,
    pub dropped_turns: usize,
}

impl From<LayerTokens> for ContextTokens {
    fn from(tokens: LayerTokens) -> Self {
        ContextTokens {
            system: tokens.system,
            passages: tokens.passages,
            memory: tokens.memory,
            recent: tokens.recent,
            current: tokens.current,
            total: tokens.total,
            budget: tokens.budget,
            passages_used: tokens.passages_used,
            key_events_used: tokens.key_events_used,
            recent_turns: tokens.recent_turns,
            dropped_turns: tokens.dropped_turns,
        }
    }
}

/// One event of a streamed turn (an SSE `data:` line).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TurnEvent {
    Token {
        text: String,
    },
    ToolCall {
        id: String,
        name: String,
        arguments: Value,
    },
    ToolResult {
        id: String,
        name: String,
        ok: bool,
        output: String,
    },
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
        passages: Vec<CitedPassage>,
    },
    /// Tokens per prompt layer of the step about to run.
    Context {
        tokens: ContextTokens,
    },
    Answer {
        text: String,
    },
    Error {
        message: String,
    },
}

/// A retrieved passage: where it comes from and its text.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CitedPassage {
    /// What the answer cites it by (`S1`).
    pub id: String,
    pub source: String,
    pub section: String,
    pub text: String,
}

impl From<AgentEvent> for TurnEvent {
    fn from(event: AgentEvent) -> Self {
        match event {
            AgentEvent::Token { text } => TurnEvent::Token { text },
            AgentEvent::ToolCall {
                id,
                name,
                arguments,
            } => TurnEvent::ToolCall {
                id,
                name,
                arguments,
            },
            AgentEvent::ToolResult {
                id,
                name,
                ok,
                output,
            } => TurnEvent::ToolResult {
                id,
                name,
                ok,
                output,
            },
            AgentEvent::ConfirmationRequired {
                call_id,
                action_id,
                tool,
                summary,
                arguments_sha256,
                expires_at,
            } => TurnEvent::ConfirmationRequired {
                call_id,
                action_id,
                tool,
                summary,
                arguments_sha256,
                expires_at,
            },
            AgentEvent::Passages { passages } => TurnEvent::Passages {
                passages: passages
                    .into_iter()
                    .map(|p| CitedPassage {
                        id: p.id,
                        source: p.source,
                        section: p.section,
                        text: p.text,
                    })
                    .collect(),
            },
            AgentEvent::Context { tokens } => TurnEvent::Context {
                tokens: ContextTokens::from(tokens),
            },
            AgentEvent::Answer { text } => TurnEvent::Answer { text },
            AgentEvent::Error { message } => TurnEvent::Error { message },
        }
    }
}
