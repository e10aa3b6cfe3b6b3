//! What every handler shares: the model once it is loaded, its template, settings, metrics.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};

use fulcrum_chat::tools::ToolSet;
use fulcrum_chat::{ChatError, ToolDefinition};

use fulcrum_agent::{Agent, AgentOptions, AnswerCache, LoadedModel, SessionStore, ToolCallTuning};
use fulcrum_retrieval::{PassageSource, SharedEmbedder};
use fulcrum_tools::{Identities, Policy, Principal};

use crate::error::ApiError;
use crate::limits::{Admission, CallerLimits, Pending};
use crate::metering::MeteredBackend;

use crate::metrics::Metrics;
use axum::response::Response;

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
    /// What one request may ask for at most.
    pub request_limits: RequestLimits,
}

/// What one request may ask for at most: checked before any costly work.
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    /// `max_tokens` at most; a request without it generates up to this many (or what the
    /// context leaves, if less). Above it: 400.
    pub max_tokens: u32,
    /// Messages per request.
    pub messages: usize,
    /// Tools per request.
    pub tools: usize,
    /// Bytes of all tool definitions of a request, as JSON.
    pub tool_schema_bytes: usize,
}

impl Default for RequestLimits {
    fn default() -> Self {
        RequestLimits {
            max_tokens: 4096,
            messages: 1024,
            tools: 128,
            tool_schema_bytes: 256 * 1024,
        }
    }
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            max_body_bytes: 4 * 1024 * 1024,
            max_pending: 4 + 64,
            request_timeout: None,
            request_limits: RequestLimits::default(),
            tuning: ToolCallTuning::default(),
        }
    }
}

/// Shared state. The server answers health checks while the model loads; `model` is set once.
#[derive(Clone)]
pub struct AppState {
    pub model: Arc<OnceLock<LoadedModel>>,
    /// The sentence-embedding model of `/v1/embeddings` (and of document search), once loaded.
    pub embedder: SharedEmbedder,
    pub options: Arc<ServerOptions>,
    pub metrics: Metrics,
    tool_sets: Arc<Mutex<ToolSetCache>>,
    pending: Arc<Pending>,
    /// Users, tools and policy; `None` serves the plain OpenAI API without authentication.
    pub governance: Option<Arc<Governance>>,
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
    /// The policy file's limits on each user, when it sets any.
    pub limits: Option<Arc<CallerLimits>>,
    /// The knowledge database the `/v1/knowledge` routes manage, when configured.
    pub knowledge: Option<std::path::PathBuf>,
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
            limits: None,
            knowledge: None,
            agent: OnceLock::new(),
        }
    }

    /// Holds each user to `limits` (requests at once, per minute).
    pub fn with_limits(mut self, limits: Option<Arc<CallerLimits>>) -> Governance {
        self.limits = limits;
        self
    }

    /// Lets the policy's `knowledge_roles` manage the knowledge database at `path`.
    pub fn with_knowledge(mut self, path: std::path::PathBuf) -> Governance {
        self.knowledge = Some(path);
        self
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
            embedder: SharedEmbedder::default(),
            options: Arc::new(options),
            metrics: Metrics::new()?,
            tool_sets: Arc::new(Mutex::new(ToolSetCache::default())),
            pending: Arc::new(Pending::default()),
            governance: None,
        })
    }

    /// A place among the pending generations for `caller`: refused (a 429 response, counted
    /// by reason) when `max_pending` are admitted or the caller is at a limit of the policy
    /// file. Chat completions, agent turns, continuations after an approval and reports all
    /// come through here, before any costly work.
    pub fn admit(&self, caller: Option<&Principal>) -> Result<Admission, Box<Response>> {
        let limits = self
            .governance
            .as_ref()
            .and_then(|g| g.limits.as_ref())
            .zip(caller);
        self.pending
            .admit(self.options.max_pending, limits)
            .map_err(|refusal| {
                self.metrics
                    .rejected
                    .with_label_values(&[refusal.reason()])
                    .inc();
                Box::new(ApiError::refused(&refusal))
            })
    }

    /// `model` with every generation metered (tokens, queue wait by role, token limits),
    /// whichever route or tool starts it.
    fn metered(&self, model: LoadedModel) -> LoadedModel {
        let callers = self
            .governance
            .iter()
            .flat_map(|g| g.identities.principals())
            .map(|principal| (principal.user.clone(), principal.clone()))
            .collect();
        let limits = self.governance.as_ref().and_then(|g| g.limits.clone());
        LoadedModel {
            backend: Arc::new(MeteredBackend::new(
                model.backend,
                self.metrics.clone(),
                callers,
                limits,
            )),
            ..model
        }
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
                    "{}\u{0}{}\u{0}{}\u{0}{}",
                    t.name,
                    t.description.as_deref().unwrap_or(""),
                    t.parameters,
                    t.strict
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
        let set =
            Arc::new(ToolSet::new(tools)?.with_float_writing(self.options.tuning.float_writing()));
        // Once per distinct tool set (it is cached below): what the grammar could not enforce
        // as the client wrote it.
        for (tool, relaxation) in set.relaxations() {
            tracing::warn!(%tool, %relaxation, "a tool schema was relaxed for constrained decoding");
        }
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
        let model = self.metered(model);
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
