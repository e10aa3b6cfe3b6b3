//! Answers to frequent questions, kept for a while so the model is not asked again: only for
//! a session's first message (no session memory) answered without any tool, keyed by the
//! normalized question, the caller's role and the versions of the document collections the
//! prompt drew on. A re-ingested collection changes its version, so its answers are dropped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries kept at most; the oldest go first beyond it.
const MAX_ENTRIES: usize = 4_096;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    question: String,
    role: String,
    versions: String,
}

struct Entry {
    answer: String,
    stored: Instant,
}

pub struct AnswerCache {
    ttl: Duration,
    entries: Mutex<HashMap<Key, Entry>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// Hit and miss counts since start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheCounts {
    pub hits: u64,
    pub misses: u64,
}

impl AnswerCache {
    pub fn new(ttl: Duration) -> Self {
        AnswerCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn key(question: &str, role: &str, versions: &str) -> Key {
        Key {
            question: normalize(question),
            role: role.to_string(),
            versions: versions.to_string(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The stored answer, if fresh; counts a hit or a miss.
    pub fn get(&self, question: &str, role: &str, versions: &str) -> Option<String> {
        let key = Self::key(question, role, versions);
        let mut entries = self.lock();
        // Answers drawn on older versions of the collections can never be asked for again.
        entries.retain(|k, entry| {
            entry.stored.elapsed() < self.ttl && (k.role != key.role || k.versions == key.versions)
        });
        let found = entries.get(&key).map(|entry| entry.answer.clone());
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    pub fn put(&self, question: &str, role: &str, versions: &str, answer: &str) {
        let mut entries = self.lock();
        if entries.len() >= MAX_ENTRIES {
            if let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, entry)| entry.stored)
                .map(|(key, _)| key.clone())
            {
                entries.remove(&oldest);
            }
        }
        entries.insert(
            Self::key(question, role, versions),
            Entry {
                answer: answer.to_string(),
                stored: Instant::now(),
            },
        );
    }

    pub fn counts(&self) -> CacheCounts {
        CacheCounts {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }
}

/// Case, spacing and closing punctuation do not make another question.
pub fn normalize(question: &str) -> String {
    let words: Vec<String> = question.split_whitespace().map(str::to_lowercase).collect();
    words
        .join(" ")
        .trim_end_matches(['?', '!', '.', '。', '？', '！', ' '])
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn questions_match_whatever_their_case_spacing_and_closing_mark() {
        assert_eq!(
            normalize("  What is the  RETURN window? "),
            normalize("what is the return window")
        );
        assert_ne!(normalize("return window"), normalize("warranty"));
    }

    #[test]
    fn a_stored_answer_is_only_for_its_role_and_collection_versions_and_expires() {
        let cache = AnswerCache::new(Duration::from_secs(60));
        cache.put(
            "How long is the warranty?",
            "employee",
            "manuals:1",
            "Two years.",
        );
        assert_eq!(
            cache.get("how long is the warranty", "employee", "manuals:1"),
            Some("Two years.".into())
        );
        assert_eq!(
            cache.get("How long is the warranty?", "finance", "manuals:1"),
            None
        );
        // Re-ingested: the version moved, the old answer is gone for good.
        assert_eq!(
            cache.get("How long is the warranty?", "employee", "manuals:2"),
            None
        );
        assert_eq!(
            cache.get("How long is the warranty?", "employee", "manuals:1"),
            None
        );
        assert_eq!(cache.counts(), CacheCounts { hits: 1, misses: 3 });

        let short = AnswerCache::new(Duration::from_millis(1));
        short.put("q", "employee", "", "a");
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(short.get("q", "employee", ""), None);
    }
}
