//! The load itself: N clients in a closed loop, each sending streamed chat completions one
//! after another, against any OpenAI-compatible server. A 429 is waited out (`Retry-After`)
//! and retried, as the `openai` clients do; a request that takes longer than the client's
//! limit counts as hung.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{json, Value};

/// What every request of one run looks like.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    pub clients: usize,
    pub requests: usize,
    /// Words of the user message (about one token each), after a unique request number.
    pub prompt_words: usize,
    /// Tokens generated per request, exactly (`ignore_eos`); `None` sends no `max_tokens`, as
    /// real clients do, and each request stops at the model's end of text.
    pub max_tokens: Option<u32>,
    /// A system message every request shares (a system prompt plus tools, say).
    pub shared_prefix: Option<String>,
    /// Words of the user message of the first client's requests, when it is to send long
    /// prompts (a document to summarise, say) among the others' short ones.
    pub long_prompt_words: Option<usize>,
    /// Longest a request may take, 429 waits included, before it counts as hung.
    pub request_limit: Duration,
    /// The number of the run's first request. Targets that share an engine (Fulcrum in front
    /// of the llama-server also measured directly) get different numbers, hence different
    /// prompts, so neither finds the other's prompts in the engine's cache.
    pub first_index: usize,
}

#[derive(Debug)]
enum Outcome {
    Succeeded,
    Failed(String),
    Hung,
}

#[derive(Debug)]
struct RequestResult {
    outcome: Outcome,
    /// From the first attempt to the first generated text.
    ttft: Option<Duration>,
    /// Between one piece of generated text and the next (inter-token latency).
    gaps: Vec<Duration>,
    /// From the first attempt to the end of the stream.
    latency: Duration,
    completion_tokens: u64,
    prompt_tokens: Option<u64>,
    busy_answers: u32,
}

/// The figures of one run against one server.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub server: String,
    pub clients: usize,
    pub requests: usize,
    pub succeeded: usize,
    /// Requests that got at least one 429 before succeeding or failing.
    pub retried_after_busy: usize,
    pub busy_answers: u64,
    pub failed: usize,
    pub hung: usize,
    pub wall_seconds: f64,
    pub completion_tokens: u64,
    pub tokens_per_second: f64,
    pub mean_prompt_tokens: Option<f64>,
    pub ttft_p50_ms: Option<f64>,
    pub ttft_p95_ms: Option<f64>,
    pub latency_p50_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    /// Time between successive pieces of a stream, over all streams.
    pub itl_p50_ms: Option<f64>,
    pub itl_p95_ms: Option<f64>,
    pub itl_max_ms: Option<f64>,
    /// Peak resident memory of the server process so far, when the bench started it.
    pub peak_rss_mib: Option<f64>,
    /// The first few failure reasons, for the log.
    #[serde(skip)]
    pub failures: Vec<String>,
}

/// Runs `spec` against the server at `base_url` (ending in `/v1`).
pub async fn run(
    http: &reqwest::Client,
    server: &str,
    base_url: &str,
    model: &str,
    spec: &LoadSpec,
) -> RunReport {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut clients = tokio::task::JoinSet::new();
    for client in 0..spec.clients {
        let (http, next, spec) = (http.clone(), Arc::clone(&next), spec.clone());
        let words = match spec.long_prompt_words {
            Some(long) if client == 0 => long,
            _ => spec.prompt_words,
        };
        let url = format!("{}/chat/completions", base_url.trim_end_matches('/'));
        let model = model.to_string();
        clients.spawn(async move {
            let mut results = Vec::new();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= spec.requests {
                    return results;
                }
                let body = request_body(&model, &spec, spec.first_index + index, words);
                results.push(one_request(&http, &url, &body, spec.request_limit).await);
            }
        });
    }
    let mut results = Vec::with_capacity(spec.requests);
    while let Some(joined) = clients.join_next().await {
        match joined {
            Ok(batch) => results.extend(batch),
            Err(err) => results.push(RequestResult {
                outcome: Outcome::Failed(format!("client task failed: {err}")),
                ttft: None,
                gaps: Vec::new(),
                latency: Duration::ZERO,
                completion_tokens: 0,
                prompt_tokens: None,
                busy_answers: 0,
            }),
        }
    }
    summarize(server, spec, &results, started.elapsed())
}

/// One request's body, its user message `words` long. The request number comes first so no
/// two prompts share more than the chat template's head and the shared prefix.
pub fn request_body(model: &str, spec: &LoadSpec, index: usize, words: usize) -> Value {
    let mut messages = Vec::new();
    if let Some(prefix) = &spec.shared_prefix {
        messages.push(json!({"role": "system", "content": prefix}));
    }
    // Without `max_tokens` the length is the model's choice: ask for something short and
    // bounded, as the chat traffic of real clients mostly is.
    let task = match spec.max_tokens {
        Some(_) => "summarise these notes",
        None => "write a four-line poem about these words",
    };
    let content = user_text(index, task, words);
    messages.push(json!({"role": "user", "content": content}));
    let mut body = json!({
        "model": model,
        "messages": messages,
        "temperature": 0,
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    if let Some(max_tokens) = spec.max_tokens {
        body["max_tokens"] = json!(max_tokens);
        body["ignore_eos"] = json!(true);
    }
    body
}

const WORDS: [&str; 32] = [
    "market", "order", "region", "customer", "revenue", "product", "quarter", "supply", "report",
    "budget", "sales", "growth", "channel", "price", "cost", "store", "team", "plan", "target",
    "risk", "margin", "stock", "client", "service", "review", "demand", "trend", "level", "share",
    "value", "forecast", "profit",
];

/// "Request N: <task>." and `words` common words chosen by a pseudo-random walk from N.
pub fn user_text(index: usize, task: &str, words: usize) -> String {
    format!("Request {index}: {task}.{}", filler(index as u64, words))
}

/// `count` common words, each with a leading space, fixed by `seed`.
pub fn filler(seed: u64, count: usize) -> String {
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005) ^ 0x9E37_79B9;
    let mut text = String::with_capacity(count * 8);
    for _ in 0..count {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        text.push(' ');
        text.push_str(WORDS[(state >> 59) as usize]);
    }
    text
}

async fn one_request(
    http: &reqwest::Client,
    url: &str,
    body: &Value,
    limit: Duration,
) -> RequestResult {
    let started = Instant::now();
    let mut result = RequestResult {
        outcome: Outcome::Hung,
        ttft: None,
        gaps: Vec::new(),
        latency: Duration::ZERO,
        completion_tokens: 0,
        prompt_tokens: None,
        busy_answers: 0,
    };
    let attempt = attempts(http, url, body, started, &mut result);
    if let Ok(outcome) = tokio::time::timeout(limit, attempt).await {
        result.outcome = outcome;
    }
    result.latency = started.elapsed();
    result
}

/// Sends until a response other than 429 comes, then reads its stream.
async fn attempts(
    http: &reqwest::Client,
    url: &str,
    body: &Value,
    started: Instant,
    result: &mut RequestResult,
) -> Outcome {
    loop {
        let response = match http.post(url).json(body).send().await {
            Ok(response) => response,
            Err(err) => return Outcome::Failed(format!("cannot send: {err}")),
        };
        let status = response.status();
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            result.busy_answers += 1;
            let wait = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(1);
            tokio::time::sleep(Duration::from_secs(wait)).await;
            continue;
        }
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            return Outcome::Failed(format!("HTTP {status}: {}", snippet(&text)));
        }
        return read_stream(response, started, result).await;
    }
}

async fn read_stream(
    mut response: reqwest::Response,
    started: Instant,
    result: &mut RequestResult,
) -> Outcome {
    let mut buffer: Vec<u8> = Vec::new();
    let mut deltas = 0u64;
    let mut usage_tokens = None;
    let mut last_text: Option<Instant> = None;
    loop {
        let chunk = match response.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => return Outcome::Failed("the stream ended without [DONE]".into()),
            Err(err) => return Outcome::Failed(format!("the stream broke: {err}")),
        };
        buffer.extend_from_slice(&chunk);
        while let Some(end) = find_event_end(&buffer) {
            let event: Vec<u8> = buffer.drain(..end + 2).collect();
            for line in String::from_utf8_lossy(&event).lines() {
                let Some(data) = line.strip_prefix("data:") else {
                    continue;
                };
                let data = data.trim();
                if data == "[DONE]" {
                    result.completion_tokens = usage_tokens.unwrap_or(deltas);
                    return Outcome::Succeeded;
                }
                let Ok(value) = serde_json::from_str::<Value>(data) else {
                    return Outcome::Failed(format!("not JSON in the stream: {}", snippet(data)));
                };
                if let Some(error) = value.get("error") {
                    return Outcome::Failed(format!(
                        "error event: {}",
                        snippet(&error.to_string())
                    ));
                }
                let delta = &value["choices"][0]["delta"];
                let text = ["content", "reasoning_content"]
                    .iter()
                    .filter_map(|key| delta[key].as_str())
                    .any(|piece| !piece.is_empty());
                if text {
                    deltas += 1;
                    let now = Instant::now();
                    result.ttft.get_or_insert_with(|| now - started);
                    if let Some(previous) = last_text.replace(now) {
                        result.gaps.push(now - previous);
                    }
                }
                if let Some(usage) = value.get("usage").filter(|u| u.is_object()) {
                    usage_tokens = usage["completion_tokens"].as_u64();
                    result.prompt_tokens = usage["prompt_tokens"].as_u64();
                }
            }
        }
    }
}

fn find_event_end(buffer: &[u8]) -> Option<usize> {
    buffer.windows(2).position(|pair| pair == b"\n\n")
}

fn snippet(text: &str) -> String {
    text.chars().take(200).collect()
}

fn summarize(
    server: &str,
    spec: &LoadSpec,
    results: &[RequestResult],
    wall: Duration,
) -> RunReport {
    let succeeded: Vec<&RequestResult> = results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Succeeded))
        .collect();
    let completion_tokens: u64 = succeeded.iter().map(|r| r.completion_tokens).sum();
    let mut ttfts: Vec<f64> = succeeded
        .iter()
        .filter_map(|r| r.ttft)
        .map(|d| d.as_secs_f64() * 1000.0)
        .collect();
    let mut latencies: Vec<f64> = succeeded
        .iter()
        .map(|r| r.latency.as_secs_f64() * 1000.0)
        .collect();
    let mut gaps: Vec<f64> = succeeded
        .iter()
        .flat_map(|r| r.gaps.iter())
        .map(|d| d.as_secs_f64() * 1000.0)
        .collect();
    let prompts: Vec<u64> = succeeded.iter().filter_map(|r| r.prompt_tokens).collect();
    let wall_seconds = wall.as_secs_f64();
    RunReport {
        server: server.to_string(),
        clients: spec.clients,
        requests: results.len(),
        succeeded: succeeded.len(),
        retried_after_busy: results.iter().filter(|r| r.busy_answers > 0).count(),
        busy_answers: results.iter().map(|r| u64::from(r.busy_answers)).sum(),
        failed: results
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Failed(_)))
            .count(),
        hung: results
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Hung))
            .count(),
        wall_seconds,
        completion_tokens,
        tokens_per_second: completion_tokens as f64 / wall_seconds.max(1e-9),
        mean_prompt_tokens: (!prompts.is_empty())
            .then(|| prompts.iter().sum::<u64>() as f64 / prompts.len() as f64),
        ttft_p50_ms: percentile(&mut ttfts, 50.0),
        ttft_p95_ms: percentile(&mut ttfts, 95.0),
        latency_p50_ms: percentile(&mut latencies, 50.0),
        latency_p95_ms: percentile(&mut latencies, 95.0),
        itl_p50_ms: percentile(&mut gaps, 50.0),
        itl_p95_ms: percentile(&mut gaps, 95.0),
        itl_max_ms: percentile(&mut gaps, 100.0),
        peak_rss_mib: None,
        failures: results
            .iter()
            .filter_map(|r| match &r.outcome {
                Outcome::Failed(reason) => Some(reason.clone()),
                _ => None,
            })
            .take(5)
            .collect(),
    }
}

/// Nearest-rank percentile; `None` for no samples.
pub fn percentile(samples: &mut [f64], p: f64) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * samples.len() as f64).ceil() as usize;
    Some(samples[rank.clamp(1, samples.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let mut samples = vec![5.0, 1.0, 4.0, 2.0, 3.0];
        assert_eq!(percentile(&mut samples, 50.0), Some(3.0));
        assert_eq!(percentile(&mut samples, 95.0), Some(5.0));
        assert_eq!(percentile(&mut samples, 0.0), Some(1.0));
        assert_eq!(percentile(&mut [], 50.0), None);
    }

    #[test]
    fn prompts_differ_by_request_and_have_the_asked_length() {
        let a = user_text(1, "summarise these notes", 100);
        let b = user_text(2, "summarise these notes", 100);
        assert_ne!(a, b);
        assert_eq!(a.split_whitespace().count(), 100 + 5);
        assert_eq!(a, user_text(1, "summarise these notes", 100));
    }
}
