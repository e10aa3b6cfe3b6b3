//! A request in the worker: the job as it was handed over (tokens, sampling, limits, its
//! channel), what its generation has produced so far (which survives a preemption), and, once
//! admitted, the sequence that serves it.

use llama_cpp_2::vocab::LlamaVocab;

use super::*;

/// A request handed to the worker, already tokenized and checked.
pub(super) struct Job {
    /// The prompt's tokens, then every token generated so far: what a (re)admitted sequence
    /// computes.
    pub(super) tokens: Vec<LlamaToken>,
    /// How many of `tokens` are the prompt.
    pub(super) prompt_len: usize,
    /// Whose request it is: waiting jobs are served in turn across callers.
    pub(super) caller: String,
    /// A further generation of a request already served (see [`GenerationRequest::follow_up`]).
    pub(super) follow_up: bool,
    pub(super) sampling: SamplingParams,
    pub(super) max_tokens: u32,
    pub(super) stop: Vec<String>,
    pub(super) ignore_eos: bool,
    /// The request lets the engine's loop check watch it.
    pub(super) loop_check: bool,
    pub(super) grammar: Option<llguidance::Matcher>,
    pub(super) logit_bias: Vec<LlamaLogitBias>,
    pub(super) followup_bias: Vec<FollowupBias>,
    /// Generated at the first step instead of a first choice the grammar refuses that opens
    /// with one of these texts.
    pub(super) instead_of_refused_start: Option<(LlamaToken, Vec<String>)>,
    pub(super) events: mpsc::UnboundedSender<Result<GenerationEvent, EngineError>>,
    /// Where log-probabilities go, when the request asked for them.
    pub(super) logprob_events: Option<mpsc::UnboundedSender<LogprobEvent>>,
    /// Alternatives reported with each generated token's log-probability; `None`: none reported.
    pub(super) logprobs: Option<u32>,
    /// Alternatives reported with each prompt token's log-probability, while they are still
    /// to be reported; `None` once sent (or never asked).
    pub(super) prompt_logprobs: Option<u32>,
    /// The prompt's log-probabilities computed so far (entry `i` is token `i + 1`'s): kept
    /// across a preemption, so that a resumed prompt reports only what is missing.
    pub(super) prompt_logprob_acc: Vec<TokenLogprob>,
    pub(super) queued_at: Instant,
    /// When the request's time limit runs out, and that limit (for the error).
    pub(super) deadline: Option<(Instant, std::time::Duration)>,
    /// Set at its first admission; kept while it waits after a preemption.
    pub(super) decoding: Option<Decoding>,
    /// How long it waited for its first admission.
    pub(super) waited: Option<std::time::Duration>,
}

/// What a job's generation has produced so far, beyond its tokens: the sampler (with the
/// grammar's state), the text held back, the count. A preempted job keeps it, so the client
/// sees one continuous stream.
pub(super) struct Decoding {
    /// `None` for plain greedy decoding, which takes the arg-max of the logits directly:
    /// llama.cpp's sampler copies the whole vocabulary (152k entries for Qwen) every token.
    pub(super) sampler: Option<LlamaSampler>,
    /// The token generated last, for biases that depend on it.
    pub(super) last_token: Option<LlamaToken>,
    pub(super) generated: u32,
    /// The first token was taken instead of a refused first choice (see
    /// [`Slot::refused_start_redirect`]).
    pub(super) redirected_start: bool,
    pub(super) utf8: Utf8Assembler,
    pub(super) stop: StopMatcher,
    /// Watches the text for a loop; `None` when the engine lets loops run.
    pub(super) repetition: Option<RepetitionGuard>,
    /// A copy of the grammar's matcher that follows the tokens taken. The sampler's own
    /// (inside llama-cpp-2) leaves the logits unmasked when its matcher errs, silently; this
    /// one notices, so a generation the grammar no longer constrains is ended, not returned.
    pub(super) grammar_check: Option<llguidance::Matcher>,
}

impl Decoding {
    /// Why `token` breaks the grammar this generation is under, if it does (or the grammar
    /// could no longer be followed at all).
    pub(super) fn grammar_violation(
        &mut self,
        token: LlamaToken,
        vocab: &LlamaVocab<'_>,
    ) -> Option<String> {
        let check = self.grammar_check.as_mut()?;
        if let Some(error) = check.get_error() {
            return Some(error);
        }
        // A grammar that is complete allows only the end of the turn, which ends generation.
        if check.is_stopped() || (vocab.is_eog(token) && check.is_accepting().unwrap_or(false)) {
            return None;
        }
        check
            .consume_token(token.0.cast_unsigned())
            .err()
            .map(|err| err.to_string())
            .or_else(|| check.get_error())
    }
}

/// A first token to replace, should the grammar refuse it, and its replacement.
#[derive(Debug, Clone, Copy)]
pub(super) struct RefusedStartRedirect {
    pub(super) first_choice: LlamaToken,
    pub(super) instead: LlamaToken,
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
    /// KV cells the job needs once all its known tokens are computed.
    pub(super) fn cells(&self) -> usize {
        self.tokens.len()
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
    pub(super) decoding: Decoding,
    /// Tokens of `job.tokens` already in the KV cache.
    pub(super) computed: usize,
    /// Every token whose KV this sequence holds, in order: what a later prompt can reuse.
    pub(super) kv_tokens: Vec<LlamaToken>,
    /// Position of the next token in the sequence.
    pub(super) position: i32,
    /// The token to feed next while generating.
    pub(super) next_input: Option<LlamaToken>,
    /// Where this sequence's logits are in the last decoded batch.
    pub(super) logits_at: Option<i32>,
    /// Logits to sample from at the next step instead of a batch's: those its prompt was
    /// followed by when all of it was reused from a kept cache.
    pub(super) kept_logits: Option<Arc<[f32]>>,
    /// The logits that followed its prompt, kept with its cache when it is released.
    pub(super) prompt_end: Option<PromptEndLogits>,
    /// Prompt positions whose logits the last batch computed for their log-probabilities:
    /// (index in the batch, index of the token in the prompt).
    pub(super) prompt_logits: Vec<(i32, usize)>,
    /// The worker's admission count when it was admitted: the newest is preempted first.
    pub(super) admitted: u64,
}

impl Slot {
    /// At the first step of a job that asked for it: the token to generate instead of the
    /// model's own first choice (read from `logits`), with that choice, when its text opens as
    /// one of the job's openers do. Whether the grammar refuses it is for the sampler to tell.
    pub(super) fn refused_start_redirect(
        &self,
        logits: &[f32],
        vocab: &LlamaVocab<'_>,
    ) -> Option<RefusedStartRedirect> {
        if self.decoding.last_token.is_some() {
            return None;
        }
        let (instead, openers) = self.job.instead_of_refused_start.as_ref()?;
        let first_choice = sampler::argmax(logits);
        let piece = vocab.token_to_piece(first_choice, true, None);
        let text = String::from_utf8_lossy(&piece);
        let text = text.trim_start();
        openers
            .iter()
            .any(|opener| text.starts_with(opener.as_str()))
            .then_some(RefusedStartRedirect {
                instead: *instead,
                first_choice,
            })
    }

    /// The biases that apply at this step, given the last token (or none yet).
    pub(super) fn followup_biases(&self) -> Vec<FollowupBias> {
        self.job
            .followup_bias
            .iter()
            .filter(|b| b.previous == self.decoding.last_token)
            .copied()
            .collect()
    }

    pub(super) fn send(&self, event: GenerationEvent) {
        // A closed channel means the client left; the worker notices and frees the slot.
        let _ = self.job.events.send(Ok(event));
    }

    pub(super) fn send_logprobs(&self, event: LogprobEvent) {
        if let Some(events) = &self.job.logprob_events {
            let _ = events.send(event);
        }
    }

    /// Whether the prompt position `index` (predicting token `index + 1`) still needs its
    /// logits for a reported log-probability.
    pub(super) fn wants_prompt_logits(&self, index: usize) -> bool {
        self.job.prompt_logprobs.is_some()
            && index + 1 < self.job.prompt_len
            && index >= self.job.prompt_logprob_acc.len()
    }

    pub(super) fn usage(&self) -> Usage {
        Usage {
            prompt_tokens: u32::try_from(self.job.prompt_len).unwrap_or(u32::MAX),
            completion_tokens: self.decoding.generated,
            queue_wait: self.job.waited.unwrap_or_default(),
            redirected_start: self.decoding.redirected_start,
        }
    }

    /// Takes the sampled `token`: counts it, sends the text it completes, and says how the
    /// generation ends (true) if it does. Otherwise the token is fed at the next step.
    pub(super) fn accept(&mut self, token: LlamaToken, vocab: &LlamaVocab<'_>) -> bool {
        self.decoding.last_token = Some(token);
        if vocab.is_eog(token) && !self.job.ignore_eos {
            self.finish(FinishReason::Stop);
            return true;
        }
        if self.emit(token, vocab) {
            return true;
        }
        self.job.tokens.push(token);
        self.next_input = Some(token);
        false
    }

    /// The tokens the grammar forces after the last one taken (jump-forward decoding), taken
    /// from the grammar and the sampler: the model could pick nothing else, so they are not
    /// sampled one step each but computed with the next step's batch, beside the token
    /// sampled last ([`Slot::take_forced`] gives them out). The forced text is tokenized as the
    /// model's tokenizer writes it after that token (see [`tokenize_after`]), less its last
    /// token, which may be the start of a longer one that the free text after it completes;
    /// no more than the token limit leaves. None for a request that reports each token's
    /// log-probability.
    pub(super) fn forced_tokens(&mut self, vocab: &LlamaVocab<'_>) -> Vec<LlamaToken> {
        if self.job.logprobs.is_some() {
            return Vec::new();
        }
        let Some(check) = self.decoding.grammar_check.as_mut() else {
            return Vec::new();
        };
        let forced_text = check.compute_ff_bytes();
        if forced_text.is_empty() {
            return Vec::new();
        }
        let mut forced = tokenize_after(self.decoding.last_token, &forced_text, vocab);
        forced.pop();
        if let Some(end) = forced.iter().position(|token| vocab.is_eog(*token)) {
            forced.truncate(end);
        }
        let left = self.job.max_tokens.saturating_sub(self.decoding.generated);
        forced.truncate(usize::try_from(left).unwrap_or(usize::MAX));
        let ids: Vec<u32> = forced.iter().map(|token| token.0.cast_unsigned()).collect();
        // Checked token by token: only what the grammar accepts is taken (a tokenization the
        // grammar reads otherwise stops the run there).
        let accepted = check.try_consume_tokens(&ids).unwrap_or(0);
        forced.truncate(accepted);
        if let Some(sampler) = self.decoding.sampler.as_mut() {
            for token in &forced {
                sampler.accept(*token);
            }
        }
        forced
    }

    /// Takes `forced` (from [`Slot::forced_tokens`]) as generated: counted, their text sent;
    /// they are computed together with the token sampled before them at the next step. Says
    /// whether the generation ended among them (a stop sequence, a loop, the token limit).
    pub(super) fn take_forced(&mut self, forced: &[LlamaToken], vocab: &LlamaVocab<'_>) -> bool {
        if forced.is_empty() {
            return false;
        }
        self.next_input = None;
        for token in forced {
            self.decoding.last_token = Some(*token);
            if self.emit(*token, vocab) {
                return true;
            }
            self.job.tokens.push(*token);
        }
        false
    }

    /// Counts `token` as generated and sends the text it completes; says whether the
    /// generation ended with it (a stop sequence, a loop, the token limit).
    fn emit(&mut self, token: LlamaToken, vocab: &LlamaVocab<'_>) -> bool {
        self.decoding.generated += 1;
        let piece = vocab.token_to_piece(token, false, None);
        let text = self.decoding.utf8.push(&piece);
        match self.decoding.stop.push(&text) {
            StopScan::Continue(text) => {
                let looping = self
                    .decoding
                    .repetition
                    .as_mut()
                    .is_some_and(|guard| guard.push(&text));
                if !text.is_empty() {
                    self.send(GenerationEvent::Text(text));
                }
                if looping {
                    tracing::info!(
                        tokens = self.decoding.generated,
                        "a generation repeating itself was stopped"
                    );
                    self.finish(FinishReason::Stop);
                    return true;
                }
            }
            StopScan::Stopped(text) => {
                if !text.is_empty() {
                    self.send(GenerationEvent::Text(text));
                }
                self.send(GenerationEvent::Finished {
                    reason: FinishReason::Stop,
                    usage: self.usage(),
                });
                return true;
            }
        }
        if self.decoding.generated >= self.job.max_tokens {
            self.finish(FinishReason::Length);
            return true;
        }
        false
    }

    /// Sends the text still held back, then `Finished`.
    pub(super) fn finish(&mut self, reason: FinishReason) {
        let mut tail = self.decoding.utf8.finish();
        let stopped = match self.decoding.stop.push(&tail) {
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
            tail.push_str(&self.decoding.stop.finish());
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

    /// Gives the job back with what it has generated, for a later admission.
    pub(super) fn into_waiting(self) -> Job {
        let mut job = self.job;
        job.decoding = Some(self.decoding);
        job
    }
}

/// `text`'s tokens as the tokenizer writes them right after `previous`: the two are tokenized
/// together (a tokenizer splits text by what precedes it, and the model was trained on whole
/// answers so split), and `previous` taken off the front when it stands there unchanged;
/// otherwise `text` is tokenized alone.
fn tokenize_after(
    previous: Option<LlamaToken>,
    text: &[u8],
    vocab: &LlamaVocab<'_>,
) -> Vec<LlamaToken> {
    if let Some(previous) = previous {
        let mut joined = vocab.token_to_piece(previous, true, None);
        joined.extend_from_slice(text);
        let tokens = vocab.tokenize(&joined, false, true);
        if tokens.first() == Some(&previous) {
            return tokens[1..].to_vec();
        }
    }
    vocab.tokenize(text, false, true)
}
