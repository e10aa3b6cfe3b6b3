//! The JSON of the knowledge routes (`/v1/knowledge/…`).

use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CollectionList {
    pub data: Vec<Collection>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Collection {
    pub name: String,
    /// Bumped by every change to it.
    pub version: i64,
    /// The roles it is limited to; empty when open to every role.
    pub roles: Vec<String>,
    pub documents: usize,
    pub chunks: usize,
}

impl From<fulcrum_retrieval::CollectionInfo> for Collection {
    fn from(info: fulcrum_retrieval::CollectionInfo) -> Self {
        Collection {
            name: info.name,
            version: info.version,
            roles: info.roles,
            documents: info.documents,
            chunks: info.chunks,
        }
    }
}

/// A document added to a collection (Markdown, text, DOCX or PDF), as `fulcrum ingest` takes it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DocumentUpload {
    /// Its file name: the extension says how to read it; it names the document (a second
    /// upload of the same name replaces it).
    pub filename: String,
    /// The file's bytes, base64.
    pub content_base64: String,
    /// Limit the collection to these roles (replacing an earlier list; empty: every role).
    #[serde(default)]
    pub roles: Option<Vec<String>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IngestedDocument {
    pub collection: String,
    pub source: String,
    /// `added`, `replaced` or `unchanged`.
    pub outcome: &'static str,
    pub chunks: usize,
    /// Whether its chunks got embeddings (dense search); without the embedding model, words only.
    pub embedded: bool,
    pub version: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SearchResults {
    pub data: Vec<SearchHit>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SearchHit {
    pub source: String,
    pub heading: String,
    pub text: String,
    pub score: f64,
}
