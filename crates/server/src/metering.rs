//! Every generation the server starts, whoever starts it (a chat completion, an agent step, a
//! report section), is counted when it finishes: tokens in the metrics, its queue wait by the
//! caller's role, and its tokens against the caller's `tokens_per_minute`.

use std::collections::HashMap;
use std::sync::Arc;

use fulcrum_engine::{
    Backend, EngineError, EngineLoad, GenerationRequest, GenerationStream, ModelInfo,
    UpstreamStatus, Usage,
};
use fulcrum_tools::Principal;

use crate::limits::CallerLimits;
use crate::metrics::Metrics;

/// The class of a caller the server does not know (no policy, or no such user).
const ANONYMOUS: &str = "anonymous";

/// A backend whose generations are metered; it delegates everything else.
pub struct MeteredBackend {
    inner: Arc<dyn Backend>,
    metrics: Metrics,
    /// Who a request's `caller` is (by user name): their role is the class of their queue
    /// wait, their limits are charged.
    callers: HashMap<String, Principal>,
    limits: Option<Arc<CallerLimits>>,
}

impl MeteredBackend {
    pub fn new(
        inner: Arc<dyn Backend>,
        metrics: Metrics,
        callers: HashMap<String, Principal>,
        limits: Option<Arc<CallerLimits>>,
    ) -> Self {
        MeteredBackend {
            inner,
            metrics,
            callers,
            limits,
        }
    }

    fn metered(&self, caller: Option<&str>, stream: GenerationStream) -> GenerationStream {
        let metrics = self.metrics.clone();
        let principal = caller.and_then(|user| self.callers.get(user)).cloned();
        let limits = self.limits.clone();
        stream.on_finished(move |usage: &Usage| {
            let class = principal.as_ref().map_or(ANONYMOUS, |p| p.role.as_str());
            metrics
                .queue_wait_by_class
                .with_label_values(&[class])
                .observe(usage.queue_wait.as_secs_f64());
            metrics.prompt_tokens.inc_by(u64::from(usage.prompt_tokens));
            metrics
                .completion_tokens
                .inc_by(u64::from(usage.completion_tokens));
            if let (Some(limits), Some(principal)) = (limits, principal) {
                limits.charge(
                    &principal,
                    u64::from(usage.prompt_tokens) + u64::from(usage.completion_tokens),
                );
            }
        })
    }
}

impl Backend for MeteredBackend {
    fn info(&self) -> &ModelInfo {
        self.inner.info()
    }

    fn upstreams(&self) -> Vec<UpstreamStatus> {
        self.inner.upstreams()
    }

    fn occupancy(&self) -> EngineLoad {
        self.inner.occupancy()
    }

    fn count_tokens(&self, text: &str) -> Result<usize, EngineError> {
        self.inner.count_tokens(text)
    }

    fn tokenize(&self, text: &str, add_bos: bool) -> Result<Vec<u32>, EngineError> {
        self.inner.tokenize(text, add_bos)
    }

    fn detokenize(&self, tokens: &[u32]) -> Result<String, EngineError> {
        self.inner.detokenize(tokens)
    }

    fn generate(&self, request: GenerationRequest) -> Result<GenerationStream, EngineError> {
        let caller = request.caller.clone();
        let stream = self.inner.generate(request)?;
        Ok(self.metered(caller.as_deref(), stream))
    }

    fn generate_together(
        &self,
        requests: Vec<GenerationRequest>,
    ) -> Result<Vec<GenerationStream>, EngineError> {
        let callers: Vec<Option<String>> = requests.iter().map(|r| r.caller.clone()).collect();
        let streams = self.inner.generate_together(requests)?;
        Ok(streams
            .into_iter()
            .zip(callers)
            .map(|(stream, caller)| self.metered(caller.as_deref(), stream))
            .collect())
    }
}
