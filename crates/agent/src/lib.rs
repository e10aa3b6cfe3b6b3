//! The agent: a turn is model → calls → policy → (confirmation) → execution → results back
//! to the model → … until an answer, a call waiting for confirmation, or the step limit.
//! Sessions and their messages are persisted in SQLite, with their mid-term memory (key events
//! of tool calls, a summary of older turns); each prompt is assembled by layers under a token
//! budget (`context`).
//!
//! The model only proposes; every call goes through [`fulcrum_tools::Policy`], which decides
//! with the caller's role and logs the decision before anything runs.

mod answer_cache;
mod calls;
mod context;
mod error;
mod events;
mod language;
mod model;
mod session;
mod session_pg;
mod tuning;
mod turn;

pub use answer_cache::{normalize as normalize_question, AnswerCache, CacheCounts};
pub use calls::{
    checked_generation, AskedFunctions, CallCheck, CallGrounding, CheckReport, CheckReportSlot,
    CheckedCall, DroppedArgument, DroppedItems, Grounds, RewrittenArgument,
};
pub use context::{assemble, key_event, split_turns, ContextBudget, LayerTokens, Layers, Measure};
pub use error::AgentError;
pub use events::AgentEvent;
pub use model::LoadedModel;
pub use session::{KeyEvent, PendingCall, SessionInfo, SessionMemory, SessionStore};
pub use tuning::{
    add_call_guidance, answers_user, call_biases, call_instead_of_refused_start, step_biases,
    CallGuidance, ToolCallTuning, DEFAULT_CALL_RELEVANCE_FLOOR,
    DEFAULT_CALL_RELEVANCE_FLOOR_INVENTED, DEFAULT_CALL_RELEVANCE_FLOOR_INVENTED_NUMBER,
    DEFAULT_PARALLEL_CALL_BIAS, DEFAULT_TOOL_CALL_BIAS, WHEN_TO_CALL,
};
pub use turn::{Agent, AgentOptions, SessionLimits, TurnOutcome, TurnStop};
