//! `POST /v1/chat/completions`: render, generate, answer as JSON or as an SSE stream.

use std::convert::Infallible;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use fulcrum_chat::RenderOptions;
use fulcrum_engine::{FinishReason, GenerationEvent, GenerationRequest, GenerationStream, Usage};
use futures::Stream;
use prometheus::IntGauge;

use crate::error::ApiError;
use crate::json::ApiJson;
use crate::state::AppState;
use crate::validate::{validate, ValidRequest};
use crate::wire::{
    ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, Choice, ChunkChoice, Delta,
    ResponseMessage, WireUsage,
};

const FINGERPRINT: &str = concat!("fulcrum-", env!("CARGO_PKG_VERSION"));

fn finish_reason(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::Stop => "stop",
        FinishReason::Length => "length",
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Counts a generation as in flight for as long as it lives, however it ends.
struct InFlight(IntGauge);

impl InFlight {
    fn new(gauge: IntGauge) -> Self {
        gauge.inc();
        InFlight(gauge)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

pub async fn chat_completions(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<ChatCompletionRequest>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let model = state.model.get().ok_or_else(ApiError::not_ready)?;
    let info = model.backend.info();
    if request.model != info.id {
        return Err(ApiError::not_found(
            format!(
                "the model `{}` does not exist here: this server serves `{}` (see GET /v1/models)",
                request.model, info.id
            ),
            "model_not_found",
        )
        .with_param("model"));
    }
    if let Some(user) = &request.user {
        tracing::debug!(user = %user, "chat completion for end user");
    }
    let ValidRequest {
        messages,
        sampling,
        max_tokens,
        stop,
        stream,
        include_usage,
        template_kwargs,
    } = validate(request)?;

    let options = RenderOptions {
        add_generation_prompt: true,
        extra: template_kwargs,
    };
    let prompt = model.template.render(&messages, &[], &options)?;
    let generation = model.backend.generate(GenerationRequest {
        prompt,
        sampling,
        max_tokens,
        stop,
        ignore_eos: false,
        grammar: None,
    })?;
    let in_flight = InFlight::new(state.metrics.generations_in_flight.clone());
    let id = format!("chatcmpl-{}", uuid::Uuid::new_v4().simple());
    let meta = ResponseMeta {
        id,
        created: unix_now(),
        model: info.id.clone(),
    };
    if stream {
        let events = sse_events(state, generation, meta, include_usage, started, in_flight);
        Ok(Sse::new(events)
            .keep_alive(KeepAlive::default())
            .into_response())
    } else {
        let (text, reason, usage) = collect(&state, generation, started).await?;
        drop(in_flight);
        Ok(Json(ChatCompletion {
            id: meta.id,
            object: "chat.completion",
            created: meta.created,
            model: meta.model,
            choices: vec![Choice {
                index: 0,
                message: ResponseMessage {
                    role: "assistant",
                    content: Some(text),
                    refusal: None,
                },
                finish_reason: finish_reason(reason),
                logprobs: None,
            }],
            usage: usage.into(),
            system_fingerprint: FINGERPRINT,
        })
        .into_response())
    }
}

struct ResponseMeta {
    id: String,
    created: u64,
    model: String,
}

fn record_usage(state: &AppState, usage: Usage) {
    state
        .metrics
        .prompt_tokens
        .inc_by(u64::from(usage.prompt_tokens));
    state
        .metrics
        .completion_tokens
        .inc_by(u64::from(usage.completion_tokens));
}

async fn collect(
    state: &AppState,
    mut generation: GenerationStream,
    started: Instant,
) -> Result<(String, FinishReason, Usage), ApiError> {
    let mut text = String::new();
    let mut first = true;
    while let Some(event) = generation.next().await {
        match event? {
            GenerationEvent::Text(piece) => {
                if first {
                    state
                        .metrics
                        .time_to_first_token_seconds
                        .observe(started.elapsed().as_secs_f64());
                    first = false;
                }
                text.push_str(&piece);
            }
            GenerationEvent::Finished { reason, usage } => {
                record_usage(state, usage);
                return Ok((text, reason, usage));
            }
        }
    }
    tracing::error!("generation ended without a finish event");
    Err(ApiError::internal())
}

impl ResponseMeta {
    fn chunk(
        &self,
        delta: Delta,
        finish: Option<&'static str>,
        include_usage: bool,
    ) -> ChatCompletionChunk {
        ChatCompletionChunk {
            id: self.id.clone(),
            object: "chat.completion.chunk",
            created: self.created,
            model: self.model.clone(),
            choices: vec![ChunkChoice {
                index: 0,
                delta,
                finish_reason: finish,
                logprobs: None,
            }],
            system_fingerprint: FINGERPRINT,
            usage: include_usage.then_some(None),
        }
    }

    fn usage_chunk(&self, usage: Usage) -> ChatCompletionChunk {
        ChatCompletionChunk {
            id: self.id.clone(),
            object: "chat.completion.chunk",
            created: self.created,
            model: self.model.clone(),
            choices: Vec::new(),
            system_fingerprint: FINGERPRINT,
            usage: Some(Some(WireUsage::from(usage))),
        }
    }
}

fn json_event(value: &impl serde::Serialize) -> Event {
    match serde_json::to_string(value) {
        Ok(text) => Event::default().data(text),
        Err(err) => {
            tracing::error!(%err, "cannot serialise a stream chunk");
            Event::default().data(ApiError::internal().body().to_string())
        }
    }
}

/// The SSE stream of one generation. Dropping it (the client went away) drops the
/// generation, which frees its engine slot.
fn sse_events(
    state: AppState,
    mut generation: GenerationStream,
    meta: ResponseMeta,
    include_usage: bool,
    started: Instant,
    in_flight: InFlight,
) -> impl Stream<Item = Result<Event, Infallible>> {
    async_stream(move |tx| async move {
        let _in_flight = in_flight;
        let role = Delta {
            role: Some("assistant"),
            content: Some(String::new()),
        };
        if tx
            .send(json_event(&meta.chunk(role, None, include_usage)))
            .await
            .is_err()
        {
            return;
        }
        let mut first = true;
        loop {
            // Watch the client while waiting: a request still queued has no tokens to send,
            // and must not hold its place after the client has gone.
            let event = tokio::select! {
                () = tx.closed() => return,
                event = generation.next() => event,
            };
            let Some(event) = event else {
                tracing::error!("generation ended without a finish event");
                let _ = tx.send(json_event(&ApiError::internal().body())).await;
                return;
            };
            let event = match event {
                Ok(event) => event,
                Err(err) => {
                    let _ = tx.send(json_event(&ApiError::from(err).body())).await;
                    return;
                }
            };
            match event {
                GenerationEvent::Text(piece) => {
                    if first {
                        state
                            .metrics
                            .time_to_first_token_seconds
                            .observe(started.elapsed().as_secs_f64());
                        first = false;
                    }
                    let delta = Delta {
                        role: None,
                        content: Some(piece),
                    };
                    if tx
                        .send(json_event(&meta.chunk(delta, None, include_usage)))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                GenerationEvent::Finished { reason, usage } => {
                    record_usage(&state, usage);
                    let last =
                        meta.chunk(Delta::default(), Some(finish_reason(reason)), include_usage);
                    if tx.send(json_event(&last)).await.is_err() {
                        return;
                    }
                    if include_usage && tx.send(json_event(&meta.usage_chunk(usage))).await.is_err()
                    {
                        return;
                    }
                    let _ = tx.send(Event::default().data("[DONE]")).await;
                    return;
                }
            }
        }
    })
}

/// A stream fed by an async task through a small channel. When the consumer (the HTTP body)
/// is dropped, the receiver closes, the producer's next send fails, and it stops.
fn async_stream<F, Fut>(produce: F) -> impl Stream<Item = Result<Event, Infallible>>
where
    F: FnOnce(tokio::sync::mpsc::Sender<Event>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(produce(tx));
    futures::StreamExt::map(tokio_stream::wrappers::ReceiverStream::new(rx), Ok)
}
