//! One generation read as the pieces of an assistant message: reasoning, content, and tool
//! calls that passed validation, in the order the model wrote them. A chat completion's
//! chunks and the Responses API's events are two encodings of these same pieces.

use std::sync::Arc;
use std::time::Instant;

use fulcrum_chat::tools::{CallDeduper, StreamEvent, StreamParser, ToolSet};
use fulcrum_engine::{FinishReason, GenerationEvent, GenerationStream, Usage};
use tokio::sync::mpsc;

use super::completion::{accept_call, FirstText};
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::wire::ResponseToolCall;

pub(super) enum Piece {
    Reasoning(String),
    Content(String),
    /// The `index`-th call of the message.
    Call {
        index: usize,
        call: ResponseToolCall,
    },
}

pub(super) enum Step {
    Piece(Piece),
    Finished {
        reason: FinishReason,
        usage: Usage,
        /// Calls sent as pieces.
        calls: usize,
    },
    Failed(ApiError),
}

/// The steps of `generation`, read by a task of their own. Dropping the receiver (the client
/// went away) drops the generation, which frees its engine slot, even while it waits for one.
pub(super) fn pieces(
    metrics: Metrics,
    mut generation: GenerationStream,
    started: Instant,
    tools: Option<Arc<ToolSet>>,
) -> mpsc::Receiver<Step> {
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        let is_tool = |name: &str| tools.as_ref().is_some_and(|set| set.contains(name));
        let mut parser = if tools.is_some() {
            StreamParser::new(&is_tool)
        } else {
            StreamParser::reasoning_only()
        };
        let mut assembler = Assembler::default();
        let mut first_text = FirstText::new(&metrics, started);
        loop {
            let event = tokio::select! {
                () = tx.closed() => return,
                event = generation.next() => event,
            };
            let (parsed, finished) = match event {
                Some(Ok(GenerationEvent::Text(piece))) => {
                    first_text.text();
                    (parser.push(&piece), None)
                }
                Some(Ok(GenerationEvent::Finished { reason, usage })) => {
                    let parser = std::mem::replace(&mut parser, StreamParser::reasoning_only());
                    // A call the engine's loop check stopped is closed, as in a whole answer
                    // (`read_answer`); one cut by the token limit stays cut.
                    let rest = match reason {
                        FinishReason::Stop => parser.finish_stopped(),
                        FinishReason::Length => parser.finish(),
                    };
                    (rest, Some((reason, usage)))
                }
                Some(Err(err)) => {
                    let _ = tx.send(Step::Failed(ApiError::from(err))).await;
                    return;
                }
                None => {
                    tracing::error!("generation ended without a finish event");
                    let _ = tx.send(Step::Failed(ApiError::internal())).await;
                    return;
                }
            };
            for event in parsed {
                if let Some(piece) = assembler.piece(tools.as_deref(), event) {
                    if tx.send(Step::Piece(piece)).await.is_err() {
                        return;
                    }
                }
            }
            if let Some((reason, usage)) = finished {
                let calls = assembler.calls;
                let _ = tx
                    .send(Step::Finished {
                        reason,
                        usage,
                        calls,
                    })
                    .await;
                return;
            }
        }
    });
    rx
}

/// Turns parser events into pieces: a repeated or invalid call is dropped, and whitespace
/// between calls is not sent as content.
#[derive(Default)]
struct Assembler {
    calls: usize,
    held_whitespace: String,
    seen: CallDeduper,
}

impl Assembler {
    fn piece(&mut self, tools: Option<&ToolSet>, event: StreamEvent) -> Option<Piece> {
        match event {
            StreamEvent::Reasoning(text) => Some(Piece::Reasoning(text)),
            StreamEvent::Content(text) => {
                if text.trim().is_empty() {
                    self.held_whitespace.push_str(&text);
                    return None;
                }
                let mut content = std::mem::take(&mut self.held_whitespace);
                content.push_str(&text);
                Some(Piece::Content(content))
            }
            StreamEvent::Call(call) => {
                if !self.seen.first_time(&call) {
                    return None;
                }
                let call = accept_call(tools?, call)?;
                self.held_whitespace.clear();
                let index = self.calls;
                self.calls += 1;
                Some(Piece::Call { index, call })
            }
        }
    }
}
