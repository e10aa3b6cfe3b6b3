//! Loads what governs the server: the policy file (or the demo enterprise), the state
//! database, and from them identities, the policy and agent sessions.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use fulcrum_agent::{AgentOptions, AnswerCache, SessionStore};
use fulcrum_server::Governance;
use fulcrum_tools::{
    open_state_database_with, Actions, AuditAnchor, AuditLog, Identities, PgConnection, Policy,
    Registry,
};

use crate::config::Config;

/// The policy file to use: the configured one, or the demo's (installed on first use).
pub fn policy_path(config: &Config) -> Result<(PathBuf, bool)> {
    match &config.policy {
        Some(path) => Ok((path.clone(), false)),
        None => {
            let path = fulcrum_tools::demo::install(&config.home_dir().join("demo"))
                .context("cannot install the demo enterprise")?;
            Ok((path, true))
        }
    }
}

/// Where and how the audit log's head is checkpointed.
pub fn audit_anchor(config: &Config) -> Result<AuditAnchor> {
    let key = config.audit_key()?;
    let path = config.audit_checkpoints_path();
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    Ok(AuditAnchor::new(path, key, config.audit_checkpoint_every))
}

pub fn open_audit(config: &Config) -> Result<AuditLog> {
    if let Some(url) = &config.state_url {
        return Ok(AuditLog::postgres(PgConnection::connect(url)?)?);
    }
    let path = config.state_db_path();
    let connection = open_state_database_with(&path, config.state_durability)?;
    Ok(AuditLog::new(connection)?)
}

/// Where the state lives, for logs and messages (never the URL's password).
pub fn state_description(config: &Config) -> String {
    match &config.state_url {
        Some(url) => {
            let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
            let host = rest.rsplit('@').next().unwrap_or(rest);
            format!("{scheme}://{host}")
        }
        None => config.state_db_path().display().to_string(),
    }
}

/// The audit log, pending actions and sessions: in PostgreSQL (one connection each) when
/// `state_url` is set, else in the SQLite file.
fn open_state(config: &Config, registry: Registry) -> Result<(Policy, SessionStore)> {
    let ttl = Duration::from_secs(config.confirmation_ttl_secs);
    match &config.state_url {
        Some(url) => {
            let connect = || PgConnection::connect(url);
            let audit = AuditLog::postgres(connect()?)?;
            let actions = Actions::postgres(connect()?)?;
            let sessions = SessionStore::postgres(connect()?)?;
            let policy = Policy::new(Arc::new(registry), Arc::new(audit), Arc::new(actions), ttl)?;
            Ok((policy, sessions))
        }
        None => {
            let state = config.state_db_path();
            let sessions = SessionStore::open_with(&state, config.state_durability)?;
            let policy = Policy::open(registry, &state, config.state_durability, ttl)?;
            Ok((policy, sessions))
        }
    }
}

pub fn load(config: &Config) -> Result<Governance> {
    let (path, demo) = policy_path(config)?;
    let registry = Registry::load(&path)?;
    let identities = Identities::from_config(registry.config());
    tracing::info!(
        policy = %path.display(),
        state = %state_description(config),
        tools = registry.tools().count(),
        users = registry.config().users.len(),
        "policy loaded{}",
        if demo { " (the demo enterprise: its keys are public, see the README)" } else { "" }
    );
    let limits = fulcrum_server::CallerLimits::new(&registry.config().limits);
    let (policy, sessions) = open_state(config, registry)?;
    let anchor = audit_anchor(config)?;
    if !anchor.is_signed() {
        tracing::warn!(
            "audit checkpoints are not signed: set FULCRUM_AUDIT_KEY or `audit_key_file` so that whoever can write the state database cannot rewrite the log unseen"
        );
    }
    policy
        .audit()
        .anchor_with(Arc::new(anchor))
        .context("cannot write the audit checkpoint")?;
    let governance = Governance::new(
        identities,
        Arc::new(policy),
        Arc::new(sessions),
        agent_options(config),
    )
    .with_limits(limits);
    if config.answer_cache_ttl_secs == 0 {
        return Ok(governance);
    }
    let ttl = Duration::from_secs(config.answer_cache_ttl_secs);
    let cache = match &config.state_url {
        Some(url) => AnswerCache::postgres(PgConnection::connect(url)?, ttl)?,
        None => AnswerCache::new(ttl),
    };
    Ok(governance.with_answer_cache(Arc::new(cache)))
}

/// How the agent runs turns, from the configuration.
fn agent_options(config: &Config) -> AgentOptions {
    let defaults = AgentOptions::default();
    AgentOptions {
        max_steps: config.agent_max_steps,
        // The server's cap on any one generation holds for the agent's steps too.
        max_tokens: defaults.max_tokens.min(config.max_tokens_limit),
        parallel_calls: config.agent_parallel_calls,
        show_withheld_actions: config.agent_show_withheld_actions,
        answer_in_users_language: config.agent_answer_in_users_language,
        tuning: fulcrum_agent::ToolCallTuning {
            text_answer_without_tools: config.agent_text_answer_without_tools,
            call_relevance: config.call_relevance && config.agent_call_relevance,
            ..config.tuning()
        },
        generation_timeout: config.request_timeout(),
        context: config.context_budget(),
        limits: fulcrum_agent::SessionLimits {
            sessions_per_user: config.agent_max_sessions_per_user,
            messages_per_session: config.agent_max_session_messages,
            message_chars: config.agent_max_message_chars,
        },
        ..defaults
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_servers_token_cap_holds_for_each_agent_step() {
        let default = agent_options(&Config::default());
        assert_eq!(default.max_tokens, AgentOptions::default().max_tokens);
        let capped = agent_options(&Config {
            max_tokens_limit: 24,
            ..Config::default()
        });
        assert_eq!(capped.max_tokens, 24);
    }
}
