//! What can stop a remote backend from starting.

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("`engine = \"remote\"` needs at least one `[[upstreams]]` entry (url, kind) in the configuration file")]
    NoUpstreams,
    #[error("upstream `{name}`: {reason}")]
    Config { name: String, reason: String },
    #[error("upstream `{name}` tokenizes differently from the local vocabulary of {vocabulary}: {detail}. Point `model` at the GGUF of the model the upstream serves")]
    TokenizerMismatch {
        name: String,
        vocabulary: String,
        detail: String,
    },
    #[error("cannot start the HTTP client of the remote engine: {0}")]
    Client(String),
}
