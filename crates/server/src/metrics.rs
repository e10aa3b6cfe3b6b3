//! Prometheus metrics of the server, exposed at `GET /metrics`.

use fulcrum_engine::{EngineLoad, UpstreamStatus};
use prometheus::{
    Counter, Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// All metrics, registered in one registry.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub request_seconds: HistogramVec,
    pub prompt_tokens: IntCounter,
    pub completion_tokens: IntCounter,
    /// Tokens read by the embedding model (`/v1/embeddings`).
    pub embedding_tokens: IntCounter,
    pub time_to_first_token_seconds: Histogram,
    /// Queue wait of each generation, by the caller's role (`anonymous` without a policy).
    pub queue_wait_by_class: HistogramVec,
    /// 429 answers, by the limit that refused.
    pub rejected: IntCounterVec,
    preemptions: IntCounter,
    forced_tokens: IntCounter,
    pub generations_in_flight: IntGauge,
    pub engine_waiting: IntGauge,
    pub engine_running: IntGauge,
    engine_prompt_tokens: IntCounter,
    prefix_cache_hits: IntCounter,
    prefix_cache_reused_tokens: IntCounter,
    engine_admitted: IntCounter,
    queue_wait_seconds: Counter,
    timeouts: IntCounter,
    answer_cache_hits: IntCounter,
    answer_cache_misses: IntCounter,
    /// Per remote engine (`upstream` label): in rotation, generations outstanding.
    upstream_healthy: IntGaugeVec,
    upstream_outstanding: IntGaugeVec,
    /// Per remote engine: requests, failures, retries elsewhere, ejections.
    upstream_events: IntCounterVec,
    /// The engine keeps its own totals; copying them into counters must not interleave.
    engine_sync: std::sync::Arc<std::sync::Mutex<()>>,
}

const LATENCY_BUCKETS: [f64; 14] = [
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0,
];

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "fulcrum_http_requests_total",
                "HTTP requests by route and status",
            ),
            &["route", "status"],
        )?;
        let request_seconds = HistogramVec::new(
            HistogramOpts::new(
                "fulcrum_http_request_duration_seconds",
                "HTTP request latency by route",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["route"],
        )?;
        let prompt_tokens =
            IntCounter::new("fulcrum_prompt_tokens_total", "Prompt tokens processed")?;
        let completion_tokens =
            IntCounter::new("fulcrum_completion_tokens_total", "Tokens generated")?;
        let embedding_tokens = IntCounter::new(
            "fulcrum_embedding_tokens_total",
            "Tokens read by the embedding model",
        )?;
        let time_to_first_token_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "fulcrum_time_to_first_token_seconds",
                "Time from request to first generated text",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
        )?;
        let generations_in_flight = IntGauge::new(
            "fulcrum_generations_in_flight",
            "Chat completions being served (queued or running)",
        )?;
        let engine_waiting = IntGauge::new(
            "fulcrum_queue_depth",
            "Generations waiting for an engine slot",
        )?;
        let engine_running = IntGauge::new("fulcrum_engine_running", "Generations being decoded")?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(request_seconds.clone()))?;
        registry.register(Box::new(prompt_tokens.clone()))?;
        registry.register(Box::new(completion_tokens.clone()))?;
        registry.register(Box::new(embedding_tokens.clone()))?;
        registry.register(Box::new(time_to_first_token_seconds.clone()))?;
        registry.register(Box::new(generations_in_flight.clone()))?;
        registry.register(Box::new(engine_waiting.clone()))?;
        registry.register(Box::new(engine_running.clone()))?;
        let engine_prompt_tokens = IntCounter::new(
            "fulcrum_engine_prompt_tokens_total",
            "Prompt tokens of the generations the embedded engine admitted",
        )?;
        let prefix_cache_hits = IntCounter::new(
            "fulcrum_prefix_cache_hits_total",
            "Generations that reused a cached prompt prefix",
        )?;
        let prefix_cache_reused_tokens = IntCounter::new(
            "fulcrum_prefix_cache_reused_tokens_total",
            "Prompt tokens taken from the prefix cache instead of computed",
        )?;
        registry.register(Box::new(engine_prompt_tokens.clone()))?;
        registry.register(Box::new(prefix_cache_hits.clone()))?;
        registry.register(Box::new(prefix_cache_reused_tokens.clone()))?;
        let engine_admitted = IntCounter::new(
            "fulcrum_engine_admitted_total",
            "Generations given an engine slot",
        )?;
        let queue_wait_seconds = Counter::new(
            "fulcrum_queue_wait_seconds_total",
            "Seconds admitted generations waited for their slot, summed (mean wait = this / fulcrum_engine_admitted_total)",
        )?;
        let timeouts = IntCounter::new(
            "fulcrum_request_timeouts_total",
            "Generations ended because they ran past request_timeout_secs",
        )?;
        registry.register(Box::new(engine_admitted.clone()))?;
        registry.register(Box::new(queue_wait_seconds.clone()))?;
        registry.register(Box::new(timeouts.clone()))?;
        let answer_cache_hits = IntCounter::new(
            "fulcrum_answer_cache_hits_total",
            "Agent first questions answered from the answer cache",
        )?;
        let answer_cache_misses = IntCounter::new(
            "fulcrum_answer_cache_misses_total",
            "Agent first questions the answer cache did not hold",
        )?;
        registry.register(Box::new(answer_cache_hits.clone()))?;
        registry.register(Box::new(answer_cache_misses.clone()))?;
        let preemptions = IntCounter::new(
            "fulcrum_engine_preemptions_total",
            "Times a running generation gave back its KV cells because the cache was full (it resumed later, its output kept)",
        )?;
        let forced_tokens = IntCounter::new(
            "fulcrum_engine_forced_tokens_total",
            "Generated tokens a grammar forced (a tool call's name, argument names, punctuation), taken without sampling (jump-forward decoding)",
        )?;
        let queue_wait_by_class = HistogramVec::new(
            prometheus::HistogramOpts::new(
                "fulcrum_queue_wait_by_class_seconds",
                "Seconds a generation (chat completion, agent step, report section) waited for an engine sequence, by the caller's role",
            )
            .buckets(vec![0.01, 0.05, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0]),
            &["class"],
        )?;
        let rejected = IntCounterVec::new(
            prometheus::Opts::new(
                "fulcrum_rejected_total",
                "Requests answered 429, by reason: queue_full, concurrent_requests, requests_per_minute, tokens_per_minute",
            ),
            &["reason"],
        )?;
        let upstream_healthy = IntGaugeVec::new(
            Opts::new(
                "fulcrum_upstream_healthy",
                "1 while a remote engine is in rotation (passing health checks, not backing off)",
            ),
            &["upstream"],
        )?;
        let upstream_outstanding = IntGaugeVec::new(
            Opts::new(
                "fulcrum_upstream_outstanding",
                "Generations sent to a remote engine and not yet ended",
            ),
            &["upstream"],
        )?;
        let upstream_events = IntCounterVec::new(
            Opts::new(
                "fulcrum_upstream_events_total",
                "Per remote engine: requests sent, failures, retries on another engine, ejections from rotation",
            ),
            &["upstream", "event"],
        )?;
        registry.register(Box::new(upstream_healthy.clone()))?;
        registry.register(Box::new(upstream_outstanding.clone()))?;
        registry.register(Box::new(upstream_events.clone()))?;
        registry.register(Box::new(preemptions.clone()))?;
        registry.register(Box::new(forced_tokens.clone()))?;
        registry.register(Box::new(queue_wait_by_class.clone()))?;
        registry.register(Box::new(rejected.clone()))?;
        Ok(Metrics {
            preemptions,
            forced_tokens,
            queue_wait_by_class,
            rejected,
            answer_cache_hits,
            answer_cache_misses,
            engine_admitted,
            queue_wait_seconds,
            timeouts,
            engine_prompt_tokens,
            prefix_cache_hits,
            prefix_cache_reused_tokens,
            upstream_healthy,
            upstream_outstanding,
            upstream_events,
            engine_sync: std::sync::Arc::new(std::sync::Mutex::new(())),
            registry,
            requests,
            request_seconds,
            prompt_tokens,
            completion_tokens,
            embedding_tokens,
            time_to_first_token_seconds,
            generations_in_flight,
            engine_waiting,
            engine_running,
        })
    }

    /// Copies the engine's load and totals in (on each scrape).
    pub fn observe_engine(&self, load: EngineLoad) {
        let _sync = self
            .engine_sync
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.engine_waiting
            .set(i64::try_from(load.waiting).unwrap_or(i64::MAX));
        self.engine_running
            .set(i64::try_from(load.running).unwrap_or(i64::MAX));
        let catch_up = |counter: &IntCounter, total: u64| {
            counter.inc_by(total.saturating_sub(counter.get()));
        };
        catch_up(&self.engine_prompt_tokens, load.prompt_tokens_total);
        catch_up(&self.prefix_cache_hits, load.prefix_hits_total);
        catch_up(
            &self.prefix_cache_reused_tokens,
            load.prefix_reused_tokens_total,
        );
        catch_up(&self.engine_admitted, load.admitted_total);
        catch_up(&self.timeouts, load.timed_out_total);
        catch_up(&self.preemptions, load.preempted_total);
        catch_up(&self.forced_tokens, load.forced_tokens_total);
        let waited = load.queue_wait_seconds_total - self.queue_wait_seconds.get();
        if waited > 0.0 {
            self.queue_wait_seconds.inc_by(waited);
        }
    }

    /// Copies each remote engine's state and totals in (on each scrape).
    pub fn observe_upstreams(&self, upstreams: &[UpstreamStatus]) {
        let _sync = self
            .engine_sync
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for upstream in upstreams {
            let name = upstream.name.as_str();
            self.upstream_healthy
                .with_label_values(&[name])
                .set(i64::from(upstream.healthy));
            self.upstream_outstanding
                .with_label_values(&[name])
                .set(i64::try_from(upstream.outstanding).unwrap_or(i64::MAX));
            for (event, total) in [
                ("request", upstream.requests_total),
                ("failure", upstream.failures_total),
                ("retry", upstream.retries_total),
                ("ejection", upstream.ejections_total),
            ] {
                let counter = self.upstream_events.with_label_values(&[name, event]);
                counter.inc_by(total.saturating_sub(counter.get()));
            }
        }
    }

    /// Copies the answer cache's counts in (on each scrape).
    pub fn observe_answer_cache(&self, counts: fulcrum_agent::CacheCounts) {
        let _sync = self
            .engine_sync
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (counter, total) in [
            (&self.answer_cache_hits, counts.hits),
            (&self.answer_cache_misses, counts.misses),
        ] {
            counter.inc_by(total.saturating_sub(counter.get()));
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}
