//! The embedded llama.cpp engine.
//!
//! One worker thread owns the llama.cpp context. The context holds `slots` sequences in a
//! unified KV cache; each step the worker builds one batch with the next token of every
//! generating sequence plus a chunk of any prompt still being read, decodes it once, and samples
//! each sequence with its own sampler. Requests join between steps (continuous batching) and
//! leave as soon as they finish or their client goes away. The async runtime never blocks on
//! llama.cpp: callers get a channel of events.
//!
//! Admission keeps the KV cache from overflowing: a request reserves its prompt plus its
//! `max_tokens`, and waits in order until the reservations of running requests leave room.

use std::collections::VecDeque;
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
    Backend, BiasWhen, EngineLoad, FinishReason, GenerationEvent, GenerationRequest,
    GenerationStream, ModelInfo, SamplingParams, Usage,
};
use crate::error::EngineError;
use crate::grammar::GrammarCompiler;
use crate::prefix::{self, FreeSeq, ReusePlan};
use crate::stop::{StopMatcher, StopScan, Utf8Assembler};
use crate::threads::physical_cores;

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
        }
    }
}

/// A request handed to the worker, already tokenized and checked.
struct Job {
    tokens: Vec<LlamaToken>,
    sampling: SamplingParams,
    max_tokens: u32,
    stop: Vec<String>,
    ignore_eos: bool,
    grammar: Option<llguidance::Matcher>,
    logit_bias: Vec<LlamaLogitBias>,
    followup_bias: Vec<FollowupBias>,
    events: mpsc::UnboundedSender<Result<GenerationEvent, EngineError>>,
    queued_at: Instant,
    /// When the request's time limit runs out, and that limit (for the error).
    deadline: Option<(Instant, std::time::Duration)>,
}

/// A bias on `token` at the step right after `previous` was generated (`None`: at the first
/// step).
#[derive(Debug, Clone, Copy)]
struct FollowupBias {
    previous: Option<LlamaToken>,
    token: LlamaToken,
    bias: f32,
}

impl Job {
    fn reservation(&self) -> usize {
        self.tokens.len() + self.max_tokens as usize
    }

    /// Ends the job with a timeout error when its deadline has passed; says whether it did.
    fn expire(&self, now: Instant, load: &LoadCounters) -> bool {
        let Some((deadline, limit)) = self.deadline else {
            return false;
        };
        if now < deadline {
            return false;
        }
        let limit_ms = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX);
        // Counted before the caller can see the error, so a reader of the totals after it
        // finds it counted.
        load.timed_out.fetch_add(1, Ordering::Relaxed);
        let _ = self.events.send(Err(EngineError::Timeout { limit_ms }));
        true
    }
}

/// The embedded engine's handle: cheap to share, safe to call from async code.
pub struct LlamaEngine {
    info: ModelInfo,
    model: Arc<LlamaModel>,
    jobs: std_mpsc::Sender<Job>,
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

    fn tokenize(&self, text: &str) -> Vec<LlamaToken> {
        let vocab = self.model.vocab();
        // Templates that print the BOS token themselves must not get a second one.
        let add_bos = vocab.should_add_bos()
            && (self.info.bos_token.is_empty() || !text.starts_with(&self.info.bos_token));
        vocab.tokenize(text.as_bytes(), add_bos, true)
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
        Ok(self.tokenize(text).len())
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
        }
    }

    fn generate(&self, request: GenerationRequest) -> Result<GenerationStream, EngineError> {
        let queued_at = Instant::now();
        let deadline = request
            .timeout
            .and_then(|limit| Some((queued_at.checked_add(limit)?, limit)));
        let tokens = self.tokenize(&request.prompt);
        if tokens.is_empty() {
            return Err(EngineError::EmptyPrompt);
        }
        let context = self.info.context_size as usize;
        let room = context.saturating_sub(tokens.len());
        let max_tokens = match request.max_tokens {
            Some(asked) if asked as usize > room || room == 0 => {
                return Err(EngineError::ContextOverflow {
                    prompt_tokens: tokens.len(),
                    max_tokens: asked as usize,
                    context_size: context,
                })
            }
            Some(asked) => asked,
            None if room == 0 => {
                return Err(EngineError::ContextOverflow {
                    prompt_tokens: tokens.len(),
                    max_tokens: 1,
                    context_size: context,
                })
            }
            None => u32::try_from(room).unwrap_or(u32::MAX),
        };
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
        let (events, receiver) = mpsc::unbounded_channel();
        let job = Job {
            grammar,
            logit_bias,
            followup_bias,
            tokens,
            sampling: request.sampling,
            max_tokens,
            stop: request.stop,
            ignore_eos: request.ignore_eos,
            events,
            queued_at,
            deadline,
        };
        self.jobs
            .send(job)
            .map_err(|_| EngineError::Stopped("the engine thread has exited".into()))?;
        Ok(GenerationStream::new(receiver))
    }
}

/// A sequence being served.
struct Slot {
    seq: i32,
    job: Job,
    /// Prompt tokens already in the KV cache.
    prompt_done: usize,
    /// Every token whose KV this sequence holds, in order: what a later prompt can reuse.
    kv_tokens: Vec<LlamaToken>,
    /// Position of the next token in the sequence.
    position: i32,
    /// The token to feed next while generating.
    next_input: Option<LlamaToken>,
    /// Where this sequence's logits are in the last decoded batch.
    logits_at: Option<i32>,
    /// `None` for plain greedy decoding, which takes the arg-max of the logits directly:
    /// llama.cpp's sampler copies the whole vocabulary (152k entries for Qwen) every token.
    sampler: Option<LlamaSampler>,
    /// The token generated last, for biases that depend on it.
    last_token: Option<LlamaToken>,
    generated: u32,
    utf8: Utf8Assembler,
    stop: StopMatcher,
}

impl Slot {
    /// The biases that apply at this step, given the last token (or none yet).
    fn followup_biases(&self) -> Vec<FollowupBias> {
        self.job
            .followup_bias
            .iter()
            .filter(|b| b.previous == self.last_token)
            .copied()
            .collect()
    }

    fn send(&self, event: GenerationEvent) {
        // A closed channel means the client left; the worker notices and frees the slot.
        let _ = self.job.events.send(Ok(event));
    }

    fn usage(&self) -> Usage {
        Usage {
            prompt_tokens: u32::try_from(self.job.tokens.len()).unwrap_or(u32::MAX),
            completion_tokens: self.generated,
        }
    }

    /// Sends the text still held back, then `Finished`.
    fn finish(&mut self, reason: FinishReason) {
        let mut tail = self.utf8.finish();
        let stopped = match self.stop.push(&tail) {
            StopScan::Continue(text) => {
                tail = text;
                false
            }
            StopScan::Stopped(text) => {
                tail = text;
                true
            }
        };
        if !stopped {
            tail.push_str(&self.stop.finish());
        }
        if !tail.is_empty() {
            self.send(GenerationEvent::Text(tail));
        }
        let reason = if stopped { FinishReason::Stop } else { reason };
        self.send(GenerationEvent::Finished {
            reason,
            usage: self.usage(),
        });
    }
}

fn build_sampler(
    params: &SamplingParams,
    grammar: Option<llguidance::Matcher>,
    logit_bias: &[LlamaLogitBias],
    needs_chain: bool,
    n_vocab: i32,
) -> Option<LlamaSampler> {
    let mut chain = Vec::with_capacity(6);
    if !logit_bias.is_empty() {
        chain.push(LlamaSampler::logit_bias(n_vocab, logit_bias));
    }
    // The grammar masks first, so every later stage only sees allowed tokens.
    if let Some(matcher) = grammar {
        chain.push(LlamaSampler::from(matcher));
    }
    if params.temperature <= 0.0 {
        if chain.is_empty() && !needs_chain {
            return None;
        }
        chain.push(LlamaSampler::greedy());
        return Some(LlamaSampler::chain_simple(chain));
    }
    let seed = params.seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0x5eed, |d| d.subsec_nanos() ^ (d.as_secs() as u32))
    });
    if params.top_k > 0 {
        chain.push(LlamaSampler::top_k(params.top_k));
    }
    if params.top_p < 1.0 {
        chain.push(LlamaSampler::top_p(params.top_p, 1));
    }
    chain.push(LlamaSampler::temp(params.temperature));
    chain.push(LlamaSampler::dist(seed));
    Some(LlamaSampler::chain_simple(chain))
}

/// Samples from the logits at `at` with some tokens' logits moved first (llama.cpp's own
/// `sample` reads the logits itself, so this goes through a candidate array), then accepts the
/// token as `sample` would.
fn sample_with_bias(
    sampler: &mut LlamaSampler,
    ctx: &LlamaContext<'_>,
    at: i32,
    biases: &[FollowupBias],
) -> LlamaToken {
    let mut candidates = ctx.token_data_array_ith(at);
    for bias in biases {
        if let Some(entry) = candidates
            .data
            .iter_mut()
            .find(|entry| entry.id() == bias.token)
        {
            entry.set_logit(entry.logit() + bias.bias);
        }
    }
    candidates.apply_sampler(sampler);
    let token = candidates
        .selected_token()
        .unwrap_or_else(|| argmax(ctx.get_logits_ith(at)));
    sampler.accept(token);
    token
}

/// How many tokens a step may hold in all, `decoding` of them one per generating sequence:
/// the whole batch when nobody is generating (no one waits on the prompt), otherwise those
/// tokens and at most `prefill_chunk` prompt tokens, so each generating sequence's next token
/// comes after a bounded amount of prompt work.
fn prompt_capacity(batch_size: usize, prefill_chunk: usize, decoding: usize) -> usize {
    if decoding == 0 {
        batch_size
    } else {
        batch_size.min(decoding + prefill_chunk)
    }
}

/// The highest-scoring token (the first one on ties, as llama.cpp's greedy sampler picks).
fn argmax(logits: &[f32]) -> LlamaToken {
    let mut best = 0usize;
    let mut best_logit = f32::NEG_INFINITY;
    for (index, &logit) in logits.iter().enumerate() {
        if logit > best_logit {
            best = index;
            best_logit = logit;
        }
    }
    LlamaToken(i32::try_from(best).unwrap_or(0))
}

struct Worker {
    load: Arc<LoadCounters>,
    n_vocab: i32,
    slots: u32,
    batch_size: u32,
    prefill_chunk_tokens: u32,
    context_size: u32,
    prefix_cache: bool,
    prefix_cache_tokens: Option<usize>,
}

impl Worker {
    fn run(
        self,
        backend: &LlamaBackend,
        model: &LlamaModel,
        threads: i32,
        inbox: std_mpsc::Receiver<Job>,
        ready: std_mpsc::Sender<Result<(), EngineError>>,
    ) {
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(self.context_size))
            .with_n_batch(self.batch_size)
            .with_n_ubatch(self.batch_size)
            .with_n_seq_max(self.slots)
            .with_kv_unified(true)
            .with_n_threads(threads)
            .with_n_threads_batch(threads);
        let mut ctx = match model.new_context(backend, params) {
            Ok(ctx) => ctx,
            Err(_) => {
                let _ = ready.send(Err(EngineError::ContextCreate {
                    n_ctx: self.context_size,
                }));
                return;
            }
        };
        if ready.send(Ok(())).is_err() {
            return;
        }
        let mut batch = LlamaBatch::new(self.batch_size as usize, 1);
        let mut free: Vec<FreeSeq<LlamaToken>> = (0..self.slots as i32)
            .map(|seq| FreeSeq {
                seq,
                tokens: Vec::new(),
                last_used: 0,
            })
            .collect();
        let mut clock = 0u64;
        let mut active: Vec<Slot> = Vec::new();
        let mut waiting: VecDeque<Job> = VecDeque::new();
        let mut reserved = 0usize;
        let mut inbox_open = true;

        loop {
            // Take new work: block when idle, otherwise just look.
            if active.is_empty() && waiting.is_empty() {
                match inbox.recv() {
                    Ok(job) => waiting.push_back(job),
                    Err(_) => return,
                }
            }
            while inbox_open {
                match inbox.try_recv() {
                    Ok(job) => waiting.push_back(job),
                    Err(std_mpsc::TryRecvError::Empty) => break,
                    Err(std_mpsc::TryRecvError::Disconnected) => inbox_open = false,
                }
            }
            let now = Instant::now();
            waiting.retain(|job| !job.events.is_closed() && !job.expire(now, &self.load));
            while let Some(job) = waiting.front() {
                let running: Vec<(i32, &[LlamaToken])> = active
                    .iter()
                    .map(|slot| (slot.seq, slot.kv_tokens.as_slice()))
                    .collect();
                let room = (self.context_size as usize).saturating_sub(reserved);
                // With the cache off nothing is reused, not even a running sequence's prefix;
                // a seeded request asks for reproducible sampling, which only a whole
                // computation gives (cached runs round differently, see `prefix`).
                let may_reuse = self.prefix_cache && job.sampling.seed.is_none();
                let reservation = job.reservation();
                let Some(plan) =
                    prefix::plan(&job.tokens, may_reuse, reservation, room, &free, &running)
                else {
                    break;
                };
                let Some(job) = waiting.pop_front() else {
                    break;
                };
                let slot = self.admit(&mut ctx, job, plan, &mut free);
                reserved += slot.job.reservation();
                active.push(slot);
            }

            // Free the slots of clients that went away or ran out of time.
            let mut index = 0;
            while index < active.len() {
                let job = &active[index].job;
                if job.events.is_closed() || job.expire(now, &self.load) {
                    let slot = active.swap_remove(index);
                    self.release(&mut ctx, slot, &mut free, &mut reserved, &mut clock);
                } else {
                    index += 1;
                }
            }
            self.load.waiting.store(waiting.len(), Ordering::Relaxed);
            self.load.running.store(active.len(), Ordering::Relaxed);
            if active.is_empty() {
                if !inbox_open && waiting.is_empty() {
                    return;
                }
                continue;
            }

            if let Err(err) = self.fill_batch(&mut batch, &mut active) {
                fail_all(&mut ctx, &mut active, &mut free, &mut reserved, &err);
                continue;
            }
            let step_started = Instant::now();
            let decode_result = ctx.decode(&mut batch);
            tracing::debug!(
                target: "fulcrum_engine::step",
                tokens = batch.n_tokens(),
                sampled = active.iter().filter(|s| s.logits_at.is_some()).count(),
                ms = step_started.elapsed().as_millis() as u64,
                "step"
            );
            if let Err(err) = decode_result {
                let err = EngineError::Decode(err.to_string());
                fail_all(&mut ctx, &mut active, &mut free, &mut reserved, &err);
                continue;
            }

            let vocab = model.vocab();
            let mut finished = Vec::new();
            for (index, slot) in active.iter_mut().enumerate() {
                let Some(at) = slot.logits_at.take() else {
                    continue;
                };
                let followup = slot.followup_biases();
                let token = match slot.sampler.as_mut() {
                    Some(sampler) if !followup.is_empty() => {
                        sample_with_bias(sampler, &ctx, at, &followup)
                    }
                    Some(sampler) => sampler.sample(&ctx, at),
                    None => argmax(ctx.get_logits_ith(at)),
                };
                slot.last_token = Some(token);
                if vocab.is_eog(token) && !slot.job.ignore_eos {
                    slot.finish(FinishReason::Stop);
                    finished.push(index);
                    continue;
                }
                slot.generated += 1;
                let piece = vocab.token_to_piece(token, false, None);
                let text = slot.utf8.push(&piece);
                match slot.stop.push(&text) {
                    StopScan::Continue(text) => {
                        if !text.is_empty() {
                            slot.send(GenerationEvent::Text(text));
                        }
                    }
                    StopScan::Stopped(text) => {
                        if !text.is_empty() {
                            slot.send(GenerationEvent::Text(text));
                        }
                        slot.send(GenerationEvent::Finished {
                            reason: FinishReason::Stop,
                            usage: slot.usage(),
                        });
                        finished.push(index);
                        continue;
                    }
                }
                if slot.generated >= slot.job.max_tokens {
                    slot.finish(FinishReason::Length);
                    finished.push(index);
                    continue;
                }
                slot.next_input = Some(token);
            }
            for index in finished.into_iter().rev() {
                let slot = active.swap_remove(index);
                self.release(&mut ctx, slot, &mut free, &mut reserved, &mut clock);
            }
            self.load.running.store(active.len(), Ordering::Relaxed);
        }
    }

    /// One token for each generating sequence, then prompt chunks in arrival order: the whole
    /// batch when nobody is generating, at most `prefill_chunk_tokens` beside those who are.
    fn fill_batch(&self, batch: &mut LlamaBatch, active: &mut [Slot]) -> Result<(), EngineError> {
        batch.clear();
        let add_error =
            |err: llama_cpp_2::llama_batch::BatchAddError| EngineError::Decode(err.to_string());
        let mut used = 0usize;
        for slot in active.iter_mut() {
            if let Some(token) = slot.next_input.take() {
                batch
                    .add(token, slot.position, &[slot.seq], true)
                    .map_err(add_error)?;
                slot.kv_tokens.push(token);
                slot.logits_at = Some(used as i32);
                slot.position += 1;
                used += 1;
            }
        }
        let capacity = prompt_capacity(
            self.batch_size as usize,
            self.prefill_chunk_tokens as usize,
            used,
        );
        for slot in active.iter_mut() {
            let remaining = slot.job.tokens.len() - slot.prompt_done;
            if remaining == 0 || used >= capacity {
                continue;
            }
            let take = remaining.min(capacity - used);
            let end = slot.prompt_done + take;
            for i in slot.prompt_done..end {
                let last = i + 1 == slot.job.tokens.len();
                batch
                    .add(slot.job.tokens[i], slot.position, &[slot.seq], last)
                    .map_err(add_error)?;
                if last {
                    slot.logits_at = Some(used as i32);
                }
                slot.position += 1;
                used += 1;
            }
            slot.kv_tokens
                .extend_from_slice(&slot.job.tokens[slot.prompt_done..end]);
            slot.prompt_done = end;
        }
        Ok(())
    }

    /// Frees a finished or abandoned sequence, keeping its KV for a later prompt that shares
    /// it (unless the prefix cache is off).
    fn release(
        &self,
        ctx: &mut LlamaContext<'_>,
        slot: Slot,
        free: &mut Vec<FreeSeq<LlamaToken>>,
        reserved: &mut usize,
        clock: &mut u64,
    ) {
        *clock += 1;
        *reserved = reserved.saturating_sub(slot.job.reservation());
        let mut tokens = slot.kv_tokens;
        if !self.prefix_cache {
            clear_seq(ctx, slot.seq);
            tokens.clear();
        }
        free.push(FreeSeq {
            seq: slot.seq,
            tokens,
            last_used: *clock,
        });
        if let Some(budget) = self.prefix_cache_tokens {
            for index in prefix::over_budget(free, budget) {
                clear_seq(ctx, free[index].seq);
                free[index].tokens.clear();
            }
        }
    }

    /// Gives `job` the slot `plan` chose, with the planned prefix of its KV already in place.
    fn admit(
        &self,
        ctx: &mut LlamaContext<'_>,
        mut job: Job,
        plan: ReusePlan,
        free: &mut Vec<FreeSeq<LlamaToken>>,
    ) -> Slot {
        for &index in &plan.evict {
            clear_seq(ctx, free[index].seq);
            free[index].tokens.clear();
        }
        let target = free.swap_remove(plan.target);
        let seq = target.seq;
        let mut reuse = plan.reuse;
        let kept = match plan.source {
            Some(source) => {
                clear_seq(ctx, seq);
                let end = u32::try_from(reuse).ok();
                ctx.copy_kv_cache_seq(source, seq, None, end).is_ok()
            }
            // Drop what follows the shared prefix (all of it when nothing is shared); a model
            // whose cache cannot be cut (recurrent) starts from scratch.
            None => {
                let from = u32::try_from(reuse).ok();
                reuse > 0
                    && matches!(
                        ctx.clear_kv_cache_seq(u32::try_from(seq).ok(), from, None),
                        Ok(true)
                    )
            }
        };
        if !kept {
            clear_seq(ctx, seq);
            reuse = 0;
        }
        self.load
            .prompt_tokens
            .fetch_add(job.tokens.len() as u64, Ordering::Relaxed);
        self.load.admitted.fetch_add(1, Ordering::Relaxed);
        let waited = u64::try_from(job.queued_at.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.load
            .queue_wait_micros
            .fetch_add(waited, Ordering::Relaxed);
        if reuse > 0 {
            self.load
                .reused_tokens
                .fetch_add(reuse as u64, Ordering::Relaxed);
            self.load.prefix_hits.fetch_add(1, Ordering::Relaxed);
        }
        let position = i32::try_from(reuse).unwrap_or(i32::MAX);
        Slot {
            seq,
            sampler: build_sampler(
                &job.sampling,
                job.grammar.take(),
                &job.logit_bias,
                !job.followup_bias.is_empty(),
                self.n_vocab,
            ),
            last_token: None,
            stop: StopMatcher::new(job.stop.clone()),
            kv_tokens: job.tokens[..reuse].to_vec(),
            job,
            prompt_done: reuse,
            position,
            next_input: None,
            logits_at: None,
            generated: 0,
            utf8: Utf8Assembler::default(),
        }
    }
}

fn clear_seq(ctx: &mut LlamaContext<'_>, seq: i32) {
    // Sequence ids are below `slots`, so the conversion cannot fail.
    let _ = ctx.clear_kv_cache_seq(u32::try_from(seq).ok(), None, None);
}

fn fail_all(
    ctx: &mut LlamaContext<'_>,
    active: &mut Vec<Slot>,
    free: &mut Vec<FreeSeq<LlamaToken>>,
    reserved: &mut usize,
    err: &EngineError,
) {
    tracing::error!(%err, sequences = active.len(), "decode failed; ending the affected requests");
    for slot in active.drain(..) {
        let _ = slot.job.events.send(Err(err.clone()));
        // What the failed batch left in the cache is unknown: keep nothing of it.
        clear_seq(ctx, slot.seq);
        *reserved = reserved.saturating_sub(slot.job.reservation());
        free.push(FreeSeq {
            seq: slot.seq,
            tokens: Vec::new(),
            last_used: 0,
        });
    }
}
