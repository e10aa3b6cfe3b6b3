//! Which replica likely holds a prompt's prefix in its KV cache: prompts are cut into blocks,
//! each block's hash chained to the one before (as vLLM's prefix cache keys its blocks), and
//! each replica remembers the hashes of the prompts it was sent recently. The number of
//! leading blocks a replica knows is how much of the prompt it would not recompute.

use std::collections::{HashSet, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};

/// Bytes of prompt per block: small enough that a session's next prompt matches up to its
/// last turn, large enough that the chain stays short.
const BLOCK_BYTES: usize = 256;

/// Block hashes a replica remembers (about 4 MB of prompt text).
const REMEMBERED_BLOCKS: usize = 16_384;

/// The chained hashes of `prompt`'s whole blocks.
pub(crate) fn block_hashes(prompt: &str) -> Vec<u64> {
    let mut previous = 0u64;
    prompt
        .as_bytes()
        .chunks_exact(BLOCK_BYTES)
        .map(|block| {
            let mut hasher = DefaultHasher::new();
            previous.hash(&mut hasher);
            block.hash(&mut hasher);
            previous = hasher.finish();
            previous
        })
        .collect()
}

/// The block hashes of prompts recently sent to one replica, oldest forgotten first.
#[derive(Debug, Default)]
pub(crate) struct PrefixMemory {
    known: HashSet<u64>,
    order: VecDeque<u64>,
}

impl PrefixMemory {
    /// Leading blocks of `blocks` this replica has seen.
    pub(crate) fn matched(&self, blocks: &[u64]) -> usize {
        blocks
            .iter()
            .take_while(|block| self.known.contains(block))
            .count()
    }

    pub(crate) fn remember(&mut self, blocks: &[u64]) {
        for &block in blocks {
            if self.known.insert(block) {
                self.order.push_back(block);
            }
        }
        while self.order.len() > REMEMBERED_BLOCKS {
            if let Some(oldest) = self.order.pop_front() {
                self.known.remove(&oldest);
            }
        }
    }
}

/// A replica as the router sees it when choosing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub index: usize,
    pub outstanding: usize,
    pub matched_blocks: usize,
}

/// How many more requests than the least busy replica a replica may hold and still be chosen
/// for the prefix it holds.
pub(crate) const AFFINITY_SLACK: usize = 4;

/// The replica to send to: the one holding the longest prefix among those not much busier
/// than the least busy; without any prefix, the least busy. Ties go to the first listed after
/// `rotation`, so equal replicas share the load.
pub(crate) fn choose(candidates: &[Candidate], rotation: usize) -> Option<usize> {
    let least = candidates.iter().map(|c| c.outstanding).min()?;
    let n = candidates.len();
    let rotated = |c: &Candidate| {
        let position = candidates
            .iter()
            .position(|other| other.index == c.index)
            .unwrap_or(0);
        (position + n - rotation % n) % n
    };
    candidates
        .iter()
        .filter(|c| c.outstanding <= least + AFFINITY_SLACK)
        .max_by(|a, b| {
            a.matched_blocks
                .cmp(&b.matched_blocks)
                .then(b.outstanding.cmp(&a.outstanding))
                .then(rotated(b).cmp(&rotated(a)))
        })
        .map(|c| c.index)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(index: usize, outstanding: usize, matched_blocks: usize) -> Candidate {
        Candidate {
            index,
            outstanding,
            matched_blocks,
        }
    }

    #[test]
    fn prompts_sharing_a_prefix_share_its_blocks_and_no_more() {
        let system = "s".repeat(BLOCK_BYTES * 2);
        let a = block_hashes(&format!("{system}{}", "a".repeat(BLOCK_BYTES)));
        let b = block_hashes(&format!("{system}{}", "b".repeat(BLOCK_BYTES)));
        assert_eq!(a.len(), 3);
        assert_eq!(a[..2], b[..2]);
        assert_ne!(a[2], b[2]);
        let mut memory = PrefixMemory::default();
        memory.remember(&a);
        assert_eq!(memory.matched(&a), 3);
        assert_eq!(memory.matched(&b), 2);
        // The same block later in another prompt does not count: hashes are chained.
        let shifted = block_hashes(&format!("{}{system}", "x".repeat(BLOCK_BYTES)));
        assert_eq!(memory.matched(&shifted), 0);
    }

    #[test]
    fn the_replica_holding_the_prefix_wins_unless_it_is_much_busier() {
        let held = [candidate(0, 3, 0), candidate(1, 5, 4)];
        assert_eq!(choose(&held, 0), Some(1), "within the slack: affinity");
        let crowded = [candidate(0, 0, 0), candidate(1, AFFINITY_SLACK + 1, 4)];
        assert_eq!(choose(&crowded, 0), Some(0), "too busy: the least busy");
        let plain = [candidate(0, 2, 0), candidate(1, 1, 0)];
        assert_eq!(choose(&plain, 0), Some(1), "no prefix: the least busy");
        assert_eq!(choose(&[], 0), None);
    }

    #[test]
    fn equal_replicas_take_turns() {
        let equal = [candidate(0, 0, 0), candidate(1, 0, 0), candidate(2, 0, 0)];
        let picks: Vec<_> = (0..3).filter_map(|turn| choose(&equal, turn)).collect();
        assert_eq!(picks, vec![0, 1, 2]);
    }
}
