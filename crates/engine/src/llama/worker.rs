//! The worker thread: owns the llama.cpp context and runs the step loop — take new jobs,
//! admit what fits, drop what was abandoned, build one batch, decode it, sample every
//! sequence, release the finished.

use super::admission::clear_seq;
use super::sampler::{argmax, sample_with_bias};
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
}

impl Worker {
    pub(super) fn run(
        self,
        backend: &LlamaBackend,
        model: &LlamaModel,
        threads: i32,
        inbox: std_mpsc::Receiver<Job>,
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
        let mut free: Vec<FreeSeq<LlamaToken>> = (0..self.slots as i32)
            .map(|seq| FreeSeq {
                seq,
                tokens: Vec::new(),
                last_used: 0,
            })
            .collect();
        let mut clock = 0u64;
        let mut active: Vec<Slot> = Vec::new();
        let mut waiting: VecDeque<Job> = VecDeque::new();
        let mut reserved = 0usize;
        let mut inbox_open = true;

        loop {
            // Take new work: block when idle, otherwise just look.
            if active.is_empty() && waiting.is_empty() {
                match inbox.recv() {
                    Ok(job) => waiting.push_back(job),
                    Err(_) => return,
                }
            }
            while inbox_open {
                match inbox.try_recv() {
                    Ok(job) => waiting.push_back(job),
                    Err(std_mpsc::TryRecvError::Empty) => break,
                    Err(std_mpsc::TryRecvError::Disconnected) => inbox_open = false,
                }
            }
            let now = Instant::now();
            waiting.retain(|job| !job.events.is_closed() && !job.expire(now, &self.load));
            while let Some(job) = waiting.front() {
                let running: Vec<(i32, &[LlamaToken])> = active
                    .iter()
                    .map(|slot| (slot.seq, slot.kv_tokens.as_slice()))
                    .collect();
                let room = (self.context_size as usize).saturating_sub(reserved);
                // With the cache off nothing is reused, not even a running sequence's prefix;
                // a seeded request asks for reproducible sampling, which only a whole
                // computation gives (cached runs round differently, see `prefix`).
                let may_reuse = self.prefix_cache && job.sampling.seed.is_none();
                let reservation = job.reservation();
                let Some(plan) =
                    prefix::plan(&job.tokens, may_reuse, reservation, room, &free, &running)
                else {
                    break;
                };
                let Some(job) = waiting.pop_front() else {
                    break;
                };
                let slot = self.admit(&mut ctx, job, plan, &mut free);
                reserved += slot.job.reservation();
                active.push(slot);
            }

            // Free the slots of clients that went away or ran out of time.
            let mut index = 0;
            while index < active.len() {
                let job = &active[index].job;
                if job.events.is_closed() || job.expire(now, &self.load) {
                    let slot = active.swap_remove(index);
                    self.release(&mut ctx, slot, &mut free, &mut reserved, &mut clock);
                } else {
                    index += 1;
                }
            }
            self.load.waiting.store(waiting.len(), Ordering::Relaxed);
            self.load.running.store(active.len(), Ordering::Relaxed);
            if active.is_empty() {
                if !inbox_open && waiting.is_empty() {
                    return;
                }
                continue;
            }

            if let Err(err) = self.fill_batch(&mut batch, &mut active) {
                fail_all(&mut ctx, &mut active, &mut free, &mut reserved, &err);
                continue;
            }
            let step_started = Instant::now();
            let decode_result = ctx.decode(&mut batch);
            tracing::debug!(
                target: "fulcrum_engine::step",
                tokens = batch.n_tokens(),
                sampled = active.iter().filter(|s| s.logits_at.is_some()).count(),
                ms = step_started.elapsed().as_millis() as u64,
                "step"
            );
            if let Err(err) = decode_result {
                let err = EngineError::Decode(err.to_string());
                fail_all(&mut ctx, &mut active, &mut free, &mut reserved, &err);
                continue;
            }

            let vocab = model.vocab();
            let mut finished = Vec::new();
            for (index, slot) in active.iter_mut().enumerate() {
                let Some(at) = slot.logits_at.take() else {
                    continue;
                };
                let followup = slot.followup_biases();
                let token = match slot.sampler.as_mut() {
                    Some(sampler) if !followup.is_empty() => {
                        sample_with_bias(sampler, &ctx, at, &followup)
                    }
                    Some(sampler) => sampler.sample(&ctx, at),
                    None => argmax(ctx.get_logits_ith(at)),
                };
                slot.last_token = Some(token);
                if vocab.is_eog(token) && !slot.job.ignore_eos {
                    slot.finish(FinishReason::Stop);
                    finished.push(index);
                    continue;
                }
                slot.generated += 1;
                let piece = vocab.token_to_piece(token, false, None);
                let text = slot.utf8.push(&piece);
                match slot.stop.push(&text) {
                    StopScan::Continue(text) => {
                        if !text.is_empty() {
                            slot.send(GenerationEvent::Text(text));
                        }
                    }
                    StopScan::Stopped(text) => {
                        if !text.is_empty() {
                            slot.send(GenerationEvent::Text(text));
                        }
                        slot.send(GenerationEvent::Finished {
                            reason: FinishReason::Stop,
                            usage: slot.usage(),
                        });
                        finished.push(index);
                        continue;
                    }
                }
                if slot.generated >= slot.job.max_tokens {
                    slot.finish(FinishReason::Length);
                    finished.push(index);
                    continue;
                }
                slot.next_input = Some(token);
            }
            for index in finished.into_iter().rev() {
                let slot = active.swap_remove(index);
                self.release(&mut ctx, slot, &mut free, &mut reserved, &mut clock);
            }
            self.load.running.store(active.len(), Ordering::Relaxed);
        }
    }

    /// One token for each generating sequence, then prompt chunks in arrival order: the whole
    /// batch when nobody is generating, at most `prefill_chunk_tokens` beside those who are.
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
        for slot in active.iter_mut() {
            let remaining = slot.job.tokens.len() - slot.prompt_done;
            if remaining == 0 || used >= capacity {
                continue;
            }
            let take = remaining.min(capacity - used);
            let end = slot.prompt_done + take;
            for i in slot.prompt_done..end {
                let last = i + 1 == slot.job.tokens.len();
                batch
                    .add(slot.job.tokens[i], slot.position, &[slot.seq], last)
                    .map_err(add_error)?;
                if last {
                    slot.logits_at = Some(used as i32);
                }
                slot.position += 1;
                used += 1;
            }
            slot.kv_tokens
                .extend_from_slice(&slot.job.tokens[slot.prompt_done..end]);
            slot.prompt_done = end;
        }
        Ok(())
    }

    /// Frees a finished or abandoned sequence, keeping its KV for a later prompt that shares
    /// it (unless the prefix cache is off).
    pub(super) fn release(
        &self,
        ctx: &mut LlamaContext<'_>,
        slot: Slot,
        free: &mut Vec<FreeSeq<LlamaToken>>,
        reserved: &mut usize,
        clock: &mut u64,
    ) {
        *clock += 1;
        *reserved = reserved.saturating_sub(slot.job.reservation());
        let mut tokens = slot.kv_tokens;
        if !self.prefix_cache {
            clear_seq(ctx, slot.seq);
            tokens.clear();
        }
        free.push(FreeSeq {
            seq: slot.seq,
            tokens,
            last_used: *clock,
        });
        if let Some(budget) = self.prefix_cache_tokens {
            for index in prefix::over_budget(free, budget) {
                clear_seq(ctx, free[index].seq);
                free[index].tokens.clear();
            }
        }
    }
}

pub(super) fn fail_all(
    ctx: &mut LlamaContext<'_>,
    active: &mut Vec<Slot>,
    free: &mut Vec<FreeSeq<LlamaToken>>,
    reserved: &mut usize,
    err: &EngineError,
) {
    tracing::error!(%err, sequences = active.len(), "decode failed; ending the affected requests");
    for slot in active.drain(..) {
        let _ = slot.job.events.send(Err(err.clone()));
        // What the failed batch left in the cache is unknown: keep nothing of it.
        clear_seq(ctx, slot.seq);
        *reserved = reserved.saturating_sub(slot.job.reservation());
        free.push(FreeSeq {
            seq: slot.seq,
            tokens: Vec::new(),
            last_used: 0,
        });
    }
}
