//! Long-term memory by retrieval: documents are cut into chunks along their headings and by
//! length (with overlap, so a fact on a boundary is whole in one chunk), and indexed per
//! collection twice: words for BM25 (SQLite FTS5) and all-MiniLM-L6-v2 embeddings (candle) for
//! dense search; a hybrid search fuses both rankings by reciprocal rank. Collections can be
//! limited to roles, checked when the search tool runs. Re-ingesting a changed file replaces its chunks;
//! every change bumps the collection's version, which caches key on.

mod bert;
mod chunk;
mod embed;
mod error;
mod eval;
mod extract;
mod passages;
mod store;
mod tool;

pub use chunk::{chunk_text, Chunk, ChunkLimits};
pub use embed::{
    similarity, Embedder, DIMENSIONS, MAX_TOKENS as EMBEDDING_MAX_TOKENS,
    MODEL_ID as EMBEDDING_MODEL_ID,
};
pub use error::RetrievalError;
pub use eval::{answers, evaluate, load_queries, LabeledQuery, ModeResult};
pub use extract::{
    extract_bytes, extract_text, is_supported, MAX_DOCUMENT_BYTES, SUPPORTED_EXTENSIONS,
};
pub use passages::{KnowledgePassages, Passage, PassageSource};
pub use store::{CollectionInfo, Hit, IngestOutcome, Ingested, KnowledgeStore, SearchMode};
pub use tool::{open_for_reader, KnowledgeSearchFunction, SharedEmbedder, SEARCH_KNOWLEDGE};
