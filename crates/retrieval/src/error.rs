//! Errors of ingestion and search.

#[derive(Debug, thiserror::Error)]
pub enum RetrievalError {
    #[error("the knowledge database failed: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("invalid collection name `{0}`: use letters, digits, `-` and `_`")]
    InvalidCollection(String),
    #[error("invalid chunk limits: {0}")]
    InvalidLimits(String),
}
