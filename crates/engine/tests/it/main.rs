//! The embedded engine on the real tiny model (SmolLM2-135M): determinism, limits, stop
//! strings, exact token counts, batching that does not change answers, and cancellation.
//!
//! The model comes from `$FULCRUM_TEST_MODEL` (set by `scripts/test`) or the default cache.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use fulcrum_engine::{
    Backend, EngineConfig, EngineError, FinishReason, GenerationEvent, GenerationRequest,
    LlamaEngine, LogitBias, SamplingParams,
};

mod admission;
mod grammar_and_bias;
mod logprobs;
mod scheduling;
mod special_tokens;

fn model_path() -> PathBuf {
    if let Some(path) = std::env::var_os("FULCRUM_TEST_MODEL") {
        return PathBuf::from(path);
    }
    let home = std::env::var_os("FULCRUM_HOME").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/fulcrum"),
        PathBuf::from,
    );
    let path = home.join("models/smollm2-135m-instruct-q4_1.gguf");
    assert!(
        path.is_file(),
        "test model missing at {}: run `scripts/test`, or `fulcrum models pull smollm2-135m-instruct-q4_1`",
        path.display()
    );
    path
}

/// One engine for all tests: loading is the slow part, and sharing it also exercises
/// concurrent use from several test threads.
fn engine() -> Arc<LlamaEngine> {
    static ENGINE: OnceLock<Arc<LlamaEngine>> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            let mut config = EngineConfig::new(model_path(), "smollm2");
            config.context_size = Some(2048);
            config.slots = 4;
            config.threads = Some(2);
            Arc::new(LlamaEngine::load(config).expect("tiny model loads"))
        })
        .clone()
}

const PROMPT: &str = "<|im_start|>user\nName three colours.<|im_end|>\n<|im_start|>assistant\n";

fn greedy(prompt: &str, max_tokens: u32) -> GenerationRequest {
    GenerationRequest::greedy(prompt.into(), max_tokens)
}

/// Tests that generate hold this lock: llama.cpp's results depend on how requests share a
/// batch, so exact comparisons need the engine to themselves.
fn exclusive() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn run(request: GenerationRequest) -> (String, FinishReason, fulcrum_engine::Usage) {
    run_with(&engine(), request)
}

/// `request`'s whole answer from `engine`: its text, why it ended, its usage.
fn run_with(
    engine: &LlamaEngine,
    request: GenerationRequest,
) -> (String, FinishReason, fulcrum_engine::Usage) {
    let mut stream = engine.generate(request).expect("generate");
    let mut text = String::new();
    while let Some(event) = stream.blocking_next() {
        match event.expect("no engine error") {
            GenerationEvent::Text(piece) => text.push_str(&piece),
            GenerationEvent::Finished { reason, usage } => return (text, reason, usage),
        }
    }
    panic!("stream ended without Finished");
}

#[test]
fn greedy_decoding_is_deterministic_and_counts_are_exact() {
    let _engine = exclusive();
    let (a, _, usage_a) = run(greedy(PROMPT, 24));
    let (b, _, usage_b) = run(greedy(PROMPT, 24));
    assert!(!a.trim().is_empty(), "the model said nothing");
    assert_eq!(a, b);
    assert_eq!(
        (usage_a.prompt_tokens, usage_a.completion_tokens),
        (usage_b.prompt_tokens, usage_b.completion_tokens)
    );
    let prompt_tokens = engine().count_tokens(PROMPT).expect("count");
    assert_eq!(usage_a.prompt_tokens as usize, prompt_tokens);
    assert!(usage_a.completion_tokens >= 1 && usage_a.completion_tokens <= 24);
}

#[test]
fn max_tokens_ends_with_length_after_exactly_that_many_tokens() {
    let _engine = exclusive();
    let mut request = greedy(PROMPT, 5);
    request.ignore_eos = true;
    let (_, reason, usage) = run(request);
    assert_eq!(reason, FinishReason::Length);
    assert_eq!(usage.completion_tokens, 5);
}

#[test]
fn stop_string_cuts_the_output_before_it() {
    let _engine = exclusive();
    let (full, _, _) = run(greedy(PROMPT, 24));
    // Stop at the second word of the greedy answer; the output must be what came before it.
    let words: Vec<&str> = full.split_whitespace().collect();
    assert!(words.len() >= 2, "answer too short to test stops: {full:?}");
    let stop = words[1].to_string();
    let cut = full.find(&stop).expect("stop occurs");
    let mut request = greedy(PROMPT, 24);
    request.stop = vec![stop.clone()];
    let (text, reason, _) = run(request);
    assert_eq!(reason, FinishReason::Stop);
    assert_eq!(text, full[..cut], "stop {stop:?}");
}

#[test]
fn sampling_with_a_seed_is_reproducible() {
    let _engine = exclusive();
    let request = || GenerationRequest {
        sampling: SamplingParams {
            temperature: 1.0,
            top_p: 0.95,
            top_k: 40,
            seed: Some(42),
        },
        ..greedy(PROMPT, 16)
    };
    assert_eq!(run(request()).0, run(request()).0);
}

#[test]
fn prompt_over_the_context_is_refused_up_front() {
    let long = "word ".repeat(3000);
    let err = engine()
        .generate(greedy(&long, 10))
        .expect_err("must refuse");
    assert!(matches!(err, EngineError::ContextOverflow { .. }), "{err}");
    let err = engine()
        .generate(greedy(PROMPT, 4000))
        .expect_err("must refuse");
    assert!(matches!(err, EngineError::ContextOverflow { .. }), "{err}");
}

#[test]
fn model_metadata_is_read() {
    let info = engine().info().clone();
    assert_eq!(info.context_size, 2048);
    assert_eq!(info.train_context_size, 8192);
    assert!(info
        .chat_template
        .as_deref()
        .is_some_and(|t| t.contains("<|im_start|>")));
    assert_eq!(info.eos_token, "<|im_end|>");
}

#[test]
fn missing_model_file_is_a_clear_error() {
    let err = LlamaEngine::load(EngineConfig::new("/nonexistent/model.gguf", "x"))
        .err()
        .expect("must fail");
    assert!(matches!(err, EngineError::ModelNotFound { .. }), "{err}");
    assert!(err.to_string().contains("fulcrum models pull"));
}

#[test]
fn a_file_that_is_not_gguf_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("fake.gguf");
    std::fs::write(&path, b"this is not a model").expect("write");
    let err = LlamaEngine::load(EngineConfig::new(&path, "x"))
        .err()
        .expect("must fail");
    assert!(matches!(err, EngineError::ModelLoad { .. }), "{err}");
}
