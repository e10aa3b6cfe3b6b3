//! What every handler shares: the model once it is loaded, its template, settings, metrics.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use fulcrum_chat::tools::ToolSet;
use fulcrum_chat::{ChatError, ToolDefinition};

use fulcrum_agent::{Agent, AgentOptions, AnswerCache, LoadedModel, SessionStore, ToolCallTuning};
use fulcrum_retrieval::PassageSource;
use fulcrum_tools::{Identities, Policy};

use crate::metrics::Metrics;

/// Settings of the HTTP layer.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// The logit biases on the call tags.
    pub tuning: ToolCallTuning,
    /// Chat completions and agent turns admitted at once (being decoded or waiting for a slot);
    /// one more gets a 429 with `Retry-After` instead of waiting without bound.
    pub max_pending: usize,
    /// Time limit of one generation (waiting for a slot included); `None`: no limit.
    pub request_timeout: Option<std::time::Duration>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            max_body_bytes: 4 * 1024 * 1024,
            max_pending: 4 + 64,
            request_timeout: None,
            tuning: ToolCallTuning::default(),
        }
    }
}

/// Shared state. The server answers health checks while the model loads; `model` is set once.
#[derive(Clone)]
pub struct AppState {
    pub model: Arc<OnceLock<LoadedModel>>,
    pub options: Arc<ServerOptions>,
    pub metrics: Metrics,
    tool_sets: Arc<Mutex<ToolSetCache>>,
    pending: Arc<AtomicUsize>,
    /// Users, tools and policy; `None` serves the plain OpenAI API without authentication.
    pub governance: Option<Arc<Governance>>,
}

/// A generation's place among the pending ones, given back when it is dropped.
pub struct Admission(Arc<AtomicUsize>);

impl Drop for Admission {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Who may call the API and which tools run for them: identities, the policy, the agent.
pub struct Governance {
    pub identities: Identities,
    pub policy: Arc<Policy>,
    pub sessions: Arc<SessionStore>,
    pub agent_options: AgentOptions,
    /// Long-term memory searched for every agent turn, when configured.
    pub passages: Option<Arc<dyn PassageSource>>,
    /// Answers to frequent first questions, when configured.
    pub answers: Option<Arc<AnswerCache>>,
    /// Built when the model is loaded.
    agent: OnceLock<Arc<Agent>>,
}

impl Governance {
    pub fn new(
        identities: Identities,
        policy: Arc<Policy>,
        sessions: Arc<SessionStore>,
        agent_options: AgentOptions,
    ) -> Governance {
        Governance {
            identities,
            policy,
            sessions,
            agent_options,
            passages: None,
            answers: None,
            agent: OnceLock::new(),
        }
    }

    /// Reuses answers to sessions' first questions from `cache`.
    pub fn with_answer_cache(mut self, cache: Arc<AnswerCache>) -> Governance {
        self.answers = Some(cache);
        self
    }

    /// Puts passages from `source` into every agent turn's prompt.
    pub fn with_passages(mut self, source: Arc<dyn PassageSource>) -> Governance {
        self.passages = Some(source);
        self
    }

    /// The agent, once the model is loaded.
    pub fn agent(&self) -> Option<&Arc<Agent>> {
        self.agent.get()
    }
}

/// Recently used tool sets: an agent sends the same tools with every request, and compiling
/// their schema validators each time is wasted work.
#[derive(Default)]
struct ToolSetCache {
    sets: HashMap<String, Arc<ToolSet>>,
    order: VecDeque<String>,
}

const TOOL_SET_CACHE_ENTRIES: usize = 64;

impl AppState {
    pub fn new(options: ServerOptions) -> Result<Self, prometheus::Error> {
        Ok(AppState {
            model: Arc::new(OnceLock::new()),
            options: Arc::new(options),
            metrics: Metrics::new()?,
            tool_sets: Arc::new(Mutex::new(ToolSetCache::default())),
            pending: Arc::new(AtomicUsize::new(0)),
            governance: None,
        })
    }

    /// A place among the pending generations, or `None` when `max_pending` are admitted.
    pub fn admit_generation(&self) -> Option<Admission> {
        let before = self.pending.fetch_add(1, Ordering::SeqCst);
        if before >= self.options.max_pending {
            self.pending.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(Admission(Arc::clone(&self.pending)))
    }

    /// Requires API keys on every route but health, and serves the agent and actions.
    pub fn with_governance(mut self, governance: Governance) -> Self {
        self.governance = Some(Arc::new(governance));
        self
    }

    /// The validated tool set for `tools`, compiled once per distinct set.
    pub fn tool_set(&self, tools: Vec<ToolDefinition>) -> Result<Arc<ToolSet>, ChatError> {
        let key = tools
            .iter()
            .map(|t| {
                format!(
                    "{}\u{0}{}\u{0}{}",
                    t.name,
                    t.description.as_deref().unwrap_or(""),
                    t.parameters
                )
            })
            .collect::<Vec<_>>()
            .join("\u{1}");
        if let Some(set) = self
            .tool_sets
            .lock()
            .ok()
            .and_then(|cache| cache.sets.get(&key).cloned())
        {
            return Ok(set);
        }
        let set = Arc::new(ToolSet::new(tools)?);
        if let Ok(mut cache) = self.tool_sets.lock() {
            if !cache.sets.contains_key(&key) {
                while cache.order.len() >= TOOL_SET_CACHE_ENTRIES {
                    if let Some(oldest) = cache.order.pop_front() {
                        cache.sets.remove(&oldest);
                    }
                }
                cache.order.push_back(key.clone());
                cache.sets.insert(key, Arc::clone(&set));
            }
        }
        Ok(set)
    }

    /// Marks the server ready with this model. Later calls are ignored.
    pub fn set_model(&self, model: LoadedModel) {
        if let Some(governance) = &self.governance {
            match Agent::new(
                Arc::clone(&model.backend),
                Arc::clone(&model.template),
                Arc::clone(&governance.policy),
                Arc::clone(&governance.sessions),
                governance.agent_options.clone(),
            ) {
                Ok(agent) => {
                    let agent = match &governance.passages {
                        Some(source) => agent.with_passages(Arc::clone(source)),
                        None => agent,
                    };
                    let agent = match &governance.answers {
                        Some(cache) => agent.with_answer_cache(Arc::clone(cache)),
                        None => agent,
                    };
                    let _ = governance.agent.set(Arc::new(agent));
                }
                Err(err) => tracing::error!(%err, "the agent cannot start; its routes answer 503"),
            }
        }
        if self.model.set(model).is_err() {
            tracing::warn!("a model was already loaded; ignoring the second one");
        }
    }
}
