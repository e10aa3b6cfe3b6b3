//! Loads what governs the server: the policy file (or the demo enterprise), the state
//! database, and from them identities, the policy and agent sessions.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use fulcrum_agent::{AgentOptions, AnswerCache, SessionStore};
use fulcrum_server::Governance;
use fulcrum_tools::{open_state_database_with, AuditLog, Identities, Policy, Registry};

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

pub fn open_audit(config: &Config) -> Result<AuditLog> {
    let path = config.state_db_path();
    let connection = open_state_database_with(&path, config.state_durability)?;
    Ok(AuditLog::new(connection)?)
}

pub fn load(config: &Config) -> Result<Governance> {
    let (path, demo) = policy_path(config)?;
    let registry = Registry::load(&path)?;
    let identities = Identities::from_config(registry.config());
    let state = config.state_db_path();
    let durability = config.state_durability;
    let sessions = SessionStore::open_with(&state, durability)?;
    tracing::info!(
        policy = %path.display(),
        state = %state.display(),
        tools = registry.tools().count(),
        users = registry.config().users.len(),
        "policy loaded{}",
        if demo { " (the demo enterprise: its keys are public, see the README)" } else { "" }
    );
    let limits = fulcrum_server::CallerLimits::new(&registry.config().limits);
    let policy = Policy::open(
        registry,
        &state,
        durability,
        Duration::from_secs(config.confirmation_ttl_secs),
    )?;
    let governance = Governance::new(
        identities,
        Arc::new(policy),
        Arc::new(sessions),
        AgentOptions {
            max_steps: config.agent_max_steps,
            parallel_calls: config.agent_parallel_calls,
            tuning: config.tuning(),
            generation_timeout: config.request_timeout(),
            context: config.context_budget(),
            ..AgentOptions::default()
        },
    )
    .with_limits(limits);
    Ok(if config.answer_cache_ttl_secs > 0 {
        governance.with_answer_cache(Arc::new(AnswerCache::new(Duration::from_secs(
            config.answer_cache_ttl_secs,
        ))))
    } else {
        governance
    })
}
