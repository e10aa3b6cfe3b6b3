//! The one way a document is summarized for a caller, whoever asks: the `summarize_document`
//! host function (the agent's tool and, called directly, `POST /v1/documents/summarize`) reads
//! the document — one of a knowledge collection the caller's role may read, or a text given
//! with the call — and runs [`summarize`] with the served model off the async runtime.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use fulcrum_agent::LoadedModel;
use fulcrum_retrieval::open_for_reader;
use fulcrum_tools::{HostFunction, HostFuture, Principal};
use serde_json::{json, Value};

use super::{summarize, EngineSummaryModel, Summary, SummaryMode, SummaryOptions};
use crate::error::ReportError;

/// The name policy files give the function (`executor = { kind = "host", function = … }`).
pub const SUMMARIZE_DOCUMENT: &str = "summarize_document";

/// Summarizes `text` with `model` for `user` on a blocking thread, which holds `guard` (an
/// admission slot, say) until it is done, even if the caller goes away.
pub async fn summarize_for<G: Send + 'static>(
    model: &LoadedModel,
    user: &str,
    text: String,
    name: String,
    options: SummaryOptions,
    guard: G,
) -> Result<Summary, ReportError> {
    let reader = EngineSummaryModel::new(Arc::clone(&model.backend), Arc::clone(&model.template))
        .for_caller(user);
    tokio::task::spawn_blocking(move || {
        let summary = summarize(&reader, &text, &name, &options);
        drop(guard);
        summary
    })
    .await
    .map_err(|err| ReportError::Model(format!("the summary task failed: {err}")))?
}

/// The `summarize_document` host function. Arguments: `collection` and `document` (a
/// document ingested there, which the caller's role must be allowed to read), or `text` (and
/// an optional `name`); optional `task` and `mode` (`map_reduce`, `whole`).
pub struct SummarizeFunction {
    model: Arc<OnceLock<LoadedModel>>,
    knowledge: PathBuf,
    options: SummaryOptions,
}

impl SummarizeFunction {
    /// `options` gives the limits (`max_prompt_tokens`, part size); each call may change the
    /// task and the mode.
    pub fn new(
        model: Arc<OnceLock<LoadedModel>>,
        knowledge: PathBuf,
        options: SummaryOptions,
    ) -> Self {
        SummarizeFunction {
            model,
            knowledge,
            options,
        }
    }

    fn document(&self, caller: &Principal, arguments: &Value) -> Result<(String, String), String> {
        if let Some(text) = arguments.get("text").and_then(Value::as_str) {
            let name = arguments
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("the document");
            return Ok((name.to_string(), text.to_string()));
        }
        let (Some(collection), Some(document)) = (
            arguments.get("collection").and_then(Value::as_str),
            arguments.get("document").and_then(Value::as_str),
        ) else {
            return Err(
                "give `collection` and `document` (an ingested document), or `text`".into(),
            );
        };
        let store = open_for_reader(&self.knowledge, collection, caller)?;
        let text = store
            .document_text(collection, document)
            .map_err(|err| err.to_string())?;
        Ok((document.to_string(), text))
    }

    async fn run(&self, caller: &Principal, arguments: &Value) -> Result<Value, String> {
        let mut options = self.options.clone();
        if let Some(task) = arguments.get("task").and_then(Value::as_str) {
            if !task.trim().is_empty() {
                options.task = task.trim().to_string();
            }
        }
        if let Some(mode) = arguments.get("mode").and_then(Value::as_str) {
            options.mode = SummaryMode::parse(mode).map_err(|err| err.to_string())?;
        }
        let (name, text) = self.document(caller, arguments)?;
        let model = self
            .model
            .get()
            .ok_or("the model is still loading: try again in a moment")?;
        let summary = summarize_for(model, &caller.user, text, name, options, ())
            .await
            .map_err(|err| err.to_string())?;
        Ok(summary_json(&summary))
    }
}

/// What the function returns: the summary's points with their sections, its checks, and its
/// Markdown.
pub fn summary_json(summary: &Summary) -> Value {
    json!({
        "title": summary.title,
        "mode": summary.mode,
        "task": summary.task,
        "overview": summary.overview,
        "indicators": summary.indicators,
        "risks": summary.risks,
        "other": summary.other,
        "stats": summary.stats,
        "markdown": summary.markdown(),
    })
}

impl HostFunction for SummarizeFunction {
    fn call<'a>(&'a self, caller: &'a Principal, arguments: &'a Value) -> HostFuture<'a> {
        Box::pin(self.run(caller, arguments))
    }
}
