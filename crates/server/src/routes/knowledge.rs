//! Knowledge collections for their administrators (the policy's `knowledge_roles`): list them,
//! add a document (as `fulcrum ingest` does, with the same limits), search one.

use std::path::{Path, PathBuf};

use axum::extract::{Path as UrlPath, Query, State};
use axum::{Extension, Json};
use base64::Engine as _;
use fulcrum_retrieval::{
    extract_bytes, is_supported, ChunkLimits, IngestOutcome, KnowledgeStore, SearchMode,
    MAX_DOCUMENT_BYTES, SUPPORTED_EXTENSIONS,
};
use fulcrum_tools::{CallContext, Principal};
use serde::Deserialize;
use serde_json::json;

use crate::auth::caller;
use crate::error::ApiError;
use crate::json::ApiJson;
use crate::state::AppState;
use crate::wire::knowledge::{
    Collection, CollectionList, DocumentUpload, IngestedDocument, SearchHit, SearchResults,
};
use crate::wire::{ApiErrors, ErrorResponse};

/// The largest upload body: a document of [`MAX_DOCUMENT_BYTES`] in base64, and its JSON.
pub const MAX_UPLOAD_BODY_BYTES: usize = (MAX_DOCUMENT_BYTES as usize) / 3 * 4 + 64 * 1024;

/// An uploaded file's name and bytes: the name only, never a path (it names the document, and
/// its extension says how to read it — one Fulcrum reads), the bytes decoded from base64.
pub(crate) fn uploaded_file(
    filename: &str,
    content_base64: &str,
) -> Result<(String, Vec<u8>), ApiError> {
    let name = Path::new(filename)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::invalid_value("filename", "`filename` must name a file"))?;
    if !is_supported(Path::new(&name)) {
        return Err(ApiError::invalid_value(
            "filename",
            format!(
                "`{name}` is not a document Fulcrum reads (supported: .{})",
                SUPPORTED_EXTENSIONS.join(", .")
            ),
        ));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(content_base64.as_bytes())
        .map_err(|err| {
            ApiError::invalid_value(
                "content_base64",
                format!("`content_base64` is not base64: {err}"),
            )
        })?;
    Ok((name, bytes))
}

/// The knowledge database, when the caller may manage it.
fn managed(state: &AppState, principal: &Principal) -> Result<PathBuf, ApiError> {
    let governance = state.governance.as_ref().ok_or_else(|| {
        ApiError::not_found("this server runs without a policy", "not_configured")
    })?;
    if !governance
        .policy
        .registry()
        .manages_knowledge(&principal.role)
    {
        return Err(ApiError::forbidden(format!(
            "role `{}` may not manage knowledge collections (the policy's `knowledge_roles`)",
            principal.role
        )));
    }
    governance.knowledge.clone().ok_or_else(|| {
        ApiError::not_found("this server has no knowledge database", "not_configured")
    })
}

/// Runs `work` on a blocking thread (SQLite, extraction and embeddings are all blocking).
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work).await.map_err(|err| {
        tracing::error!(%err, "a knowledge task failed");
        ApiError::internal()
    })?
}

fn open(database: &Path) -> Result<KnowledgeStore, ApiError> {
    KnowledgeStore::open(database).map_err(|err| {
        tracing::error!(%err, database = %database.display(), "cannot open the knowledge database");
        ApiError::internal()
    })
}

#[utoipa::path(get, path = "/v1/knowledge/collections", tag = "knowledge", responses((status = 200, body = CollectionList), ApiErrors), security(("api_key" = [])))]
pub async fn collections(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
) -> Result<Json<CollectionList>, ApiError> {
    let principal = caller(principal)?;
    let database = managed(&state, &principal)?;
    let data = blocking(move || {
        if !database.is_file() {
            return Ok(Vec::new());
        }
        open(&database)?
            .collections()
            .map_err(|err| ApiError::invalid_request(err.to_string()))
    })
    .await?;
    Ok(Json(CollectionList {
        data: data.into_iter().map(Collection::from).collect(),
    }))
}

#[utoipa::path(post, path = "/v1/knowledge/collections/{name}/documents", tag = "knowledge", params(("name" = String, Path, description = "the collection (letters, digits, `-`, `_`); made when absent")), request_body = DocumentUpload, responses((status = 200, body = IngestedDocument), ApiErrors, (status = 413, description = "body too large", body = ErrorResponse)), security(("api_key" = [])))]
pub async fn add_document(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
    UrlPath(collection): UrlPath<String>,
    ApiJson(upload): ApiJson<DocumentUpload>,
) -> Result<Json<IngestedDocument>, ApiError> {
    let principal = caller(principal)?;
    let database = managed(&state, &principal)?;
    let (name, bytes) = uploaded_file(&upload.filename, &upload.content_base64)?;
    let roles = match upload.roles {
        None => None,
        Some(roles) => {
            let known = |role: &String| {
                state
                    .governance
                    .as_ref()
                    .is_some_and(|g| g.policy.registry().knows_role(role))
            };
            if let Some(unknown) = roles.iter().find(|role| !known(role)) {
                return Err(ApiError::invalid_value(
                    "roles",
                    format!("role `{unknown}` is not in the policy's `roles`"),
                ));
            }
            Some(roles)
        }
    };
    let embedder = state.embedder.clone();
    let audit = state.governance.as_ref().map(|g| g.policy.clone());
    let context = CallContext {
        principal: principal.clone(),
        request_id: Some(format!("req_{}", uuid::Uuid::new_v4().simple())),
        session_id: None,
    };
    let done = blocking(move || {
        let text = extract_bytes(Path::new(&name), bytes)
            .map_err(|err| ApiError::invalid_value("content_base64", err.to_string()))?;
        if let Some(parent) = database.parent() {
            std::fs::create_dir_all(parent).map_err(|err| {
                tracing::error!(%err, "cannot create the knowledge database's folder");
                ApiError::internal()
            })?;
        }
        let mut store = open(&database)?;
        let refused = |err: fulcrum_retrieval::RetrievalError| {
            ApiError::invalid_value("name", err.to_string())
        };
        if let Some(roles) = &roles {
            store.set_roles(&collection, roles).map_err(refused)?;
        }
        let ingested = store
            .ingest(
                &collection,
                &name,
                &text,
                ChunkLimits::default(),
                embedder.get(),
            )
            .map_err(refused)?;
        let (outcome, chunks) = match ingested.outcome {
            IngestOutcome::Added { chunks } => ("added", chunks),
            IngestOutcome::Replaced { chunks } => ("replaced", chunks),
            IngestOutcome::Unchanged => ("unchanged", 0),
        };
        let version = store.version(&collection).map_err(refused)?;
        let roles = store.roles(&collection).map_err(refused)?;
        let done = IngestedDocument {
            collection,
            source: name,
            outcome,
            chunks,
            embedded: embedder.get().is_some(),
            version,
        };
        Ok((done, roles))
    })
    .await?;
    let (done, roles) = done;
    if let Some(policy) = audit {
        let data = json!({"collection": done.collection, "source": done.source, "outcome": done.outcome, "chunks": done.chunks, "roles": roles});
        if let Err(err) = policy
            .audit()
            .append(context.event("knowledge_ingested", data))
        {
            tracing::error!(%err, "a document upload was not audited");
        }
    }
    Ok(Json(done))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// What to look for.
    query: String,
    /// Chunks to return (1–50).
    #[serde(default = "default_limit")]
    limit: usize,
    /// `bm25`, `dense` or `hybrid` (the default).
    #[serde(default)]
    mode: Option<String>,
}

fn default_limit() -> usize {
    5
}

#[utoipa::path(get, path = "/v1/knowledge/collections/{name}/search", tag = "knowledge", params(("name" = String, Path, description = "the collection"), SearchQuery), responses((status = 200, body = SearchResults), ApiErrors), security(("api_key" = [])))]
pub async fn search(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
    UrlPath(collection): UrlPath<String>,
    Query(query): Query<SearchQuery>,
) -> Result<Json<SearchResults>, ApiError> {
    let principal = caller(principal)?;
    let database = managed(&state, &principal)?;
    let mode = match query.mode.as_deref() {
        None => SearchMode::Hybrid,
        Some(text) => SearchMode::parse(text).ok_or_else(|| {
            ApiError::invalid_value("mode", format!("`{text}` is not bm25, dense or hybrid"))
        })?,
    };
    let embedder = state.embedder.clone();
    let mode = if embedder.get().is_none() {
        SearchMode::Bm25
    } else {
        mode
    };
    let hits = blocking(move || {
        if !database.is_file() {
            return Ok(Vec::new());
        }
        open(&database)?
            .search(
                &collection,
                &query.query,
                query.limit.clamp(1, 50),
                mode,
                embedder.get(),
            )
            .map_err(|err| ApiError::invalid_request(err.to_string()))
    })
    .await?;
    Ok(Json(SearchResults {
        data: hits
            .into_iter()
            .map(|hit| SearchHit {
                source: hit.source,
                heading: hit.heading,
                text: hit.text,
                score: hit.score,
            })
            .collect(),
    }))
}
