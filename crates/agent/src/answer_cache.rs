//! Answers to frequent questions, kept for a while so the model is not asked again: only for
//! a session's first message (no session memory) answered without any tool, keyed by the
//! normalized question, the caller's role and the versions of the document collections the
//! prompt drew on. A re-ingested collection changes its version, so its answers are dropped.
//! In memory for one instance; in PostgreSQL (`state_url`) shared by several.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fulcrum_tools::PgConnection;

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
    entries: Entries,
    hits: AtomicU64,
    misses: AtomicU64,
}

enum Entries {
    Memory(Mutex<HashMap<Key, Entry>>),
    Postgres(PgConnection),
}

/// The cache table's migrations in PostgreSQL, in order (never edit one: add the next).
const PG_MIGRATIONS: &[&str] = &["CREATE TABLE answer_cache (
    question TEXT NOT NULL,
    role TEXT NOT NULL,
    versions TEXT NOT NULL,
    answer TEXT NOT NULL,
    stored_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (question, role, versions)
)"];

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
            entries: Entries::Memory(Mutex::new(HashMap::new())),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Answers kept in PostgreSQL, reused by every instance connected to it.
    pub fn postgres(connection: PgConnection, ttl: Duration) -> Result<Self, crate::AgentError> {
        connection.migrate("answer_cache", PG_MIGRATIONS)?;
        Ok(AnswerCache {
            ttl,
            entries: Entries::Postgres(connection),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        })
    }

    fn key(question: &str, role: &str, versions: &str) -> Key {
        Key {
            question: normalize(question),
            role: role.to_string(),
            versions: versions.to_string(),
        }
    }

    /// The stored answer, if fresh; counts a hit or a miss. A cache that cannot be read
    /// (PostgreSQL unreachable) misses: the model answers instead.
    pub fn get(&self, question: &str, role: &str, versions: &str) -> Option<String> {
        let key = Self::key(question, role, versions);
        let found = match &self.entries {
            Entries::Memory(entries) => self.get_in_memory(entries, &key),
            Entries::Postgres(connection) => {
                let ttl = self.ttl.as_secs_f64();
                connection
                    .run(move |client| {
                        // Answers drawn on older versions of the collections can never be
                        // asked for again.
                        client.execute(
                            "DELETE FROM answer_cache WHERE stored_at < now() - make_interval(secs => $1)
                             OR (role = $2 AND versions <> $3)",
                            &[&ttl, &key.role, &key.versions],
                        )?;
                        client
                            .query_opt(
                                "SELECT answer FROM answer_cache
                                 WHERE question = $1 AND role = $2 AND versions = $3",
                                &[&key.question, &key.role, &key.versions],
                            )?
                            .map(|row| row.try_get(0))
                            .transpose()
                    })
                    .unwrap_or_else(|err| {
                        tracing::warn!(%err, "the answer cache cannot be read; asking the model");
                        None
                    })
            }
        };
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    fn get_in_memory(&self, entries: &Mutex<HashMap<Key, Entry>>, key: &Key) -> Option<String> {
        let mut entries = lock(entries);
        // Answers drawn on older versions of the collections can never be asked for again.
        entries.retain(|k, entry| {
            entry.stored.elapsed() < self.ttl && (k.role != key.role || k.versions == key.versions)
        });
        entries.get(key).map(|entry| entry.answer.clone())
    }

    pub fn put(&self, question: &str, role: &str, versions: &str, answer: &str) {
        let key = Self::key(question, role, versions);
        let entries = match &self.entries {
            Entries::Memory(entries) => entries,
            Entries::Postgres(connection) => {
                let answer = answer.to_string();
                let max = i64::try_from(MAX_ENTRIES).unwrap_or(i64::MAX);
                let stored = connection.run(move |client| {
                    client.execute(
                        "INSERT INTO answer_cache (question, role, versions, answer) VALUES ($1, $2, $3, $4)
                         ON CONFLICT (question, role, versions)
                         DO UPDATE SET answer = excluded.answer, stored_at = now()",
                        &[&key.question, &key.role, &key.versions, &answer],
                    )?;
                    client.execute(
                        "DELETE FROM answer_cache WHERE ctid IN (SELECT ctid FROM answer_cache
                         ORDER BY stored_at LIMIT GREATEST((SELECT count(*) FROM answer_cache) - $1, 0))",
                        &[&max],
                    )
                });
                if let Err(err) = stored {
                    tracing::warn!(%err, "an answer could not be cached");
                }
                return;
            }
        };
        let mut entries = lock(entries);
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
            key,
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

fn lock(entries: &Mutex<HashMap<Key, Entry>>) -> std::sync::MutexGuard<'_, HashMap<Key, Entry>> {
    entries
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
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
