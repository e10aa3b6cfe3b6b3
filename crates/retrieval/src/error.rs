//! Errors of ingestion and search.

#[derive(Debug, thiserror::Error)]
pub enum RetrievalError {
    #[error("the knowledge database failed: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("invalid collection name `{0}`: use letters, digits, `-` and `_`")]
    InvalidCollection(String),
    #[error("invalid chunk limits: {0}")]
    InvalidLimits(String),
    #[error("cannot read {path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("{0}")]
    EmbeddingModel(String),
    #[error("computing embeddings failed: {0}")]
    Embedding(String),
    #[error("no document `{document}` in the collection `{collection}`: `fulcrum search` or GET /v1/knowledge/collections lists what was ingested")]
    NoDocument {
        collection: String,
        document: String,
    },
    #[error("the document `{document}` of `{collection}` was ingested before whole texts were kept: ingest it again")]
    NoDocumentText {
        collection: String,
        document: String,
    },
    #[error("dense search needs the embedding model: {0}")]
    NoEmbedder(&'static str),
}

impl From<candle_core::Error> for RetrievalError {
    fn from(err: candle_core::Error) -> Self {
        RetrievalError::Embedding(err.to_string())
    }
}
