//! One upstream engine as the router keeps it: where it is, whether it is in rotation, how
//! busy it is, which prompts it has seen, and its counters.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use fulcrum_engine::UpstreamStatus;

use crate::config::{UpstreamConfig, UpstreamKind};
use crate::error::RemoteError;
use crate::prefix::PrefixMemory;

pub(crate) struct Replica {
    pub name: String,
    pub kind: UpstreamKind,
    pub base_url: String,
    /// The model's name at the upstream.
    pub model: String,
    /// Sent by `authorized`, never logged.
    api_key: Option<String>,
    healthy: AtomicBool,
    /// Asked to back off (429/503) until then.
    backoff_until: Mutex<Option<Instant>>,
    outstanding: AtomicUsize,
    requests: AtomicU64,
    failures: AtomicU64,
    retries: AtomicU64,
    ejections: AtomicU64,
    prefixes: Mutex<PrefixMemory>,
}

/// A generation's place in a replica's outstanding count, given back when dropped.
pub(crate) struct Outstanding(Arc<Replica>);

impl Drop for Outstanding {
    fn drop(&mut self) {
        self.0.outstanding.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Replica {
    pub(crate) fn new(config: &UpstreamConfig, default_model: &str) -> Result<Self, RemoteError> {
        Ok(Replica {
            name: config.display_name(),
            kind: config.kind,
            base_url: config.base_url()?,
            model: config
                .model
                .clone()
                .unwrap_or_else(|| default_model.to_string()),
            api_key: config.api_key()?,
            // In rotation until a check says otherwise: the start-up probe runs first.
            healthy: AtomicBool::new(true),
            backoff_until: Mutex::new(None),
            outstanding: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            ejections: AtomicU64::new(0),
            prefixes: Mutex::new(PrefixMemory::default()),
        })
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// `request` with this upstream's API key, when it has one.
    pub(crate) fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.api_key {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
    }

    /// In rotation: healthy and not backing off.
    pub(crate) fn available(&self, now: Instant) -> bool {
        self.healthy.load(Ordering::SeqCst)
            && self
                .backoff_until
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_none_or(|until| until <= now)
    }

    pub(crate) fn outstanding(&self) -> usize {
        self.outstanding.load(Ordering::SeqCst)
    }

    pub(crate) fn start(self: &Arc<Self>) -> Outstanding {
        self.outstanding.fetch_add(1, Ordering::SeqCst);
        self.requests.fetch_add(1, Ordering::Relaxed);
        Outstanding(Arc::clone(self))
    }

    pub(crate) fn matched_blocks(&self, blocks: &[u64]) -> usize {
        self.prefixes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .matched(blocks)
    }

    pub(crate) fn remember(&self, blocks: &[u64]) {
        self.prefixes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remember(blocks);
    }

    /// Out of rotation until a health check passes (a refused connection, a 5xx).
    pub(crate) fn eject(&self, reason: &str) {
        if self.healthy.swap(false, Ordering::SeqCst) {
            self.ejections.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(upstream = %self.name, reason, "upstream taken out of rotation until its health check passes");
        }
    }

    /// Back in rotation after a passing health check.
    pub(crate) fn readmit(&self) {
        if !self.healthy.swap(true, Ordering::SeqCst) {
            tracing::info!(upstream = %self.name, "upstream back in rotation");
        }
    }

    /// Out of rotation for `wait` (the upstream answered 429 or 503).
    pub(crate) fn back_off(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut backoff = self
            .backoff_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if backoff.is_none_or(|current| current < until) {
            *backoff = Some(until);
            self.ejections.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(upstream = %self.name, wait_ms = wait.as_millis() as u64, "upstream asked to back off");
        }
    }

    pub(crate) fn count_failure(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn status(&self) -> UpstreamStatus {
        UpstreamStatus {
            name: self.name.clone(),
            kind: self.kind.as_str().to_string(),
            url: self.base_url.clone(),
            healthy: self.available(Instant::now()),
            grammar: self.kind.grammar_support().to_string(),
            outstanding: self.outstanding(),
            requests_total: self.requests.load(Ordering::Relaxed),
            failures_total: self.failures.load(Ordering::Relaxed),
            retries_total: self.retries.load(Ordering::Relaxed),
            ejections_total: self.ejections.load(Ordering::Relaxed),
        }
    }
}
