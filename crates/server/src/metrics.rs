//! Prometheus metrics of the server, exposed at `GET /metrics`.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};

/// All metrics, registered in one registry.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub request_seconds: HistogramVec,
    pub prompt_tokens: IntCounter,
    pub completion_tokens: IntCounter,
    pub time_to_first_token_seconds: Histogram,
    pub generations_in_flight: IntGauge,
    pub engine_waiting: IntGauge,
    pub engine_running: IntGauge,
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
        registry.register(Box::new(time_to_first_token_seconds.clone()))?;
        registry.register(Box::new(generations_in_flight.clone()))?;
        registry.register(Box::new(engine_waiting.clone()))?;
        registry.register(Box::new(engine_running.clone()))?;
        Ok(Metrics {
            registry,
            requests,
            request_seconds,
            prompt_tokens,
            completion_tokens,
            time_to_first_token_seconds,
            generations_in_flight,
            engine_waiting,
            engine_running,
        })
    }

    /// The text exposition format.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}
