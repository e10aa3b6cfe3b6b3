//! The worker thread: owns the llama.cpp context and runs the step loop — take new jobs,
//! admit what fits, drop what was abandoned, make room for the step (preempting if the cache
//! is full), build one batch, decode it, sample every sequence, release the finished.

use llama_cpp_2::DecodeError;

use super::admission::clear_seq;
use super::queue::WaitQueue;
use super::sampler::{argmax, sample_with_bias, token_logprob};
use super::slot::Slot;
use super::*;

/// How many tokens a step may hold in all, `decoding` of them one per generating sequence:
/// the whole batch when nobody is generating (no one waits on the prompt), otherwise those
/// tokens and at most `prefill_chunk` prompt tokens, so each generating sequence's next token
/// comes after a bounded amount of prompt work.
pub(super) fn prompt_capacity(batch_size: usize, prefill_chunk: usize, decoding: usize) -> usize {
    if decoding == 0 {
        batch_size
    } else {
        batch_size.min(decoding + prefill_chunk)
    }
}

pub(super) struct Worker {
    pub(super) load: Arc<LoadCounters>,
    pub(super) n_vocab: i32,
    pub(super) slots: u32,
    pub(super) batch_size: u32,
    pub(super) prefill_chunk_tokens: u32,
    pub(super) context_size: u32,
    pub(super) prefix_cache: bool,
    pub(super) prefix_cache_tokens: Option<usize>,
    pub(super) stop_repetition: bool,
    /// Take the tokens a grammar forces without sampling them (see [`Slot::forced_tokens`]).
    pub(super) jump_forward: bool,
}

/// The worker's sequences between steps.
pub(super) struct Sequences {
    /// Sequence ids not serving a job, with the tokens whose KV each still holds.
    pub(super) free: Vec<FreeSeq<LlamaToken>>,
    pub(super) active: Vec<Slot>,
    pub(super) waiting: WaitQueue<Job>,
    /// The clock of kept caches: the least recently used is dropped first.
    pub(super) clock: u64,
    /// Admissions so far: the newest sequence is the one preempted.
    pub(super) admissions: u64,
}

impl Sequences {
    fn new(slots: u32) -> Self {
        Sequences {
            free: (0..slots as i32).map(FreeSeq::empty).collect(),
            active: Vec::new(),
            waiting: WaitQueue::default(),
            clock: 0,
            admissions: 0,
        }
    }

    fn enqueue(&mut self, jobs: Vec<Job>) {
        for job in jobs {
            if job.follow_up {
                self.waiting.push_follow_up(job);
            } else {
                let caller = job.caller.clone();
                self.waiting.push(&caller, job);
            }
        }
    }

    /// Cells the running sequences hold, or will once the tokens they know are computed.
    pub(super) fn active_cells(&self) -> usize {
        self.active.iter().map(|slot| slot.job.cells()).sum()
    }

    /// Cells the finished sequences keep for later prompts.
    pub(super) fn kept_cells(&self) -> usize {
        self.free.iter().map(|slot| slot.tokens.len()).sum()
    }
}

/// Where a slot stood before a batch was filled, to go back there when llama.cpp could not
/// place the batch.
struct Before {
    computed: usize,
    kv_len: usize,
    position: i32,
    next_input: Option<LlamaToken>,
    logits_at: Option<i32>,
}

impl Worker {
    pub(super) fn run(
        self,
        backend: &LlamaBackend,
        model: &LlamaModel,
        threads: i32,
        inbox: std_mpsc::Receiver<Vec<Job>>,
        ready: std_mpsc::Sender<Result<(), EngineError>>,
    ) {
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(self.context_size))
            .with_n_batch(self.batch_size)
            .with_n_ubatch(self.batch_size)
            .with_n_seq_max(self.slots)
            .with_kv_unified(true)
            .with_n_threads(threads)
            .with_n_threads_batch(threads);
        let mut ctx = match model.new_context(backend, params) {
            Ok(ctx) => ctx,
            Err(_) => {
                let _ = ready.send(Err(EngineError::ContextCreate {
                    n_ctx: self.context_size,
                }));
                return;
            }
        };
        if ready.send(Ok(())).is_err() {
            return;
        }
        let mut batch = LlamaBatch::new(self.batch_size as usize, 1);
        let mut seqs = Sequences::new(self.slots);
        let mut inbox_open = true;

        loop {
            // Take new work: block when idle, otherwise just look.
            if seqs.active.is_empty() && seqs.waiting.is_empty() {
                match inbox.recv() {
                    Ok(jobs) => seqs.enqueue(jobs),
                    Err(_) => return,
                }
            }
            while inbox_open {
                match inbox.try_recv() {
                    Ok(jobs) => seqs.enqueue(jobs),
                    Err(std_mpsc::TryRecvError::Empty) => break,
                    Err(std_mpsc::TryRecvError::Disconnected) => inbox_open = false,
                }
            }
            let now = Instant::now();
            seqs.waiting
                .retain(|job| !job.events.is_closed() && !job.expire(now, &self.load));
            self.admit_waiting(&mut ctx, &mut seqs);

            // Free the slots of clients that went away or ran out of time.
            let mut index = 0;
            while index < seqs.active.len() {
                let job = &seqs.active[index].job;
                if job.events.is_closed() || job.expire(now, &self.load) {
                    let slot = seqs.active.swap_remove(index);
                    self.release(&mut ctx, slot, &mut seqs);
                } else {
                    index += 1;
                }
            }
            self.load
                .waiting
                .store(seqs.waiting.len(), Ordering::Relaxed);
            self.load
                .running
                .store(seqs.active.len(), Ordering::Relaxed);
            if seqs.active.is_empty() {
                if !inbox_open && seqs.waiting.is_empty() {
                    return;
                }
                continue;
            }

            self.make_room(&mut ctx, &mut seqs);
            let before: Vec<Before> = seqs
                .active
                .iter()
                .map(|slot| Before {
                    computed: slot.computed,
                    kv_len: slot.kv_tokens.len(),
                    position: slot.position,
                    next_input: slot.next_input,
                    logits_at: slot.logits_at,
                })
                .collect();
            if let Err(err) = self.fill_batch(&mut batch, &mut seqs.active) {
                fail_all(&mut ctx, &mut seqs, &err);
                continue;
            }
            let step_started = Instant::now();
            // Empty when every running sequence starts from kept logits.
            let decode_result = if batch.n_tokens() == 0 {
                Ok(())
            } else {
                ctx.decode(&mut batch)
            };
            tracing::debug!(
                target: "fulcrum_engine::step",
                tokens = batch.n_tokens(),
                sampled = seqs.active.iter().filter(|s| s.logits_at.is_some()).count(),
                ms = step_started.elapsed().as_millis() as u64,
                "step"
            );
            match decode_result {
                Ok(()) => {}
                // The cells are counted, but llama.cpp found no place for this batch (the
                // cache is fragmented): nothing was computed; undo the batch, give back the
                // newest sequence's cells and try again.
                Err(DecodeError::NoKvCacheSlot) if seqs.active.len() > 1 => {
                    for (slot, before) in seqs.active.iter_mut().zip(before) {
                        slot.computed = before.computed;
                        slot.kv_tokens.truncate(before.kv_len);
                        slot.position = before.position;
                        slot.next_input = before.next_input;
                        slot.logits_at = before.logits_at;
                        slot.prompt_logits.clear();
                    }
                    self.preempt_newest(&mut ctx, &mut seqs);
                    continue;
                }
                Err(err) => {
                    let err = EngineError::Decode(err.to_string());
                    fail_all(&mut ctx, &mut seqs, &err);
                    continue;
                }
            }

            let vocab = model.vocab();
            for slot in seqs.active.iter_mut() {
                report_prompt_logprobs(&ctx, slot, &vocab);
            }
            let mut finished = Vec::new();
            for (index, slot) in seqs.active.iter_mut().enumerate() {
                let kept = slot.kept_logits.take();
                let at = slot.logits_at.take();
                let logits: &[f32] = match (&kept, at) {
                    (Some(kept), _) => kept,
                    (None, Some(at)) => ctx.get_logits_ith(at),
                    (None, None) => continue,
                };
                // The logits right after the prompt are kept with the cache, for the same
                // prompt again (see `prefix::PromptEndLogits`).
                if self.prefix_cache && kept.is_none() && slot.decoding.last_token.is_none() {
                    slot.prompt_end = Some(PromptEndLogits {
                        after: slot.kv_tokens.len(),
                        values: Arc::from(logits),
                    });
                }
                // Asked for nothing but the prompt (its log-probabilities, with `echo`).
                if slot.job.max_tokens == 0 {
                    slot.finish(FinishReason::Length);
                    finished.push(index);
                    continue;
                }
                let followup = slot.followup_biases();
                let instead = slot.refused_start_redirect(logits, &vocab);
                let token = match (slot.decoding.sampler.as_mut(), at) {
                    (Some(sampler), Some(at))
                        if kept.is_none() && followup.is_empty() && instead.is_none() =>
                    {
                        sampler.sample(&ctx, at)
                    }
                    (Some(sampler), _) => sample_with_bias(sampler, logits, &followup, instead),
                    (None, _) => argmax(logits),
                };
                if let Some(error) = slot.decoding.grammar_violation(token, &vocab) {
                    tracing::error!(
                        %error,
                        generated = slot.decoding.generated,
                        "the grammar could not be enforced: the generation is ended, not continued unconstrained"
                    );
                    let _ = slot.job.events.send(Err(EngineError::Stopped(format!(
                        "the output's grammar could not be enforced ({error}); nothing unconstrained was returned: retry the request"
                    ))));
                    finished.push(index);
                    continue;
                }
                if instead.is_some_and(|r| token == r.instead && token != r.first_choice) {
                    slot.decoding.redirected_start = true;
                }
                if let Some(top) = slot.job.logprobs {
                    let mut entry = token_logprob(logits, token, top, &vocab);
                    // The end-of-text token that ends a generation is no text of it.
                    if vocab.is_eog(token) && !slot.job.ignore_eos {
                        entry.bytes.clear();
                        entry.end_of_text = true;
                    }
                    slot.send_logprobs(LogprobEvent::Generated(entry));
                }
                if slot.accept(token, &vocab) {
                    finished.push(index);
                    continue;
                }
                if self.jump_forward {
                    let forced = slot.forced_tokens(&vocab);
                    // Counted before their text goes out, so a reader after it finds them.
                    self.load
                        .forced_tokens
                        .fetch_add(forced.len() as u64, Ordering::Relaxed);
                    if slot.take_forced(&forced, &vocab) {
                        finished.push(index);
                    }
                }
            }
            for index in finished.into_iter().rev() {
                let slot = seqs.active.swap_remove(index);
                self.release(&mut ctx, slot, &mut seqs);
            }
            self.load
                .running
                .store(seqs.active.len(), Ordering::Relaxed);
        }
    }

    /// One token for each generating sequence, then the tokens still to compute (a prompt, or
    /// a resumed job's prompt and output) in chunks: the whole batch when nobody is
    /// generating, at most `prefill_chunk_tokens` beside those who are.
    pub(super) fn fill_batch(
        &self,
        batch: &mut LlamaBatch,
        active: &mut [Slot],
    ) -> Result<(), EngineError> {
        batch.clear();
        let add_error =
            |err: llama_cpp_2::llama_batch::BatchAddError| EngineError::Decode(err.to_string());
        let mut used = 0usize;
        for slot in active.iter_mut() {
            if let Some(token) = slot.next_input.take() {
                batch
                    .add(token, slot.position, &[slot.seq], true)
                    .map_err(add_error)?;
                slot.kv_tokens.push(token);
                slot.computed += 1;
                slot.logits_at = Some(used as i32);
                slot.position += 1;
                used += 1;
            }
        }
        let capacity = prompt_capacity(
            self.batch_size as usize,
            self.prefill_chunk_tokens as usize,
            used,
        );
        // Tokens a generation has taken but not computed (forced by its grammar) before
        // prompts: they are that sequence's next step.
        let mut order: Vec<usize> = (0..active.len()).collect();
        order.sort_by_key(|&i| active[i].decoding.last_token.is_none());
        for index in order {
            let slot = &mut active[index];
            let remaining = slot.job.tokens.len() - slot.computed;
            if remaining == 0 || used >= capacity {
                continue;
            }
            let mut take = remaining.min(capacity - used);
            if slot.job.prompt_logprobs.is_some() {
                // Every position's logits are kept (a vocabulary's worth of floats each).
                take = take.min(PROMPT_LOGPROB_CHUNK);
            }
            let end = slot.computed + take;
            for i in slot.computed..end {
                let last = i + 1 == slot.job.tokens.len();
                let for_logprob = slot.wants_prompt_logits(i);
                batch
                    .add(
                        slot.job.tokens[i],
                        slot.position,
                        &[slot.seq],
                        last || for_logprob,
                    )
                    .map_err(add_error)?;
                if last {
                    slot.logits_at = Some(used as i32);
                }
                if for_logprob {
                    slot.prompt_logits.push((used as i32, i));
                }
                slot.position += 1;
                used += 1;
            }
            slot.kv_tokens
                .extend_from_slice(&slot.job.tokens[slot.computed..end]);
            slot.computed = end;
        }
        Ok(())
    }

    /// Frees a finished or abandoned sequence, keeping its KV for a later prompt that shares
    /// it (unless the prefix cache is off).
    pub(super) fn release(&self, ctx: &mut LlamaContext<'_>, slot: Slot, seqs: &mut Sequences) {
        seqs.clock += 1;
        let mut free = FreeSeq {
            seq: slot.seq,
            tokens: slot.kv_tokens,
            last_used: seqs.clock,
            prompt_end: slot.prompt_end,
        };
        if !self.prefix_cache {
            clear_seq(ctx, slot.seq);
            free.clear();
        }
        seqs.free.push(free);
        if let Some(budget) = self.prefix_cache_tokens {
            for index in prefix::over_budget(&seqs.free, budget) {
                clear_seq(ctx, seqs.free[index].seq);
                seqs.free[index].clear();
            }
        }
    }
}

/// Prompt positions computed with logits per step for a request that asked for the prompt's
/// log-probabilities: llama.cpp keeps a vocabulary's worth of floats for each (152k for Qwen).
const PROMPT_LOGPROB_CHUNK: usize = 64;

/// Reads the log-probabilities of the prompt tokens the last batch computed logits for, and
/// sends them all once the whole prompt is covered.
fn report_prompt_logprobs(
    ctx: &LlamaContext<'_>,
    slot: &mut Slot,
    vocab: &llama_cpp_2::vocab::LlamaVocab<'_>,
) {
    let Some(top) = slot.job.prompt_logprobs else {
        return;
    };
    for (at, index) in std::mem::take(&mut slot.prompt_logits) {
        if index != slot.job.prompt_logprob_acc.len() {
            continue;
        }
        let next = slot.job.tokens[index + 1];
        let entry = token_logprob(ctx.get_logits_ith(at), next, top, vocab);
        slot.job.prompt_logprob_acc.push(entry);
    }
    if slot.job.prompt_logprob_acc.len() + 1 >= slot.job.prompt_len {
        let rest = std::mem::take(&mut slot.job.prompt_logprob_acc);
        let first = slot.job.tokens[0];
        let first = PromptStart {
            token: u32::try_from(first.0).unwrap_or(0),
            bytes: vocab.token_to_piece(first, true, None),
        };
        slot.send_logprobs(LogprobEvent::Prompt { first, rest });
        slot.job.prompt_logprobs = None;
    }
}

/// Ends every running request with `err` (a failed decode): what the failed batch left in
/// the cache is unknown, so none of it is kept.
pub(super) fn fail_all(ctx: &mut LlamaContext<'_>, seqs: &mut Sequences, err: &EngineError) {
    tracing::error!(%err, sequences = seqs.active.len(), "decode failed; ending the affected requests");
    for slot in seqs.active.drain(..) {
        let _ = slot.job.events.send(Err(err.clone()));
        clear_seq(ctx, slot.seq);
        seqs.free.push(FreeSeq::empty(slot.seq));
    }
}
