//! The `search_knowledge` host function: what a policy file's document-search tool runs, so
//! the agent can look things up in the ingested collections (roles, limits and the audit log
//! as for any tool).

use std::path::PathBuf;

use fulcrum_tools::{HostFunction, HostFuture, Principal};
use serde_json::{json, Value};

use crate::store::KnowledgeStore;

/// The name policy files give the function (`executor = { kind = "host", function = … }`).
pub const SEARCH_KNOWLEDGE: &str = "search_knowledge";

/// Chunks returned per search at most.
const MAX_HITS: usize = 10;

pub struct KnowledgeSearchFunction {
    database: PathBuf,
}

impl KnowledgeSearchFunction {
    pub fn new(database: PathBuf) -> Self {
        KnowledgeSearchFunction { database }
    }

    fn search(database: &std::path::Path, arguments: &Value) -> Result<Value, String> {
        let collection = arguments["collection"]
            .as_str()
            .ok_or("`collection` is missing")?;
        let query = arguments["query"].as_str().ok_or("`query` is missing")?;
        let limit = arguments["limit"]
            .as_u64()
            .map_or(3, |n| (n as usize).clamp(1, MAX_HITS));
        if !database.is_file() {
            return Err("no documents have been ingested yet (fulcrum ingest)".into());
        }
        let store = KnowledgeStore::open(database).map_err(|err| err.to_string())?;
        let hits = store
            .search(collection, query, limit)
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
    fn call<'a>(&'a self, _caller: &'a Principal, arguments: &'a Value) -> HostFuture<'a> {
        let database = self.database.clone();
        let arguments = arguments.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || Self::search(&database, &arguments))
                .await
                .map_err(|err| format!("the search task failed: {err}"))?
        })
    }
}
