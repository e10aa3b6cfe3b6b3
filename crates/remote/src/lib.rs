//! Fulcrum over engines it does not run: vLLM, SGLang, llama-server or any OpenAI-compatible
//! completions API, behind the same [`fulcrum_engine::Backend`] trait as the embedded engine.
//!
//! Prompts are rendered and counted here with the model's own GGUF vocabulary and template
//! (checked at start-up against each upstream's tokenizer), and sent to the upstream's
//! `/v1/completions` as text, with the request's grammar in the engine's own structured-output
//! parameter. Several upstreams of one model are replicas: each request goes to the one that
//! likely holds its prompt's prefix in its KV cache, unless it is much busier than the least
//! busy; a replica that fails is ejected until its health check passes again, and a request
//! that failed before its first token is retried on another.

mod backend;
mod config;
mod dialect;
mod error;
mod health;
mod prefix;
mod replica;
mod stream;

pub use backend::{RemoteBackend, RemoteOptions};
pub use config::{UpstreamConfig, UpstreamKind};
pub use error::RemoteError;
