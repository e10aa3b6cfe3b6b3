//! The SSE stream of one chat completion, in OpenAI's chunk format.
//!
//! Text is forwarded as it comes, reasoning as `reasoning_content` deltas, and each tool call
//! as `tool_calls` deltas once it closed and passed validation (the pieces of `pieces.rs`).
//! Dropping the stream (the client went away) ends the generation, which frees its engine
//! slot.

use std::convert::Infallible;

use axum::response::sse::Event;
use fulcrum_engine::GenerationStream;
use futures::Stream;

use super::chat::generated_logprobs;
use super::completion::{finish_reason, InFlight, ResponseMeta, FINGERPRINT};
use super::pieces::{pieces, Piece, Step};
use crate::error::ApiError;
use crate::state::AppState;
use crate::wire::completions::ChatLogprobs;
use crate::wire::{
    ChatCompletionChunk, ChunkChoice, Delta, FunctionDelta, ToolCallDelta, WireUsage,
};

impl ResponseMeta {
    fn chunk(&self, delta: Delta, finish: Option<&'static str>) -> ChatCompletionChunk {
        self.chunk_with(delta, finish, None)
    }

    fn chunk_with(
        &self,
        delta: Delta,
        finish: Option<&'static str>,
        logprobs: Option<ChatLogprobs>,
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
                logprobs,
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

pub(super) fn json_event(value: &impl serde::Serialize) -> Event {
    match serde_json::to_string(value) {
        Ok(text) => Event::default().data(text),
        Err(err) => {
            tracing::error!(%err, "cannot serialise a stream chunk");
            Event::default()
                .data(serde_json::to_string(&ApiError::internal().body()).unwrap_or_default())
        }
    }
}

/// The deltas of one piece: a call is sent as its opening (id, name) and then its arguments.
fn deltas(piece: Piece) -> Vec<Delta> {
    match piece {
        Piece::Reasoning(text) => vec![Delta {
            reasoning_content: Some(text),
            ..Delta::default()
        }],
        Piece::Content(text) => vec![Delta {
            content: Some(text),
            ..Delta::default()
        }],
        Piece::Call { index, call } => {
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

pub(super) fn sse_events(
    state: AppState,
    mut generation: GenerationStream,
    meta: ResponseMeta,
    in_flight: InFlight,
) -> impl Stream<Item = Result<Event, Infallible>> {
    async_stream(move |tx| async move {
        let _in_flight = in_flight;
        // Each token's entry is sent before its text: when a piece arrives, the entries of its
        // tokens are there to take, and go with the piece's first chunk.
        let mut logprobs = generation.take_logprobs();
        let mut steps = pieces(
            state.metrics.clone(),
            generation,
            meta.started,
            meta.tools.clone(),
        );
        let role = Delta {
            role: Some("assistant"),
            content: Some(String::new()),
            ..Delta::default()
        };
        if tx.send(json_event(&meta.chunk(role, None))).await.is_err() {
            return;
        }
        loop {
            // Watch the client while waiting: a request still queued has no tokens to send,
            // and must not hold its place after the client has gone.
            let step = tokio::select! {
                () = tx.closed() => return,
                step = steps.recv() => step,
            };
            match step {
                Some(Step::Piece(piece)) => {
                    let mut entries = logprobs.as_mut().map(generated_logprobs);
                    for delta in deltas(piece) {
                        let chunk = meta.chunk_with(delta, None, entries.take());
                        if tx.send(json_event(&chunk)).await.is_err() {
                            return;
                        }
                    }
                }
                Some(Step::Finished {
                    reason,
                    usage,
                    calls,
                }) => {
                    let finish = if calls > 0 {
                        "tool_calls"
                    } else {
                        finish_reason(reason)
                    };
                    let rest = logprobs.as_mut().map(generated_logprobs);
                    let chunk = meta.chunk_with(Delta::default(), Some(finish), rest);
                    if tx.send(json_event(&chunk)).await.is_err() {
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
                Some(Step::Failed(err)) => {
                    let _ = tx.send(json_event(&err.body())).await;
                    return;
                }
                None => return,
            }
        }
    })
}

/// A stream fed by an async task through a small channel. When the consumer (the HTTP body)
/// is dropped, the receiver closes, the producer's next send fails, and it stops.
pub(super) fn async_stream<F, Fut>(produce: F) -> impl Stream<Item = Result<Event, Infallible>>
where
    F: FnOnce(tokio::sync::mpsc::Sender<Event>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(produce(tx));
    futures::StreamExt::map(tokio_stream::wrappers::ReceiverStream::new(rx), Ok)
}
