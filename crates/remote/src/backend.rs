//! The remote backend: start-up checks, routing over replicas, and one generation's journey
//! to an upstream and back as the engine's events.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fulcrum_engine::stop::{StopMatcher, StopScan};
use fulcrum_engine::{
    output_budget, Backend, EngineError, EngineLoad, FinishReason, GenerationEvent,
    GenerationRequest, GenerationStream, GgufVocabulary, ModelInfo, UpstreamStatus, Usage,
};
use futures::StreamExt;
use serde_json::Value;
use sse_stream::SseStream;
use tokio::sync::mpsc;

use crate::config::{UpstreamConfig, UpstreamKind};
use crate::dialect::{token_biases, tokens_of, TokenBias};
use crate::error::RemoteError;
use crate::health;
use crate::prefix::{block_hashes, choose, Candidate};
use crate::replica::Replica;
use crate::stream::{self, Chunk};

/// Largest context used when neither the configuration nor the upstream says (as for the
/// embedded engine).
const MAX_DEFAULT_CONTEXT: u32 = 32_768;

/// A text that exercises what tokenizers disagree on: special tags, CJK, digits, code, spaces.
const TOKENIZER_PROBE: &str =
    "<|im_start|>user\n杭州办公室有哪些带投影仪的会议室？ 17 × 23 = 391;  \
fn main() { println!(\"Zürich\"); }<tool_call>\n{\"name\": \"f\"}\n</tool_call><|im_end|>\n";

/// Settings of the remote backend beside its upstreams.
#[derive(Debug, Clone)]
pub struct RemoteOptions {
    /// The id clients name (`model` in requests).
    pub model_id: String,
    /// Tokens one request may use; `None`: the smallest of the model's trained context, 32K
    /// and what the upstreams report.
    pub context_size: Option<u32>,
    /// How often each upstream's health is checked.
    pub health_interval: Duration,
    /// How long connecting to an upstream may take before it counts as down.
    pub connect_timeout: Duration,
    /// End a generation that repeats one phrase or line over and over, as the embedded
    /// engine does (`fulcrum_engine::RepetitionGuard`): the upstream is disconnected, which
    /// cancels it there.
    pub stop_repetition: bool,
}

impl RemoteOptions {
    pub fn new(model_id: impl Into<String>) -> Self {
        RemoteOptions {
            model_id: model_id.into(),
            context_size: None,
            health_interval: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(2),
            stop_repetition: true,
        }
    }
}

/// The tokio runtime generations run on: the caller's, or one of its own for callers outside
/// any runtime (command-line evaluations).
enum Runtime {
    Shared(tokio::runtime::Handle),
    Owned(tokio::runtime::Runtime),
}

impl Runtime {
    fn handle(&self) -> &tokio::runtime::Handle {
        match self {
            Runtime::Shared(handle) => handle,
            Runtime::Owned(runtime) => runtime.handle(),
        }
    }
}

struct Shared {
    info: ModelInfo,
    vocabulary: GgufVocabulary,
    client: reqwest::Client,
    replicas: Vec<Arc<Replica>>,
    rotation: AtomicUsize,
    /// Every replica enforces grammars. Replicas of one deployment are of one kind in
    /// practice; the first-token bias follows the weakest (see `token_biases`).
    grammar_enforced: bool,
    stop_repetition: bool,
}

/// Generations sent to engines Fulcrum does not run. Prompts are rendered and counted here
/// with the model's vocabulary and template; grammars are enforced upstream.
pub struct RemoteBackend {
    shared: Arc<Shared>,
    health: tokio::task::JoinHandle<()>,
    runtime: Runtime,
}

impl Drop for RemoteBackend {
    fn drop(&mut self) {
        self.health.abort();
    }
}

/// A generation ready to send: its request and what was computed once for every attempt.
struct Job {
    request: GenerationRequest,
    /// The prompt as the local vocabulary tokenizes it (special tokens only from the template).
    prompt_ids: Vec<i32>,
    prompt_tokens: usize,
    max_tokens: u32,
    biases: Vec<TokenBias>,
}

/// How an attempt on one replica failed.
enum Failure {
    /// Nothing reached the client: another replica may take the request.
    BeforeFirstToken(EngineError),
    /// The client has part of the answer, or the request itself is wrong: no retry.
    Final(EngineError),
}

impl RemoteBackend {
    /// Checks every upstream (reachable, same tokenizer as `vocabulary`, its context) and
    /// starts the health checks. An unreachable upstream starts out of rotation; one that
    /// tokenizes differently stops start-up. Call it from a thread that may block (not from
    /// an async task): it waits for the checks.
    pub fn connect(
        vocabulary: GgufVocabulary,
        upstreams: &[UpstreamConfig],
        options: RemoteOptions,
    ) -> Result<Self, RemoteError> {
        if upstreams.is_empty() {
            return Err(RemoteError::NoUpstreams);
        }
        let replicas = upstreams
            .iter()
            .map(|config| Replica::new(config, &options.model_id).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        for (i, replica) in replicas.iter().enumerate() {
            if replicas[..i].iter().any(|other| other.name == replica.name) {
                return Err(RemoteError::Config {
                    name: replica.name.clone(),
                    reason: "two upstreams have this name; give each its own `name`".into(),
                });
            }
        }
        // reqwest is built without a crypto provider of its own; the process's is ring's.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            // Below the keep-alive time of the engines' HTTP servers (llama-server's is 5 s),
            // so a pooled connection is rarely one the server is closing.
            .pool_idle_timeout(Duration::from_secs(3))
            .build()
            .map_err(|err| RemoteError::Client(err.to_string()))?;
        let runtime = match tokio::runtime::Handle::try_current() {
            Ok(handle) => Runtime::Shared(handle),
            Err(_) => Runtime::Owned(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("fulcrum-remote")
                    .enable_all()
                    .build()
                    .map_err(|err| RemoteError::Client(err.to_string()))?,
            ),
        };
        let reported = runtime.handle().block_on(probe_all(
            &client,
            &replicas,
            &vocabulary,
            options.connect_timeout.max(Duration::from_secs(5)),
        ))?;
        // 0 when the GGUF does not say: then the upstream's, or the default cap, decides.
        let train = vocabulary.train_context_size();
        let known_train = if train > 0 { train } else { u32::MAX };
        let context_size = match (options.context_size, reported) {
            (Some(configured), Some(upstream)) if configured > upstream => {
                tracing::warn!(
                    configured,
                    upstream,
                    "`context_size` is larger than an upstream's context; using the upstream's"
                );
                upstream
            }
            (Some(configured), _) => configured,
            (None, Some(upstream)) => upstream.min(known_train),
            (None, None) => known_train.min(MAX_DEFAULT_CONTEXT),
        };
        let info = ModelInfo {
            id: options.model_id.clone(),
            context_size,
            train_context_size: train,
            chat_template: vocabulary.chat_template(),
            bos_token: vocabulary.bos_token().to_string(),
            eos_token: vocabulary.eos_token().to_string(),
            special_tokens: vocabulary.special_tokens(),
        };
        let grammar_enforced = replicas
            .iter()
            .all(|replica| replica.kind.grammar_support() != "none");
        let shared = Arc::new(Shared {
            info,
            vocabulary,
            client: client.clone(),
            replicas: replicas.clone(),
            rotation: AtomicUsize::new(0),
            grammar_enforced,
            stop_repetition: options.stop_repetition,
        });
        let health =
            runtime
                .handle()
                .spawn(health::watch(client, replicas, options.health_interval));
        Ok(RemoteBackend {
            shared,
            health,
            runtime,
        })
    }
}

/// Probes every upstream at start-up; the smallest context any of them reports.
async fn probe_all(
    client: &reqwest::Client,
    replicas: &[Arc<Replica>],
    vocabulary: &GgufVocabulary,
    timeout: Duration,
) -> Result<Option<u32>, RemoteError> {
    let mut smallest: Option<u32> = None;
    for replica in replicas {
        if health::check(client, replica, timeout).await != health::Health::Passed {
            replica.eject("not reachable at start-up");
            continue;
        }
        check_tokenizer(client, replica, vocabulary, timeout).await?;
        let context = reported_context(client, replica, timeout).await;
        if let Some(context) = context {
            smallest = Some(smallest.map_or(context, |s| s.min(context)));
        }
        if replica.kind == UpstreamKind::Openai {
            tracing::warn!(upstream = %replica.name, "this upstream takes no grammar: tool calls are not constrained there, only parsed leniently and validated after");
        }
        tracing::info!(
            upstream = %replica.name, kind = replica.kind.as_str(), url = %replica.base_url,
            grammar = replica.kind.grammar_support(), context = ?context,
            "upstream ready"
        );
    }
    Ok(smallest)
}

/// The upstream's tokens for a probe text must equal the local vocabulary's.
async fn check_tokenizer(
    client: &reqwest::Client,
    replica: &Replica,
    vocabulary: &GgufVocabulary,
    timeout: Duration,
) -> Result<(), RemoteError> {
    let Some((path, body)) = replica
        .kind
        .tokenize_request(&replica.model, TOKENIZER_PROBE)
    else {
        tracing::warn!(upstream = %replica.name, "this kind of upstream has no tokenize endpoint: token counts come from the local vocabulary unchecked");
        return Ok(());
    };
    let mismatch = |detail: String| RemoteError::TokenizerMismatch {
        name: replica.name.clone(),
        vocabulary: vocabulary.path().display().to_string(),
        detail,
    };
    let request = replica.authorized(client.post(replica.url(path)).json(&body).timeout(timeout));
    let answer: Value = match request.send().await {
        Ok(response) if response.status().is_success() => response
            .json()
            .await
            .map_err(|err| mismatch(format!("its tokenize answer is not JSON: {err}")))?,
        Ok(response) => {
            tracing::warn!(upstream = %replica.name, status = %response.status(), "the tokenize check was refused: token counts come from the local vocabulary unchecked");
            return Ok(());
        }
        Err(err) => {
            replica.eject(&format!("tokenize check failed: {err}"));
            return Ok(());
        }
    };
    let theirs = tokens_of(&answer)
        .ok_or_else(|| mismatch("its tokenize answer has no `tokens` list".into()))?;
    let ours = vocabulary.tokenize(TOKENIZER_PROBE);
    if theirs != ours {
        let first = theirs
            .iter()
            .zip(&ours)
            .position(|(a, b)| a != b)
            .unwrap_or(theirs.len().min(ours.len()));
        return Err(mismatch(format!(
            "{} tokens there, {} here, first difference at token {first}",
            theirs.len(),
            ours.len()
        )));
    }
    Ok(())
}

/// The context one request may use there, when the upstream says (llama-server's per-slot
/// context, vLLM's `max_model_len`).
async fn reported_context(
    client: &reqwest::Client,
    replica: &Replica,
    timeout: Duration,
) -> Option<u32> {
    let (path, pointer) = match replica.kind {
        UpstreamKind::LlamaServer => ("/props", "/default_generation_settings/n_ctx"),
        UpstreamKind::Vllm => ("/v1/models", "/data/0/max_model_len"),
        UpstreamKind::Sglang | UpstreamKind::Openai => return None,
    };
    let request = replica.authorized(client.get(replica.url(path)).timeout(timeout));
    let answer: Value = request.send().await.ok()?.json().await.ok()?;
    answer
        .pointer(pointer)?
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .filter(|&n| n > 0)
}

impl Shared {
    /// The replica for a prompt of `blocks`, among those in rotation and not yet `tried`.
    fn pick(&self, blocks: &[u64], tried: &[usize]) -> Option<usize> {
        let now = Instant::now();
        let candidates: Vec<Candidate> = self
            .replicas
            .iter()
            .enumerate()
            .filter(|(index, replica)| !tried.contains(index) && replica.available(now))
            .map(|(index, replica)| Candidate {
                index,
                outstanding: replica.outstanding(),
                matched_blocks: replica.matched_blocks(blocks),
            })
            .collect();
        choose(&candidates, self.rotation.fetch_add(1, Ordering::Relaxed))
    }

    /// Runs `job` on the best replica, and on the next one while attempts fail before their
    /// first token.
    async fn run(
        &self,
        job: &Job,
        events: &mpsc::UnboundedSender<Result<GenerationEvent, EngineError>>,
    ) -> Result<(), EngineError> {
        let blocks = block_hashes(&job.request.prompt);
        let mut tried = Vec::new();
        let mut last_failure = None;
        loop {
            let Some(index) = self.pick(&blocks, &tried) else {
                return Err(last_failure.unwrap_or_else(|| {
                    EngineError::Unavailable(format!(
                        "all {} upstreams are out of rotation",
                        self.replicas.len()
                    ))
                }));
            };
            tried.push(index);
            let replica = &self.replicas[index];
            let _outstanding = replica.start();
            match self.attempt(replica, job, &blocks, events).await {
                Ok(()) => return Ok(()),
                Err(Failure::BeforeFirstToken(err)) => {
                    replica.count_failure();
                    tracing::warn!(upstream = %replica.name, %err, "attempt failed before its first token; trying another upstream");
                    if tried.len() < self.replicas.len() {
                        replica.count_retry();
                    }
                    last_failure = Some(err);
                }
                Err(Failure::Final(err)) => {
                    replica.count_failure();
                    return Err(err);
                }
            }
        }
    }

    /// One attempt on one replica, streaming its text to `events`.
    async fn attempt(
        &self,
        replica: &Arc<Replica>,
        job: &Job,
        blocks: &[u64],
        events: &mpsc::UnboundedSender<Result<GenerationEvent, EngineError>>,
    ) -> Result<(), Failure> {
        let name = &replica.name;
        let body = replica.kind.completion_body(
            &replica.model,
            &job.request,
            &job.prompt_ids,
            job.max_tokens,
            &job.biases,
        );
        let send = || {
            replica
                .authorized(self.client.post(replica.url("/v1/completions")).json(&body))
                .send()
        };
        let response = match send().await {
            Ok(response) => response,
            // Nothing listens: the engine is down.
            Err(err) if err.is_connect() => {
                replica.eject(&format!("cannot connect: {err}"));
                return Err(Failure::BeforeFirstToken(EngineError::Upstream(format!(
                    "{name}: {err}"
                ))));
            }
            // A pooled connection the server closed as the request went out (HTTP servers
            // close keep-alive connections after a time or a number of requests): once more,
            // on a new connection. Nothing was generated for anyone.
            Err(first) => send().await.map_err(|err| {
                tracing::warn!(upstream = %name, %first, %err, "the request failed twice");
                if err.is_connect() {
                    replica.eject(&format!("cannot connect: {err}"));
                }
                Failure::BeforeFirstToken(EngineError::Upstream(format!("{name}: {err}")))
            })?,
        };
        let status = response.status();
        if !status.is_success() {
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let text: String = response
                .text()
                .await
                .unwrap_or_default()
                .chars()
                .take(300)
                .collect();
            let err = EngineError::Upstream(format!("{name} answered {status}: {text}"));
            return Err(match status.as_u16() {
                429 | 503 => {
                    replica.back_off(retry_after.unwrap_or(Duration::from_secs(1)));
                    Failure::BeforeFirstToken(err)
                }
                500..=599 => {
                    replica.eject(&format!("answered {status}"));
                    Failure::BeforeFirstToken(err)
                }
                _ => Failure::Final(err),
            });
        }
        replica.remember(blocks);

        let mut sse = SseStream::from_bytes_stream(response.bytes_stream());
        let mut stop = StopMatcher::new(job.request.stop.clone());
        let mut repetition = self
            .stop_repetition
            .then(fulcrum_engine::RepetitionGuard::default);
        let mut shown_any = false;
        let mut pieces = 0u32;
        let mut usage = None;
        let mut finish = None;
        let fail = |shown_any: bool, err: EngineError| {
            if shown_any {
                Failure::Final(err)
            } else {
                Failure::BeforeFirstToken(err)
            }
        };
        // A buffered request's text waits here until the upstream finishes: until then a
        // failure is one another upstream can take over from the start.
        let buffered = job.request.buffered;
        let mut held: Vec<String> = Vec::new();
        let mut send = |text: String| {
            if buffered {
                held.push(text);
                true
            } else {
                events.send(Ok(GenerationEvent::Text(text))).is_ok()
            }
        };
        while let Some(message) = sse.next().await {
            let message = message.map_err(|err| {
                replica.eject(&format!("the stream broke: {err}"));
                fail(
                    shown_any,
                    EngineError::Upstream(format!("{name}: the stream broke: {err}")),
                )
            })?;
            let Some(data) = message.data else {
                continue;
            };
            match stream::parse(&data) {
                Err(reason) => {
                    return Err(Failure::Final(EngineError::Upstream(format!(
                        "{name}: {reason}"
                    ))))
                }
                Ok(Chunk::Done) => break,
                Ok(Chunk::Piece {
                    text,
                    finish: ended,
                    usage: counted,
                }) => {
                    usage = counted.or(usage);
                    if !text.is_empty() {
                        pieces += 1;
                        match stop.push(&text) {
                            StopScan::Continue(out) => {
                                let looping =
                                    repetition.as_mut().is_some_and(|guard| guard.push(&out));
                                if !out.is_empty() {
                                    shown_any = !buffered;
                                    if !send(out) {
                                        return Ok(());
                                    }
                                }
                                if looping {
                                    tracing::info!(
                                        upstream = %name,
                                        "a generation repeating itself was stopped"
                                    );
                                    finish = Some(FinishReason::Stop);
                                    break;
                                }
                            }
                            StopScan::Stopped(out) => {
                                if !out.is_empty() && !send(out) {
                                    return Ok(());
                                }
                                finish = Some(FinishReason::Stop);
                                break;
                            }
                        }
                    }
                    if ended.is_some() {
                        finish = ended;
                    }
                }
            }
        }
        let Some(reason) = finish else {
            replica.eject("its stream ended without finishing");
            return Err(fail(
                shown_any,
                EngineError::Upstream(format!("{name}: the stream ended without finishing")),
            ));
        };
        let rest = stop.finish();
        if !rest.is_empty() && !send(rest) {
            return Ok(());
        }
        for text in held {
            if events.send(Ok(GenerationEvent::Text(text))).is_err() {
                return Ok(());
            }
        }
        let usage = Usage {
            prompt_tokens: usage
                .map_or(u32::try_from(job.prompt_tokens).unwrap_or(u32::MAX), |u| {
                    u.prompt_tokens
                }),
            completion_tokens: usage.map_or(pieces, |u| u.completion_tokens),
            queue_wait: Duration::ZERO,
            redirected_start: false,
        };
        let _ = events.send(Ok(GenerationEvent::Finished { reason, usage }));
        Ok(())
    }
}

/// Runs `job`, ending it at its time limit or as soon as its client goes away (dropping the
/// upstream's response closes the connection, which cancels the generation there).
async fn drive(
    shared: Arc<Shared>,
    job: Job,
    events: mpsc::UnboundedSender<Result<GenerationEvent, EngineError>>,
) {
    let limit = job.request.timeout;
    let work = async {
        match limit {
            Some(limit) => tokio::time::timeout(limit, shared.run(&job, &events))
                .await
                .unwrap_or_else(|_| {
                    Err(EngineError::Timeout {
                        limit_ms: u64::try_from(limit.as_millis()).unwrap_or(u64::MAX),
                    })
                }),
            None => shared.run(&job, &events).await,
        }
    };
    tokio::select! {
        () = events.closed() => {}
        result = work => {
            if let Err(err) = result {
                let _ = events.send(Err(err));
            }
        }
    }
}

impl Backend for RemoteBackend {
    fn info(&self) -> &ModelInfo {
        &self.shared.info
    }

    fn upstreams(&self) -> Vec<UpstreamStatus> {
        self.shared.replicas.iter().map(|r| r.status()).collect()
    }

    fn occupancy(&self) -> EngineLoad {
        EngineLoad {
            running: self.shared.replicas.iter().map(|r| r.outstanding()).sum(),
            ..EngineLoad::default()
        }
    }

    fn count_tokens(&self, text: &str) -> Result<usize, EngineError> {
        Ok(self.shared.vocabulary.tokenize(text).len())
    }

    fn tokenize(&self, text: &str, add_bos: bool) -> Result<Vec<u32>, EngineError> {
        Ok(self.shared.vocabulary.tokenize_plain(text, add_bos))
    }

    fn detokenize(&self, tokens: &[u32]) -> Result<String, EngineError> {
        self.shared.vocabulary.detokenize(tokens)
    }

    fn generate(&self, request: GenerationRequest) -> Result<GenerationStream, EngineError> {
        if request.logprobs.is_some() || request.prompt_logprobs.is_some() {
            return Err(EngineError::Unsupported(
                "log-probabilities are served by the embedded engine only, not over a remote engine (ask the engine itself)".into(),
            ));
        }
        if request.prompt_tokens.is_some() {
            return Err(EngineError::Unsupported(
                "prompts given as token ids are served by the embedded engine only; send the prompt as text".into(),
            ));
        }
        if request.prompt.is_empty() {
            return Err(EngineError::EmptyPrompt);
        }
        let prompt_ids = self.shared.vocabulary.tokenize(&request.prompt);
        let prompt_tokens = prompt_ids.len();
        let max_tokens = output_budget(prompt_tokens, self.shared.info.context_size, &request)?;
        let biases = token_biases(&request, self.shared.grammar_enforced, |text| {
            self.shared.vocabulary.single_token(text)
        });
        let job = Job {
            request,
            prompt_ids,
            prompt_tokens,
            max_tokens,
            biases,
        };
        let (events, receiver) = mpsc::unbounded_channel();
        self.runtime
            .handle()
            .spawn(drive(Arc::clone(&self.shared), job, events));
        Ok(GenerationStream::new(receiver))
    }
}
