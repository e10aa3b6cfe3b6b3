//! Tool calling in Qwen's Hermes format: the grammar that makes every call well-formed, and
//! the parsers that read calls back out of the model's text (whole, or while it streams).
//!
//! Reasoning policy: text inside `<think>…</think>` is the model thinking aloud. It is returned
//! as `reasoning_content` and never searched for tool calls, so a call the model only
//! considered is never executed.

mod bounded;
mod cut;
mod dedupe;
mod exclude;
mod floats;
mod grammar;
mod parse;
mod relax;
mod stream;
mod toolset;

pub use bounded::ValueBounds;
pub use cut::{close_cut_call, parse_answer};
pub use dedupe::{dedupe_calls, CallDeduper};
pub use floats::FloatWriting;
pub use grammar::grammar;
pub use parse::{parse_output, split_reasoning, ParsedOutput};
pub use relax::Relaxation;
pub use stream::{StreamEvent, StreamParser};
pub use toolset::{CallError, ToolSet};

/// The tags of Qwen's (Hermes) call blocks and reasoning blocks.
const OPEN: &str = "<tool_call>";
const CLOSE: &str = "</tool_call>";
const THINK_OPEN: &str = "<think>";
const THINK_CLOSE: &str = "</think>";

/// Which calls the model may or must make (OpenAI's `tool_choice`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ToolChoice {
    /// No call: the model answers in text.
    None,
    /// Text or calls, as the model decides.
    Auto,
    /// At least one call.
    Required,
    /// Only calls of this function, at least one.
    Named(String),
}

/// A call read from the model's output, before it gets an id.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedCall {
    pub name: String,
    pub arguments: serde_json::Value,
}

/// A new id for a call the model made (`call_` and 24 hexadecimal digits, as OpenAI's look),
/// for the chat API and the agent alike.
pub fn new_call_id() -> String {
    let uuid = uuid::Uuid::new_v4().simple().to_string();
    format!("call_{}", &uuid[..24])
}

/// A tool with no description, for tests.
#[cfg(test)]
pub(crate) fn test_tool(name: &str, parameters: serde_json::Value) -> crate::ToolDefinition {
    crate::ToolDefinition {
        name: name.into(),
        description: None,
        parameters,
        strict: false,
    }
}
