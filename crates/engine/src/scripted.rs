//! A backend that replays scripted outputs, for exact and fast tests of the layers above the
//! engine (server, agent loop, policy). It tokenizes by whitespace.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::backend::{
    Backend, FinishReason, GenerationEvent, GenerationRequest, GenerationStream, LogprobEvent,
    ModelInfo, PromptStart, TokenLogprob, Usage,
};
use crate::error::EngineError;

/// Replays one scripted output per generation, in order; repeats the last when the script ends.
pub struct ScriptedBackend {
    info: ModelInfo,
    outputs: Mutex<VecDeque<String>>,
    requests: Mutex<Vec<GenerationRequest>>,
    /// Sent after the output's text instead of `Finished`, to test error paths.
    failure: Option<EngineError>,
    /// The scripted model's own first choice is one the grammar refuses.
    refused_first_choice: bool,
    /// The log-probability of every token of a prompt scored for its own log-probabilities
    /// (`prompt_logprobs` without generated tokens), given the whole prompt.
    prompt_scores: Option<PromptScorer>,
}

type PromptScorer = Arc<dyn Fn(&str) -> f32 + Send + Sync>;

impl ScriptedBackend {
    pub fn new(outputs: impl IntoIterator<Item = impl Into<String>>) -> Self {
        ScriptedBackend {
            info: ModelInfo {
                id: "scripted".into(),
                context_size: 4096,
                train_context_size: 4096,
                chat_template: None,
                bos_token: String::new(),
                eos_token: "<|im_end|>".into(),
                special_tokens: ["<|im_start|>", "<|im_end|>", "<tool_call>", "</tool_call>"]
                    .map(String::from)
                    .to_vec(),
            },
            outputs: Mutex::new(outputs.into_iter().map(Into::into).collect()),
            requests: Mutex::new(Vec::new()),
            failure: None,
            refused_first_choice: false,
            prompt_scores: None,
        }
    }

    /// Prompts asked for their log-probabilities alone (`prompt_logprobs`, `max_tokens` 0) are
    /// scored: each whitespace token gets `score(prompt)`. They take no scripted output.
    pub fn with_prompt_scores(
        mut self,
        score: impl Fn(&str) -> f32 + Send + Sync + 'static,
    ) -> Self {
        self.prompt_scores = Some(Arc::new(score));
        self
    }

    /// The model's own first choice is always one the grammar refuses: a generation that
    /// names an `instead_of_refused_start` and whose output opens with it reports the
    /// redirect in its usage, as the embedded engine does.
    pub fn with_refused_first_choice(mut self) -> Self {
        self.refused_first_choice = true;
        self
    }

    /// Every generation ends with `failure` after its text, as a timed-out or failed
    /// generation of a real engine does.
    pub fn failing_with(mut self, failure: EngineError) -> Self {
        self.failure = Some(failure);
        self
    }

    /// The prompts received so far, for assertions.
    pub fn prompts(&self) -> Vec<String> {
        self.requests().into_iter().map(|r| r.prompt).collect()
    }

    /// The requests received so far, for assertions.
    pub fn requests(&self) -> Vec<GenerationRequest> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    fn next_output(&self) -> String {
        let Ok(mut outputs) = self.outputs.lock() else {
            return String::new();
        };
        if outputs.len() > 1 {
            outputs.pop_front().unwrap_or_default()
        } else {
            outputs.front().cloned().unwrap_or_default()
        }
    }
}

impl ScriptedBackend {
    fn scored_prompt(&self, request: GenerationRequest, score: &PromptScorer) -> GenerationStream {
        if let Ok(mut requests) = self.requests.lock() {
            requests.push(request.clone());
        }
        let logprob = score(&request.prompt);
        let tokens = words(&request.prompt);
        let (tx, rx) = mpsc::unbounded_channel();
        let (logprobs_tx, logprobs_rx) = mpsc::unbounded_channel();
        let token = |at: usize, piece: &str| TokenLogprob {
            token: at as u32,
            bytes: piece.as_bytes().to_vec(),
            logprob,
            top: Vec::new(),
            end_of_text: false,
        };
        if let Some((first, rest)) = tokens.split_first() {
            let _ = logprobs_tx.send(LogprobEvent::Prompt {
                first: PromptStart {
                    token: 0,
                    bytes: first.as_bytes().to_vec(),
                },
                rest: rest
                    .iter()
                    .enumerate()
                    .map(|(at, piece)| token(at + 1, piece))
                    .collect(),
            });
        }
        let _ = tx.send(Ok(GenerationEvent::Finished {
            reason: FinishReason::Length,
            usage: Usage {
                prompt_tokens: tokens.len() as u32,
                completion_tokens: 0,
                queue_wait: std::time::Duration::ZERO,
                redirected_start: false,
            },
        }));
        GenerationStream::with_logprobs(rx, logprobs_rx)
    }
}

fn words(text: &str) -> Vec<&str> {
    text.split_inclusive(' ').collect()
}

impl Backend for ScriptedBackend {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn count_tokens(&self, text: &str) -> Result<usize, EngineError> {
        Ok(words(text).len())
    }

    fn generate(&self, request: GenerationRequest) -> Result<GenerationStream, EngineError> {
        if let Some(score) = &self.prompt_scores {
            if request.prompt_logprobs.is_some() && request.max_tokens == Some(0) {
                return Ok(self.scored_prompt(request, score));
            }
        }
        if request.logprobs.is_some()
            || request.prompt_logprobs.is_some()
            || request.prompt_tokens.is_some()
        {
            return Err(EngineError::Unsupported(
                "the scripted backend has no tokens or probabilities".into(),
            ));
        }
        if let Ok(mut requests) = self.requests.lock() {
            requests.push(request.clone());
        }
        let output = self.next_output();
        let redirected_start = self.refused_first_choice
            && request
                .instead_of_refused_start
                .as_ref()
                .is_some_and(|refused| output.trim_start().starts_with(&refused.instead));
        let prompt_tokens = words(&request.prompt).len() as u32;
        let max = request.max_tokens.unwrap_or(u32::MAX) as usize;
        let (tx, rx) = mpsc::unbounded_channel();
        let pieces = words(&output);
        let mut reason = FinishReason::Stop;
        let mut sent = 0u32;
        for (i, piece) in pieces.iter().enumerate() {
            if i >= max {
                reason = FinishReason::Length;
                break;
            }
            let _ = tx.send(Ok(GenerationEvent::Text((*piece).to_string())));
            sent += 1;
        }
        if let Some(failure) = &self.failure {
            let _ = tx.send(Err(failure.clone()));
            return Ok(GenerationStream::new(rx));
        }
        let _ = tx.send(Ok(GenerationEvent::Finished {
            reason,
            usage: Usage {
                prompt_tokens,
                completion_tokens: sent,
                queue_wait: std::time::Duration::ZERO,
                redirected_start,
            },
        }));
        Ok(GenerationStream::new(rx))
    }
}
