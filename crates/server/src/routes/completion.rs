//! What a chat completion's two answers share, JSON and SSE alike: the response's identity,
//! the in-flight accounting, usage metrics and the acceptance of a parsed call.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use fulcrum_agent::LoadedModel;
use fulcrum_chat::tools::{new_call_id, parse_answer, ParsedCall, ParsedOutput, ToolSet};
use fulcrum_engine::FinishReason;
use prometheus::{Histogram, IntGauge};

use crate::error::ApiError;
use crate::limits::Admission;
use crate::metrics::Metrics;
use crate::state::AppState;
use crate::wire::{ResponseFunction, ResponseToolCall};

pub(super) const FINGERPRINT: &str = concat!("fulcrum-", env!("CARGO_PKG_VERSION"));

pub(super) fn finish_reason(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::Stop => "stop",
        FinishReason::Length => "length",
    }
}

pub(super) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Counts a generation as in flight, and holds its admission, for as long as it lives,
/// however it ends.
pub(super) struct InFlight {
    gauge: IntGauge,
    _admission: Admission,
}

impl InFlight {
    pub(super) fn new(gauge: IntGauge, admission: Admission) -> Self {
        gauge.inc();
        InFlight {
            gauge,
            _admission: admission,
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

/// What the response needs to know about the request.
pub(super) struct ResponseMeta {
    pub id: String,
    pub created: u64,
    pub model: String,
    pub include_usage: bool,
    pub started: Instant,
    /// The request's tools, when it had any: calls are parsed and validated against them.
    pub tools: Option<Arc<ToolSet>>,
}

/// The text, reasoning and calls of an answer to a request with `tools`. An answer the engine
/// stopped inside a call (its loop check) has that call closed after its last complete value,
/// kept only if valid: a cut by the token limit stays a cut (`finish_reason: length`).
/// Returns the output and whether a cut call was closed.
pub(super) fn read_answer(
    text: &str,
    reason: FinishReason,
    tools: &ToolSet,
) -> (ParsedOutput, bool) {
    parse_answer(
        text,
        reason == FinishReason::Stop,
        &|name| tools.contains(name),
        tools,
    )
}

/// A call that passed validation, with its new id; `None` (logged) when it did not.
pub(super) fn accept_call(tools: &ToolSet, mut call: ParsedCall) -> Option<ResponseToolCall> {
    if let Err(err) = tools.accept(&mut call) {
        tracing::warn!(%err, "dropping a tool call that failed validation");
        return None;
    }
    Some(ResponseToolCall {
        id: new_call_id(),
        kind: "function",
        function: ResponseFunction {
            name: call.name,
            arguments: call.arguments.to_string(),
        },
    })
}

/// The loaded model, when `requested` names it; a 404 naming the served one otherwise.
pub(super) fn served_model<'a>(
    state: &'a AppState,
    requested: &str,
) -> Result<&'a LoadedModel, ApiError> {
    let model = state.model.get().ok_or_else(ApiError::not_ready)?;
    let served = &model.backend.info().id;
    if requested != served {
        return Err(ApiError::not_found(
            format!(
                "the model `{requested}` does not exist here: this server serves `{served}` (see GET /v1/models)"
            ),
            "model_not_found",
        )
        .with_param("model"));
    }
    Ok(model)
}

/// Observes the time to a generation's first text, once.
pub(super) struct FirstText {
    histogram: Histogram,
    started: Instant,
    seen: bool,
}

impl FirstText {
    pub(super) fn new(metrics: &Metrics, started: Instant) -> Self {
        FirstText {
            histogram: metrics.time_to_first_token_seconds.clone(),
            started,
            seen: false,
        }
    }

    pub(super) fn text(&mut self) {
        if !self.seen {
            self.histogram.observe(self.started.elapsed().as_secs_f64());
            self.seen = true;
        }
    }
}
