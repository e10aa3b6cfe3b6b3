//! Errors of chat-template handling.

#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// The model's chat template does not compile: the model file carries a broken template.
    #[error("the model's chat template is invalid: {0}; pass a fixed template with --chat-template or use another model")]
    InvalidTemplate(String),
    /// The template refused the conversation (e.g. its `raise_exception`): the caller's input.
    #[error("the chat template rejected the conversation: {0}")]
    Rejected(String),
    /// Rendering ran over its fuel budget: a template that loops without end.
    /// A tool definition the request gave is unusable.
    #[error("tools[{index}] is invalid: {reason}")]
    InvalidTool { index: usize, reason: String },
    #[error("the chat template ran over its step budget while rendering; the template is faulty or the conversation is too large")]
    OutOfFuel,
}
