//! What the summary asks of a model: many prompts at once, each answered with JSON of a given
//! schema (constrained by a grammar), and token counts to stay inside the window.

use std::sync::Arc;

use fulcrum_chat::{ChatTemplate, Message, RenderOptions};
use fulcrum_engine::{Backend, GenerationEvent, GenerationRequest};
use serde_json::Value;

use crate::error::ReportError;

/// One question: a system and a user message, the JSON schema of the answer, and how long it
/// may be.
#[derive(Debug, Clone)]
pub struct Ask {
    pub system: String,
    pub user: String,
    pub schema: Value,
    pub max_tokens: u32,
}

pub trait SummaryModel: Send + Sync {
    /// Tokens of `text` in this model's prompt.
    fn count_tokens(&self, text: &str) -> Result<usize, ReportError>;
    /// Tokens one request may use, prompt and answer together.
    fn window(&self) -> usize;
    /// The answers to `asks`, in their order; they may run at the same time.
    fn answer_all(&self, asks: &[Ask]) -> Vec<Result<String, ReportError>>;
}

/// The served model: its chat template, greedy decoding, every answer under its schema's
/// grammar. All asks are handed to the engine at once, so they run in its slots together.
pub struct EngineSummaryModel {
    backend: Arc<dyn Backend>,
    template: Arc<ChatTemplate>,
    caller: Option<String>,
}

impl EngineSummaryModel {
    pub fn new(backend: Arc<dyn Backend>, template: Arc<ChatTemplate>) -> Self {
        EngineSummaryModel {
            backend,
            template,
            caller: None,
        }
    }

    /// Answers generated for `user` (served in turn with other users, charged to them).
    pub fn for_caller(mut self, user: &str) -> Self {
        self.caller = Some(user.to_string());
        self
    }

    fn request(&self, ask: &Ask) -> Result<GenerationRequest, ReportError> {
        let prompt = self
            .template
            .render(
                &[Message::system(&ask.system), Message::user(&ask.user)],
                &[],
                &RenderOptions {
                    add_generation_prompt: true,
                    extra: serde_json::Map::new(),
                },
            )
            .map_err(|err| ReportError::Model(err.to_string()))?;
        // Compact JSON only: with free whitespace a small model can pad an answer with blanks
        // until its token limit.
        let mut schema = ask.schema.clone();
        schema["x-guidance"] = serde_json::json!({
            "whitespace_flexible": false,
            "item_separator": ", ",
            "key_separator": ": ",
        });
        Ok(GenerationRequest {
            caller: self.caller.clone(),
            grammar: Some(format!("start: %json {schema}\n")),
            ..GenerationRequest::greedy(prompt, ask.max_tokens)
        })
    }
}

impl SummaryModel for EngineSummaryModel {
    fn count_tokens(&self, text: &str) -> Result<usize, ReportError> {
        self.backend
            .count_tokens(text)
            .map_err(|err| ReportError::Model(err.to_string()))
    }

    fn window(&self) -> usize {
        self.backend.info().context_size as usize
    }

    fn answer_all(&self, asks: &[Ask]) -> Vec<Result<String, ReportError>> {
        let streams: Vec<Result<_, ReportError>> = asks
            .iter()
            .map(|ask| {
                let request = self.request(ask)?;
                self.backend
                    .generate(request)
                    .map_err(|err| ReportError::Model(err.to_string()))
            })
            .collect();
        // The engine runs them side by side; their events wait in their streams meanwhile.
        streams
            .into_iter()
            .map(|stream| {
                let mut stream = stream?;
                let mut text = String::new();
                while let Some(event) = stream.blocking_next() {
                    match event.map_err(|err| ReportError::Model(err.to_string()))? {
                        GenerationEvent::Text(piece) => text.push_str(&piece),
                        GenerationEvent::Finished { .. } => break,
                    }
                }
                Ok(text)
            })
            .collect()
    }
}
