//! Chat: the messages of a conversation, rendering them into a prompt with the model's own
//! chat template, and reading the model's output back.
//!
//! This crate knows nothing of HTTP or of any wire format: the server translates OpenAI's JSON
//! into these types, and the engine only ever sees the rendered prompt text.

mod error;
mod json;
mod markup;
mod message;
mod special;
mod template;
pub mod tools;

pub use error::ChatError;
pub use json::to_python_json;
pub use markup::neutralize_markup;
pub use message::{Message, Role, ToolCall, ToolDefinition};
pub use special::SpecialTokenGuard;
pub use template::{ChatTemplate, RenderOptions, CHATML_TEMPLATE};
