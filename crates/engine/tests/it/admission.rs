//! Admission by use on the tiny model: requests without `max_tokens` decode together, a cache
//! too small for all of them preempts and resumes without changing any answer, and waiting
//! requests are served in turn across callers. Everything is counted in events, not time.

use std::sync::atomic::{AtomicUsize, Ordering};

use fulcrum_engine::Usage;

use super::*;

fn engine_with(slots: u32, context: u32) -> LlamaEngine {
    let mut config = EngineConfig::new(model_path(), "smollm2");
    config.context_size = Some(context);
    config.slots = slots;
    config.threads = Some(2);
    // Each request computes its whole prompt: what is compared is preemption alone.
    config.prefix_cache = false;
    LlamaEngine::load(config).expect("tiny model loads")
}

fn question(n: usize) -> String {
    let topics = [
        "rain", "the sea", "a cat", "bread", "winter", "a train", "music", "the moon",
    ];
    format!(
        "<|im_start|>user\nWrite a long story about {}.<|im_end|>\n<|im_start|>assistant\n",
        topics[n % topics.len()]
    )
}

/// One stream's events, numbered on a clock all streams of a test share.
struct Timeline {
    text: String,
    first_token_at: usize,
    finished_at: usize,
}

fn follow(stream: fulcrum_engine::GenerationStream, clock: &AtomicUsize) -> Timeline {
    let mut stream = stream;
    let mut text = String::new();
    let mut first_token_at = usize::MAX;
    while let Some(event) = stream.blocking_next() {
        let now = clock.fetch_add(1, Ordering::SeqCst);
        match event.expect("no engine error") {
            GenerationEvent::Text(piece) => {
                first_token_at = first_token_at.min(now);
                text.push_str(&piece);
            }
            GenerationEvent::Finished { .. } => {
                return Timeline {
                    text,
                    first_token_at,
                    finished_at: now,
                }
            }
        }
    }
    panic!("stream ended without Finished");
}

/// Starts `requests` together (admitted at the same step, so the batches they share are the
/// same on every run) and follows each stream on one clock.
fn run_together(engine: &LlamaEngine, requests: Vec<GenerationRequest>) -> Vec<Timeline> {
    let streams = engine.generate_together(requests).expect("generate");
    let clock = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let handles: Vec<_> = streams
            .into_iter()
            .map(|stream| {
                let clock = &clock;
                scope.spawn(move || follow(stream, clock))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    })
}

/// Without `max_tokens` a request could take the whole context; it is admitted by what it
/// uses, so eight of them run side by side: every one has its first token before any ends.
#[test]
fn eight_requests_without_max_tokens_decode_together() {
    let _engine = exclusive();
    let engine = engine_with(8, 4096);
    let requests = (0..8)
        .map(|n| GenerationRequest {
            max_tokens: None,
            // What a server's `max_tokens_limit` does for a client that sends none.
            max_tokens_limit: Some(40),
            ignore_eos: true,
            ..GenerationRequest::greedy(question(n), 1)
        })
        .collect();
    let timelines = run_together(&engine, requests);
    let last_start = timelines.iter().map(|t| t.first_token_at).max();
    let first_end = timelines.iter().map(|t| t.finished_at).min();
    assert!(
        last_start < first_end,
        "the eighth request started at event {last_start:?}, after one ended at {first_end:?}"
    );
    assert_eq!(
        engine.occupancy().preempted_total,
        0,
        "4096 cells hold them all"
    );
}

/// Tokens each request of the preemption tests generates.
const TOKENS: u32 = 64;

fn long_request(n: usize) -> GenerationRequest {
    GenerationRequest {
        ignore_eos: true,
        ..GenerationRequest::greedy(question(n), TOKENS)
    }
}

fn alone(requests: impl Iterator<Item = GenerationRequest>) -> Vec<String> {
    let engine = engine_with(1, 1024);
    requests
        .map(|request| super::scheduling::run_on(&engine, request))
        .collect()
}

/// Two requests that need 2 × ~86 cells in a cache of 150: the newer is preempted when the
/// cache fills, the older runs on alone, and the newer resumes (its prompt and output computed
/// again) once the older is done: its stream is exactly what it gets alone, with nothing lost
/// or repeated at the seam.
///
/// The older one is held to its opening words only: llama.cpp's CPU kernels are not
/// batch-invariant, and once the preempted sequence's cells are freed the survivor's next
/// tokens land in those holes, so its attention sums its cells in another order and rounds
/// differently after a few dozen tokens (as happens whenever any sequence ends beside it).
#[test]
fn a_full_cache_preempts_and_resumes_and_the_answers_are_unchanged() {
    let _engine = exclusive();
    let alone = alone((0..2).map(long_request));
    let engine = engine_with(2, 150);
    let together = run_together(&engine, (0..2).map(long_request).collect());
    let load = engine.occupancy();
    assert_eq!(load.preempted_total, 1, "{load:?}");
    assert_eq!(
        load.admitted_total, 2,
        "a resumed request is not admitted twice"
    );
    assert_eq!(alone[1], together[1].text, "the preempted request changed");
    assert_eq!(opening(&alone[0]), opening(&together[0].text));
    // The preempted one waited for the other to finish before it went on.
    assert!(together[0].finished_at < together[1].finished_at);
}

/// Eight requests in a cache that holds about two of them: preempted again and again, every
/// one still ends with exactly its tokens and is admitted once; and the whole dance is
/// deterministic: the same requests started together give the same eight streams again.
/// (Their texts are not compared with solo runs: a prompt computed in a step of 150 tokens
/// rounds differently from one computed alone, preempted or not.)
#[test]
fn a_crowded_cache_preempts_many_times_and_loses_nothing() {
    let _engine = exclusive();
    let crowded = || {
        let engine = engine_with(8, 200);
        let streams = engine
            .generate_together((0..8).map(long_request).collect())
            .expect("generate");
        let results: Vec<(String, Usage)> = std::thread::scope(|scope| {
            let handles: Vec<_> = streams
                .into_iter()
                .map(|mut stream| {
                    scope.spawn(move || {
                        let mut text = String::new();
                        while let Some(event) = stream.blocking_next() {
                            match event.expect("no engine error") {
                                GenerationEvent::Text(piece) => text.push_str(&piece),
                                GenerationEvent::Finished { usage, .. } => return (text, usage),
                            }
                        }
                        panic!("stream ended without Finished");
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("thread"))
                .collect()
        });
        (results, engine.occupancy())
    };
    let (first, load) = crowded();
    assert!(load.preempted_total >= 4, "{load:?}");
    assert_eq!(load.admitted_total, 8);
    for (n, (text, usage)) in first.iter().enumerate() {
        assert_eq!(usage.completion_tokens, TOKENS, "request {n}");
        assert!(!text.trim().is_empty(), "request {n}");
    }
    let (second, again) = crowded();
    assert_eq!(again.preempted_total, load.preempted_total);
    for (n, (a, b)) in first.iter().zip(&second).enumerate() {
        assert_eq!(a.0, b.0, "request {n} differs between two identical runs");
    }
}

/// The first words of an answer.
fn opening(text: &str) -> String {
    text.split_whitespace()
        .take(6)
        .collect::<Vec<_>>()
        .join(" ")
}

/// One slot; caller `a` queues five requests, then caller `b` one: `b` is served after at most
/// one of `a`'s, not after all of them.
#[test]
fn waiting_requests_are_served_in_turn_across_callers() {
    let _engine = exclusive();
    let engine = engine_with(1, 1024);
    let request = |caller: &str| GenerationRequest {
        caller: Some(caller.into()),
        ..GenerationRequest::greedy(question(0), 4)
    };
    let requests = (0..5).map(|_| request("a")).chain([request("b")]).collect();
    let timelines = run_together(&engine, requests);
    let b_finished = timelines[5].finished_at;
    let a_before_b = timelines[..5]
        .iter()
        .filter(|t| t.finished_at < b_finished)
        .count();
    assert!(
        a_before_b <= 1,
        "{a_before_b} of a's five requests finished before b's one"
    );
}

/// A prompt that fills nearly the whole context is served when it is alone: the headroom kept
/// beside running sequences is not asked of it.
#[test]
fn a_prompt_that_nearly_fills_the_context_runs_alone() {
    let _engine = exclusive();
    let engine = engine_with(2, 256);
    let mut words = String::new();
    while engine.count_tokens(&words).expect("count") < 236 {
        words.push_str(" rain");
    }
    let prompt = format!("<|im_start|>user\n{words}<|im_end|>\n<|im_start|>assistant\n");
    let request = GenerationRequest {
        // Fails rather than hangs if it is never admitted.
        timeout: Some(Duration::from_secs(60)),
        ignore_eos: true,
        ..GenerationRequest::greedy(prompt, 4)
    };
    let text = super::scheduling::run_on(&engine, request);
    assert!(!text.is_empty());
}
