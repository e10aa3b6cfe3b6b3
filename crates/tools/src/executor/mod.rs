//! Running a permitted call: dispatch to the tool's executor, under its timeout, with its
//! output capped before anything (the model, the log) sees it.

pub mod builtin;
pub mod host;
pub(crate) mod http;
mod mcp;
pub mod sql;
pub mod tls;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderMap;

use serde_json::Value;

use crate::config::ExecutorConfig;
use crate::error::ToolsError;
use crate::permit::Permit;
use crate::registry::Registry;

/// What a tool returned, as text for the model, cut to the tool's cap.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutput {
    pub text: String,
    /// The output was longer than the tool's `max_output_bytes` and was cut.
    pub truncated: bool,
}

impl ToolOutput {
    fn capped(value: &Value, max_bytes: usize) -> ToolOutput {
        let text = match value {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        match cut(&text, max_bytes) {
            Some(text) => ToolOutput {
                text,
                truncated: true,
            },
            None => ToolOutput {
                text,
                truncated: false,
            },
        }
    }
}

/// `text` cut to `max_bytes` (on a character boundary) and marked, when it is longer.
fn cut(text: &str, max_bytes: usize) -> Option<String> {
    if text.len() <= max_bytes {
        return None;
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Some(format!("{}… [cut at {max_bytes} bytes]", &text[..end]))
}

/// A tool's error with its text held to the tool's output cap: an MCP server's or a web
/// service's error body goes into the prompt and the audit log like an output does.
fn capped_error(err: ToolsError, max_bytes: usize) -> ToolsError {
    match err {
        ToolsError::Execution { tool, reason } => ToolsError::Execution {
            reason: cut(&reason, max_bytes).unwrap_or(reason),
            tool,
        },
        other => other,
    }
}

/// Runs tools of one registry.
#[derive(Clone)]
pub struct Executors {
    registry: Arc<Registry>,
    http: reqwest::Client,
    /// Clients of the `http` tools that send headers of their own (credentials).
    http_with_headers: Arc<HashMap<String, reqwest::Client>>,
    mcp: Arc<mcp::McpServers>,
    hosts: Arc<host::HostFunctions>,
}

impl Executors {
    pub fn new(registry: Arc<Registry>) -> Result<Executors, ToolsError> {
        let ca_file = registry
            .config()
            .http_ca_file
            .as_ref()
            .map(|file| registry.base_dir().join(file));
        let config_error = |reason: String| ToolsError::Config {
            origin: "http client".into(),
            reason,
        };
        let http = tls::client(ca_file.as_deref(), HeaderMap::new()).map_err(config_error)?;
        let mut http_with_headers = HashMap::new();
        for tool in registry.tools() {
            if let ExecutorConfig::Http { headers, .. } = &tool.config.executor {
                if headers.is_empty() {
                    continue;
                }
                let tool_error = |reason: String| ToolsError::ToolConfig {
                    origin: "the policy".into(),
                    tool: tool.config.name.clone(),
                    reason,
                };
                let headers =
                    tls::resolve_headers(headers, registry.base_dir()).map_err(tool_error)?;
                let client = tls::client(ca_file.as_deref(), headers).map_err(tool_error)?;
                http_with_headers.insert(tool.config.name.clone(), client);
            }
        }
        let mcp = Arc::new(mcp::McpServers::new(
            &registry.config().mcp_servers,
            registry.base_dir(),
            ca_file.as_deref(),
        )?);
        Ok(Executors {
            registry,
            http,
            http_with_headers: Arc::new(http_with_headers),
            mcp,
            hosts: Arc::default(),
        })
    }

    /// Whether a registered tool runs the host function `name`.
    pub fn runs_host_function(&self, name: &str) -> bool {
        self.registry.tools().any(|tool| {
            matches!(&tool.config.executor, ExecutorConfig::Host { function } if function == name)
        })
    }

    /// Provides the function that `host` tools naming `name` run. A name no registered tool
    /// uses is refused: the policy file decides which tools exist.
    pub fn provide(
        &self,
        name: &str,
        function: Arc<dyn host::HostFunction>,
    ) -> Result<(), ToolsError> {
        if !self.runs_host_function(name) {
            return Err(ToolsError::Config {
                origin: format!("host function `{name}`"),
                reason: "no tool of the policy file runs it".into(),
            });
        }
        self.hosts.provide(name, function);
        Ok(())
    }

    /// Connects to the configured MCP servers and checks that they offer every registered
    /// `mcp` tool. Start-up runs this so that a wrong server or tool name stops it at once.
    pub async fn connect(&self) -> Result<(), ToolsError> {
        for tool in self.registry.tools() {
            if let ExecutorConfig::Host { function } = &tool.config.executor {
                if self.hosts.get(function).is_none() {
                    return Err(ToolsError::Config {
                        origin: format!("tool `{}`", tool.config.name),
                        reason: format!(
                            "its host function `{function}` is not provided by this program"
                        ),
                    });
                }
            }
        }
        self.mcp.check(&self.registry).await
    }

    /// Runs the call a [`Permit`] allows, and nothing else: there is no way to run a tool
    /// without one.
    pub async fn run(&self, permit: &Permit) -> Result<ToolOutput, ToolsError> {
        let tool = self
            .registry
            .get(permit.tool())
            .ok_or_else(|| ToolsError::UnknownTool(permit.tool().to_string()))?;
        let config = &tool.config;
        let timeout = Duration::from_millis(config.timeout_ms);
        let arguments = permit.arguments().clone();
        let name = config.name.clone();
        let work = async {
            match &config.executor {
                ExecutorConfig::Builtin { function } => builtin::run(function, &arguments),
                ExecutorConfig::Sql {
                    database,
                    statement,
                    mode,
                    max_rows,
                    no_rows,
                    totals,
                } => {
                    let path = self.registry.database_path(database).ok_or_else(|| {
                        ToolsError::Execution {
                            tool: name.clone(),
                            reason: format!("database `{database}` is not configured"),
                        }
                    })?;
                    sql::run(sql::SqlCall {
                        tool: name.clone(),
                        path,
                        statement: statement.clone(),
                        mode: *mode,
                        max_rows: *max_rows,
                        no_rows: sql::no_rows_message(no_rows.as_deref(), &arguments),
                        totals: totals.clone(),
                        arguments: arguments.clone(),
                        caller: permit.principal().clone(),
                        timeout,
                    })
                    .await
                }
                ExecutorConfig::Http { method, url, .. } => {
                    http::run(
                        self.http_with_headers.get(&name).unwrap_or(&self.http),
                        &name,
                        method,
                        url,
                        &arguments,
                        config.max_output_bytes,
                        &self.registry.config().http_allowlist,
                    )
                    .await
                }
                ExecutorConfig::Mcp { server, tool } => {
                    let remote = tool.as_deref().unwrap_or(&name);
                    self.mcp.call(&name, server, remote, &arguments).await
                }
                ExecutorConfig::Host { function } => {
                    let host = self
                        .hosts
                        .get(function)
                        .ok_or_else(|| ToolsError::Execution {
                            tool: name.clone(),
                            reason: format!("the host function `{function}` is not provided"),
                        })?;
                    host.call(permit.principal(), &arguments)
                        .await
                        .map_err(|reason| ToolsError::Execution {
                            tool: name.clone(),
                            reason,
                        })
                }
            }
        };
        // A statement keeps its own deadline (it interrupts and rolls back, then reports): the
        // general one only catches a statement that does not stop when interrupted.
        let deadline = match config.executor {
            ExecutorConfig::Sql { .. } => timeout + sql::INTERRUPT_GRACE + Duration::from_secs(1),
            _ => timeout,
        };
        let value = tokio::time::timeout(deadline, work)
            .await
            .map_err(|_| ToolsError::Timeout {
                tool: name.clone(),
                timeout_ms: config.timeout_ms,
            })?
            .map_err(|err| capped_error(err, config.max_output_bytes))?;
        Ok(ToolOutput::capped(&value, config.max_output_bytes))
    }
}
