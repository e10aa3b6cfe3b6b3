//! Long-term memory by retrieval: documents are cut into chunks along their headings and by
//! length (with overlap, so a fact on a boundary is whole in one chunk), and indexed per
//! collection for BM25 search (SQLite FTS5). Re-ingesting a changed file replaces its chunks;
//! every change bumps the collection's version, which caches key on.

mod chunk;
mod error;
mod store;
mod tool;

pub use chunk::{chunk_text, Chunk, ChunkLimits};
pub use error::RetrievalError;
pub use store::{Hit, IngestOutcome, KnowledgeStore};
pub use tool::{KnowledgeSearchFunction, SEARCH_KNOWLEDGE};
