//! Prefix caching: a finished sequence keeps its KV cache in its slot, and a new prompt starts
//! from the longest prefix that any sequence, finished or running, already holds. The system
//! prompt and tool definitions an agent sends with every step, or the earlier turns of a
//! session, are then computed once instead of every time.
//!
//! This module only decides (which free slot, copied from where, how much, what to evict);
//! the worker applies the plan to the llama.cpp context. Kept caches count against the
//! context like running requests do, and the least recently used are dropped first when a
//! new request needs the room.

use std::sync::Arc;

/// Prompt tokens computed again even when cached, so that the first logits come from a batch
/// of several tokens like a cold prompt's (a batch of one takes llama.cpp's matrix-vector
/// path, whose rounding differs). It costs a few milliseconds. A prompt that is all cached
/// with the logits that followed it ([`PromptEndLogits`]) computes nothing.
pub const RECOMPUTED_TAIL: usize = 8;

/// The next-token logits a sequence computed right after its first `after` tokens (its
/// prompt), as llama.cpp gave them, before any sampling stage. The same prompt again samples
/// its first token from these instead of computing a tail again: llama.cpp's kernels round
/// differently by batch shape, so a recomputed tail can tip a close first choice (the tiny
/// model's "The" against "La" for France's capital, 0.13 apart, tipped in an end-to-end run),
/// whereas these make a repeated request (a retry, an agent asking again) start as the first
/// did: the same first token, which in `auto` is the choice between text and a call. (The
/// tokens after it are decoded beside whatever else the cache holds, which can still round
/// differently.)
#[derive(Debug, Clone)]
pub(crate) struct PromptEndLogits {
    pub after: usize,
    pub values: Arc<[f32]>,
}

/// A free sequence slot and the tokens whose KV it still holds (empty when cleared).
#[derive(Debug, Clone)]
pub(crate) struct FreeSeq<T> {
    pub seq: i32,
    pub tokens: Vec<T>,
    /// When it was last used, on the worker's clock; the lowest is evicted first.
    pub last_used: u64,
    /// The logits after its prompt, while its KV still holds that prompt.
    pub prompt_end: Option<PromptEndLogits>,
}

impl<T> FreeSeq<T> {
    /// A slot that holds nothing.
    pub(crate) fn empty(seq: i32) -> Self {
        FreeSeq {
            seq,
            tokens: Vec::new(),
            last_used: 0,
            prompt_end: None,
        }
    }

    /// Forgets what it holds (the caller clears the KV cells).
    pub(crate) fn clear(&mut self) {
        self.tokens.clear();
        self.prompt_end = None;
    }

    /// How much of `prompt` this slot can give: the whole of it when it holds that very
    /// prompt with the logits that followed it, otherwise the shared prefix up to `usable`.
    fn reusable(&self, prompt: &[T], usable: usize, may_reuse: bool) -> usize
    where
        T: PartialEq,
    {
        let shared = common_prefix(&self.tokens, prompt);
        let whole = may_reuse
            && shared == prompt.len()
            && self
                .prompt_end
                .as_ref()
                .is_some_and(|end| end.after == prompt.len());
        if whole {
            shared
        } else {
            shared.min(usable)
        }
    }
}

/// How a new prompt gets its slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReusePlan {
    /// Index in the free list of the slot the request takes.
    pub target: usize,
    /// Copy the first `reuse` positions from this sequence; `None`: keep the target's own.
    pub source: Option<i32>,
    /// Prompt tokens whose KV is reused (never the last [`RECOMPUTED_TAIL`], unless all of
    /// them are, with the logits that followed: see [`PromptEndLogits`]).
    pub reuse: usize,
    /// Free-list indices whose kept KV must be cleared first, to make room.
    pub evict: Vec<usize>,
}

pub(crate) fn common_prefix<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Plans the admission of `prompt`, which will hold `reservation` KV cells at most, when
/// `room` cells are not reserved by running requests. `running` are the sequences being
/// decoded with the tokens they hold. Without `may_reuse` the prompt is computed whole (in the
/// least recently used slot). `None`: no slot is free or it cannot fit yet.
pub(crate) fn plan<T: PartialEq>(
    prompt: &[T],
    may_reuse: bool,
    reservation: usize,
    room: usize,
    free: &[FreeSeq<T>],
    running: &[(i32, &[T])],
) -> Option<ReusePlan> {
    if free.is_empty() || prompt.is_empty() {
        return None;
    }
    let usable = if may_reuse {
        prompt.len().saturating_sub(RECOMPUTED_TAIL)
    } else {
        0
    };
    let own: Vec<usize> = free
        .iter()
        .map(|slot| slot.reusable(prompt, usable, may_reuse))
        .collect();
    let least_recent = |skip: Option<usize>| {
        (0..free.len())
            .filter(|&index| Some(index) != skip)
            .min_by_key(|&index| (free[index].last_used, free[index].tokens.len()))
    };
    // The slot whose own cache matches best (among equals, the least recently used).
    let best = (0..free.len()).max_by(|&a, &b| {
        own[a]
            .cmp(&own[b])
            .then(free[b].last_used.cmp(&free[a].last_used))
    })?;
    // Extending that cache in place is free when all of it is a prefix of the prompt; when
    // the prompt departs from it, its prefix is copied into another slot instead (the cells
    // are shared, not duplicated), so the rest of it stays for its own next turn.
    let keep_best = own[best] > 0 && own[best] < free[best].tokens.len();
    let target = match least_recent(Some(best)) {
        Some(other) if keep_best => other,
        _ => best,
    };
    let mut sources: Vec<(i32, usize)> = running
        .iter()
        .map(|&(seq, tokens)| (seq, common_prefix(tokens, prompt).min(usable)))
        .collect();
    if target != best {
        sources.push((free[best].seq, own[best]));
    }
    let source = sources
        .into_iter()
        .max_by_key(|&(_, reuse)| reuse)
        .filter(|&(_, reuse)| reuse > own[target]);
    let source_index = source.and_then(|(seq, _)| free.iter().position(|slot| slot.seq == seq));

    // Evict the least recently used kept caches (never the target's, the source's last)
    // until the request fits.
    let mut kept: usize = free
        .iter()
        .enumerate()
        .filter(|&(index, _)| index != target)
        .map(|(_, slot)| slot.tokens.len())
        .sum();
    let mut candidates: Vec<usize> = (0..free.len())
        .filter(|&index| index != target && !free[index].tokens.is_empty())
        .filter(|&index| Some(index) != source_index)
        .collect();
    candidates.sort_by_key(|&index| free[index].last_used);
    candidates.extend(source_index);
    let mut evict = Vec::new();
    for index in candidates {
        if reservation + kept <= room {
            break;
        }
        kept -= free[index].tokens.len();
        evict.push(index);
    }
    let (source, reuse) = match source {
        Some((_, _)) if source_index.is_some_and(|index| evict.contains(&index)) => {
            (None, own[target])
        }
        Some((seq, reuse)) => (Some(seq), reuse),
        None => (None, own[target]),
    };
    (reservation + kept <= room).then_some(ReusePlan {
        target,
        source,
        reuse,
        evict,
    })
}

/// The kept caches to clear, least recently used first, so that the free sequences hold at
/// most `budget` tokens (a configured cap below the context's own limit).
pub(crate) fn over_budget<T>(free: &[FreeSeq<T>], budget: usize) -> Vec<usize> {
    let mut kept: usize = free.iter().map(|slot| slot.tokens.len()).sum();
    let mut by_age: Vec<usize> = (0..free.len())
        .filter(|&index| !free[index].tokens.is_empty())
        .collect();
    by_age.sort_by_key(|&index| free[index].last_used);
    let mut clear = Vec::new();
    for index in by_age {
        if kept <= budget {
            break;
        }
        kept -= free[index].tokens.len();
        clear.push(index);
    }
    clear
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_caches_over_the_budget_go_least_recent_first() {
        let slots = [
            free(0, &counting(0..30), 3),
            free(1, &counting(0..50), 1),
            free(2, &[], 0),
            free(3, &counting(0..40), 2),
        ];
        assert_eq!(over_budget(&slots, 200), Vec::<usize>::new());
        // 120 kept: dropping slot 1 (oldest, 50) leaves 70.
        assert_eq!(over_budget(&slots, 70), [1]);
        assert_eq!(over_budget(&slots, 69), [1, 3]);
        assert_eq!(over_budget(&slots, 0), [1, 3, 0]);
    }

    fn free(seq: i32, tokens: &[u32], last_used: u64) -> FreeSeq<u32> {
        FreeSeq {
            seq,
            tokens: tokens.to_vec(),
            last_used,
            prompt_end: None,
        }
    }

    /// A slot that computed `prompt` and then generated `output`, keeping the logits between.
    fn answered(seq: i32, prompt: &[u32], output: &[u32], last_used: u64) -> FreeSeq<u32> {
        let mut tokens = prompt.to_vec();
        tokens.extend_from_slice(output);
        FreeSeq {
            prompt_end: Some(PromptEndLogits {
                after: prompt.len(),
                values: Arc::from(vec![0.0; 4]),
            }),
            ..free(seq, &tokens, last_used)
        }
    }

    fn counting(range: std::ops::Range<u32>) -> Vec<u32> {
        range.collect()
    }

    #[test]
    fn a_prompt_takes_the_slot_that_already_holds_its_prefix() {
        let slots = [
            free(0, &[99, 99], 5),
            free(1, &counting(0..10), 1),
            free(2, &[], 0),
        ];
        let planned = plan(&counting(0..30), true, 40, 100, &slots, &[]).expect("fits");
        assert_eq!(planned.target, 1);
        assert_eq!((planned.source, planned.reuse), (None, 10));
        assert!(planned.evict.is_empty());
    }

    #[test]
    fn the_prompt_tail_is_always_computed_again() {
        let slots = [free(0, &counting(0..20), 1)];
        let planned = plan(&counting(0..20), true, 30, 100, &slots, &[]).expect("fits");
        assert_eq!(planned.reuse, 20 - RECOMPUTED_TAIL);
    }

    #[test]
    fn the_same_prompt_again_is_reused_whole_where_its_logits_were_kept() {
        let prompt = counting(0..20);
        // Answered before: its prompt is copied whole, the slot itself kept for its next turn.
        let slots = [answered(0, &prompt, &[50, 51], 4), free(1, &[9], 1)];
        let planned = plan(&prompt, true, 30, 100, &slots, &[]).expect("fits");
        assert_eq!(
            (planned.target, planned.source, planned.reuse),
            (1, Some(0), 20)
        );
        // Nothing generated after it: reused in place.
        let slots = [answered(0, &prompt, &[], 4), free(1, &[], 0)];
        let planned = plan(&prompt, true, 30, 100, &slots, &[]).expect("fits");
        assert_eq!(
            (planned.target, planned.source, planned.reuse),
            (0, None, 20)
        );
        // Logits kept after another length (a shorter prompt) do not make this one whole,
        // nor do they for a request that may not reuse at all.
        let slots = [answered(0, &prompt[..12], &prompt[12..], 4)];
        let planned = plan(&prompt, true, 30, 100, &slots, &[]).expect("fits");
        assert_eq!(planned.reuse, 20 - RECOMPUTED_TAIL);
        let slots = [answered(0, &prompt, &[], 4)];
        let planned = plan(&prompt, false, 30, 100, &slots, &[]).expect("fits");
        assert_eq!(planned.reuse, 0);
        // A longer prompt that begins with it still computes its own tail.
        let longer = counting(0..30);
        let planned = plan(&longer, true, 40, 100, &slots, &[]).expect("fits");
        assert_eq!(planned.reuse, 20);
        assert!(planned.reuse <= longer.len() - RECOMPUTED_TAIL);
    }

    #[test]
    fn a_longer_prefix_elsewhere_is_copied_into_a_free_slot() {
        let mut running = counting(0..25);
        running.push(77);
        let slots = [free(0, &[], 0), free(1, &counting(0..5), 3)];
        let planned =
            plan(&counting(0..30), true, 40, 100, &slots, &[(5, &running)]).expect("fits");
        assert_eq!(
            planned.target, 1,
            "its own five tokens are the best in-place start"
        );
        assert_eq!(
            (planned.source, planned.reuse),
            (Some(5), 30 - RECOMPUTED_TAIL)
        );
    }

    #[test]
    fn a_cache_the_prompt_departs_from_is_copied_not_cut() {
        // Slot 0 holds an earlier turn; a prompt sharing only its start must not cut it.
        let earlier: Vec<u32> = (0..20).collect();
        let mut prompt: Vec<u32> = (0..12).collect();
        prompt.extend([99; 10]);
        let slots = [free(0, &earlier, 5), free(1, &[9], 1), free(2, &[8], 3)];
        let planned = plan(&prompt, true, 30, 100, &slots, &[]).expect("fits");
        assert_eq!(planned.target, 1, "the least recently used other slot");
        assert_eq!((planned.source, planned.reuse), (Some(0), 12));
        // A cache that is all prefix is extended in place.
        let slots = [free(0, &earlier[..12], 5), free(1, &[], 0)];
        let extended = plan(&prompt, true, 30, 100, &slots, &[]).expect("fits");
        assert_eq!(
            (extended.target, extended.source, extended.reuse),
            (0, None, 12)
        );
    }

    #[test]
    fn without_any_match_the_least_recently_used_slot_is_taken() {
        let slots = [free(0, &[7], 9), free(1, &[8], 2), free(2, &[6], 4)];
        let planned = plan(&[1, 2], true, 2, 100, &slots, &[]).expect("fits");
        assert_eq!(planned.target, 1);
        assert_eq!(planned.reuse, 0);
    }

    #[test]
    fn kept_caches_are_evicted_least_recent_first_to_make_room() {
        let slots = [
            free(0, &[1, 1, 1, 1], 1),
            free(1, &[2, 2, 2, 2], 9),
            free(2, &[3, 3, 3, 3], 5),
            free(3, &[], 0),
        ];
        // Room 10, the request needs 4: 12 kept tokens must lose at least 6.
        let planned = plan(&[5, 6], true, 4, 10, &slots, &[]).expect("fits after evicting");
        assert_eq!(planned.target, 3);
        assert_eq!(planned.evict, vec![0, 2]);
    }

    #[test]
    fn a_prompt_that_may_not_reuse_is_computed_whole_in_the_least_recent_slot() {
        let slots = [free(0, &counting(0..20), 5), free(1, &[7], 2)];
        let mut running = counting(0..30);
        running.push(1);
        let planned =
            plan(&counting(0..30), false, 40, 100, &slots, &[(4, &running)]).expect("fits");
        assert_eq!(
            (planned.target, planned.source, planned.reuse),
            (1, None, 0)
        );
    }

    #[test]
    fn nothing_is_planned_when_no_slot_is_free_or_the_request_cannot_fit() {
        assert!(plan::<u32>(&[1], true, 1, 100, &[], &[]).is_none());
        let slots = [free(0, &[], 0)];
        assert!(plan(&[1, 2], true, 50, 40, &slots, &[]).is_none());
    }
}
