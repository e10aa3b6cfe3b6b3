//! The embedded llama.cpp engine.
//!
//! One worker thread owns the llama.cpp context. The context holds `slots` sequences in a
//! unified KV cache; each step the worker builds one batch with the next token of every
//! generating sequence plus a chunk of any prompt still being read, decodes it once, and samples
//! each sequence with its own sampler. Requests join between steps (continuous batching) and
//! leave as soon as they finish or their client goes away. The async runtime never blocks on
//! llama.cpp: callers get a channel of events.
//!
//! Admission is by use (`admission`): a request starts when its prompt fits beside the running
//! sequences with a small headroom, and takes cells as it generates; when the cache is full,
//! the newest sequence is preempted and resumes later with its output kept. Waiting requests
//! are served in turn across callers (`queue`), so no caller's backlog holds another's back.

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc as std_mpsc, Arc, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::logit_bias::LlamaLogitBias;
use llama_cpp_2::token::LlamaToken;
use tokio::sync::mpsc;

use crate::backend::{
    output_budget, Backend, BiasWhen, EngineLoad, FinishReason, GenerationEvent, GenerationRequest,
    GenerationStream, LogprobEvent, ModelInfo, PromptStart, SamplingParams, TokenLogprob,
    TopLogprob, Usage, MAX_TOP_LOGPROBS,
};
use crate::error::EngineError;
use crate::grammar::GrammarCompiler;
use crate::prefix::{self, FreeSeq, PromptEndLogits, ReusePlan};
use crate::repetition::RepetitionGuard;
use crate::stop::{StopMatcher, StopScan, Utf8Assembler};
use crate::threads::physical_cores;

mod admission;
mod queue;
mod sampler;
mod slot;
mod vocab;
mod worker;

pub use vocab::GgufVocabulary;

use slot::{FollowupBias, Job, RefusedStartRedirect};
use worker::Worker;

/// Largest context used when the model's own is bigger (KV memory grows with it).
pub const MAX_DEFAULT_CONTEXT: u32 = 32_768;

/// Prompt tokens per step beside generating sequences. Measured with the default model on 2
/// CPU cores (BENCHMARKS.md, a 2,000-token prompt among 7 generating clients): 256 cuts the
/// longest pause of the others by about a third against whole 512-token batches at the same
/// throughput; 64 shortens it further (to ~3 s) but small mixed steps are slower per token on
/// a CPU, costing ~15% throughput, so interactive deployments may choose it.
pub const DEFAULT_PREFILL_CHUNK_TOKENS: u32 = 256;

/// Settings of the embedded engine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub model_path: PathBuf,
    /// The name clients use for the model.
    pub model_id: String,
    /// Context size in tokens; `None` = the model's, capped at [`MAX_DEFAULT_CONTEXT`].
    pub context_size: Option<u32>,
    /// Threads for decoding; `None` = the physical cores.
    pub threads: Option<usize>,
    /// Sequences decoded together.
    pub slots: u32,
    /// Tokens per llama.cpp batch (prompt chunk size when no sequence is generating).
    pub batch_size: u32,
    /// Most prompt tokens put into one step beside sequences that are generating: a long
    /// prompt is processed in chunks this size between their tokens instead of stalling them
    /// for a whole batch.
    pub prefill_chunk_tokens: u32,
    /// Layers offloaded to a GPU (CUDA builds only).
    pub gpu_layers: u32,
    /// Keep finished sequences' KV and reuse the longest cached prefix of a new prompt.
    pub prefix_cache: bool,
    /// Most tokens kept for reuse in finished sequences; `None`: as many as the context holds
    /// beside the running requests.
    pub prefix_cache_tokens: Option<usize>,
    /// End a generation that repeats one phrase or line over and over (see
    /// [`crate::RepetitionGuard`]) instead of letting it run to its token limit.
    pub stop_repetition: bool,
    /// Take the tokens a request's grammar forces (a tool call's name, its argument names
    /// and punctuation) without sampling them one step each: they are computed together,
    /// beside the token sampled before them (jump-forward decoding).
    pub jump_forward: bool,
}

impl EngineConfig {
    pub fn new(model_path: impl Into<PathBuf>, model_id: impl Into<String>) -> Self {
        EngineConfig {
            model_path: model_path.into(),
            model_id: model_id.into(),
            context_size: None,
            threads: None,
            slots: 4,
            batch_size: 512,
            prefill_chunk_tokens: DEFAULT_PREFILL_CHUNK_TOKENS,
            gpu_layers: 0,
            prefix_cache: true,
            prefix_cache_tokens: None,
            stop_repetition: true,
            jump_forward: false,
        }
    }
}

/// The embedded engine's handle: cheap to share, safe to call from async code.
pub struct LlamaEngine {
    info: ModelInfo,
    model: Arc<LlamaModel>,
    /// Jobs sent together arrive at the worker together.
    jobs: std_mpsc::Sender<Vec<Job>>,
    load: Arc<LoadCounters>,
    grammars: GrammarCompiler,
}

/// Written by the worker after each step, read by metrics.
#[derive(Debug, Default)]
struct LoadCounters {
    waiting: AtomicUsize,
    running: AtomicUsize,
    prompt_tokens: AtomicU64,
    reused_tokens: AtomicU64,
    prefix_hits: AtomicU64,
    admitted: AtomicU64,
    queue_wait_micros: AtomicU64,
    timed_out: AtomicU64,
    preempted: AtomicU64,
    forced_tokens: AtomicU64,
}

fn backend() -> Result<&'static LlamaBackend, EngineError> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
            LlamaBackend::init().map_err(|err| err.to_string())
        })
        .as_ref()
        .map_err(|err| EngineError::Stopped(format!("cannot initialise llama.cpp: {err}")))
}

impl LlamaEngine {
    /// Loads the model and starts the worker thread. Blocks while the model loads.
    pub fn load(config: EngineConfig) -> Result<Self, EngineError> {
        if !config.model_path.is_file() {
            return Err(EngineError::ModelNotFound {
                path: config.model_path.clone(),
            });
        }
        if config.slots == 0 || config.slots > 64 {
            return Err(EngineError::InvalidConfig(format!(
                "slots must be between 1 and 64, got {}",
                config.slots
            )));
        }
        if config.batch_size < 16 {
            return Err(EngineError::InvalidConfig(format!(
                "batch size must be at least 16, got {}",
                config.batch_size
            )));
        }
        if config.prefill_chunk_tokens < 16 {
            return Err(EngineError::InvalidConfig(format!(
                "prefill chunk must be at least 16 tokens, got {}",
                config.prefill_chunk_tokens
            )));
        }
        let backend = backend()?;
        let params = LlamaModelParams::default().with_n_gpu_layers(config.gpu_layers);
        let model =
            LlamaModel::load_from_file(backend, &config.model_path, &params).map_err(|_| {
                EngineError::ModelLoad {
                    path: config.model_path.clone(),
                }
            })?;
        let model = Arc::new(model);

        let train = model.n_ctx_train();
        let context_size = config
            .context_size
            .unwrap_or_else(|| train.min(MAX_DEFAULT_CONTEXT));
        if context_size < 64 {
            return Err(EngineError::InvalidConfig(format!(
                "context size must be at least 64 tokens, got {context_size}"
            )));
        }
        let info = ModelInfo {
            id: config.model_id.clone(),
            context_size,
            train_context_size: train,
            chat_template: model.meta_val_str("tokenizer.chat_template").ok(),
            bos_token: special_text(&model, model.vocab().bos()),
            eos_token: special_text(&model, model.vocab().eos()),
            special_tokens: vocab::special_token_texts(&model),
        };

        let threads = config.threads.unwrap_or_else(physical_cores).max(1);
        let threads = i32::try_from(threads)
            .map_err(|_| EngineError::InvalidConfig("too many threads".into()))?;
        let (jobs, inbox) = std_mpsc::channel();
        let (ready_tx, ready_rx) = std_mpsc::channel();
        let worker_model = Arc::clone(&model);
        let load = Arc::new(LoadCounters::default());
        let worker = Worker {
            n_vocab: model.n_vocab(),
            load: Arc::clone(&load),
            slots: config.slots,
            batch_size: config.batch_size,
            prefill_chunk_tokens: config.prefill_chunk_tokens,
            context_size,
            prefix_cache: config.prefix_cache,
            prefix_cache_tokens: config.prefix_cache_tokens,
            stop_repetition: config.stop_repetition,
            jump_forward: config.jump_forward,
        };
        std::thread::Builder::new()
            .name("fulcrum-llama".into())
            .spawn(move || worker.run(backend, &worker_model, threads, inbox, ready_tx))
            .map_err(|err| {
                EngineError::Stopped(format!("cannot start the engine thread: {err}"))
            })?;
        ready_rx
            .recv()
            .map_err(|_| EngineError::Stopped("the engine thread died while starting".into()))??;
        tracing::info!(
            model = %info.id, context_size, threads, slots = config.slots,
            "llama.cpp engine ready"
        );
        Ok(LlamaEngine {
            info,
            model,
            jobs,
            load,
            grammars: GrammarCompiler::new(),
        })
    }

    fn prompt_tokens(&self, text: &str) -> Vec<LlamaToken> {
        vocab::tokenize(&self.model, &self.info.bos_token, text)
    }
}

fn special_text(model: &LlamaModel, token: LlamaToken) -> String {
    if token.0 < 0 {
        return String::new();
    }
    String::from_utf8_lossy(&model.vocab().token_to_piece(token, true, None)).into_owned()
}

impl Backend for LlamaEngine {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn count_tokens(&self, text: &str) -> Result<usize, EngineError> {
        Ok(self.prompt_tokens(text).len())
    }

    fn tokenize(&self, text: &str, add_bos: bool) -> Result<Vec<u32>, EngineError> {
        Ok(vocab::plain_tokens(&self.model, text, add_bos))
    }

    fn detokenize(&self, tokens: &[u32]) -> Result<String, EngineError> {
        vocab::detokenize(&self.model, tokens)
    }

    fn occupancy(&self) -> EngineLoad {
        EngineLoad {
            waiting: self.load.waiting.load(Ordering::Relaxed),
            running: self.load.running.load(Ordering::Relaxed),
            prompt_tokens_total: self.load.prompt_tokens.load(Ordering::Relaxed),
            prefix_reused_tokens_total: self.load.reused_tokens.load(Ordering::Relaxed),
            prefix_hits_total: self.load.prefix_hits.load(Ordering::Relaxed),
            admitted_total: self.load.admitted.load(Ordering::Relaxed),
            queue_wait_seconds_total: self.load.queue_wait_micros.load(Ordering::Relaxed) as f64
                / 1e6,
            timed_out_total: self.load.timed_out.load(Ordering::Relaxed),
            preempted_total: self.load.preempted.load(Ordering::Relaxed),
            forced_tokens_total: self.load.forced_tokens.load(Ordering::Relaxed),
        }
    }

    fn generate(&self, request: GenerationRequest) -> Result<GenerationStream, EngineError> {
        let (job, stream) = self.prepare(request)?;
        self.send(vec![job])?;
        Ok(stream)
    }

    fn generate_together(
        &self,
        requests: Vec<GenerationRequest>,
    ) -> Result<Vec<GenerationStream>, EngineError> {
        let (jobs, streams): (Vec<Job>, Vec<GenerationStream>) = requests
            .into_iter()
            .map(|request| self.prepare(request))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .unzip();
        self.send(jobs)?;
        Ok(streams)
    }
}

impl LlamaEngine {
    fn send(&self, jobs: Vec<Job>) -> Result<(), EngineError> {
        self.jobs
            .send(jobs)
            .map_err(|_| EngineError::Stopped("the engine thread has exited".into()))
    }

    /// Tokenizes and checks a request, compiles its grammar, and makes it a job for the worker.
    fn prepare(&self, request: GenerationRequest) -> Result<(Job, GenerationStream), EngineError> {
        let queued_at = Instant::now();
        let deadline = request
            .timeout
            .and_then(|limit| Some((queued_at.checked_add(limit)?, limit)));
        let tokens = match &request.prompt_tokens {
            Some(ids) => vocab::known_tokens(&self.model, ids)?,
            None => self.prompt_tokens(&request.prompt),
        };
        if tokens.is_empty() {
            return Err(EngineError::EmptyPrompt);
        }
        for asked in [request.logprobs, request.prompt_logprobs]
            .into_iter()
            .flatten()
        {
            if asked > MAX_TOP_LOGPROBS {
                return Err(EngineError::Unsupported(format!(
                    "at most {MAX_TOP_LOGPROBS} alternatives per token can be reported, not {asked}"
                )));
            }
        }
        let max_tokens = output_budget(tokens.len(), self.info.context_size, &request)?;
        let grammar = match &request.grammar {
            Some(lark) => Some(self.grammars.matcher(&self.model, lark)?),
            None => None,
        };
        let single_token = |text: &str| match self
            .model
            .vocab()
            .tokenize(text.as_bytes(), false, true)
            .as_slice()
        {
            [token] => Some(*token),
            // Another model's tag (e.g. `<tool_call>` for a model without it): nothing to bias.
            _ => {
                tracing::debug!(text, "logit bias skipped: not a single token of this model");
                None
            }
        };
        let mut logit_bias = Vec::new();
        let mut followup_bias = Vec::new();
        for entry in request.logit_bias.iter().filter(|b| b.bias.is_finite()) {
            let Some(token) = single_token(&entry.text) else {
                continue;
            };
            match &entry.when {
                BiasWhen::Always => logit_bias.push(LlamaLogitBias::new(token, entry.bias)),
                BiasWhen::AtStart => followup_bias.push(FollowupBias {
                    previous: None,
                    token,
                    bias: entry.bias,
                }),
                BiasWhen::After(previous) => {
                    if let Some(previous) = single_token(previous) {
                        followup_bias.push(FollowupBias {
                            previous: Some(previous),
                            token,
                            bias: entry.bias,
                        });
                    }
                }
            }
        }
        let instead_of_refused_start = request
            .instead_of_refused_start
            .filter(|_| grammar.is_some())
            .and_then(|refused| Some((single_token(&refused.instead)?, refused.openers)));
        let (events, receiver) = mpsc::unbounded_channel();
        let (logprob_events, logprob_receiver) =
            if request.logprobs.is_some() || request.prompt_logprobs.is_some() {
                let (sender, receiver) = mpsc::unbounded_channel();
                (Some(sender), Some(receiver))
            } else {
                (None, None)
            };
        let job = Job {
            logprob_events,
            logprobs: request.logprobs,
            prompt_logprobs: request.prompt_logprobs,
            prompt_logprob_acc: Vec::new(),
            grammar,
            logit_bias,
            followup_bias,
            instead_of_refused_start,
            prompt_len: tokens.len(),
            tokens,
            caller: request.caller.unwrap_or_default(),
            follow_up: request.follow_up,
            decoding: None,
            waited: None,
            sampling: request.sampling,
            max_tokens,
            stop: request.stop,
            ignore_eos: request.ignore_eos,
            loop_check: request.loop_check,
            events,
            queued_at,
            deadline,
        };
        let stream = match logprob_receiver {
            Some(logprobs) => GenerationStream::with_logprobs(receiver, logprobs),
            None => GenerationStream::new(receiver),
        };
        Ok((job, stream))
    }
}
