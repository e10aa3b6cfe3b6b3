//! Searches of the knowledge database: BM25 over the FTS5 index, exact cosine over the
//! embeddings, and their fusion by reciprocal rank.

use super::*;

/// The constant of reciprocal rank fusion: a chunk scores Σ 1/(K + rank). Lower than the
/// literature's 60, so that a chunk one ranking puts first is not buried under chunks both
/// rankings hold in the middle (a product named by its SKU that embeddings cannot tell apart).
/// Chosen on half of the labeled queries of `docs/eval/retrieval`, judged on the other half
/// (EVAL.md).
const RRF_K: f64 = 10.0;

/// Candidates each ranking contributes to the fusion.
const FUSION_DEPTH: usize = 50;

impl KnowledgeStore {
    /// The `limit` chunks of `collection` that best answer `query`. Dense and hybrid searches
    /// need the embedder; hybrid falls back to BM25 alone without one.
    pub fn search(
        &self,
        collection: &str,
        query: &str,
        limit: usize,
        mode: SearchMode,
        embedder: Option<&Embedder>,
    ) -> Result<Vec<Hit>, RetrievalError> {
        match (mode, embedder) {
            (SearchMode::Bm25, _) | (SearchMode::Hybrid, None) => {
                self.search_bm25(collection, query, limit)
            }
            (SearchMode::Dense, None) => Err(RetrievalError::NoEmbedder(
                "load it with `Embedder::load` (the CLI pulls all-minilm-l6-v2)",
            )),
            (SearchMode::Dense, Some(embedder)) => {
                self.search_dense(collection, &embed_query(embedder, query)?, limit)
            }
            (SearchMode::Hybrid, Some(embedder)) => {
                let ranking = self.dense_ranking(collection, &embed_query(embedder, query)?)?;
                self.fused(collection, query, &ranking, limit)
            }
        }
    }

    /// BM25's and the dense ranking's first `FUSION_DEPTH` chunks fused, best `limit` first.
    fn fused(
        &self,
        collection: &str,
        query: &str,
        dense_ranking: &[(i64, f64)],
        limit: usize,
    ) -> Result<Vec<Hit>, RetrievalError> {
        let lexical = self.search_bm25(collection, query, FUSION_DEPTH)?;
        let dense = self.hits(&dense_ranking[..dense_ranking.len().min(FUSION_DEPTH)])?;
        Ok(fuse(&[lexical, dense], limit))
    }

    /// Like a hybrid search, but keeps only chunks whose embedding is at least
    /// `min_similarity` from the query's: what goes into a prompt unasked must be on topic.
    /// Without an embedder, BM25 hits (they share words with the query) are kept.
    pub fn search_relevant(
        &self,
        collection: &str,
        query: &str,
        limit: usize,
        min_similarity: f32,
        embedder: Option<&Embedder>,
    ) -> Result<Vec<Hit>, RetrievalError> {
        let Some(embedder) = embedder else {
            return self.search_bm25(collection, query, limit);
        };
        let ranking = self.dense_ranking(collection, &embed_query(embedder, query)?)?;
        let closeness: HashMap<i64, f64> = ranking.iter().copied().collect();
        Ok(self
            .fused(collection, query, &ranking, FUSION_DEPTH)?
            .into_iter()
            .filter(|hit| {
                closeness
                    .get(&hit.chunk_id)
                    .is_some_and(|&score| score >= f64::from(min_similarity))
            })
            .take(limit)
            .collect())
    }

    /// The `limit` chunks of `collection` that best match `query` by BM25. Any text is a valid
    /// query: it is read as words, any of which may match.
    pub fn search_bm25(
        &self,
        collection: &str,
        query: &str,
        limit: usize,
    ) -> Result<Vec<Hit>, RetrievalError> {
        let words: Vec<&str> = query
            .split(|c: char| !c.is_alphanumeric())
            .filter(|word| !word.is_empty())
            .collect();
        // Function words match nearly every chunk: a question's "how do I" would rank chunks by
        // grammar. Kept only when the query has nothing else.
        let content: Vec<&str> = words
            .iter()
            .copied()
            .filter(|word| !is_stopword(word))
            .collect();
        let terms: Vec<String> = if content.is_empty() { &words } else { &content }
            .iter()
            .map(|word| format!("\"{word}\""))
            .collect();
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        let mut statement = self.connection.prepare(
            "SELECT c.id, d.source, c.heading, c.text, bm25(chunks_fts) AS rank
             FROM chunks_fts
             JOIN chunks c ON c.id = chunks_fts.rowid
             JOIN documents d ON d.id = c.document_id
             WHERE chunks_fts MATCH ?1 AND d.collection = ?2
             ORDER BY rank LIMIT ?3",
        )?;
        let hits = statement
            .query_map(
                params![terms.join(" OR "), collection, limit as i64],
                |row| {
                    Ok(Hit {
                        chunk_id: row.get(0)?,
                        source: row.get(1)?,
                        heading: row.get(2)?,
                        text: row.get(3)?,
                        score: -row.get::<_, f64>(4)?,
                    })
                },
            )?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(hits)
    }

    /// The `limit` chunks of `collection` whose embeddings are closest to `query_vector`
    /// (exhaustive: exact, and fast enough for the tens of thousands of chunks of a
    /// department's documents).
    pub fn search_dense(
        &self,
        collection: &str,
        query_vector: &[f32],
        limit: usize,
    ) -> Result<Vec<Hit>, RetrievalError> {
        let ranking = self.dense_ranking(collection, query_vector)?;
        self.hits(&ranking[..ranking.len().min(limit)])
    }

    /// Every chunk of `collection` with an embedding, with its cosine similarity to
    /// `query_vector`, closest first.
    fn dense_ranking(
        &self,
        collection: &str,
        query_vector: &[f32],
    ) -> Result<Vec<(i64, f64)>, RetrievalError> {
        let mut statement = self.connection.prepare(
            "SELECT c.id, v.vector FROM chunk_vectors v
             JOIN chunks c ON c.id = v.chunk_id
             JOIN documents d ON d.id = c.document_id
             WHERE d.collection = ?1",
        )?;
        let mut scored = statement
            .query_map(params![collection], |row| {
                let id: i64 = row.get(0)?;
                let bytes: Vec<u8> = row.get(1)?;
                Ok((id, f64::from(similarity(query_vector, &from_bytes(&bytes)))))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        // Ties broken by chunk id: the same query always ranks the same way.
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        Ok(scored)
    }

    fn hits(&self, scored: &[(i64, f64)]) -> Result<Vec<Hit>, RetrievalError> {
        scored
            .iter()
            .map(|&(id, score)| self.hit(id, score))
            .collect()
    }

    fn hit(&self, chunk_id: i64, score: f64) -> Result<Hit, RetrievalError> {
        Ok(self.connection.query_row(
            "SELECT d.source, c.heading, c.text FROM chunks c
             JOIN documents d ON d.id = c.document_id WHERE c.id = ?1",
            params![chunk_id],
            |row| {
                Ok(Hit {
                    chunk_id,
                    source: row.get(0)?,
                    heading: row.get(1)?,
                    text: row.get(2)?,
                    score,
                })
            },
        )?)
    }
}

/// English function words (the usual IR list, short): FTS5's `unicode61` has none of its own.
const STOPWORDS: &[&str] = &[
    "a", "about", "an", "and", "are", "as", "at", "be", "but", "by", "can", "could", "did", "do",
    "does", "for", "from", "get", "had", "has", "have", "how", "i", "if", "in", "into", "is", "it",
    "its", "me", "my", "now", "of", "on", "or", "our", "should", "so", "than", "that", "the",
    "their", "them", "then", "there", "these", "they", "this", "to", "us", "was", "we", "were",
    "what", "when", "where", "which", "who", "why", "will", "with", "would", "you", "your",
];

fn is_stopword(word: &str) -> bool {
    STOPWORDS.contains(&word.to_lowercase().as_str())
}

fn embed_query(embedder: &Embedder, query: &str) -> Result<Vec<f32>, RetrievalError> {
    embedder
        .embed(&[query])?
        .pop()
        .ok_or_else(|| RetrievalError::Embedding("no vector for the query".into()))
}

/// Reciprocal rank fusion: each ranking gives a chunk 1/(K + rank); the sums rank the union.
/// Ties go to the chunk found first (lists in order), so fusion is deterministic.
pub(super) fn fuse(rankings: &[Vec<Hit>], limit: usize) -> Vec<Hit> {
    let mut fused: Vec<Hit> = Vec::new();
    let mut position: HashMap<i64, usize> = HashMap::new();
    for ranking in rankings {
        for (rank, hit) in ranking.iter().enumerate() {
            let contribution = 1.0 / (RRF_K + rank as f64 + 1.0);
            match position.get(&hit.chunk_id) {
                Some(&index) => fused[index].score += contribution,
                None => {
                    position.insert(hit.chunk_id, fused.len());
                    fused.push(Hit {
                        score: contribution,
                        ..hit.clone()
                    });
                }
            }
        }
    }
    fused.sort_by(|a, b| b.score.total_cmp(&a.score));
    fused.truncate(limit);
    fused
}
