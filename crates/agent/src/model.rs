//! The loaded model: the backend and the chat template its prompts are rendered with — the
//! model's own, or ChatML when the model carries none. Every user of a model (the server, the
//! terminal chat, reports, evaluations) makes it here, so the choice is made once.

use std::sync::Arc;

use fulcrum_chat::{ChatError, ChatTemplate, SpecialTokenGuard};
use fulcrum_engine::{Backend, TOKEN_BREAK};

#[derive(Clone)]
pub struct LoadedModel {
    pub backend: Arc<dyn Backend>,
    pub template: Arc<ChatTemplate>,
    /// When it was loaded, in seconds since the Unix epoch (the `created` of `/v1/models`).
    pub created: u64,
}

impl LoadedModel {
    /// Uses the model's own template, or ChatML when it has none.
    pub fn new(backend: Arc<dyn Backend>) -> Result<Self, ChatError> {
        let info = backend.info();
        let template = match &info.chat_template {
            Some(source) => ChatTemplate::new(source, &info.bos_token, &info.eos_token)?,
            None => {
                tracing::warn!(model = %info.id, "the model has no chat template; using ChatML");
                ChatTemplate::chatml()
            }
        }
        .with_special_token_guard(SpecialTokenGuard::new(&info.special_tokens, TOKEN_BREAK));
        let created = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Ok(LoadedModel {
            backend,
            template: Arc::new(template),
            created,
        })
    }
}
