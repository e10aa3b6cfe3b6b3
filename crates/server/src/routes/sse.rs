//! Server-sent events of Fulcrum's own streams (agent turns, reports): one JSON object per
//! event, then `[DONE]`, as OpenAI's streams end.

use std::convert::Infallible;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures::StreamExt;
use serde::Serialize;

/// Each event of `events` as JSON, until it ends; then `[DONE]`.
pub(crate) fn sse_with_done<T: Serialize>(
    events: impl futures::Stream<Item = T> + Send + 'static,
) -> Sse<impl futures::Stream<Item = Result<Event, Infallible>>> {
    let events = events
        .map(|event| {
            let data = serde_json::to_string(&event).unwrap_or_else(|_| "{}".into());
            Ok(Event::default().data(data))
        })
        .chain(futures::stream::once(async {
            Ok(Event::default().data("[DONE]"))
        }));
    Sse::new(events).keep_alive(KeepAlive::default())
}
