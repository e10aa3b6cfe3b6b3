//! Role-scoped passages: the one way the agent's per-turn context and the reports' strategy
//! notes read the knowledge database. `PassageSource` is what they consume; `KnowledgePassages`
//! is its implementation over the configured collections, with the same role checks as the
//! search tool.

use std::path::PathBuf;

use fulcrum_tools::Principal;
use serde::Serialize;

use crate::{KnowledgeStore, SharedEmbedder};

/// A passage of an ingested document, with the id answers cite it by.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Passage {
    pub id: String,
    pub source: String,
    pub section: String,
    pub text: String,
}

/// Passages relevant to a query, among those the caller may read. Blocking (a database and an
/// embedding model): call it off the async runtime.
pub trait PassageSource: Send + Sync {
    fn passages(&self, caller: &Principal, query: &str) -> Result<Vec<Passage>, String>;

    /// The versions of the documents passages come from (any text that changes when they
    /// change): cached answers drawn on them are keyed by it.
    fn versions(&self) -> Result<String, String> {
        Ok(String::new())
    }
}

/// Passages per query at most.
const PASSAGES_PER_TURN: usize = 3;

/// Cosine similarity below which a passage is off topic and stays out of the prompt
/// (all-MiniLM-L6-v2: unrelated sentences score about 0–0.2, a passage that answers 0.4+).
const MIN_SIMILARITY: f32 = 0.3;

/// The passages of `collections` in the knowledge database that a caller's role may read.
pub struct KnowledgePassages {
    database: PathBuf,
    collections: Vec<String>,
    embedder: SharedEmbedder,
}

impl KnowledgePassages {
    pub fn new(database: PathBuf, collections: Vec<String>, embedder: SharedEmbedder) -> Self {
        KnowledgePassages {
            database,
            collections,
            embedder,
        }
    }
}

impl PassageSource for KnowledgePassages {
    fn passages(&self, caller: &Principal, query: &str) -> Result<Vec<Passage>, String> {
        if !self.database.is_file() {
            return Ok(Vec::new());
        }
        let store = KnowledgeStore::open(&self.database).map_err(|err| err.to_string())?;
        let roles = std::slice::from_ref(&caller.role);
        let mut hits = Vec::new();
        for collection in &self.collections {
            // A collection limited to other roles is skipped, as the search tool refuses it.
            if !store
                .may_read(collection, roles)
                .map_err(|err| err.to_string())?
            {
                continue;
            }
            hits.extend(
                store
                    .search_relevant(
                        collection,
                        query,
                        PASSAGES_PER_TURN,
                        MIN_SIMILARITY,
                        self.embedder.get(),
                    )
                    .map_err(|err| err.to_string())?,
            );
        }
        hits.sort_by(|a, b| b.score.total_cmp(&a.score));
        Ok(hits
            .into_iter()
            .take(PASSAGES_PER_TURN)
            .enumerate()
            .map(|(index, hit)| Passage {
                id: format!("S{}", index + 1),
                source: hit.source,
                section: hit.heading,
                text: hit.text,
            })
            .collect())
    }

    fn versions(&self) -> Result<String, String> {
        if !self.database.is_file() {
            return Ok(String::new());
        }
        let store = KnowledgeStore::open(&self.database).map_err(|err| err.to_string())?;
        let mut versions = Vec::new();
        for collection in &self.collections {
            let version = store.version(collection).map_err(|err| err.to_string())?;
            versions.push(format!("{collection}:{version}"));
        }
        Ok(versions.join(","))
    }
}
