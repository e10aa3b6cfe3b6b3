//! The knowledge database: collections of documents, their chunks, and an FTS5 index over the
//! chunks for BM25 search. One SQLite file; every ingestion is one transaction.

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};

use crate::chunk::{chunk_text, ChunkLimits};
use crate::error::RetrievalError;

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

/// A chunk found by a search, best first.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// The document it came from (its path when ingested).
    pub source: String,
    pub heading: String,
    pub text: String,
    /// BM25 relevance; higher is better.
    pub score: f64,
}

pub struct KnowledgeStore {
    connection: Connection,
}

impl KnowledgeStore {
    pub fn open(path: &Path) -> Result<Self, RetrievalError> {
        let connection = Connection::open(path)?;
        connection.execute_batch("PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;")?;
        connection.execute_batch(SCHEMA)?;
        Ok(KnowledgeStore { connection })
    }

    /// Adds `text` as the document `source` of `collection`, or replaces it if it changed.
    pub fn ingest(
        &mut self,
        collection: &str,
        source: &str,
        text: &str,
        limits: ChunkLimits,
    ) -> Result<IngestOutcome, RetrievalError> {
        check_collection(collection)?;
        if limits.max_chars < 50 || limits.overlap_chars >= limits.max_chars / 2 {
            return Err(RetrievalError::InvalidLimits(format!(
                "max_chars {} must be at least 50 and overlap_chars {} below half of it",
                limits.max_chars, limits.overlap_chars
            )));
        }
        let digest = hex::encode(Sha256::digest(text.as_bytes()));
        let transaction = self.connection.transaction()?;
        let existing: Option<(i64, String)> = transaction
            .query_row(
                "SELECT id, sha256 FROM documents WHERE collection = ?1 AND source = ?2",
                params![collection, source],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        if existing.as_ref().is_some_and(|(_, sha)| *sha == digest) {
            return Ok(IngestOutcome::Unchanged);
        }
        transaction.execute(
            "INSERT INTO collections (name) VALUES (?1) ON CONFLICT (name) DO NOTHING",
            params![collection],
        )?;
        if let Some((id, _)) = &existing {
            transaction.execute("DELETE FROM chunks WHERE document_id = ?1", params![id])?;
            transaction.execute("DELETE FROM documents WHERE id = ?1", params![id])?;
        }
        transaction.execute(
            "INSERT INTO documents (collection, source, sha256) VALUES (?1, ?2, ?3)",
            params![collection, source, digest],
        )?;
        let document = transaction.last_insert_rowid();
        let chunks = chunk_text(text, limits);
        {
            let mut insert = transaction.prepare(
                "INSERT INTO chunks (document_id, ordinal, heading, text) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (ordinal, chunk) in chunks.iter().enumerate() {
                insert.execute(params![document, ordinal as i64, chunk.heading, chunk.text])?;
            }
        }
        transaction.execute(
            "UPDATE collections SET version = version + 1 WHERE name = ?1",
            params![collection],
        )?;
        transaction.commit()?;
        Ok(if existing.is_some() {
            IngestOutcome::Replaced {
                chunks: chunks.len(),
            }
        } else {
            IngestOutcome::Added {
                chunks: chunks.len(),
            }
        })
    }

    /// The `limit` chunks of `collection` that best match `query` by BM25. Any text is a valid
    /// query: it is read as words, any of which may match.
    pub fn search(
        &self,
        collection: &str,
        query: &str,
        limit: usize,
    ) -> Result<Vec<Hit>, RetrievalError> {
        let terms: Vec<String> = query
            .split(|c: char| !c.is_alphanumeric())
            .filter(|word| !word.is_empty())
            .map(|word| format!("\"{word}\""))
            .collect();
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        let mut statement = self.connection.prepare(
            "SELECT d.source, c.heading, c.text, bm25(chunks_fts) AS rank
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
                        source: row.get(0)?,
                        heading: row.get(1)?,
                        text: row.get(2)?,
                        score: -row.get::<_, f64>(3)?,
                    })
                },
            )?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(hits)
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
            .ingest("manuals", "manual.md", MANUAL, ChunkLimits::default())
            .expect("ingest");
        assert_eq!(outcome, IngestOutcome::Added { chunks: 3 });
        let hits = store
            .search("manuals", "How long is the warranty on phones?", 2)
            .expect("search");
        assert_eq!(hits[0].heading, "Warranty");
        assert_eq!(hits[0].source, "manual.md");
        assert!(hits[0].score > 0.0);
        // Other collections are not searched; odd punctuation is not a query error.
        assert!(store
            .search("other", "warranty", 5)
            .expect("search")
            .is_empty());
        assert!(store.search("manuals", "\"AND* (OR) -NOT:", 5).is_ok());
        assert!(store.search("manuals", "?!", 5).expect("search").is_empty());
    }

    #[test]
    fn re_ingesting_a_changed_file_replaces_its_chunks_and_bumps_the_version() {
        let (_dir, mut store) = store();
        let limits = ChunkLimits::default();
        store
            .ingest("manuals", "manual.md", MANUAL, limits)
            .expect("ingest");
        assert_eq!(store.version("manuals").expect("version"), 1);
        assert_eq!(
            store
                .ingest("manuals", "manual.md", MANUAL, limits)
                .expect("again"),
            IngestOutcome::Unchanged
        );
        assert_eq!(store.version("manuals").expect("version"), 1);
        let changed = MANUAL.replace("two-year warranty", "three-year guarantee");
        assert_eq!(
            store
                .ingest("manuals", "manual.md", &changed, limits)
                .expect("changed"),
            IngestOutcome::Replaced { chunks: 3 }
        );
        assert_eq!(store.version("manuals").expect("version"), 2);
        assert!(store
            .search("manuals", "two-year", 5)
            .expect("search")
            .iter()
            .all(|h| !h.text.contains("two-year")));
        assert_eq!(
            store
                .search("manuals", "guarantee", 5)
                .expect("search")
                .len(),
            1
        );
        assert!(matches!(
            store.ingest("bad name!", "x", "y", limits),
            Err(RetrievalError::InvalidCollection(_))
        ));
    }
}
