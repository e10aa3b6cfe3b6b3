//! Admission and preemption: which waiting job gets a sequence, and how much of its prompt's
//! KV it can take over from another sequence (the prefix cache, planned by `prefix`); and,
//! when the running sequences' growth fills the cache, which one gives its cells back.
//!
//! A job is admitted by what it uses, not by what it might: its known tokens (prompt, and
//! output when it resumes) plus a small headroom must fit beside the running sequences. They
//! then take cells as they generate; when the cache is full, kept caches of finished
//! sequences go first, then the most recently admitted sequence is preempted, as vLLM does: it
//! gives back its cells and waits at the front of the queue with its output kept, computed
//! again when it resumes, so its client sees one continuous stream.

use super::sampler::build_sampler;
use super::slot::{Decoding, Slot};
use super::worker::Sequences;
use super::*;

impl Worker {
    /// Cells kept free beyond a job's own at its admission, so that the sequences running
    /// beside it can grow a few steps before anyone is preempted.
    fn headroom(&self) -> usize {
        (self.context_size as usize / 100).max(32)
    }

    /// Admits waiting jobs in their turn while each fits; stops at the first that does not.
    pub(super) fn admit_waiting(&self, ctx: &mut LlamaContext<'_>, seqs: &mut Sequences) {
        while let Some(job) = seqs.waiting.front() {
            let running: Vec<(i32, &[LlamaToken])> = seqs
                .active
                .iter()
                .map(|slot| (slot.seq, slot.kv_tokens.as_slice()))
                .collect();
            let room = (self.context_size as usize).saturating_sub(seqs.active_cells());
            // With the cache off nothing is reused, not even a running sequence's prefix;
            // a seeded request asks for reproducible sampling, which only a whole
            // computation gives (cached runs round differently, see `prefix`).
            // A prompt whose log-probabilities are asked for computes every position's logits.
            let may_reuse =
                self.prefix_cache && job.sampling.seed.is_none() && job.prompt_logprobs.is_none();
            // Alone, a job needs only its own cells (its output is capped by the context);
            // beside others, the headroom too.
            let headroom = if seqs.active.is_empty() {
                0
            } else {
                self.headroom()
            };
            let need = job.cells() + headroom;
            let Some(plan) = prefix::plan(&job.tokens, may_reuse, need, room, &seqs.free, &running)
            else {
                break;
            };
            let Some(job) = seqs.waiting.pop() else {
                break;
            };
            seqs.admissions += 1;
            let slot = self.admit(ctx, job, plan, &mut seqs.free, seqs.admissions);
            seqs.active.push(slot);
        }
    }

    /// Makes the cells the running sequences will hold after this step fit in the cache:
    /// kept caches are cleared first (least recently used first), then the newest sequences
    /// are preempted. One sequence alone always fits (its output is capped by the context).
    pub(super) fn make_room(&self, ctx: &mut LlamaContext<'_>, seqs: &mut Sequences) {
        let context = self.context_size as usize;
        while seqs.active_cells() + seqs.kept_cells() > context {
            let oldest_kept = (0..seqs.free.len())
                .filter(|&index| !seqs.free[index].tokens.is_empty())
                .min_by_key(|&index| seqs.free[index].last_used);
            if let Some(index) = oldest_kept {
                clear_seq(ctx, seqs.free[index].seq);
                seqs.free[index].clear();
            } else if seqs.active.len() > 1 {
                self.preempt_newest(ctx, seqs);
            } else {
                break;
            }
        }
    }

    /// The most recently admitted sequence gives back its cells; its job waits at the front
    /// of the queue with what it has generated.
    pub(super) fn preempt_newest(&self, ctx: &mut LlamaContext<'_>, seqs: &mut Sequences) {
        let Some(index) = (0..seqs.active.len()).max_by_key(|&index| seqs.active[index].admitted)
        else {
            return;
        };
        let slot = seqs.active.swap_remove(index);
        clear_seq(ctx, slot.seq);
        seqs.free.push(FreeSeq::empty(slot.seq));
        self.load.preempted.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(
            target: "fulcrum_engine::step",
            seq = slot.seq,
            tokens = slot.job.cells(),
            "preempted: the KV cache is full"
        );
        seqs.waiting.push_resumed(slot.into_waiting());
    }

    /// Gives `job` the slot `plan` chose, with the planned prefix of its KV already in place.
    pub(super) fn admit(
        &self,
        ctx: &mut LlamaContext<'_>,
        mut job: Job,
        plan: ReusePlan,
        free: &mut Vec<FreeSeq<LlamaToken>>,
        admitted: u64,
    ) -> Slot {
        for &index in &plan.evict {
            clear_seq(ctx, free[index].seq);
            free[index].clear();
        }
        // Reused whole, the prompt's first token comes from the logits its holder kept.
        let prompt_end = (plan.reuse == job.tokens.len())
            .then(|| {
                let holder = match plan.source {
                    Some(source) => free.iter().find(|slot| slot.seq == source),
                    None => free.get(plan.target),
                };
                holder.and_then(|slot| slot.prompt_end.clone())
            })
            .flatten()
            .filter(|end| end.after == job.tokens.len());
        let target = free.swap_remove(plan.target);
        let seq = target.seq;
        let mut reuse = plan.reuse;
        let kept = match plan.source {
            Some(source) => {
                clear_seq(ctx, seq);
                let end = u32::try_from(reuse).ok();
                ctx.copy_kv_cache_seq(source, seq, None, end).is_ok()
            }
            // Drop what follows the shared prefix (all of it when nothing is shared); a model
            // whose cache cannot be cut (recurrent) starts from scratch.
            None => {
                let from = u32::try_from(reuse).ok();
                reuse > 0
                    && matches!(
                        ctx.clear_kv_cache_seq(u32::try_from(seq).ok(), from, None),
                        Ok(true)
                    )
            }
        };
        let prompt_end = if kept {
            prompt_end
        } else {
            clear_seq(ctx, seq);
            reuse = 0;
            None
        };
        // Nothing left to compute and no kept logits to start from (cannot happen by the
        // plan, but a sequence must have logits to sample): compute the last token again.
        if reuse > 0 && reuse == job.tokens.len() && prompt_end.is_none() {
            reuse -= 1;
            let from = u32::try_from(reuse).ok();
            let _ = ctx.clear_kv_cache_seq(u32::try_from(seq).ok(), from, None);
        }
        // A resumed job was counted when it was first admitted.
        let decoding = match job.decoding.take() {
            Some(decoding) => decoding,
            None => {
                self.load
                    .prompt_tokens
                    .fetch_add(job.tokens.len() as u64, Ordering::Relaxed);
                self.load.admitted.fetch_add(1, Ordering::Relaxed);
                let waited = job.queued_at.elapsed();
                job.waited = Some(waited);
                self.load.queue_wait_micros.fetch_add(
                    u64::try_from(waited.as_micros()).unwrap_or(u64::MAX),
                    Ordering::Relaxed,
                );
                let grammar_check = job.grammar.as_ref().map(llguidance::Matcher::deep_clone);
                Decoding {
                    grammar_check,
                    sampler: build_sampler(
                        &job.sampling,
                        job.grammar.take(),
                        &job.logit_bias,
                        !job.followup_bias.is_empty() || job.instead_of_refused_start.is_some(),
                        self.n_vocab,
                    ),
                    last_token: None,
                    generated: 0,
                    redirected_start: false,
                    utf8: Utf8Assembler::default(),
                    stop: StopMatcher::new(job.stop.clone()),
                    repetition: (self.stop_repetition && job.loop_check)
                        .then(RepetitionGuard::default),
                }
            }
        };
        if reuse > 0 {
            self.load
                .reused_tokens
                .fetch_add(reuse as u64, Ordering::Relaxed);
            self.load.prefix_hits.fetch_add(1, Ordering::Relaxed);
        }
        let position = i32::try_from(reuse).unwrap_or(i32::MAX);
        Slot {
            seq,
            decoding,
            kv_tokens: job.tokens[..reuse].to_vec(),
            job,
            computed: reuse,
            position,
            next_input: None,
            logits_at: None,
            kept_logits: prompt_end.as_ref().map(|end| Arc::clone(&end.values)),
            prompt_end,
            prompt_logits: Vec::new(),
            admitted,
        }
    }
}

pub(super) fn clear_seq(ctx: &mut LlamaContext<'_>, seq: i32) {
    // Sequence ids are below `slots`, so the conversion cannot fail.
    let _ = ctx.clear_kv_cache_seq(u32::try_from(seq).ok(), None, None);
}
