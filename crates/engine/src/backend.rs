//! The contract every inference backend fulfils.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::error::EngineError;

/// What the rest of Fulcrum needs to know about the loaded model.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    /// The id clients name in requests (`model`).
    pub id: String,
    /// Tokens one request may use, prompt and output together.
    pub context_size: u32,
    /// The context length the model was trained with.
    pub train_context_size: u32,
    /// The GGUF's `tokenizer.chat_template`, when it has one.
    pub chat_template: Option<String>,
    pub bos_token: String,
    pub eos_token: String,
}

/// Sampling settings. `temperature == 0` means greedy decoding, which is deterministic.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingParams {
    pub temperature: f32,
    pub top_p: f32,
    /// 0 disables top-k.
    pub top_k: i32,
    /// A fixed seed makes sampling reproducible; `None` draws one.
    pub seed: Option<u32>,
}

impl Default for SamplingParams {
    fn default() -> Self {
        SamplingParams {
            temperature: 0.7,
            top_p: 0.95,
            top_k: 40,
            seed: None,
        }
    }
}

/// One generation: a rendered prompt and how to continue it.
#[derive(Debug, Clone)]
pub struct GenerationRequest {
    pub prompt: String,
    pub sampling: SamplingParams,
    /// Upper bound on generated tokens; `None` means what the context leaves after the
    /// prompt (OpenAI's meaning), within `max_tokens_limit`.
    pub max_tokens: Option<u32>,
    /// The most tokens a request without `max_tokens` may generate; `None`: no limit but the
    /// context.
    pub max_tokens_limit: Option<u32>,
    /// Who asks (an API key's user, say): waiting requests are served in turn across callers,
    /// so one caller's backlog does not hold another's request back. `None` is one caller.
    pub caller: Option<String>,
    /// Generation ends before any of these strings; they are not part of the output.
    pub stop: Vec<String>,
    /// Keep generating past end-of-turn tokens until `max_tokens` (benchmarks only).
    pub ignore_eos: bool,
    /// An llguidance (Lark) grammar the output must follow.
    pub grammar: Option<String>,
    /// Added to the logits of single tokens, always or right after another token.
    pub logit_bias: Vec<LogitBias>,
    /// Ends the generation with [`EngineError::Timeout`] this long after `generate` was
    /// called, time spent waiting for a slot included. `None`: no limit.
    pub timeout: Option<Duration>,
}

impl GenerationRequest {
    /// `prompt` sampled with `sampling` for at most `max_tokens`: no stop strings, grammar,
    /// biases or time limit, ending at the model's end of turn. Callers set the rest with
    /// struct update syntax (`GenerationRequest { grammar, ..GenerationRequest::new(…) }`).
    pub fn new(prompt: String, sampling: SamplingParams, max_tokens: Option<u32>) -> Self {
        GenerationRequest {
            prompt,
            sampling,
            max_tokens,
            max_tokens_limit: None,
            caller: None,
            stop: Vec::new(),
            ignore_eos: false,
            grammar: None,
            logit_bias: Vec::new(),
            timeout: None,
        }
    }

    /// `prompt` decoded greedily (temperature 0) for at most `max_tokens`.
    pub fn greedy(prompt: String, max_tokens: u32) -> Self {
        GenerationRequest::new(
            prompt,
            SamplingParams {
                temperature: 0.0,
                ..SamplingParams::default()
            },
            Some(max_tokens),
        )
    }
}

/// Starts `request` on `backend` from async code. `generate` tokenizes the prompt and may
/// compile a grammar (the first one builds llguidance's view of the whole vocabulary, hundreds
/// of milliseconds), so it runs on a blocking thread, never on the runtime's workers.
pub async fn start_generation(
    backend: &Arc<dyn Backend>,
    request: GenerationRequest,
) -> Result<GenerationStream, EngineError> {
    let backend = Arc::clone(backend);
    tokio::task::spawn_blocking(move || backend.generate(request))
        .await
        .map_err(|err| EngineError::Stopped(format!("the generation task failed: {err}")))?
}

/// A bias on one token of the loaded model. Meant for a model's special tags (e.g.
/// `<tool_call>`): a text that is not a single token of the loaded model is skipped.
#[derive(Debug, Clone, PartialEq)]
pub struct LogitBias {
    pub text: String,
    pub bias: f32,
    pub when: BiasWhen,
}

/// At which steps a [`LogitBias`] applies.
#[derive(Debug, Clone, PartialEq)]
pub enum BiasWhen {
    /// Every step.
    Always,
    /// The first generated token only (a decision made at the start of the answer).
    AtStart,
    /// The step right after this text's token was generated (e.g. the separator that would
    /// start another tool call after `</tool_call>`).
    After(String),
}

impl LogitBias {
    pub fn always(text: impl Into<String>, bias: f32) -> Self {
        Self {
            text: text.into(),
            bias,
            when: BiasWhen::Always,
        }
    }

    pub fn at_start(text: impl Into<String>, bias: f32) -> Self {
        Self {
            text: text.into(),
            bias,
            when: BiasWhen::AtStart,
        }
    }

    pub fn after(previous: impl Into<String>, text: impl Into<String>, bias: f32) -> Self {
        Self {
            text: text.into(),
            bias,
            when: BiasWhen::After(previous.into()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// The model ended its turn, or a stop string was met.
    Stop,
    /// `max_tokens` or the context size was reached.
    Length,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: u32,
    /// Tokens sampled, not counting the end-of-turn token.
    pub completion_tokens: u32,
    /// How long the request waited for its first admission to a sequence.
    pub queue_wait: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub enum GenerationEvent {
    /// A piece of output text (always whole UTF-8 characters, never part of a stop string).
    Text(String),
    Finished {
        reason: FinishReason,
        usage: Usage,
    },
}

/// The events of one generation. Dropping it cancels the generation.
#[derive(Debug)]
pub struct GenerationStream {
    receiver: mpsc::UnboundedReceiver<Result<GenerationEvent, EngineError>>,
}

impl GenerationStream {
    pub fn new(receiver: mpsc::UnboundedReceiver<Result<GenerationEvent, EngineError>>) -> Self {
        GenerationStream { receiver }
    }

    /// The next event; `None` after `Finished` or an error.
    pub async fn next(&mut self) -> Option<Result<GenerationEvent, EngineError>> {
        self.receiver.recv().await
    }

    /// Waits for the whole output (for non-streaming callers).
    pub async fn collect(mut self) -> Result<(String, FinishReason, Usage), EngineError> {
        let mut text = String::new();
        while let Some(event) = self.next().await {
            match event? {
                GenerationEvent::Text(piece) => text.push_str(&piece),
                GenerationEvent::Finished { reason, usage } => return Ok((text, reason, usage)),
            }
        }
        Err(EngineError::Stopped(
            "the generation ended without finishing".into(),
        ))
    }

    /// Blocking variant of [`Self::next`], for callers outside an async runtime (the CLI).
    pub fn blocking_next(&mut self) -> Option<Result<GenerationEvent, EngineError>> {
        self.receiver.blocking_recv()
    }
}

/// How busy a backend is, for metrics and load shedding.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EngineLoad {
    /// Generations accepted but not yet given a sequence slot.
    pub waiting: usize,
    /// Generations being decoded.
    pub running: usize,
    /// Prompt tokens of all admitted generations, since start.
    pub prompt_tokens_total: u64,
    /// Of those, tokens whose KV came from the prefix cache instead of being computed.
    pub prefix_reused_tokens_total: u64,
    /// Generations that reused any cached prefix.
    pub prefix_hits_total: u64,
    /// Generations given a sequence slot, since start.
    pub admitted_total: u64,
    /// Seconds those generations waited for their slot, summed.
    pub queue_wait_seconds_total: f64,
    /// Generations ended because they ran past their timeout.
    pub timed_out_total: u64,
    /// Times a running generation gave back its KV cells because the cache was full (it
    /// resumed later with its output kept).
    pub preempted_total: u64,
}

/// An inference backend: the embedded llama.cpp engine, or a scripted one for tests. (A remote
/// engine over an OpenAI-compatible API is planned behind this same trait.)
pub trait Backend: Send + Sync + 'static {
    fn info(&self) -> &ModelInfo;

    fn occupancy(&self) -> EngineLoad {
        EngineLoad::default()
    }

    /// Exact number of tokens `text` becomes in this model's prompt.
    fn count_tokens(&self, text: &str) -> Result<usize, EngineError>;

    /// Starts a generation; its events arrive on the returned stream.
    fn generate(&self, request: GenerationRequest) -> Result<GenerationStream, EngineError>;

    /// Starts several generations at once: an engine that batches admits them at the same
    /// step (the parts of one document, say), so they are computed together from the start.
    /// All or none start.
    fn generate_together(
        &self,
        requests: Vec<GenerationRequest>,
    ) -> Result<Vec<GenerationStream>, EngineError> {
        requests
            .into_iter()
            .map(|request| self.generate(request))
            .collect()
    }
}
