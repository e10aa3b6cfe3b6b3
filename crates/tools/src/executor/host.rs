//! Tools the Fulcrum process itself implements (a monthly report, say): the policy file
//! registers the tool — name, roles, schema, limits — as for any other, with
//! `executor = { kind = "host", function = "…" }`, and the program provides the function at
//! start-up. Nothing can be provided for a tool the file does not register, and start-up
//! fails if a registered one is not provided.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};

use serde_json::Value;

use crate::identity::Principal;

/// What a host function returns: its output for the model, or why it failed.
pub type HostFuture<'a> = Pin<Box<dyn Future<Output = Result<Value, String>> + Send + 'a>>;

/// A function of the program, called with a permitted call's caller and arguments.
pub trait HostFunction: Send + Sync + 'static {
    fn call<'a>(&'a self, caller: &'a Principal, arguments: &'a Value) -> HostFuture<'a>;
}

/// The functions provided so far, by name.
#[derive(Default)]
pub(crate) struct HostFunctions {
    functions: RwLock<HashMap<String, Arc<dyn HostFunction>>>,
}

impl HostFunctions {
    pub(crate) fn provide(&self, name: &str, function: Arc<dyn HostFunction>) {
        if let Ok(mut functions) = self.functions.write() {
            functions.insert(name.to_string(), function);
        }
    }

    pub(crate) fn get(&self, name: &str) -> Option<Arc<dyn HostFunction>> {
        self.functions.read().ok()?.get(name).cloned()
    }
}
