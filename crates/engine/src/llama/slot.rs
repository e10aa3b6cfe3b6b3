//! A request in the worker: the job as it was handed over (tokens, sampling, limits, its
//! channel) and, once admitted, the sequence that serves it.

use super::*;

/// A request handed to the worker, already tokenized and checked.
pub(super) struct Job {
    pub(super) tokens: Vec<LlamaToken>,
    pub(super) sampling: SamplingParams,
    pub(super) max_tokens: u32,
    pub(super) stop: Vec<String>,
    pub(super) ignore_eos: bool,
    pub(super) grammar: Option<llguidance::Matcher>,
    pub(super) logit_bias: Vec<LlamaLogitBias>,
    pub(super) followup_bias: Vec<FollowupBias>,
    pub(super) events: mpsc::UnboundedSender<Result<GenerationEvent, EngineError>>,
    pub(super) queued_at: Instant,
    /// When the request's time limit runs out, and that limit (for the error).
    pub(super) deadline: Option<(Instant, std::time::Duration)>,
}

/// A bias on `token` at the step right after `previous` was generated (`None`: at the first
/// step).
#[derive(Debug, Clone, Copy)]
pub(super) struct FollowupBias {
    pub(super) previous: Option<LlamaToken>,
    pub(super) token: LlamaToken,
    pub(super) bias: f32,
}

impl Job {
    pub(super) fn reservation(&self) -> usize {
        self.tokens.len() + self.max_tokens as usize
    }

    /// Ends the job with a timeout error when its deadline has passed; says whether it did.
    pub(super) fn expire(&self, now: Instant, load: &LoadCounters) -> bool {
        let Some((deadline, limit)) = self.deadline else {
            return false;
        };
        if now < deadline {
            return false;
        }
        let limit_ms = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX);
        // Counted before the caller can see the error, so a reader of the totals after it
        // finds it counted.
        load.timed_out.fetch_add(1, Ordering::Relaxed);
        let _ = self.events.send(Err(EngineError::Timeout { limit_ms }));
        true
    }
}

/// A sequence being served.
pub(super) struct Slot {
    pub(super) seq: i32,
    pub(super) job: Job,
    /// Prompt tokens already in the KV cache.
    pub(super) prompt_done: usize,
    /// Every token whose KV this sequence holds, in order: what a later prompt can reuse.
    pub(super) kv_tokens: Vec<LlamaToken>,
    /// Position of the next token in the sequence.
    pub(super) position: i32,
    /// The token to feed next while generating.
    pub(super) next_input: Option<LlamaToken>,
    /// Where this sequence's logits are in the last decoded batch.
    pub(super) logits_at: Option<i32>,
    /// `None` for plain greedy decoding, which takes the arg-max of the logits directly:
    /// llama.cpp's sampler copies the whole vocabulary (152k entries for Qwen) every token.
    pub(super) sampler: Option<LlamaSampler>,
    /// The token generated last, for biases that depend on it.
    pub(super) last_token: Option<LlamaToken>,
    pub(super) generated: u32,
    pub(super) utf8: Utf8Assembler,
    pub(super) stop: StopMatcher,
}

impl Slot {
    /// The biases that apply at this step, given the last token (or none yet).
    pub(super) fn followup_biases(&self) -> Vec<FollowupBias> {
        self.job
            .followup_bias
            .iter()
            .filter(|b| b.previous == self.last_token)
            .copied()
            .collect()
    }

    pub(super) fn send(&self, event: GenerationEvent) {
        // A closed channel means the client left; the worker notices and frees the slot.
        let _ = self.job.events.send(Ok(event));
    }

    pub(super) fn usage(&self) -> Usage {
        Usage {
            prompt_tokens: u32::try_from(self.job.tokens.len()).unwrap_or(u32::MAX),
            completion_tokens: self.generated,
        }
    }

    /// Sends the text still held back, then `Finished`.
    pub(super) fn finish(&mut self, reason: FinishReason) {
        let mut tail = self.utf8.finish();
        let stopped = match self.stop.push(&tail) {
            StopScan::Continue(text) => {
                tail = text;
                false
            }
            StopScan::Stopped(text) => {
                tail = text;
                true
            }
        };
        if !stopped {
            tail.push_str(&self.stop.finish());
        }
        if !tail.is_empty() {
            self.send(GenerationEvent::Text(tail));
        }
        let reason = if stopped { FinishReason::Stop } else { reason };
        self.send(GenerationEvent::Finished {
            reason,
            usage: self.usage(),
        });
    }
}
