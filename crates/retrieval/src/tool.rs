//! The `search_knowledge` host function: what a policy file's document-search tool runs, so
//! the agent can look things up in the ingested collections (roles, limits and the audit log
//! as for any tool). A collection limited to roles is checked here, at execution, against the
//! caller's role: the model cannot talk its way into it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use fulcrum_tools::{HostFunction, HostFuture, Principal};
use serde_json::{json, Value};

use crate::embed::Embedder;
use crate::store::{KnowledgeStore, SearchMode};

/// The knowledge database opened for `caller` to read `collection`: refused, as a tool's
/// error, when nothing was ingested or the collection is limited to other roles (checked
/// here, when the call runs, whatever the model was shown).
pub fn open_for_reader(
    database: &Path,
    collection: &str,
    caller: &Principal,
) -> Result<KnowledgeStore, String> {
    if !database.is_file() {
        return Err("no documents have been ingested yet (fulcrum ingest)".into());
    }
    let store = KnowledgeStore::open(database).map_err(|err| err.to_string())?;
    let may_read = store
        .may_read(collection, std::slice::from_ref(&caller.role))
        .map_err(|err| err.to_string())?;
    if !may_read {
        return Err(format!(
            "role `{}` may not read the collection `{collection}`",
            caller.role
        ));
    }
    Ok(store)
}

/// The name policy files give the function (`executor = { kind = "host", function = … }`).
pub const SEARCH_KNOWLEDGE: &str = "search_knowledge";

/// Chunks returned per search at most.
const MAX_HITS: usize = 10;

/// The embedding model, loaded once (in the background, after start-up) and shared by every
/// search; until it is there, and if it never loads, searches rank by words alone.
#[derive(Clone, Default)]
pub struct SharedEmbedder(Arc<OnceLock<Embedder>>);

impl SharedEmbedder {
    pub fn get(&self) -> Option<&Embedder> {
        self.0.get()
    }

    /// Makes `embedder` the one every holder uses; a second call is ignored.
    pub fn set(&self, embedder: Embedder) {
        let _ = self.0.set(embedder);
    }
}

pub struct KnowledgeSearchFunction {
    database: PathBuf,
    embedder: SharedEmbedder,
}

impl KnowledgeSearchFunction {
    pub fn new(database: PathBuf, embedder: SharedEmbedder) -> Self {
        KnowledgeSearchFunction { database, embedder }
    }

    fn search(
        database: &Path,
        embedder: Option<&Embedder>,
        caller: &Principal,
        arguments: &Value,
    ) -> Result<Value, String> {
        let collection = arguments["collection"]
            .as_str()
            .ok_or("`collection` is missing")?;
        let query = arguments["query"].as_str().ok_or("`query` is missing")?;
        let limit = arguments["limit"]
            .as_u64()
            .map_or(3, |n| (n as usize).clamp(1, MAX_HITS));
        let store = open_for_reader(database, collection, caller)?;
        let hits = store
            .search(collection, query, limit, SearchMode::Hybrid, embedder)
            .map_err(|err| err.to_string())?;
        Ok(json!({
            "collection": collection,
            "passages": hits.iter().map(|hit| json!({
                "source": hit.source,
                "section": hit.heading,
                "text": hit.text,
            })).collect::<Vec<_>>(),
        }))
    }
}

impl HostFunction for KnowledgeSearchFunction {
    fn call<'a>(&'a self, caller: &'a Principal, arguments: &'a Value) -> HostFuture<'a> {
        let database = self.database.clone();
        let arguments = arguments.clone();
        let caller = caller.clone();
        let embedder = self.embedder.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                Self::search(&database, embedder.get(), &caller, &arguments)
            })
            .await
            .map_err(|err| format!("the search task failed: {err}"))?
        })
    }
}
