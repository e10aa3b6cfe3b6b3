//! `POST /v1/chat/completions`: validate, render, generate, answer as JSON or as an SSE stream.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::response::sse::{KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use fulcrum_agent::{
    add_call_guidance, answers_user, call_biases, call_instead_of_refused_start,
    checked_generation, CallCheck,
};
use fulcrum_chat::tools::{dedupe_calls, split_reasoning, ToolChoice, ToolSet};
use fulcrum_chat::RenderOptions;
use fulcrum_engine::{
    start_generation, FinishReason, GenerationEvent, GenerationRequest, GenerationStream,
    LogprobEvent, Usage,
};
use fulcrum_tools::Principal;

use super::chat_audit::{check_allowed, ChatAudit};
use super::chat_stream::sse_events;
use super::completion::{
    accept_call, finish_reason, read_answer, served_model, unix_now, FirstText, InFlight,
    ResponseMeta, FINGERPRINT,
};
use crate::error::ApiError;
use crate::json::ApiJson;
use crate::state::AppState;
use crate::validate::{check_size, validate, ValidRequest};
use crate::wire::completions::{ChatLogprobs, ChatTokenLogprob};
use crate::wire::{ApiErrors, ErrorResponse};
use crate::wire::{
    ChatCompletion, ChatCompletionRequest, Choice, ResponseMessage, ResponseToolCall,
};

#[utoipa::path(post, path = "/v1/chat/completions", tag = "openai", request_body = ChatCompletionRequest, responses((status = 200, description = "the completion (or, with `stream`, server-sent chunks)", content((ChatCompletion = "application/json"), (serde_json::Value = "text/event-stream"))), ApiErrors, (status = 413, description = "body too large", body = ErrorResponse), (status = 503, description = "the model is not loaded", body = ErrorResponse), (status = 504, description = "the generation ran out of time", body = ErrorResponse)), security(("api_key" = [])))]
pub async fn chat_completions(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
    ApiJson(request): ApiJson<ChatCompletionRequest>,
) -> Result<Response, ApiError> {
    let running = match begin(&state, principal, request, "chat completions").await? {
        Begun::Refused(response) => return Ok(response),
        Begun::Running(running) => running,
    };
    let Running {
        generation,
        meta,
        in_flight,
        stream,
    } = running;
    if stream {
        let events = sse_events(state, generation, meta, in_flight);
        Ok(Sse::new(events)
            .keep_alive(KeepAlive::default())
            .into_response())
    } else {
        let mut generation = generation;
        let mut logprobs = generation.take_logprobs();
        let (text, reason, usage) = collect(&state, generation, meta.started).await?;
        drop(in_flight);
        let logprobs = logprobs.as_mut().map(generated_logprobs);
        Ok(Json(completion(meta, &text, reason, usage, logprobs)).into_response())
    }
}

/// The generated tokens' log-probabilities sent so far, as a chat completion shows them.
pub(super) fn generated_logprobs(
    receiver: &mut tokio::sync::mpsc::UnboundedReceiver<LogprobEvent>,
) -> ChatLogprobs {
    let mut content = Vec::new();
    while let Ok(event) = receiver.try_recv() {
        match event {
            LogprobEvent::Generated(entry) if !entry.end_of_text => {
                content.push(ChatTokenLogprob::from(entry));
            }
            _ => {}
        }
    }
    ChatLogprobs {
        content,
        refusal: None,
    }
}

/// A chat request begun: refused by admission (a 429 response), or generating.
pub(super) enum Begun {
    Refused(Response),
    Running(Running),
}

pub(super) struct Running {
    pub generation: GenerationStream,
    pub meta: ResponseMeta,
    /// Held until the answer is written.
    pub in_flight: InFlight,
    pub stream: bool,
}

/// Checks `request` (model, size, fields, the caller's role and place), renders it and starts
/// its generation, audited. Chat completions and the Responses API both begin here.
pub(super) async fn begin(
    state: &AppState,
    principal: Option<Extension<Principal>>,
    request: ChatCompletionRequest,
    route: &str,
) -> Result<Begun, ApiError> {
    let started = Instant::now();
    let model = served_model(state, &request.model)?;
    let info = model.backend.info();
    if let Some(user) = &request.user {
        tracing::debug!(user = %user, "chat completion for end user");
    }
    // Cheap checks first: size, fields, then the caller's place; the template, the schemas
    // and the grammar cost more, and run on a blocking thread.
    check_size(&request, &state.options.request_limits)?;
    let valid = validate(request)?;
    let caller = principal.map(|Extension(principal)| principal);
    check_allowed(state, caller.as_ref(), route)?;
    let audit = ChatAudit::for_request(state, caller.as_ref(), &valid, &info.id);
    let admission = match state.admit(caller.as_ref()) {
        Ok(admission) => admission,
        Err(refused) => return Ok(Begun::Refused(*refused)),
    };
    let include_usage = valid.include_usage;
    let stream = valid.stream;
    let tool_choice = valid.tool_choice.clone();
    let (request, tools, check) = tokio::task::spawn_blocking({
        let state = state.clone();
        move || prepare(&state, valid)
    })
    .await
    .map_err(|err| {
        tracing::error!(%err, "the request preparation task failed");
        ApiError::internal()
    })??;
    let request = GenerationRequest {
        caller: Some(
            caller
                .as_ref()
                .map_or_else(|| "anonymous".to_string(), |p| p.user.clone()),
        ),
        buffered: !stream,
        ..request
    };
    let checks = check.as_ref().map(CallCheck::report);
    let mut generation = match check {
        Some(check) => checked_generation(&model.backend, request, check).await?,
        None => start_generation(&model.backend, request).await?,
    };
    if let Some(audit) = audit {
        generation = audit.attach(generation, tools.clone(), checks);
    }
    let in_flight = InFlight::new(state.metrics.generations_in_flight.clone(), admission);
    let meta = ResponseMeta {
        id: format!("chatcmpl-{}", uuid::Uuid::new_v4().simple()),
        created: unix_now(),
        model: info.id.clone(),
        include_usage,
        started,
        // With `tool_choice: none` nothing is read as a call.
        tools: tools.filter(|_| tool_choice != ToolChoice::None),
    };
    Ok(Begun::Running(Running {
        generation,
        meta,
        in_flight,
        stream,
    }))
}

/// A request made ready: what to generate, the request's tools, and the check of its calls.
type Prepared = (GenerationRequest, Option<Arc<ToolSet>>, Option<CallCheck>);

/// The costly part of a request: its tools' schemas compiled (cached by set), the prompt
/// rendered with the model's template, the grammar written. Blocking.
fn prepare(state: &AppState, valid: ValidRequest) -> Result<Prepared, ApiError> {
    let model = state.model.get().ok_or_else(ApiError::not_ready)?;
    let tools = if valid.tools.is_empty() {
        None
    } else {
        Some(state.tool_set(valid.tools)?)
    };
    let mut messages = valid.messages;
    // Grounds are read from what the client sent, before Fulcrum's guidance is added.
    let options = RenderOptions {
        add_generation_prompt: true,
        extra: valid.template_kwargs,
    };
    let check = tools
        .as_ref()
        .and_then(|tools| {
            CallCheck::new(
                &state.options.tuning,
                tools,
                &messages,
                &valid.tool_choice,
                valid.parallel_tool_calls,
                answers_user(&messages),
            )
        })
        .map(|check| check.with_plain_prompt(|| model.template.render(&messages, &[], &options)))
        .transpose()?;
    if tools.is_some() && valid.tool_choice == ToolChoice::Auto {
        let parallel = valid
            .parallel_tool_calls
            .then_some(state.options.tuning.parallel_call_guidance);
        add_call_guidance(&mut messages, parallel);
    }
    let definitions = tools.as_ref().map_or(&[][..], |set| set.definitions());
    let prompt = model.template.render(&messages, definitions, &options)?;
    let grammar = match &tools {
        Some(set) => Some(set.grammar(&valid.tool_choice, valid.parallel_tool_calls)),
        None => valid.response_grammar,
    };
    let logit_bias = if tools.is_some() {
        call_biases(
            state.options.tuning,
            &messages,
            &valid.tool_choice,
            valid.parallel_tool_calls,
        )
    } else {
        Vec::new()
    };
    let instead_of_refused_start = tools.as_ref().and_then(|_| {
        call_instead_of_refused_start(
            state.options.tuning,
            &valid.tool_choice,
            answers_user(&messages),
        )
    });
    let request = GenerationRequest {
        stop: valid.stop,
        instead_of_refused_start,
        ignore_eos: valid.ignore_eos,
        timeout: state.options.request_timeout,
        max_tokens_limit: Some(state.options.request_limits.max_tokens),
        grammar,
        logit_bias,
        logprobs: valid.logprobs,
        ..GenerationRequest::new(prompt, valid.sampling, valid.max_tokens)
    };
    Ok((request, tools, check))
}

/// The whole output of `generation`, its time to first text observed from `started`.
pub(super) async fn collect(
    state: &AppState,
    mut generation: GenerationStream,
    started: Instant,
) -> Result<(String, FinishReason, Usage), ApiError> {
    let mut first_text = FirstText::new(&state.metrics, started);
    let mut text = String::new();
    while let Some(event) = generation.next().await {
        match event? {
            GenerationEvent::Text(piece) => {
                first_text.text();
                text.push_str(&piece);
            }
            GenerationEvent::Finished { reason, usage } => return Ok((text, reason, usage)),
        }
    }
    tracing::error!("generation ended without a finish event");
    Err(ApiError::internal())
}

pub(super) fn completion(
    meta: ResponseMeta,
    text: &str,
    reason: FinishReason,
    usage: Usage,
    logprobs: Option<ChatLogprobs>,
) -> ChatCompletion {
    let (content, reasoning, tool_calls) = match &meta.tools {
        Some(tools) => {
            let (parsed, closed) = read_answer(text, reason, tools);
            if closed {
                tracing::info!(
                    calls = parsed.calls.len(),
                    "the generation was stopped inside a call: closed it after its last complete value"
                );
            }
            let calls: Vec<ResponseToolCall> = dedupe_calls(parsed.calls)
                .into_iter()
                .filter_map(|call| accept_call(tools, call))
                .collect();
            (parsed.content, parsed.reasoning, calls)
        }
        None => {
            let (reasoning, rest) = split_reasoning(text);
            let rest = if reasoning.is_some() {
                rest.trim_start()
            } else {
                rest
            };
            (Some(rest.to_string()), reasoning, Vec::new())
        }
    };
    let finish = if tool_calls.is_empty() {
        finish_reason(reason)
    } else {
        "tool_calls"
    };
    ChatCompletion {
        id: meta.id,
        object: "chat.completion",
        created: meta.created,
        model: meta.model,
        choices: vec![Choice {
            index: 0,
            message: ResponseMessage {
                role: "assistant",
                content,
                refusal: None,
                reasoning_content: reasoning,
                tool_calls,
            },
            finish_reason: finish,
            logprobs,
        }],
        usage: usage.into(),
        system_fingerprint: FINGERPRINT,
    }
}
