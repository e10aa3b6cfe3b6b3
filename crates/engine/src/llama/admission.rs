//! Admission: which waiting job gets a sequence, and how much of its prompt's KV it can take
//! over from a finished sequence (the prefix cache, planned by `prefix`).

use super::sampler::build_sampler;
use super::slot::Slot;
use super::*;

impl Worker {
    /// Gives `job` the slot `plan` chose, with the planned prefix of its KV already in place.
    pub(super) fn admit(
        &self,
        ctx: &mut LlamaContext<'_>,
        mut job: Job,
        plan: ReusePlan,
        free: &mut Vec<FreeSeq<LlamaToken>>,
    ) -> Slot {
        for &index in &plan.evict {
            clear_seq(ctx, free[index].seq);
            free[index].tokens.clear();
        }
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
        if !kept {
            clear_seq(ctx, seq);
            reuse = 0;
        }
        self.load
            .prompt_tokens
            .fetch_add(job.tokens.len() as u64, Ordering::Relaxed);
        self.load.admitted.fetch_add(1, Ordering::Relaxed);
        let waited = u64::try_from(job.queued_at.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.load
            .queue_wait_micros
            .fetch_add(waited, Ordering::Relaxed);
        if reuse > 0 {
            self.load
                .reused_tokens
                .fetch_add(reuse as u64, Ordering::Relaxed);
            self.load.prefix_hits.fetch_add(1, Ordering::Relaxed);
        }
        let position = i32::try_from(reuse).unwrap_or(i32::MAX);
        Slot {
            seq,
            sampler: build_sampler(
                &job.sampling,
                job.grammar.take(),
                &job.logit_bias,
                !job.followup_bias.is_empty(),
                self.n_vocab,
            ),
            last_token: None,
            stop: StopMatcher::new(job.stop.clone()),
            kv_tokens: job.tokens[..reuse].to_vec(),
            job,
            prompt_done: reuse,
            position,
            next_input: None,
            logits_at: None,
            generated: 0,
            utf8: Utf8Assembler::default(),
        }
    }
}

pub(super) fn clear_seq(ctx: &mut LlamaContext<'_>, seq: i32) {
    // Sequence ids are below `slots`, so the conversion cannot fail.
    let _ = ctx.clear_kv_cache_seq(u32::try_from(seq).ok(), None, None);
}
