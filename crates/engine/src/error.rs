//! Errors of the inference engines.

use std::path::PathBuf;

#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    #[error("model file {path} does not exist: run `fulcrum models pull` or pass --model with a path to a .gguf file")]
    ModelNotFound { path: PathBuf },
    #[error("cannot load model {path}: llama.cpp rejected it (not a GGUF file, an unsupported architecture, or not enough memory)")]
    ModelLoad { path: PathBuf },
    #[error("cannot create a llama.cpp context of {n_ctx} tokens: not enough memory; lower --context-size")]
    ContextCreate { n_ctx: u32 },
    #[error("invalid engine setting: {0}")]
    InvalidConfig(String),
    #[error("the prompt is {prompt_tokens} tokens and {max_tokens} more were asked for, over the context size of {context_size}: shorten the conversation or lower max_tokens")]
    ContextOverflow {
        prompt_tokens: usize,
        max_tokens: usize,
        context_size: usize,
    },
    /// The grammar (from tools or `response_format`) cannot be used.
    #[error("cannot constrain decoding with this grammar: {0}")]
    Grammar(String),
    #[error("the prompt is empty")]
    EmptyPrompt,
    /// A token id outside the model's vocabulary (a prompt given as token ids).
    #[error("token id {id} is not in the model's vocabulary of {vocabulary} tokens")]
    UnknownToken { id: u32, vocabulary: usize },
    /// Something this backend cannot do (e.g. log-probabilities over a remote engine).
    #[error("{0}")]
    Unsupported(String),
    #[error("the engine stopped: {0}")]
    Stopped(String),
    /// Under a `tool_choice` that requires a call, the model wrote none that is valid, nor
    /// did the bounded attempt asked for after it.
    #[error("the model wrote no valid tool call where the request requires one (its answer and a second, bounded attempt held none its tool's schema accepts); retry the request (another seed or a higher temperature), or let the model answer in text with `tool_choice: auto`")]
    NoValidCall,
    #[error("the request ran past its time limit of {limit_ms} ms (waiting for a slot included): retry later, ask for fewer tokens, or raise `request_timeout_s`")]
    Timeout { limit_ms: u64 },
    #[error("llama.cpp failed while decoding: {0}")]
    Decode(String),
    /// A remote engine answered with an error, or the connection broke mid-answer.
    #[error("the upstream engine failed: {0}")]
    Upstream(String),
    /// No remote engine can take the request now (all down, or all asked to back off).
    #[error("no upstream engine is available: {0}; retry shortly")]
    Unavailable(String),
}
