//! Running a permitted call: dispatch to the tool's executor, under its timeout, with its
//! output capped before anything (the model, the log) sees it.

pub mod builtin;
pub mod host;
pub(crate) mod http;
mod mcp;
pub mod sql;

use std::sync::Arc;
use std::time::Duration;

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
        if text.len() <= max_bytes {
            return ToolOutput {
                text,
                truncated: false,
            };
        }
        let mut end = max_bytes;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        ToolOutput {
            text: format!("{}… [output cut at {max_bytes} bytes]", &text[..end]),
            truncated: true,
        }
    }
}

/// Runs tools of one registry.
#[derive(Clone)]
pub struct Executors {
    registry: Arc<Registry>,
    http: reqwest::Client,
    mcp: Arc<mcp::McpServers>,
    hosts: Arc<host::HostFunctions>,
}

impl Executors {
    pub fn new(registry: Arc<Registry>) -> Result<Executors, ToolsError> {
        // No redirects: a redirect could lead outside the allowlisted prefix.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|err| ToolsError::Config {
                origin: "http client".into(),
                reason: err.to_string(),
            })?;
        let mcp = Arc::new(mcp::McpServers::new(
            &registry.config().mcp_servers,
            registry.base_dir(),
        ));
        Ok(Executors {
            registry,
            http,
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
                        arguments: arguments.clone(),
                        caller: permit.principal().clone(),
                        timeout,
                    })
                    .await
                }
                ExecutorConfig::Http { method, url } => {
                    http::run(
                        &self.http,
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
        let value =
            tokio::time::timeout(timeout, work)
                .await
                .map_err(|_| ToolsError::Timeout {
                    tool: name.clone(),
                    timeout_ms: config.timeout_ms,
                })??;
        Ok(ToolOutput::capped(&value, config.max_output_bytes))
    }
}
