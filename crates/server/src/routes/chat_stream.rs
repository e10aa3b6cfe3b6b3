//! The SSE stream of one chat completion, in OpenAI's chunk format.
//!
//! Text is forwarded as it comes, reasoning as `reasoning_content` deltas, and each tool call
//! as `tool_calls` deltas once it closed and passed validation. Dropping the stream (the
//! client went away) ends the generation, which frees its engine slot.

use std::convert::Infallible;

use axum::response::sse::Event;
use fulcrum_chat::tools::{CallDeduper, StreamEvent, StreamParser};
use fulcrum_engine::{GenerationEvent, GenerationStream};
use futures::Stream;

use super::completion::{accept_call, finish_reason, InFlight, ResponseMeta, FINGERPRINT};
use crate::error::ApiError;
use crate::state::AppState;
use crate::wire::{
    ChatCompletionChunk, ChunkChoice, Delta, FunctionDelta, ToolCallDelta, WireUsage,
};

impl ResponseMeta {
    fn chunk(&self, delta: Delta, finish: Option<&'static str>) -> ChatCompletionChunk {
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
            usage: self.include_usage.then_some(None),
        }
    }

    fn usage_chunk(&self, usage: fulcrum_engine::Usage) -> ChatCompletionChunk {
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
            Event::default()
                .data(serde_json::to_string(&ApiError::internal().body()).unwrap_or_default())
        }
    }
}

/// Turns parser events into deltas; whitespace between calls is not sent as content.
struct DeltaBuilder {
    calls: usize,
    held_whitespace: String,
    seen: CallDeduper,
}

impl DeltaBuilder {
    fn deltas(&mut self, meta: &ResponseMeta, event: StreamEvent) -> Vec<Delta> {
        match event {
            StreamEvent::Reasoning(text) => vec![Delta {
                reasoning_content: Some(text),
                ..Delta::default()
            }],
            StreamEvent::Content(text) => {
                if text.trim().is_empty() {
                    self.held_whitespace.push_str(&text);
                    return Vec::new();
                }
                let mut content = std::mem::take(&mut self.held_whitespace);
                content.push_str(&text);
                vec![Delta {
                    content: Some(content),
                    ..Delta::default()
                }]
            }
            StreamEvent::Call(call) => {
                if !self.seen.first_time(&call) {
                    return Vec::new();
                }
                let Some(call) = meta
                    .tools
                    .as_deref()
                    .and_then(|tools| accept_call(tools, call))
                else {
                    return Vec::new();
                };
                self.held_whitespace.clear();
                let index = self.calls;
                self.calls += 1;
                let opening = ToolCallDelta {
                    index,
                    id: Some(call.id),
                    kind: Some("function"),
                    function: FunctionDelta {
                        name: Some(call.function.name),
                        arguments: String::new(),
                    },
                };
                let arguments = ToolCallDelta {
                    index,
                    id: None,
                    kind: None,
                    function: FunctionDelta {
                        name: None,
                        arguments: call.function.arguments,
                    },
                };
                vec![
                    Delta {
                        tool_calls: Some(vec![opening]),
                        ..Delta::default()
                    },
                    Delta {
                        tool_calls: Some(vec![arguments]),
                        ..Delta::default()
                    },
                ]
            }
        }
    }
}

pub(super) fn sse_events(
    state: AppState,
    mut generation: GenerationStream,
    meta: ResponseMeta,
    in_flight: InFlight,
) -> impl Stream<Item = Result<Event, Infallible>> {
    async_stream(move |tx| async move {
        let _in_flight = in_flight;
        let tools = meta.tools.clone();
        let is_tool = |name: &str| tools.as_ref().is_some_and(|set| set.contains(name));
        let mut parser = if meta.tools.is_some() {
            StreamParser::new(&is_tool)
        } else {
            StreamParser::reasoning_only()
        };
        let mut builder = DeltaBuilder {
            calls: 0,
            held_whitespace: String::new(),
            seen: CallDeduper::default(),
        };
        let role = Delta {
            role: Some("assistant"),
            content: Some(String::new()),
            ..Delta::default()
        };
        if tx.send(json_event(&meta.chunk(role, None))).await.is_err() {
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
            let (parsed, finished) = match event {
                Some(Ok(GenerationEvent::Text(piece))) => {
                    if first {
                        state
                            .metrics
                            .time_to_first_token_seconds
                            .observe(meta.started.elapsed().as_secs_f64());
                        first = false;
                    }
                    (parser.push(&piece), None)
                }
                Some(Ok(GenerationEvent::Finished { reason, usage })) => {
                    let rest =
                        std::mem::replace(&mut parser, StreamParser::reasoning_only()).finish();
                    (rest, Some((reason, usage)))
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
            for event in parsed {
                for delta in builder.deltas(&meta, event) {
                    if tx.send(json_event(&meta.chunk(delta, None))).await.is_err() {
                        return;
                    }
                }
            }
            if let Some((reason, usage)) = finished {
                let finish = if builder.calls > 0 {
                    "tool_calls"
                } else {
                    finish_reason(reason)
                };
                if tx
                    .send(json_event(&meta.chunk(Delta::default(), Some(finish))))
                    .await
                    .is_err()
                {
                    return;
                }
                if meta.include_usage
                    && tx.send(json_event(&meta.usage_chunk(usage))).await.is_err()
                {
                    return;
                }
                let _ = tx.send(Event::default().data("[DONE]")).await;
                return;
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
