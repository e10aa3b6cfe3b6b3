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
    /// The texts the tokenizer reads as special tokens (`<|im_start|>`, `<tool_call>`, …):
    /// untrusted text is rendered so that none of them can arise from it (see [`TOKEN_BREAK`]).
    pub special_tokens: Vec<String>,
}

/// A character a prompt may carry where its tokenization must be cut: the text on each side
/// is tokenized separately and the character itself becomes no token. The chat template puts
/// one inside every special-token text found in untrusted content (a message, a tool result,
/// a retrieved passage), so only the template's own markup can yield a special token. A Unicode
/// noncharacter, reserved for such internal use and never part of real text.
pub const TOKEN_BREAK: char = '\u{FDD0}';

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
    /// The caller shows nothing until the generation ends (a non-streaming request): a
    /// remote engine holds the text back until its upstream finishes, so an upstream that
    /// fails midway can be replaced by another from the start.
    pub buffered: bool,
    /// The prompt as token ids of this model, used instead of tokenizing `prompt` (a
    /// completion whose client tokenized it, as evaluation harnesses do).
    pub prompt_tokens: Option<Vec<u32>>,
    /// Report each generated token's log-probability and this many most likely alternatives
    /// (0..=20) on the stream's [`LogprobEvent`] channel.
    pub logprobs: Option<u32>,
    /// Report the log-probability of every prompt token after the first, and this many
    /// alternatives at each position, once the prompt is computed.
    pub prompt_logprobs: Option<u32>,
    /// A first choice to replace at the first step (see [`RefusedStart`]). Ignored without a
    /// grammar, and by remote engines.
    pub instead_of_refused_start: Option<RefusedStart>,
    /// A further generation of a request already served (the call checks' extra calls): it
    /// waits ahead of new requests, so that one answer's steps are not queued behind requests
    /// that came after it.
    pub follow_up: bool,
    /// Whether the engine's loop check (a degenerate repetition ends the generation, when the
    /// engine has it on) watches this generation. Off where the grammar bounds every value
    /// itself: a repetition inside a bound ends at the bound, and cutting it short would leave
    /// the output unfinished.
    pub loop_check: bool,
}

/// When the model's own first choice for the first token is one the grammar refuses and its
/// text opens with one of `openers`, `instead` (a single token the grammar allows) is generated
/// in its place: a small model that opens a bare JSON object (`{"name": …`) or a fence where
/// only text or a tagged call may start means the call.
#[derive(Debug, Clone, PartialEq)]
pub struct RefusedStart {
    pub openers: Vec<String>,
    pub instead: String,
}

/// The most alternatives a request may ask for at each position (OpenAI's limit).
pub const MAX_TOP_LOGPROBS: u32 = 20;

/// One token's log-probability under the model, and the most likely tokens at its position.
/// These are the model's own probabilities (the log-softmax of its logits), before logit
/// biases, a grammar's mask or the temperature change what is sampled.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenLogprob {
    pub token: u32,
    /// The token's bytes (a piece of a character for some tokens); none for the end of text.
    pub bytes: Vec<u8>,
    pub logprob: f32,
    /// Most likely first.
    pub top: Vec<TopLogprob>,
    /// The model's end-of-text token, which ended the generation and is no part of its text:
    /// completions report it (as vLLM does, and harnesses that score one generated token
    /// expect it), chat completions leave it out (as OpenAI does).
    pub end_of_text: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TopLogprob {
    pub token: u32,
    pub bytes: Vec<u8>,
    pub logprob: f32,
}

/// A prompt's first token, which has no log-probability (nothing comes before it).
#[derive(Debug, Clone, PartialEq)]
pub struct PromptStart {
    pub token: u32,
    pub bytes: Vec<u8>,
}

/// Log-probabilities reported beside a generation's text, when its request asked for them.
#[derive(Debug, Clone, PartialEq)]
pub enum LogprobEvent {
    /// The prompt's tokens: the first, then every later one with its log-probability.
    Prompt {
        first: PromptStart,
        rest: Vec<TokenLogprob>,
    },
    /// One generated token, sent before the text it completes.
    Generated(TokenLogprob),
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
            buffered: false,
            prompt_tokens: None,
            logprobs: None,
            prompt_logprobs: None,
            instead_of_refused_start: None,
            follow_up: false,
            loop_check: true,
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

/// The most tokens `request` may generate after a prompt of `prompt_tokens` in a context of
/// `context_size`: its `max_tokens`, or what the context leaves (OpenAI's meaning) within
/// `max_tokens_limit`. A request that cannot fit is a `ContextOverflow`, whatever engine runs it.
pub fn output_budget(
    prompt_tokens: usize,
    context_size: u32,
    request: &GenerationRequest,
) -> Result<u32, EngineError> {
    let context = context_size as usize;
    let room = context.saturating_sub(prompt_tokens);
    match request.max_tokens {
        Some(asked) if asked as usize > room || room == 0 => Err(EngineError::ContextOverflow {
            prompt_tokens,
            max_tokens: asked as usize,
            context_size: context,
        }),
        Some(asked) => Ok(asked),
        None if room == 0 => Err(EngineError::ContextOverflow {
            prompt_tokens,
            max_tokens: 1,
            context_size: context,
        }),
        None => {
            let room = u32::try_from(room).unwrap_or(u32::MAX);
            Ok(request
                .max_tokens_limit
                .map_or(room, |limit| room.min(limit.max(1))))
        }
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
    /// The first token is the request's `instead_of_refused_start`, taken in place of the
    /// model's own first choice (which the grammar refused).
    pub redirected_start: bool,
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

/// Called once with a generation's usage when its `Finished` event is read.
type FinishHook = Box<dyn FnOnce(&Usage) + Send>;

/// The events of one generation. Dropping it cancels the generation.
pub struct GenerationStream {
    receiver: mpsc::UnboundedReceiver<Result<GenerationEvent, EngineError>>,
    /// Log-probabilities, when the request asked for them: a channel of their own, so that
    /// readers who never ask see the same events as before.
    logprobs: Option<mpsc::UnboundedReceiver<LogprobEvent>>,
    on_finished: Vec<FinishHook>,
    /// The text so far, kept only while a hook wants the whole output.
    transcript: Option<String>,
    on_complete: Vec<CompleteHook>,
}

type CompleteHook = Box<dyn FnOnce(&str, FinishReason, &Usage) + Send>;

impl std::fmt::Debug for GenerationStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GenerationStream")
            .field("finish_hooks", &self.on_finished.len())
            .finish_non_exhaustive()
    }
}

impl GenerationStream {
    pub fn new(receiver: mpsc::UnboundedReceiver<Result<GenerationEvent, EngineError>>) -> Self {
        GenerationStream {
            receiver,
            logprobs: None,
            on_finished: Vec::new(),
            transcript: None,
            on_complete: Vec::new(),
        }
    }

    /// A stream whose log-probabilities arrive on `logprobs`.
    pub fn with_logprobs(
        receiver: mpsc::UnboundedReceiver<Result<GenerationEvent, EngineError>>,
        logprobs: mpsc::UnboundedReceiver<LogprobEvent>,
    ) -> Self {
        GenerationStream {
            logprobs: Some(logprobs),
            ..GenerationStream::new(receiver)
        }
    }

    /// The log-probabilities' channel, when the request asked for them. A generated token's
    /// entry is sent before its text, so after reading a `Text` event every entry up to it can
    /// be taken with `try_recv`.
    pub fn take_logprobs(&mut self) -> Option<mpsc::UnboundedReceiver<LogprobEvent>> {
        self.logprobs.take()
    }

    /// Runs `hook` with the whole output, why it ended and the usage when the `Finished` event
    /// is read (an audit row of the generation, say). Like [`Self::on_finished`], never for a
    /// generation that fails or is dropped first.
    pub fn on_complete(
        mut self,
        hook: impl FnOnce(&str, FinishReason, &Usage) + Send + 'static,
    ) -> Self {
        self.transcript.get_or_insert_with(String::new);
        self.on_complete.push(Box::new(hook));
        self
    }

    /// Runs `hook` with the usage when the `Finished` event is read (metering and rate limits
    /// see every generation, whoever reads it). A generation that fails or is dropped before
    /// it finishes never calls it.
    pub fn on_finished(mut self, hook: impl FnOnce(&Usage) + Send + 'static) -> Self {
        self.on_finished.push(Box::new(hook));
        self
    }

    fn observe(
        &mut self,
        event: Option<Result<GenerationEvent, EngineError>>,
    ) -> Option<Result<GenerationEvent, EngineError>> {
        match &event {
            Some(Ok(GenerationEvent::Text(piece))) => {
                if let Some(transcript) = &mut self.transcript {
                    transcript.push_str(piece);
                }
            }
            Some(Ok(GenerationEvent::Finished { reason, usage })) => {
                for hook in self.on_finished.drain(..) {
                    hook(usage);
                }
                let text = self.transcript.take().unwrap_or_default();
                for hook in self.on_complete.drain(..) {
                    hook(&text, *reason, usage);
                }
            }
            _ => {}
        }
        event
    }

    /// The next event; `None` after `Finished` or an error.
    pub async fn next(&mut self) -> Option<Result<GenerationEvent, EngineError>> {
        let event = self.receiver.recv().await;
        self.observe(event)
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
        let event = self.receiver.blocking_recv();
        self.observe(event)
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
    /// Generated tokens a grammar forced, taken without sampling (jump-forward decoding).
    pub forced_tokens_total: u64,
}

/// One engine a remote backend sends generations to, as it stands now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpstreamStatus {
    pub name: String,
    /// `vllm`, `sglang`, `llama-server` or `openai`.
    pub kind: String,
    pub url: String,
    /// Passing its health checks and not backing off.
    pub healthy: bool,
    /// How a request's grammar reaches it: `llguidance` (enforced there), `gbnf`, or `none`
    /// (not enforced; tool calls are parsed leniently and validated after).
    pub grammar: String,
    /// Generations sent and not yet ended.
    pub outstanding: usize,
    pub requests_total: u64,
    /// Requests that failed there (before or after their first token).
    pub failures_total: u64,
    /// Requests that failed there before their first token and were sent to another.
    pub retries_total: u64,
    /// Times it was taken out of rotation (failed health check, connection error, backoff).
    pub ejections_total: u64,
}

/// An inference backend: the embedded llama.cpp engine, a remote engine over an
/// OpenAI-compatible API (`fulcrum-remote`), or a scripted one for tests.
pub trait Backend: Send + Sync + 'static {
    fn info(&self) -> &ModelInfo;

    /// The remote engines behind this backend; empty for an engine in this process.
    fn upstreams(&self) -> Vec<UpstreamStatus> {
        Vec::new()
    }

    fn occupancy(&self) -> EngineLoad {
        EngineLoad::default()
    }

    /// Exact number of tokens `text` becomes in this model's prompt.
    fn count_tokens(&self, text: &str) -> Result<usize, EngineError>;

    /// The token ids of `text` in this model's vocabulary, special tags parsed, a BOS token
    /// first when `add_bos` and the model uses one.
    fn tokenize(&self, _text: &str, _add_bos: bool) -> Result<Vec<u32>, EngineError> {
        Err(EngineError::Unsupported(
            "this engine does not expose its tokenizer".into(),
        ))
    }

    /// The text of `tokens` (special tokens written out).
    fn detokenize(&self, _tokens: &[u32]) -> Result<String, EngineError> {
        Err(EngineError::Unsupported(
            "this engine does not expose its tokenizer".into(),
        ))
    }

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
