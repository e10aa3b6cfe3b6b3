//! `POST /v1/completions`: a raw prompt (text or token ids, one or several) continued without
//! a chat template, with `echo` and `logprobs` as evaluation harnesses use them
//! (lm-evaluation-harness's `local-completions` scores a continuation by the log-probabilities
//! of its tokens after the context). Same roles, admission, audit and metrics as chat.

use std::convert::Infallible;
use std::time::Instant;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use fulcrum_engine::{
    start_generation, Backend, FinishReason, GenerationEvent, GenerationRequest, GenerationStream,
    LogprobEvent, PromptStart, SamplingParams, TokenLogprob, Usage, MAX_TOP_LOGPROBS,
};
use fulcrum_tools::{ChatAuditContent, Principal};
use futures::Stream;
use serde_json::{json, Map};
use tokio::sync::mpsc::UnboundedReceiver;

use super::chat_audit::{audit_event, check_allowed};
use super::chat_stream::{async_stream, json_event};
use super::completion::{finish_reason, served_model, unix_now, FirstText, InFlight, FINGERPRINT};
use crate::error::ApiError;
use crate::json::ApiJson;
use crate::state::{AppState, RequestLimits};
use crate::validate::{include_usage, refuse_penalties_and_bias, sampling_params, stop_strings};
use crate::wire::completions::{
    Completion, CompletionChoice, CompletionLogprobs, CompletionRequest, PromptField,
};
use crate::wire::{ApiErrors, ErrorResponse, WireUsage};

/// Tokens generated when a request gives no `max_tokens` (OpenAI's default for completions).
const DEFAULT_MAX_TOKENS: u32 = 16;

/// Prompts one request may hold.
const MAX_PROMPTS: usize = 128;

#[derive(Debug)]
enum Prompt {
    Text(String),
    Tokens(Vec<u32>),
}

#[derive(Debug)]
struct ValidCompletion {
    prompts: Vec<Prompt>,
    sampling: SamplingParams,
    max_tokens: u32,
    stop: Vec<String>,
    ignore_eos: bool,
    stream: bool,
    include_usage: bool,
    logprobs: Option<u32>,
    echo: bool,
}

#[utoipa::path(post, path = "/v1/completions", tag = "openai", request_body = CompletionRequest, responses((status = 200, description = "the completion (or, with `stream`, server-sent chunks)", content((Completion = "application/json"), (serde_json::Value = "text/event-stream"))), ApiErrors, (status = 413, description = "body too large", body = ErrorResponse), (status = 503, description = "the model is not loaded", body = ErrorResponse), (status = 504, description = "the generation ran out of time", body = ErrorResponse)), security(("api_key" = [])))]
pub async fn completions(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
    ApiJson(request): ApiJson<CompletionRequest>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let model = served_model(&state, &request.model)?;
    let info = model.backend.info();
    let valid = validate(request, &state.options.request_limits)?;
    let caller = principal.map(|Extension(principal)| principal);
    check_allowed(&state, caller.as_ref(), "completions")?;
    let admission = match state.admit(caller.as_ref()) {
        Ok(admission) => admission,
        Err(refused) => return Ok(*refused),
    };
    let caller_name = caller
        .as_ref()
        .map_or_else(|| "anonymous".to_string(), |p| p.user.clone());
    let backend = model.backend.clone();
    let echoes = valid
        .prompts
        .iter()
        .map(|prompt| match prompt {
            Prompt::Text(text) => Ok(text.clone()),
            Prompt::Tokens(tokens) => backend.detokenize(tokens).map_err(ApiError::from),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let requests: Vec<GenerationRequest> = valid
        .prompts
        .into_iter()
        .map(|prompt| {
            let (text, tokens) = match prompt {
                Prompt::Text(text) => (text, None),
                Prompt::Tokens(tokens) => (String::new(), Some(tokens)),
            };
            GenerationRequest {
                prompt_tokens: tokens,
                stop: valid.stop.clone(),
                ignore_eos: valid.ignore_eos,
                timeout: state.options.request_timeout,
                caller: Some(caller_name.clone()),
                buffered: !valid.stream,
                logprobs: valid.logprobs,
                prompt_logprobs: valid.logprobs.filter(|_| valid.echo),
                ..GenerationRequest::new(text, valid.sampling.clone(), Some(valid.max_tokens))
            }
        })
        .collect();
    let mut generations = if requests.len() == 1 {
        let request = requests.into_iter().next().ok_or_else(ApiError::internal)?;
        vec![start_generation(&backend, request).await?]
    } else {
        start_together(&backend, requests).await?
    };
    if let Some(caller) = &caller {
        let full = state.governance.as_ref().is_some_and(|g| {
            g.policy.registry().config().audit_chat_content == ChatAuditContent::Full
        });
        generations = generations
            .into_iter()
            .zip(&echoes)
            .map(|(generation, prompt)| {
                let (state, caller, model_id) = (state.clone(), caller.clone(), info.id.clone());
                let prompt = full.then(|| prompt.clone());
                generation.on_complete(move |text, reason, usage| {
                    let mut data = json!({
                        "model": model_id,
                        "prompt_tokens": usage.prompt_tokens,
                        "completion_tokens": usage.completion_tokens,
                        "finish_reason": finish_reason(reason),
                    });
                    if let Some(prompt) = prompt {
                        data["prompt"] = json!(prompt);
                        data["output"] = json!(text);
                    }
                    audit_event(&state, &caller, "completion", data);
                })
            })
            .collect();
    }
    let in_flight = InFlight::new(state.metrics.generations_in_flight.clone(), admission);
    let shell = Shell {
        id: format!("cmpl-{}", uuid::Uuid::new_v4().simple()),
        created: unix_now(),
        model: info.id.clone(),
        started,
        logprobs: valid.logprobs,
    };
    if valid.stream {
        let generation = generations.pop().ok_or_else(ApiError::internal)?;
        let echo = valid.echo.then(|| echoes.into_iter().next()).flatten();
        let events = stream_events(
            state,
            generation,
            shell,
            echo,
            valid.include_usage,
            in_flight,
        );
        return Ok(Sse::new(events)
            .keep_alive(KeepAlive::default())
            .into_response());
    }
    let answers = futures::future::try_join_all(
        generations
            .into_iter()
            .map(|generation| collect(&state, generation, &shell)),
    )
    .await?;
    drop(in_flight);
    let mut usage = Usage::default();
    let choices = answers
        .into_iter()
        .zip(echoes)
        .enumerate()
        .map(|(index, (answer, prompt))| {
            usage.prompt_tokens += answer.usage.prompt_tokens;
            usage.completion_tokens += answer.usage.completion_tokens;
            let mut logprobs = shell.logprobs.map(|_| CompletionLogprobs::default());
            let mut offsets = Offsets::default();
            let mut text = String::new();
            if valid.echo {
                text.push_str(&prompt);
            }
            if let Some(logprobs) = &mut logprobs {
                for event in answer.logprobs {
                    offsets.push(logprobs, event, shell.logprobs.unwrap_or(0));
                }
            }
            text.push_str(&answer.text);
            CompletionChoice {
                index,
                text,
                logprobs,
                finish_reason: Some(finish_reason(answer.reason)),
            }
        })
        .collect();
    Ok(Json(Completion {
        id: shell.id,
        object: "text_completion",
        created: shell.created,
        model: shell.model,
        choices,
        usage: Some(WireUsage::from(usage)),
        system_fingerprint: FINGERPRINT,
    })
    .into_response())
}

/// Several prompts admitted together (computed in one batch from the start).
async fn start_together(
    backend: &std::sync::Arc<dyn Backend>,
    requests: Vec<GenerationRequest>,
) -> Result<Vec<GenerationStream>, ApiError> {
    let backend = backend.clone();
    Ok(
        tokio::task::spawn_blocking(move || backend.generate_together(requests))
            .await
            .map_err(|err| {
                tracing::error!(%err, "the generation task failed");
                ApiError::internal()
            })??,
    )
}

fn validate(
    request: CompletionRequest,
    limits: &RequestLimits,
) -> Result<ValidCompletion, ApiError> {
    if request.n.is_some_and(|n| n != 1) || request.best_of.is_some_and(|n| n != 1) {
        return Err(ApiError::unsupported(
            "n",
            "only `n: 1` and `best_of: 1` are supported: send separate requests for several answers",
        ));
    }
    if request.suffix.is_some() {
        return Err(ApiError::unsupported(
            "suffix",
            "`suffix` (insertion) is not supported",
        ));
    }
    refuse_penalties_and_bias(
        request.presence_penalty,
        request.frequency_penalty,
        request.logit_bias.as_ref(),
    )?;
    let prompts = match request.prompt {
        PromptField::Text(text) => vec![Prompt::Text(text)],
        PromptField::Texts(texts) => texts.into_iter().map(Prompt::Text).collect(),
        PromptField::Tokens(tokens) => vec![Prompt::Tokens(tokens)],
        PromptField::TokenLists(lists) => lists.into_iter().map(Prompt::Tokens).collect(),
    };
    if prompts.is_empty() {
        return Err(ApiError::invalid_value(
            "prompt",
            "`prompt` must hold at least one prompt",
        ));
    }
    if prompts.len() > MAX_PROMPTS {
        return Err(ApiError::invalid_value(
            "prompt",
            format!(
                "`prompt` holds {} prompts, more than the {MAX_PROMPTS} one request may",
                prompts.len()
            ),
        ));
    }
    if let Some(index) = prompts.iter().position(|prompt| match prompt {
        Prompt::Text(text) => text.is_empty(),
        Prompt::Tokens(tokens) => tokens.is_empty(),
    }) {
        return Err(ApiError::invalid_value(
            "prompt",
            format!("prompt {index} is empty: there is nothing to continue"),
        ));
    }
    let sampling = sampling_params(
        request.temperature,
        request.top_p,
        request.top_k,
        request.seed,
    )?;
    let echo = request.echo.unwrap_or(false);
    let max_tokens = request.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS);
    if max_tokens > limits.max_tokens {
        return Err(ApiError::invalid_value(
            "max_tokens",
            format!("`max_tokens` is {max_tokens}, above this server's limit of {} (`max_tokens_limit`)", limits.max_tokens),
        ));
    }
    if max_tokens == 0 && !echo {
        return Err(ApiError::invalid_value(
            "max_tokens",
            "`max_tokens` must be at least 1 (0 only with `echo`, to score the prompt)",
        ));
    }
    if let Some(n) = request.logprobs {
        if n > MAX_TOP_LOGPROBS {
            return Err(ApiError::invalid_value(
                "logprobs",
                format!("`logprobs` must be between 0 and {MAX_TOP_LOGPROBS}"),
            ));
        }
    }
    let ignore_eos = request.ignore_eos.unwrap_or(false);
    let stream = request.stream.unwrap_or(false);
    if stream && prompts.len() > 1 {
        return Err(ApiError::unsupported(
            "stream",
            "a streamed completion takes one prompt: send one request per prompt",
        ));
    }
    let include_usage = include_usage(stream, request.stream_options)?;
    Ok(ValidCompletion {
        prompts,
        sampling,
        max_tokens,
        stop: stop_strings(request.stop)?,
        ignore_eos,
        stream,
        include_usage,
        logprobs: request.logprobs,
        echo,
    })
}

struct Shell {
    id: String,
    created: u64,
    model: String,
    started: Instant,
    logprobs: Option<u32>,
}

impl Shell {
    fn chunk(
        &self,
        text: String,
        logprobs: Option<CompletionLogprobs>,
        finish: Option<&'static str>,
    ) -> Completion {
        Completion {
            id: self.id.clone(),
            object: "text_completion",
            created: self.created,
            model: self.model.clone(),
            choices: vec![CompletionChoice {
                index: 0,
                text,
                logprobs,
                finish_reason: finish,
            }],
            usage: None,
            system_fingerprint: FINGERPRINT,
        }
    }
}

struct Answer {
    text: String,
    reason: FinishReason,
    usage: Usage,
    logprobs: Vec<LogprobEvent>,
}

async fn collect(
    state: &AppState,
    mut generation: GenerationStream,
    shell: &Shell,
) -> Result<Answer, ApiError> {
    let mut logprobs = generation.take_logprobs();
    let (text, reason, usage) = super::chat::collect(state, generation, shell.started).await?;
    Ok(Answer {
        text,
        reason,
        usage,
        logprobs: drain(&mut logprobs),
    })
}

/// Every log-probability sent so far.
fn drain(receiver: &mut Option<UnboundedReceiver<LogprobEvent>>) -> Vec<LogprobEvent> {
    let mut events = Vec::new();
    if let Some(receiver) = receiver {
        while let Ok(event) = receiver.try_recv() {
            events.push(event);
        }
    }
    events
}

/// Where the next token's text starts in the choice's text, in characters.
#[derive(Default)]
struct Offsets {
    chars: usize,
}

impl Offsets {
    fn push(&mut self, out: &mut CompletionLogprobs, event: LogprobEvent, top: u32) {
        match event {
            LogprobEvent::Prompt { first, rest } => {
                self.push_first(out, first);
                for entry in rest {
                    self.push_entry(out, entry, top);
                }
            }
            LogprobEvent::Generated(entry) => self.push_entry(out, entry, top),
        }
    }

    fn push_first(&mut self, out: &mut CompletionLogprobs, first: PromptStart) {
        let text = String::from_utf8_lossy(&first.bytes).into_owned();
        out.text_offset.push(self.chars);
        self.chars += text.chars().count();
        out.tokens.push(text);
        out.token_logprobs.push(None);
        out.top_logprobs.push(None);
    }

    fn push_entry(&mut self, out: &mut CompletionLogprobs, entry: TokenLogprob, top: u32) {
        let text = String::from_utf8_lossy(&entry.bytes).into_owned();
        // The asked-for alternatives, and the token itself as vLLM adds it.
        let mut alternatives = Map::new();
        for alternative in entry.top.into_iter().take(top as usize) {
            alternatives
                .entry(String::from_utf8_lossy(&alternative.bytes).into_owned())
                .or_insert(json!(alternative.logprob));
        }
        alternatives
            .entry(text.clone())
            .or_insert(json!(entry.logprob));
        out.text_offset.push(self.chars);
        self.chars += text.chars().count();
        out.tokens.push(text);
        out.token_logprobs.push(Some(entry.logprob));
        out.top_logprobs.push(Some(alternatives));
    }
}

fn stream_events(
    state: AppState,
    mut generation: GenerationStream,
    shell: Shell,
    echo: Option<String>,
    include_usage: bool,
    in_flight: InFlight,
) -> impl Stream<Item = Result<Event, Infallible>> {
    async_stream(move |tx| async move {
        let _in_flight = in_flight;
        let mut receiver = generation.take_logprobs();
        let mut offsets = Offsets::default();
        let top = shell.logprobs.unwrap_or(0);
        // The prompt goes first; its log-probabilities, when asked, come with the first
        // token (they are computed with the prompt).
        let mut echo = echo;
        if shell.logprobs.is_none() {
            if let Some(prompt) = echo.take() {
                if tx
                    .send(json_event(&shell.chunk(prompt, None, None)))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
        let mut first_text = FirstText::new(&state.metrics, shell.started);
        loop {
            let event = tokio::select! {
                () = tx.closed() => return,
                event = generation.next() => event,
            };
            let (text, finish) = match event {
                Some(Ok(GenerationEvent::Text(piece))) => {
                    first_text.text();
                    (piece, None)
                }
                Some(Ok(GenerationEvent::Finished { reason, usage })) => {
                    (String::new(), Some((reason, usage)))
                }
                Some(Err(err)) => {
                    let _ = tx.send(json_event(&ApiError::from(err).body())).await;
                    return;
                }
                None => {
                    tracing::error!("generation ended without a finish event");
                    let _ = tx.send(json_event(&ApiError::internal().body())).await;
                    return;
                }
            };
            let mut chunks = Vec::new();
            if shell.logprobs.is_some() {
                let mut prompt_logprobs = CompletionLogprobs::default();
                let mut generated = CompletionLogprobs::default();
                for event in drain(&mut receiver) {
                    let out = match event {
                        LogprobEvent::Prompt { .. } => &mut prompt_logprobs,
                        LogprobEvent::Generated(_) => &mut generated,
                    };
                    offsets.push(out, event, top);
                }
                if let Some(prompt) = echo.take() {
                    chunks.push(shell.chunk(prompt, Some(prompt_logprobs), None));
                }
                if !text.is_empty() || !generated.tokens.is_empty() {
                    chunks.push(shell.chunk(text, Some(generated), None));
                }
            } else if !text.is_empty() {
                chunks.push(shell.chunk(text, None, None));
            }
            if let Some((reason, _)) = finish {
                chunks.push(shell.chunk(String::new(), None, Some(finish_reason(reason))));
            }
            for chunk in chunks {
                if tx.send(json_event(&chunk)).await.is_err() {
                    return;
                }
            }
            if let Some((_, usage)) = finish {
                if include_usage {
                    let last = Completion {
                        choices: Vec::new(),
                        usage: Some(WireUsage::from(usage)),
                        ..shell.chunk(String::new(), None, None)
                    };
                    if tx.send(json_event(&last)).await.is_err() {
                        return;
                    }
                }
                let _ = tx.send(Event::default().data("[DONE]")).await;
                return;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use fulcrum_engine::TopLogprob;
    use serde_json::Value;

    fn entry(text: &str, logprob: f32, top: &[(&str, f32)]) -> TokenLogprob {
        TokenLogprob {
            token: 1,
            bytes: text.as_bytes().to_vec(),
            logprob,
            top: top
                .iter()
                .map(|(text, logprob)| TopLogprob {
                    token: 2,
                    bytes: text.as_bytes().to_vec(),
                    logprob: *logprob,
                })
                .collect(),
            end_of_text: false,
        }
    }

    #[test]
    fn an_echoed_prompt_starts_with_a_null_and_offsets_count_characters() {
        let mut out = CompletionLogprobs::default();
        let mut offsets = Offsets::default();
        let prompt = LogprobEvent::Prompt {
            first: PromptStart {
                token: 0,
                bytes: "Hé".as_bytes().to_vec(),
            },
            rest: vec![entry(" there", -1.5, &[(" world", -0.5)])],
        };
        offsets.push(&mut out, prompt, 1);
        offsets.push(
            &mut out,
            LogprobEvent::Generated(entry("!", -0.1, &[("!", -0.1)])),
            1,
        );
        assert_eq!(out.tokens, ["Hé", " there", "!"]);
        assert_eq!(out.token_logprobs, [None, Some(-1.5), Some(-0.1)]);
        assert_eq!(out.text_offset, [0, 2, 8]);
        assert!(out.top_logprobs[0].is_none());
        // The alternative asked for, and the token itself.
        let second = out.top_logprobs[1].as_ref().expect("alternatives");
        assert_eq!(second.len(), 2);
        assert_eq!(second[" world"], json!(-0.5));
        assert_eq!(out.top_logprobs[2].as_ref().map(Map::len), Some(1));
    }

    #[test]
    fn what_cannot_be_honoured_is_refused_by_name() {
        let request =
            |body: Value| -> CompletionRequest { serde_json::from_value(body).expect("a request") };
        let limits = RequestLimits::default();
        let refused = |body: Value| validate(request(body), &limits).expect_err("refused");
        assert_eq!(
            refused(json!({"model": "m", "prompt": "x", "n": 2}))
                .param
                .as_deref(),
            Some("n")
        );
        assert_eq!(
            refused(json!({"model": "m", "prompt": "x", "suffix": "y"}))
                .param
                .as_deref(),
            Some("suffix")
        );
        assert_eq!(
            refused(json!({"model": "m", "prompt": "x", "max_tokens": 0}))
                .param
                .as_deref(),
            Some("max_tokens")
        );
        assert_eq!(
            refused(json!({"model": "m", "prompt": "x", "logprobs": 21}))
                .param
                .as_deref(),
            Some("logprobs")
        );
        assert_eq!(
            refused(json!({"model": "m", "prompt": []}))
                .param
                .as_deref(),
            Some("prompt")
        );
        assert_eq!(
            refused(json!({"model": "m", "prompt": ["a", "b"], "stream": true}))
                .param
                .as_deref(),
            Some("stream")
        );
        let echo_only = validate(request(json!({"model": "m", "prompt": [[1, 2, 3]], "max_tokens": 0, "echo": true, "logprobs": 1})), &limits)
            .expect("scoring a prompt is allowed");
        assert_eq!(echo_only.max_tokens, 0);
        assert!(matches!(&echo_only.prompts[..], [Prompt::Tokens(t)] if t == &[1, 2, 3]));
        let plain =
            validate(request(json!({"model": "m", "prompt": "x"})), &limits).expect("valid");
        assert_eq!(plain.max_tokens, DEFAULT_MAX_TOKENS);
    }
}
