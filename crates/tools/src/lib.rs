//! Tools under control: what the model may call, who may call it, and the record of it.
//!
//! The model proposes calls; this crate decides and executes them. Tools are registered once,
//! at start, from configuration ([`Registry`]); a call runs only with a [`Permit`], which only
//! [`Policy::authorize`] hands out, and only after the decision is durable in the
//! [`AuditLog`]. Sensitive tools wait for a second, persisted confirmation ([`Actions`]).
//! Nothing here knows about HTTP: the server maps these types to its API.

mod actions;
mod anchor;
mod audit;
mod config;
pub mod demo;
mod error;
pub mod executor;
mod identity;
mod permit;
mod policy;
mod postgres;
mod registry;
mod store;
mod template;

pub use actions::{Action, ActionState, Actions, ApprovalOutcome};
pub use anchor::{
    check_signature, read_checkpoints, AuditAnchor, AuditKey, Checkpoint, AUDIT_KEY_ENV,
};
pub use audit::{AnchorCheck, AuditEvent, AuditFilter, AuditLog, AuditRecord, VerifyReport};
pub use config::{
    ChatAuditContent, DatabaseConfig, ExecutorConfig, LimitConfig, McpServerConfig, McpTransport,
    PolicyConfig, SecretValue, SqlMode, ToolConfig, UserConfig,
};
pub use error::ToolsError;
pub use executor::host::{HostFunction, HostFuture};
pub use executor::tls::install_tls_provider;
pub use executor::{Executors, ToolOutput};
pub use identity::{ApiKey, Identities, Principal};
pub use permit::Permit;
pub use policy::{CallContext, Decision, Policy, Resolution};
pub use postgres::PgConnection;
pub use registry::{RegisteredTool, Registry};
pub use store::{open_state_database, open_state_database_with, Durability};
