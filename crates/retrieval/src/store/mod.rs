//! The knowledge database: collections of documents, their chunks, an FTS5 index over the
//! chunks for BM25 search and each chunk's embedding for dense search; the two rankings are
//! fused by reciprocal rank. One SQLite file; every ingestion is one transaction.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};

use crate::chunk::{chunk_text, ChunkLimits};
use crate::embed::{from_bytes, similarity, to_bytes, Embedder};
use crate::error::RetrievalError;

mod search;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS collections (
    name TEXT PRIMARY KEY,
    version INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY,
    collection TEXT NOT NULL REFERENCES collections(name),
    source TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    UNIQUE (collection, source)
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY,
    document_id INTEGER NOT NULL REFERENCES documents(id),
    ordinal INTEGER NOT NULL,
    heading TEXT NOT NULL,
    text TEXT NOT NULL
);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    heading, text, content = 'chunks', content_rowid = 'id', tokenize = 'unicode61'
);
CREATE TABLE IF NOT EXISTS chunk_vectors (
    chunk_id INTEGER PRIMARY KEY REFERENCES chunks(id) ON DELETE CASCADE,
    vector BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS document_texts (
    document_id INTEGER PRIMARY KEY REFERENCES documents(id) ON DELETE CASCADE,
    text TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS collection_roles (
    collection TEXT NOT NULL REFERENCES collections(name),
    role TEXT NOT NULL,
    PRIMARY KEY (collection, role)
);
CREATE TRIGGER IF NOT EXISTS chunks_added AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts (rowid, heading, text) VALUES (new.id, new.heading, new.text);
END;
CREATE TRIGGER IF NOT EXISTS chunks_removed AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts (chunks_fts, rowid, heading, text)
    VALUES ('delete', old.id, old.heading, old.text);
END;
";

/// What an ingestion did to a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestOutcome {
    Added {
        chunks: usize,
    },
    /// The file changed: its old chunks are gone, these replace them.
    Replaced {
        chunks: usize,
    },
    /// Same content as already ingested: nothing was done.
    Unchanged,
}

/// What one ingestion did, and how long its embeddings took (the dominant cost).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ingested {
    pub outcome: IngestOutcome,
    pub embedding_time: Duration,
}

/// How a search ranks chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchMode {
    /// Word matches (FTS5 BM25): exact names, codes and figures.
    Bm25,
    /// Embedding similarity: paraphrases and questions worded unlike the text.
    Dense,
    /// Both rankings fused by reciprocal rank.
    Hybrid,
}

impl SearchMode {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "bm25" => Some(SearchMode::Bm25),
            "dense" => Some(SearchMode::Dense),
            "hybrid" => Some(SearchMode::Hybrid),
            _ => None,
        }
    }
}

/// A chunk found by a search, best first.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub chunk_id: i64,
    /// The document it came from (its path when ingested).
    pub source: String,
    pub heading: String,
    pub text: String,
    /// Relevance in the search's own scale (BM25, cosine, or fused); higher is better.
    pub score: f64,
}

pub struct KnowledgeStore {
    connection: Connection,
}

/// A collection as its administrator sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectionInfo {
    pub name: String,
    /// Bumped by every change to it.
    pub version: i64,
    /// The roles it is limited to; empty when open to all.
    pub roles: Vec<String>,
    pub documents: usize,
    pub chunks: usize,
}

impl KnowledgeStore {
    pub fn open(path: &Path) -> Result<Self, RetrievalError> {
        let connection = Connection::open(path)?;
        connection.execute_batch("PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;")?;
        connection.execute_batch(SCHEMA)?;
        Ok(KnowledgeStore { connection })
    }

    /// Adds `text` as the document `source` of `collection`, or replaces it if it changed.
    /// With an embedder, each chunk also gets its vector for dense search.
    pub fn ingest(
        &mut self,
        collection: &str,
        source: &str,
        text: &str,
        limits: ChunkLimits,
        embedder: Option<&Embedder>,
    ) -> Result<Ingested, RetrievalError> {
        check_collection(collection)?;
        if limits.max_chars < 50 || limits.overlap_chars >= limits.max_chars / 2 {
            return Err(RetrievalError::InvalidLimits(format!(
                "max_chars {} must be at least 50 and overlap_chars {} below half of it",
                limits.max_chars, limits.overlap_chars
            )));
        }
        let digest = hex::encode(Sha256::digest(text.as_bytes()));
        let unchanged = self
            .connection
            .query_row(
                "SELECT 1 FROM documents WHERE collection = ?1 AND source = ?2 AND sha256 = ?3",
                params![collection, source, digest],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        if unchanged {
            // A document ingested before texts were kept gets its text now.
            self.connection.execute(
                "INSERT OR IGNORE INTO document_texts (document_id, text)
                 SELECT id, ?3 FROM documents WHERE collection = ?1 AND source = ?2",
                params![collection, source, text],
            )?;
            return Ok(Ingested {
                outcome: IngestOutcome::Unchanged,
                embedding_time: Duration::ZERO,
            });
        }
        let chunks = chunk_text(text, limits);
        // Embeddings are computed before the transaction: the database is not held for seconds.
        let started = Instant::now();
        let vectors = match embedder {
            Some(embedder) => {
                let texts: Vec<String> = chunks.iter().map(embedding_text).collect();
                let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
                Some(embedder.embed(&texts)?)
            }
            None => None,
        };
        let embedding_time = started.elapsed();
        let transaction = self.connection.transaction()?;
        let existing: Option<i64> = transaction
            .query_row(
                "SELECT id FROM documents WHERE collection = ?1 AND source = ?2",
                params![collection, source],
                |row| row.get(0),
            )
            .optional()?;
        transaction.execute(
            "INSERT INTO collections (name) VALUES (?1) ON CONFLICT (name) DO NOTHING",
            params![collection],
        )?;
        if let Some(id) = &existing {
            transaction.execute("DELETE FROM chunks WHERE document_id = ?1", params![id])?;
            transaction.execute("DELETE FROM documents WHERE id = ?1", params![id])?;
        }
        transaction.execute(
            "INSERT INTO documents (collection, source, sha256) VALUES (?1, ?2, ?3)",
            params![collection, source, digest],
        )?;
        let document = transaction.last_insert_rowid();
        transaction.execute(
            "INSERT INTO document_texts (document_id, text) VALUES (?1, ?2)",
            params![document, text],
        )?;
        {
            let mut insert = transaction.prepare(
                "INSERT INTO chunks (document_id, ordinal, heading, text) VALUES (?1, ?2, ?3, ?4)",
            )?;
            let mut insert_vector = transaction
                .prepare("INSERT INTO chunk_vectors (chunk_id, vector) VALUES (?1, ?2)")?;
            for (ordinal, chunk) in chunks.iter().enumerate() {
                insert.execute(params![document, ordinal as i64, chunk.heading, chunk.text])?;
                if let Some(vectors) = &vectors {
                    let chunk_id = transaction.last_insert_rowid();
                    insert_vector.execute(params![chunk_id, to_bytes(&vectors[ordinal])])?;
                }
            }
        }
        transaction.execute(
            "UPDATE collections SET version = version + 1 WHERE name = ?1",
            params![collection],
        )?;
        transaction.commit()?;
        let outcome = if existing.is_some() {
            IngestOutcome::Replaced {
                chunks: chunks.len(),
            }
        } else {
            IngestOutcome::Added {
                chunks: chunks.len(),
            }
        };
        Ok(Ingested {
            outcome,
            embedding_time,
        })
    }

    /// Limits `collection` to `roles` (replacing any earlier list); an empty list opens it to
    /// every role that may use the search tool.
    pub fn set_roles(&mut self, collection: &str, roles: &[String]) -> Result<(), RetrievalError> {
        check_collection(collection)?;
        let transaction = self.connection.transaction()?;
        transaction.execute(
            "INSERT INTO collections (name) VALUES (?1) ON CONFLICT (name) DO NOTHING",
            params![collection],
        )?;
        transaction.execute(
            "DELETE FROM collection_roles WHERE collection = ?1",
            params![collection],
        )?;
        for role in roles {
            transaction.execute(
                "INSERT OR IGNORE INTO collection_roles (collection, role) VALUES (?1, ?2)",
                params![collection, role],
            )?;
        }
        transaction.commit()?;
        Ok(())
    }

    /// The roles `collection` is limited to; empty when it is open to all.
    pub fn roles(&self, collection: &str) -> Result<Vec<String>, RetrievalError> {
        let mut statement = self
            .connection
            .prepare("SELECT role FROM collection_roles WHERE collection = ?1 ORDER BY role")?;
        let roles = statement
            .query_map(params![collection], |row| row.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(roles)
    }

    /// Whether a caller holding `roles` may read `collection`.
    pub fn may_read(&self, collection: &str, roles: &[String]) -> Result<bool, RetrievalError> {
        let allowed = self.roles(collection)?;
        Ok(allowed.is_empty() || roles.iter().any(|role| allowed.contains(role)))
    }

    /// Every collection, by name, with its roles, version and sizes.
    pub fn collections(&self) -> Result<Vec<CollectionInfo>, RetrievalError> {
        let mut statement = self.connection.prepare(
            "SELECT c.name, c.version,
                    (SELECT count(*) FROM documents d WHERE d.collection = c.name),
                    (SELECT count(*) FROM chunks k JOIN documents d ON k.document_id = d.id
                      WHERE d.collection = c.name)
             FROM collections c ORDER BY c.name",
        )?;
        let rows = statement
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, i64>(3)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(name, version, documents, chunks)| {
                Ok(CollectionInfo {
                    roles: self.roles(&name)?,
                    name,
                    version,
                    documents: usize::try_from(documents).unwrap_or(0),
                    chunks: usize::try_from(chunks).unwrap_or(0),
                })
            })
            .collect()
    }

    /// The whole text of the document `source` of `collection`, as it was ingested (for
    /// reading it whole: a summary).
    pub fn document_text(&self, collection: &str, source: &str) -> Result<String, RetrievalError> {
        let found: Option<Option<String>> = self
            .connection
            .query_row(
                "SELECT t.text FROM documents d LEFT JOIN document_texts t ON t.document_id = d.id
                 WHERE d.collection = ?1 AND d.source = ?2",
                params![collection, source],
                |row| row.get(0),
            )
            .optional()?;
        match found {
            Some(Some(text)) => Ok(text),
            Some(None) => Err(RetrievalError::NoDocumentText {
                collection: collection.into(),
                document: source.into(),
            }),
            None => Err(RetrievalError::NoDocument {
                collection: collection.into(),
                document: source.into(),
            }),
        }
    }

    /// Bumped by every change to the collection; 0 for one never ingested.
    pub fn version(&self, collection: &str) -> Result<i64, RetrievalError> {
        Ok(self
            .connection
            .query_row(
                "SELECT version FROM collections WHERE name = ?1",
                params![collection],
                |row| row.get(0),
            )
            .optional()?
            .unwrap_or(0))
    }
}

/// What a chunk's embedding is computed from: its heading trail gives a passage its subject.
fn embedding_text(chunk: &crate::chunk::Chunk) -> String {
    if chunk.heading.is_empty() {
        chunk.text.clone()
    } else {
        format!("{}\n{}", chunk.heading, chunk.text)
    }
}

fn check_collection(name: &str) -> Result<(), RetrievalError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if valid {
        Ok(())
    } else {
        Err(RetrievalError::InvalidCollection(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::search::fuse;
    use super::*;

    fn store() -> (tempfile::TempDir, KnowledgeStore) {
        let dir = tempfile::tempdir().expect("dir");
        let store = KnowledgeStore::open(&dir.path().join("knowledge.db")).expect("open");
        (dir, store)
    }

    const MANUAL: &str = "# Returns\nItems can be returned within 30 days with the receipt.\n\
        # Warranty\nPhones carry a two-year warranty covering manufacturing defects.\n\
        # Shipping\nOrders ship from the Hangzhou warehouse within two working days.";

    #[test]
    fn search_finds_the_chunk_that_answers_and_names_its_source() {
        let (_dir, mut store) = store();
        let outcome = store
            .ingest("manuals", "manual.md", MANUAL, ChunkLimits::default(), None)
            .expect("ingest");
        assert_eq!(outcome.outcome, IngestOutcome::Added { chunks: 3 });
        let hits = store
            .search_bm25("manuals", "How long is the warranty on phones?", 2)
            .expect("search");
        assert_eq!(hits[0].heading, "Warranty");
        assert_eq!(hits[0].source, "manual.md");
        assert!(hits[0].score > 0.0);
        // Other collections are not searched; odd punctuation is not a query error.
        assert!(store
            .search_bm25("other", "warranty", 5)
            .expect("search")
            .is_empty());
        assert!(store.search_bm25("manuals", "\"AND* (OR) -NOT:", 5).is_ok());
        assert!(store
            .search_bm25("manuals", "?!", 5)
            .expect("search")
            .is_empty());
    }

    fn hit(chunk_id: i64) -> Hit {
        Hit {
            chunk_id,
            source: "s".into(),
            heading: String::new(),
            text: String::new(),
            score: 0.0,
        }
    }

    #[test]
    fn fusion_favours_agreement_keeps_a_top_hit_high_and_breaks_ties_by_first_list() {
        let ids = |hits: Vec<Hit>| hits.iter().map(|h| h.chunk_id).collect::<Vec<_>>();
        // 2 is in both lists: first. 1 (top of words only) and 5 (top of meaning only) tie:
        // the first list's comes first.
        let lexical = vec![hit(1), hit(2), hit(3)];
        let dense = vec![hit(5), hit(2), hit(4)];
        assert_eq!(ids(fuse(&[lexical, dense], 10)), vec![2, 1, 5, 3, 4]);
        // A chunk one list ranks first stays above one both lists hold 13th (k = 10: 1/11
        // against 2/23), where k = 60 would put it below (1/61 against 2/73).
        let list = |first: i64, offset: i64| {
            let mut hits = vec![hit(first)];
            hits.extend((0..11).map(|n| hit(offset + n)));
            hits.push(hit(99));
            hits
        };
        let fused = ids(fuse(&[list(1, 100), list(8, 200)], 3));
        assert_eq!(fused[..2], [1, 8], "{fused:?}");
        assert_eq!(fused[2], 99, "{fused:?}");
    }

    #[test]
    fn re_ingesting_a_changed_file_replaces_its_chunks_and_bumps_the_version() {
        let (_dir, mut store) = store();
        let limits = ChunkLimits::default();
        store
            .ingest("manuals", "manual.md", MANUAL, limits, None)
            .expect("ingest");
        assert_eq!(store.version("manuals").expect("version"), 1);
        assert_eq!(
            store
                .ingest("manuals", "manual.md", MANUAL, limits, None)
                .expect("again")
                .outcome,
            IngestOutcome::Unchanged
        );
        assert_eq!(store.version("manuals").expect("version"), 1);
        let changed = MANUAL.replace("two-year warranty", "three-year guarantee");
        assert_eq!(
            store
                .ingest("manuals", "manual.md", &changed, limits, None)
                .expect("changed")
                .outcome,
            IngestOutcome::Replaced { chunks: 3 }
        );
        assert_eq!(store.version("manuals").expect("version"), 2);
        assert!(store
            .search_bm25("manuals", "two-year", 5)
            .expect("search")
            .iter()
            .all(|h| !h.text.contains("two-year")));
        assert_eq!(
            store
                .search_bm25("manuals", "guarantee", 5)
                .expect("search")
                .len(),
            1
        );
        assert!(matches!(
            store.ingest("bad name!", "x", "y", limits, None),
            Err(RetrievalError::InvalidCollection(_))
        ));
    }
}
