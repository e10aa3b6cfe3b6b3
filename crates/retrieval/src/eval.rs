//! Retrieval quality on a labeled query set: for each query, the rank at which the chunk of the
//! labeled document section appears; recall@k and mean reciprocal rank per search mode.

use std::path::Path;

use serde::Deserialize;

use crate::embed::Embedder;
use crate::error::RetrievalError;
use crate::store::{Hit, KnowledgeStore, SearchMode};

/// A question and the section that answers it.
#[derive(Debug, Clone, Deserialize)]
pub struct LabeledQuery {
    pub query: String,
    /// The answering document's file name.
    pub source: String,
    /// The answering section's heading (the last of the chunk's heading trail).
    pub section: String,
}

/// Reads one JSON object per line.
pub fn load_queries(path: &Path) -> Result<Vec<LabeledQuery>, RetrievalError> {
    let unreadable = |reason: String| RetrievalError::Unreadable {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|err| unreadable(err.to_string()))?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| {
            serde_json::from_str(line)
                .map_err(|err| unreadable(format!("line {}: {err}", index + 1)))
        })
        .collect()
}

/// How one mode did over the query set.
#[derive(Debug, Clone)]
pub struct ModeResult {
    pub mode: SearchMode,
    /// Per query, the 1-based rank of the first answering chunk within the searched depth.
    pub ranks: Vec<Option<usize>>,
}

impl ModeResult {
    pub fn recall_at(&self, k: usize) -> f64 {
        let found = self
            .ranks
            .iter()
            .filter(|rank| rank.is_some_and(|r| r <= k))
            .count();
        found as f64 / self.ranks.len().max(1) as f64
    }

    pub fn mean_reciprocal_rank(&self) -> f64 {
        let sum: f64 = self.ranks.iter().flatten().map(|&r| 1.0 / r as f64).sum();
        sum / self.ranks.len().max(1) as f64
    }
}

/// Whether `hit` is the labeled section of the labeled document.
pub fn answers(hit: &Hit, query: &LabeledQuery) -> bool {
    let file = Path::new(&hit.source)
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let section = hit.heading.rsplit(" > ").next().unwrap_or_default();
    file == query.source && section == query.section
}

/// Runs every query in `mode`, looking `depth` chunks deep.
pub fn evaluate(
    store: &KnowledgeStore,
    collection: &str,
    queries: &[LabeledQuery],
    mode: SearchMode,
    embedder: Option<&Embedder>,
    depth: usize,
) -> Result<ModeResult, RetrievalError> {
    let mut ranks = Vec::with_capacity(queries.len());
    for query in queries {
        let hits = store.search(collection, &query.query, depth, mode, embedder)?;
        ranks.push(
            hits.iter()
                .position(|hit| answers(hit, query))
                .map(|index| index + 1),
        );
    }
    Ok(ModeResult { mode, ranks })
}
