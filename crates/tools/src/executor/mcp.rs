//! `mcp` tools: calls to tools of configured MCP servers, over stdio (a child process) or
//! streamable HTTP, through `rmcp`.
//!
//! Only tools registered in the policy file are ever called: the name sent to the server comes
//! from the registry, never from the model. A call is sent once and never retried, because a
//! tool may have effects (a sensitive action must run exactly once); a broken connection is
//! reopened on the next call instead.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{CallToolRequestParams, CallToolResult, ContentBlock};
use rmcp::service::{RunningService, ServiceError};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};
use serde_json::Value;

use crate::config::{ExecutorConfig, McpServerConfig, McpTransport};
use crate::error::ToolsError;
use crate::registry::Registry;

/// Environment variables a stdio server inherits; everything else must be named in `env`.
const INHERITED_ENV: [&str; 3] = ["PATH", "HOME", "LANG"];

type Connection = RunningService<RoleClient, ()>;

/// The configured MCP servers and their open connections.
pub(crate) struct McpServers {
    servers: HashMap<String, McpServer>,
}

struct McpServer {
    config: McpServerConfig,
    /// The HTTP client of a server over HTTP (its headers and the policy's CA file).
    http: Option<reqwest::Client>,
    /// Where a stdio server starts and relative commands are found.
    base_dir: PathBuf,
    connection: tokio::sync::Mutex<Option<Arc<Connection>>>,
}

impl McpServers {
    pub(crate) fn new(
        configs: &[McpServerConfig],
        base_dir: &Path,
        ca_file: Option<&Path>,
    ) -> Result<McpServers, ToolsError> {
        let mut servers = HashMap::new();
        for config in configs {
            let http = match &config.transport {
                McpTransport::Http { headers, .. } => {
                    let client = super::tls::resolve_headers(headers, base_dir)
                        .and_then(|headers| super::tls::client(ca_file, headers))
                        .map_err(|reason| ToolsError::Mcp {
                            server: config.name.clone(),
                            reason,
                        })?;
                    Some(client)
                }
                McpTransport::Stdio { .. } => None,
            };
            let server = McpServer {
                config: config.clone(),
                http,
                base_dir: base_dir.to_path_buf(),
                connection: tokio::sync::Mutex::new(None),
            };
            servers.insert(config.name.clone(), server);
        }
        Ok(McpServers { servers })
    }

    /// Connects to every configured server and checks that each registered `mcp` tool is one
    /// the server offers; a problem names the server and the tool. Run once at start.
    pub(crate) async fn check(&self, registry: &Registry) -> Result<(), ToolsError> {
        for (name, server) in &self.servers {
            let connection = server.connection().await?;
            let listing = server.with_timeout(connection.list_all_tools()).await?;
            let offered: BTreeSet<&str> = listing.iter().map(|tool| tool.name.as_ref()).collect();
            let mut registered = 0;
            for tool in registry.tools() {
                let ExecutorConfig::Mcp {
                    server: tool_server,
                    tool: remote,
                } = &tool.config.executor
                else {
                    continue;
                };
                if tool_server != name {
                    continue;
                }
                registered += 1;
                let remote = remote.as_deref().unwrap_or(tool.name());
                if !offered.contains(remote) {
                    return Err(ToolsError::Mcp {
                        server: name.clone(),
                        reason: format!(
                            "tool `{}` calls `{remote}`, which the server does not offer (it offers: {})",
                            tool.name(),
                            offered.iter().copied().collect::<Vec<_>>().join(", ")
                        ),
                    });
                }
            }
            tracing::info!(
                server = %name,
                offered = offered.len(),
                registered,
                "MCP server connected; only its registered tools are exposed"
            );
        }
        Ok(())
    }

    /// Calls `remote_tool` on `server` with `arguments`, once.
    pub(crate) async fn call(
        &self,
        tool: &str,
        server: &str,
        remote_tool: &str,
        arguments: &Value,
    ) -> Result<Value, ToolsError> {
        let execution = |reason: String| ToolsError::Execution {
            tool: tool.to_string(),
            reason,
        };
        let server = self
            .servers
            .get(server)
            .ok_or_else(|| execution(format!("MCP server `{server}` is not configured")))?;
        let arguments = match arguments {
            Value::Object(map) => map.clone(),
            Value::Null => serde_json::Map::new(),
            other => {
                return Err(execution(format!(
                    "arguments must be an object, got {other}"
                )))
            }
        };
        let connection = server
            .connection()
            .await
            .map_err(|err| execution(err.to_string()))?;
        let request = CallToolRequestParams::new(remote_tool.to_string()).with_arguments(arguments);
        let result = match connection.call_tool(request).await {
            Ok(result) => result,
            Err(err) => {
                // A protocol error comes from a live server; anything else may mean it is gone.
                if !matches!(err, ServiceError::McpError(_)) {
                    server.forget(&connection).await;
                }
                return Err(execution(format!(
                    "the MCP server `{}` failed: {err}",
                    server.config.name
                )));
            }
        };
        result_value(result).map_err(execution)
    }
}

impl McpServer {
    /// The open connection, or a new one when there is none or the last one closed.
    async fn connection(&self) -> Result<Arc<Connection>, ToolsError> {
        let mut slot = self.connection.lock().await;
        if let Some(connection) = slot.as_ref() {
            if !connection.is_closed() {
                return Ok(Arc::clone(connection));
            }
            tracing::warn!(server = %self.config.name, "MCP connection closed; reconnecting");
        }
        let connection = Arc::new(self.with_timeout(self.connect()).await?);
        *slot = Some(Arc::clone(&connection));
        Ok(connection)
    }

    /// Drops a broken connection so that the next call opens a new one.
    async fn forget(&self, broken: &Arc<Connection>) {
        let mut slot = self.connection.lock().await;
        if slot
            .as_ref()
            .is_some_and(|current| Arc::ptr_eq(current, broken))
        {
            tracing::warn!(server = %self.config.name, "MCP connection lost; the next call reconnects");
            *slot = None;
        }
    }

    async fn connect(&self) -> Result<Connection, ToolsError> {
        let error = |reason: String| ToolsError::Mcp {
            server: self.config.name.clone(),
            reason,
        };
        match &self.config.transport {
            McpTransport::Stdio {
                command,
                args,
                env,
                cwd,
            } => {
                let dir = match cwd {
                    Some(cwd) => self.base_dir.join(cwd),
                    None => self.base_dir.clone(),
                };
                let program = if command.contains('/') {
                    self.base_dir.join(command)
                } else {
                    PathBuf::from(command)
                };
                let mut process = tokio::process::Command::new(&program);
                process.args(args).current_dir(&dir).env_clear();
                for name in INHERITED_ENV {
                    if let Some(value) = std::env::var_os(name) {
                        process.env(name, value);
                    }
                }
                process.envs(env).kill_on_drop(true);
                let transport = TokioChildProcess::new(process)
                    .map_err(|err| error(format!("cannot start `{command}`: {err}")))?;
                ().serve(transport).await.map_err(|err| {
                    error(format!("`{command}` did not start as an MCP server: {err}"))
                })
            }
            McpTransport::Http { url, .. } => {
                let client = self.http.clone().unwrap_or_default();
                let transport = StreamableHttpClientTransport::with_client(
                    client,
                    StreamableHttpClientTransportConfig::with_uri(url.as_str()),
                );
                ().serve(transport)
                    .await
                    .map_err(|err| error(format!("cannot connect to {url}: {err}")))
            }
        }
    }

    async fn with_timeout<T, E: std::fmt::Display>(
        &self,
        work: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, ToolsError> {
        let limit = Duration::from_millis(self.config.connect_timeout_ms);
        match tokio::time::timeout(limit, work).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(ToolsError::Mcp {
                server: self.config.name.clone(),
                reason: err.to_string(),
            }),
            Err(_) => Err(ToolsError::Mcp {
                server: self.config.name.clone(),
                reason: format!(
                    "no answer within {} ms (`connect_timeout_ms`)",
                    self.config.connect_timeout_ms
                ),
            }),
        }
    }
}

/// A tool result as the model sees it: its text, or its structured content when it has no
/// text; a result the server marks as an error is an error.
fn result_value(result: CallToolResult) -> Result<Value, String> {
    let mut parts = Vec::new();
    for block in &result.content {
        match block {
            ContentBlock::Text(text) => parts.push(text.text.clone()),
            ContentBlock::Image(_) => parts.push("[an image, not shown]".into()),
            ContentBlock::Audio(_) => parts.push("[audio, not shown]".into()),
            _ => parts.push("[a resource, not shown]".into()),
        }
    }
    let text = parts.join("\n");
    if result.is_error == Some(true) {
        return Err(if text.is_empty() {
            "the MCP tool reported an error".into()
        } else {
            text
        });
    }
    Ok(
        match (result.content.is_empty(), result.structured_content) {
            (true, Some(structured)) => structured,
            _ => Value::String(text),
        },
    )
}
