//! The tool registry: loaded once at start from the policy file, checked whole, then frozen.
//! There is no way to add or change a tool while Fulcrum runs.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use fulcrum_chat::tools::ToolSet;
use fulcrum_chat::ToolDefinition;
use serde_json::Value;

use crate::config::{ExecutorConfig, McpTransport, PolicyConfig, SqlMode, ToolConfig};
use crate::error::ToolsError;
use crate::template::{fill_template, placeholders};

/// One registered tool: its configuration and the validator of its arguments.
pub struct RegisteredTool {
    pub config: ToolConfig,
    validator: jsonschema::Validator,
}

impl std::fmt::Debug for RegisteredTool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisteredTool")
            .field("name", &self.config.name)
            .finish_non_exhaustive()
    }
}

impl RegisteredTool {
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The tool as the model is shown it.
    pub fn definition(&self) -> ToolDefinition {
        ToolDefinition {
            name: self.config.name.clone(),
            description: Some(self.config.description.clone()),
            parameters: self.config.parameters.clone(),
            // The policy's author can fix a schema: it is enforced as written or not loaded.
            strict: true,
        }
    }

    pub fn allows_role(&self, role: &str) -> bool {
        self.config.roles.iter().any(|r| r == role)
    }

    /// Whether a call changes something: as the policy's `acts` says, else a sensitive tool,
    /// a SQL write, or an HTTP request other than GET. Host, built-in and MCP tools count as
    /// reads unless the policy says otherwise or they are sensitive.
    pub fn acts(&self) -> bool {
        if let Some(acts) = self.config.acts {
            return acts;
        }
        self.config.sensitive
            || match &self.config.executor {
                ExecutorConfig::Sql { mode, .. } => *mode == SqlMode::Write,
                ExecutorConfig::Http { method, .. } => method != "GET",
                _ => false,
            }
    }

    /// Checks arguments against the tool's schema; the reason names the first problem.
    pub fn check_arguments(&self, arguments: &Value) -> Result<(), ToolsError> {
        match self.validator.iter_errors(arguments).next() {
            None => Ok(()),
            Some(error) => Err(ToolsError::InvalidArguments {
                tool: self.config.name.clone(),
                reason: format!("{error} (at `{}`)", error.instance_path()),
            }),
        }
    }

    /// The approver's view of a call: the configured summary with arguments filled in.
    /// Whether `earlier`'s arguments name the same object as `arguments` (the tool's
    /// `idempotency_keys` all present and equal); never when it has no such keys.
    pub fn same_object(&self, arguments: &Value, earlier: &Value) -> bool {
        let keys = &self.config.idempotency_keys;
        !keys.is_empty()
            && keys
                .iter()
                .all(|key| match (arguments.get(key), earlier.get(key)) {
                    (Some(a), Some(b)) => a == b,
                    _ => false,
                })
    }

    pub fn summary(&self, arguments: &Value) -> String {
        match &self.config.summary {
            Some(template) => fill_template(template, arguments, |value| value.to_string()),
            None => format!(
                "{}({})",
                self.config.name,
                fulcrum_chat::to_python_json(arguments).unwrap_or_else(|_| arguments.to_string())
            ),
        }
    }
}

/// Every registered tool, frozen after [`Registry::load`].
#[derive(Debug)]
pub struct Registry {
    tools: Vec<RegisteredTool>,
    by_name: HashMap<String, usize>,
    config: PolicyConfig,
    /// Where relative database paths are resolved from.
    base_dir: PathBuf,
}

impl Registry {
    /// Reads and checks a policy file; any problem names the file, the tool and what is wrong.
    pub fn load(path: &Path) -> Result<Registry, ToolsError> {
        let text = std::fs::read_to_string(path).map_err(|err| ToolsError::ConfigRead {
            path: path.to_path_buf(),
            reason: err.to_string(),
        })?;
        let base_dir = path
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        Registry::from_toml(&text, &path.display().to_string(), &base_dir)
    }

    pub fn from_toml(text: &str, origin: &str, base_dir: &Path) -> Result<Registry, ToolsError> {
        let config: PolicyConfig = toml::from_str(text).map_err(|err| ToolsError::Config {
            origin: origin.to_string(),
            reason: err.to_string().trim().replace('\n', " "),
        })?;
        Registry::from_config(config, origin, base_dir)
    }

    pub fn from_config(
        config: PolicyConfig,
        origin: &str,
        base_dir: &Path,
    ) -> Result<Registry, ToolsError> {
        let config_error = |reason: String| ToolsError::Config {
            origin: origin.to_string(),
            reason,
        };
        let roles: BTreeSet<&str> = config.roles.iter().map(String::as_str).collect();
        let known_role = |role: &str| roles.contains(role);
        let mut user_names = BTreeSet::new();
        for user in &config.users {
            // Keys, limits and approvals find a user by name: two entries would make which one
            // applies a matter of order.
            if !user_names.insert(user.name.as_str()) {
                return Err(config_error(format!(
                    "user `{}` is listed twice in `users`: give each user one entry (a user may have several keys in `key_sha256`)",
                    user.name
                )));
            }
            if !known_role(&user.role) {
                return Err(config_error(format!(
                    "user `{}` has role `{}`, which is not in `roles`",
                    user.name, user.role
                )));
            }
        }
        for role in &config.auditor_roles {
            if !known_role(role) {
                return Err(config_error(format!(
                    "auditor role `{role}` is not in `roles`"
                )));
            }
        }
        for role in &config.knowledge_roles {
            if !known_role(role) {
                return Err(config_error(format!(
                    "knowledge role `{role}` is not in `roles`"
                )));
            }
        }
        for role in config.chat_roles.iter().flatten() {
            if !known_role(role) {
                return Err(config_error(format!(
                    "chat role `{role}` is not in `roles`"
                )));
            }
        }
        for limit in &config.limits {
            let named = match (&limit.role, &limit.user) {
                (Some(role), None) if known_role(role) => format!("role `{role}`"),
                (Some(role), None) => {
                    return Err(config_error(format!(
                        "a limit names role `{role}`, which is not in `roles`"
                    )))
                }
                (None, Some(user)) if config.users.iter().any(|u| &u.name == user) => {
                    format!("user `{user}`")
                }
                (None, Some(user)) => {
                    return Err(config_error(format!(
                        "a limit names user `{user}`, who is not in `users`"
                    )))
                }
                _ => {
                    return Err(config_error(
                        "each `[[limits]]` entry names exactly one of `role` and `user`".into(),
                    ))
                }
            };
            if limit.concurrent_requests == Some(0)
                || limit.requests_per_minute == Some(0)
                || limit.tokens_per_minute == Some(0)
            {
                return Err(config_error(format!(
                    "the limit of {named} must be at least 1 (leave it out for no limit)"
                )));
            }
        }
        let mut server_names = BTreeSet::new();
        for server in &config.mcp_servers {
            let server_error =
                |reason: &str| config_error(format!("MCP server `{}`: {reason}", server.name));
            if !server_names.insert(server.name.as_str()) {
                return Err(server_error("defined twice"));
            }
            if server.connect_timeout_ms == 0 {
                return Err(server_error("`connect_timeout_ms` must be above 0"));
            }
            match &server.transport {
                McpTransport::Stdio { command, .. } if command.trim().is_empty() => {
                    return Err(server_error("`command` is empty"));
                }
                McpTransport::Http { url, .. }
                    if !(url.starts_with("http://") || url.starts_with("https://")) =>
                {
                    return Err(server_error("`url` must start with http:// or https://"));
                }
                _ => {}
            }
        }
        let mut database_names = BTreeSet::new();
        for database in &config.databases {
            if !database_names.insert(database.name.as_str()) {
                return Err(config_error(format!(
                    "database `{}` is defined twice",
                    database.name
                )));
            }
        }

        // The chat layer's checks (names, schemas) are the ones the model's tools pass too.
        let definitions = config
            .tools
            .iter()
            .map(|tool| ToolDefinition {
                name: tool.name.clone(),
                description: Some(tool.description.clone()),
                parameters: tool.parameters.clone(),
                strict: true,
            })
            .collect();
        match ToolSet::new(definitions) {
            Ok(_) => {}
            Err(fulcrum_chat::ChatError::InvalidTool { index, reason }) => {
                return Err(ToolsError::ToolConfig {
                    origin: origin.to_string(),
                    tool: config
                        .tools
                        .get(index)
                        .map_or_else(|| format!("#{index}"), |t| t.name.clone()),
                    reason,
                })
            }
            Err(err) => return Err(config_error(err.to_string())),
        }

        let mut tools = Vec::with_capacity(config.tools.len());
        let mut by_name = HashMap::new();
        for tool in &config.tools {
            let tool_error = |reason: String| ToolsError::ToolConfig {
                origin: origin.to_string(),
                tool: tool.name.clone(),
                reason,
            };
            if by_name.insert(tool.name.clone(), tools.len()).is_some() {
                return Err(tool_error("the name is used twice".into()));
            }
            if tool.description.trim().is_empty() {
                return Err(tool_error("`description` is empty".into()));
            }
            if tool.parameters.get("type").and_then(Value::as_str) != Some("object") {
                return Err(tool_error(
                    "`parameters` must be an object schema (`type = \"object\"`)".into(),
                ));
            }
            for role in tool.roles.iter().chain(&tool.approver_roles) {
                if !known_role(role) {
                    return Err(tool_error(format!("role `{role}` is not in `roles`")));
                }
            }
            if tool.timeout_ms == 0 || tool.max_output_bytes == 0 {
                return Err(tool_error(
                    "`timeout_ms` and `max_output_bytes` must be above 0".into(),
                ));
            }
            let properties = tool.parameters.get("properties").and_then(Value::as_object);
            let has_property = |name: &str| properties.is_some_and(|p| p.contains_key(name));
            if let Some(summary) = &tool.summary {
                if let Some(missing) = placeholders(summary).into_iter().find(|n| !has_property(n))
                {
                    return Err(tool_error(format!(
                        "`summary` names `{{{missing}}}`, which is not a parameter"
                    )));
                }
            }
            if let Some(missing) = tool.idempotency_keys.iter().find(|n| !has_property(n)) {
                return Err(tool_error(format!(
                    "`idempotency_keys` names `{missing}`, which is not a parameter"
                )));
            }
            if !tool.idempotency_keys.is_empty() && !tool.sensitive {
                return Err(tool_error(
                    "`idempotency_keys` only applies to a `sensitive` tool".into(),
                ));
            }
            check_executor(tool, &config, &has_property).map_err(tool_error)?;
            let validator = jsonschema::validator_for(&tool.parameters)
                .map_err(|err| tool_error(format!("`parameters` is not a valid schema: {err}")))?;
            tools.push(RegisteredTool {
                config: tool.clone(),
                validator,
            });
        }
        Ok(Registry {
            tools,
            by_name,
            config,
            base_dir: base_dir.to_path_buf(),
        })
    }

    pub fn get(&self, name: &str) -> Option<&RegisteredTool> {
        self.by_name.get(name).map(|&index| &self.tools[index])
    }

    pub fn tools(&self) -> impl Iterator<Item = &RegisteredTool> {
        self.tools.iter()
    }

    /// The tools a role may call, as the model is shown them (and nothing else).
    pub fn definitions_for_role(&self, role: &str) -> Vec<ToolDefinition> {
        self.tools
            .iter()
            .filter(|tool| tool.allows_role(role))
            .map(RegisteredTool::definition)
            .collect()
    }

    /// The tools that act (see [`RegisteredTool::acts`]) which `role` may not call: what an
    /// agent shows the model so that a request to do one of them is called, refused by the
    /// policy and answered with a refusal, instead of answered as if done.
    pub fn actions_withheld_from(&self, role: &str) -> Vec<ToolDefinition> {
        self.tools
            .iter()
            .filter(|tool| tool.acts() && !tool.allows_role(role))
            .map(RegisteredTool::definition)
            .collect()
    }

    pub fn config(&self) -> &PolicyConfig {
        &self.config
    }

    /// A configured database's file, resolved against the policy file's folder.
    pub fn database_path(&self, name: &str) -> Option<PathBuf> {
        self.config
            .databases
            .iter()
            .find(|db| db.name == name)
            .map(|db| self.base_dir.join(&db.path))
    }

    /// The policy file's folder: relative paths in it are taken from here.
    pub fn base_dir(&self) -> &Path {
        &self.base_dir
    }

    pub fn is_auditor(&self, role: &str) -> bool {
        self.config.auditor_roles.iter().any(|r| r == role)
    }

    /// Whether `role` may manage knowledge collections through the API.
    pub fn manages_knowledge(&self, role: &str) -> bool {
        self.config.knowledge_roles.iter().any(|r| r == role)
    }

    /// Whether the policy names `role`.
    pub fn knows_role(&self, role: &str) -> bool {
        self.config.roles.iter().any(|r| r == role)
    }
}

/// Checks what can be checked of an executor without running it.
fn check_executor(
    tool: &ToolConfig,
    config: &PolicyConfig,
    has_property: &dyn Fn(&str) -> bool,
) -> Result<(), String> {
    match &tool.executor {
        ExecutorConfig::Sql {
            database,
            statement,
            max_rows,
            mode,
            totals,
            ..
        } => {
            if !config.databases.iter().any(|db| &db.name == database) {
                return Err(format!(
                    "executor names database `{database}`, which is not in `databases`"
                ));
            }
            if *max_rows == 0 {
                return Err("`max_rows` must be above 0".into());
            }
            if !totals.is_empty() && *mode == SqlMode::Write {
                return Err("`totals` sums the rows of a read; a write returns none".into());
            }
            for name in crate::executor::sql::statement_parameters(statement) {
                if crate::executor::sql::CALLER_PARAMETERS.contains(&name) {
                    continue;
                }
                if !has_property(name) {
                    return Err(format!(
                        "the statement binds `:{name}`, which is not a parameter"
                    ));
                }
            }
            Ok(())
        }
        ExecutorConfig::Http { method, url, .. } => {
            if !matches!(method.as_str(), "GET" | "POST" | "PUT" | "PATCH" | "DELETE") {
                return Err(format!("HTTP method `{method}` is not supported"));
            }
            let base = url.split('{').next().unwrap_or_default();
            let allowed = crate::executor::http::url_allowed(base, &config.http_allowlist);
            if !allowed {
                return Err(format!(
                    "URL `{url}` is not under any prefix of `http_allowlist`"
                ));
            }
            if let Some(missing) = placeholders(url).into_iter().find(|n| !has_property(n)) {
                return Err(format!(
                    "the URL names `{{{missing}}}`, which is not a parameter"
                ));
            }
            Ok(())
        }
        ExecutorConfig::Mcp { server, tool } => {
            if !config.mcp_servers.iter().any(|s| &s.name == server) {
                return Err(format!(
                    "executor names MCP server `{server}`, which is not in `mcp_servers`"
                ));
            }
            if tool.as_deref().is_some_and(|t| t.trim().is_empty()) {
                return Err("the MCP `tool` name is empty".into());
            }
            Ok(())
        }
        ExecutorConfig::Host { function } => {
            if function.trim().is_empty() {
                return Err("the host `function` name is empty".into());
            }
            Ok(())
        }
        ExecutorConfig::Builtin { function } => {
            if crate::executor::builtin::Builtin::parse(function).is_none() {
                return Err(format!(
                    "unknown builtin `{function}`: use `calculator` or `current_time`"
                ));
            }
            Ok(())
        }
    }
}
