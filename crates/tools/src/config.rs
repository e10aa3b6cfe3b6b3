//! The policy file's shape: users and roles, databases, and the tools with their executors.
//!
//! ```toml
//! [[users]]
//! name = "alice"
//! role = "finance"
//! key_sha256 = "…"          # `fulcrum keys create --user alice` prints a key and this digest
//!
//! [[databases]]
//! name = "demo"
//! path = "demo.db"          # relative to the policy file
//!
//! [[tools]]
//! name = "refund_order"
//! description = "Refund an order in full."
//! roles = ["finance"]
//! sensitive = true
//! summary = "Refund order {order_id}"
//! parameters = { type = "object", properties = { order_id = { type = "integer" } }, required = ["order_id"] }
//! executor = { kind = "sql", database = "demo", mode = "write", statement = "UPDATE orders SET status = 'refunded' WHERE id = :order_id" }
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

/// The whole policy file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// The agent's system prompt: who it works for and how to use the tools.
    #[serde(default)]
    pub system_prompt: Option<String>,
    /// Every role a user or tool may name; a role not listed here is a configuration error.
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub users: Vec<UserConfig>,
    #[serde(default)]
    pub databases: Vec<DatabaseConfig>,
    /// URL prefixes `http` tools may reach; a tool's URL must start with one of them.
    #[serde(default)]
    pub http_allowlist: Vec<String>,
    /// A PEM file of CA certificates (relative to the policy file) that `http` tools and MCP
    /// servers over HTTPS trust besides the system's: a company's internal CA.
    #[serde(default)]
    pub http_ca_file: Option<String>,
    /// Roles that may read the audit log through the API.
    #[serde(default)]
    pub auditor_roles: Vec<String>,
    /// Roles that may list knowledge collections, add documents to them and search them
    /// through the API (`/v1/knowledge/…`); none: nobody (use `fulcrum ingest`).
    #[serde(default)]
    pub knowledge_roles: Vec<String>,
    /// Roles that may use the model directly (`/v1/chat/completions`); absent: every role.
    #[serde(default)]
    pub chat_roles: Option<Vec<String>>,
    /// What the audit row of a chat completion keeps: `full` (the messages and the output
    /// too) or `metadata` (caller, model, token counts, tools offered, calls returned).
    #[serde(default)]
    pub audit_chat_content: ChatAuditContent,
    /// MCP servers whose tools may be registered (each by name, in `tools`).
    #[serde(default)]
    pub mcp_servers: Vec<McpServerConfig>,
    #[serde(default)]
    pub tools: Vec<ToolConfig>,
    /// What one user may ask of the model at once and per minute (chat completions, agent
    /// turns, reports); none: only the server's own queue limit.
    #[serde(default)]
    pub limits: Vec<LimitConfig>,
}

/// A value kept out of the policy text: `{ env = "CRM_TOKEN" }` or `{ file = "secrets/crm" }`
/// (relative to the policy file), read once at start, with an optional `prefix`
/// (`"Bearer "`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SecretValue {
    #[serde(default)]
    pub env: Option<String>,
    #[serde(default)]
    pub file: Option<String>,
    #[serde(default)]
    pub prefix: String,
}

/// How much of a chat completion its audit row keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatAuditContent {
    /// The messages and the output, besides the metadata.
    #[default]
    Full,
    /// Caller, model, token counts, tools offered and calls returned (their names only).
    Metadata,
}

impl PolicyConfig {
    /// Whether `role` may use the model directly.
    pub fn may_chat(&self, role: &str) -> bool {
        self.chat_roles
            .as_ref()
            .is_none_or(|roles| roles.iter().any(|r| r == role))
    }
}

/// A limit on each user of a role, or on one user (whose own rule then replaces their role's).
/// Every user is counted on their own.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LimitConfig {
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
    /// Requests being served or waiting for the model at once.
    #[serde(default)]
    pub concurrent_requests: Option<u32>,
    /// Requests started per minute (a steady rate, with bursts up to this many).
    #[serde(default)]
    pub requests_per_minute: Option<u32>,
    /// Tokens (prompt and completion, as `usage` counts them) per minute: a request is
    /// refused while the caller's tokens of the last 60 seconds reach this.
    #[serde(default)]
    pub tokens_per_minute: Option<u32>,
}

/// An MCP server Fulcrum connects to at start. Only the tools named by `mcp` executors in
/// `tools` are ever shown to the model or called; the server's other tools are not.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpServerConfig {
    pub name: String,
    pub transport: McpTransport,
    /// How long start-up waits for the server to answer `initialize` and list its tools.
    #[serde(default = "default_mcp_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
}

fn default_mcp_connect_timeout_ms() -> u64 {
    20_000
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum McpTransport {
    /// A child process speaking MCP on stdin/stdout. It starts in the policy file's folder
    /// (or `cwd`, relative to it) with an empty environment but `PATH`, `HOME`, `LANG` and `env`.
    Stdio {
        command: String,
        #[serde(default)]
        args: Vec<String>,
        #[serde(default)]
        env: std::collections::BTreeMap<String, String>,
        #[serde(default)]
        cwd: Option<String>,
    },
    /// A server speaking MCP's streamable HTTP transport at this URL.
    Http {
        url: String,
        /// Headers sent with every request, their values from the environment or files.
        #[serde(default)]
        headers: BTreeMap<String, SecretValue>,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub name: String,
    pub role: String,
    /// Hex SHA-256 digests of the user's API keys (the keys themselves are never stored).
    #[serde(default)]
    pub key_sha256: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    pub name: String,
    /// A SQLite file; relative paths are taken from the policy file's folder.
    pub path: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolConfig {
    pub name: String,
    pub description: String,
    /// JSON Schema of the arguments (an object schema).
    #[serde(default = "empty_object_schema")]
    pub parameters: Value,
    pub executor: ExecutorConfig,
    /// Roles allowed to call the tool; empty means nobody.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Needs a second confirmation before it runs.
    #[serde(default)]
    pub sensitive: bool,
    /// Roles that may approve a pending call besides the user who asked for it.
    #[serde(default)]
    pub approver_roles: Vec<String>,
    /// Whether the user who asked for a call may approve it. `false` is four-eyes approval:
    /// someone of an approver role must (the requester may still deny it).
    #[serde(default = "default_self_approval")]
    pub self_approval: bool,
    /// How a pending call is described to the approver; `{arg}` is replaced by an argument.
    #[serde(default)]
    pub summary: Option<String>,
    /// The arguments that name the object a sensitive call acts on (`["order_id"]`): a call
    /// on the same object as an earlier one of the session is shown to its approver as a
    /// repeat, with the earlier call's outcome.
    #[serde(default)]
    pub idempotency_keys: Vec<String>,
    /// Whether a call changes something (an action, shown to roles that lack it so that a
    /// request for it is refused in words). Absent, it is inferred: sensitive, a SQL write, or
    /// an HTTP method other than GET; host, built-in and MCP tools read unless told.
    #[serde(default)]
    pub acts: Option<bool>,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Output longer than this is cut (and marked as cut) before the model sees it.
    #[serde(default = "default_max_output_bytes")]
    pub max_output_bytes: usize,
}

fn default_self_approval() -> bool {
    true
}

fn empty_object_schema() -> Value {
    serde_json::json!({"type": "object", "properties": {}})
}

fn default_timeout_ms() -> u64 {
    10_000
}

fn default_max_output_bytes() -> usize {
    8 * 1024
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ExecutorConfig {
    /// A named, parametrized statement; arguments are bound as `:name` parameters.
    Sql {
        database: String,
        statement: String,
        #[serde(default)]
        mode: SqlMode,
        /// Rows returned at most by a query.
        #[serde(default = "default_max_rows")]
        max_rows: usize,
        /// The error a write that changes no row reports (`{arg}` replaced by an argument),
        /// e.g. "no order {order_id} in a refundable state". Such a write is always an error.
        #[serde(default)]
        no_rows: Option<String>,
        /// Numeric columns a read also sums, over every row the statement matches (those past
        /// `max_rows` too), into a `totals` object before the rows: a figure computed in code
        /// rather than by the model adding rows.
        #[serde(default)]
        totals: Vec<String>,
    },
    /// A request to a URL template under an allowlisted prefix; `{arg}` is replaced by the
    /// percent-encoded argument, other arguments go in the query string (GET) or JSON body.
    Http {
        #[serde(default = "default_method")]
        method: String,
        url: String,
        /// Headers sent with every call (credentials), their values from the environment or
        /// files: never written in the policy, never in the audit log.
        #[serde(default)]
        headers: BTreeMap<String, SecretValue>,
    },
    /// A function built into Fulcrum: `calculator` or `current_time`.
    Builtin { function: String },
    /// A tool of a configured MCP server; `tool` is its name there (default: this tool's name).
    /// The description and parameters shown to the model and checked before a call are the
    /// ones in this file, not what the server advertises.
    Mcp {
        server: String,
        #[serde(default)]
        tool: Option<String>,
    },
    /// A function the Fulcrum program provides (`monthly_report`); start-up fails if it
    /// does not.
    Host { function: String },
}

fn default_max_rows() -> usize {
    100
}

fn default_method() -> String {
    "GET".into()
}

/// Whether a SQL tool reads (on a read-only connection) or writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SqlMode {
    #[default]
    Read,
    Write,
}
