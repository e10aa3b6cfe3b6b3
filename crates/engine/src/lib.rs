//! Inference engines behind one [`Backend`] trait.
//!
//! The embedded engine ([`llama::LlamaEngine`]) runs llama.cpp in-process on a thread of its
//! own that owns the model and a single context holding several sequences, so requests are
//! decoded together in one batch. [`scripted::ScriptedBackend`] replays fixed outputs so tests
//! of everything above the engine run exactly and fast. Nothing here knows about HTTP.

mod backend;
mod error;
mod grammar;
pub mod llama;
mod prefix;
mod repetition;
mod score;
pub mod scripted;
pub mod stop;
mod threads;

pub use backend::{output_budget, start_generation};
pub use backend::{
    Backend, BiasWhen, EngineLoad, FinishReason, GenerationEvent, GenerationRequest,
    GenerationStream, LogitBias, LogprobEvent, ModelInfo, PromptStart, RefusedStart,
    SamplingParams, TokenLogprob, TopLogprob, UpstreamStatus, Usage, MAX_TOP_LOGPROBS, TOKEN_BREAK,
};
pub use error::EngineError;
pub use llama::{EngineConfig, GgufVocabulary, LlamaEngine, DEFAULT_PREFILL_CHUNK_TOKENS};
pub use repetition::RepetitionGuard;
pub use score::{text_likelihood, TextLikelihood};
pub use threads::physical_cores;
