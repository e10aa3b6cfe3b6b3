//! How likely the model finds a text after a given context: the sum of its tokens'
//! log-probabilities, read from the prompt's own (no token is generated).

use std::sync::Arc;

use crate::backend::{start_generation, Backend, GenerationRequest, LogprobEvent, SamplingParams};
use crate::error::EngineError;

/// The log-probability of a text after a context, and the number of its tokens it sums.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TextLikelihood {
    pub logprob: f32,
    pub tokens: usize,
}

impl TextLikelihood {
    /// The mean log-probability per token (0 for no token).
    pub fn per_token(&self) -> f32 {
        if self.tokens == 0 {
            0.0
        } else {
            self.logprob / self.tokens as f32
        }
    }
}

/// Scores `text` after `context` on `backend`: one prompt computation of `context` + `text`
/// with its log-probabilities, counting the tokens that start at or after `text` (end
/// `context` where the tokenizer breaks, e.g. at a newline, so that no token straddles
/// them). `follow_up` queues it as a further step of a request already served. Engines
/// that do not report prompt log-probabilities (remote ones, the scripted one without
/// scores) answer [`EngineError::Unsupported`].
pub async fn text_likelihood(
    backend: &Arc<dyn Backend>,
    context: &str,
    text: &str,
    follow_up: bool,
) -> Result<TextLikelihood, EngineError> {
    let request = GenerationRequest {
        prompt_logprobs: Some(0),
        follow_up,
        loop_check: false,
        ..GenerationRequest::new(
            format!("{context}{text}"),
            SamplingParams::default(),
            Some(0),
        )
    };
    let mut stream = start_generation(backend, request).await?;
    let mut logprobs = stream.take_logprobs().ok_or_else(|| {
        EngineError::Unsupported("this engine reports no prompt log-probabilities".into())
    })?;
    stream.collect().await?;
    let mut likelihood = TextLikelihood {
        logprob: 0.0,
        tokens: 0,
    };
    while let Ok(event) = logprobs.try_recv() {
        let LogprobEvent::Prompt { first, rest } = event else {
            continue;
        };
        let mut offset = first.bytes.len();
        for token in rest {
            if offset >= context.len() {
                likelihood.logprob += token.logprob;
                likelihood.tokens += 1;
            }
            offset += token.bytes.len();
        }
    }
    Ok(likelihood)
}
