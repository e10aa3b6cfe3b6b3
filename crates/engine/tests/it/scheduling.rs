//! The worker's scheduling on the tiny model: batching, the prefix cache, cancellation, joining
//! between steps, prompts in chunks and time limits (counted in steps and tokens, not time).

use super::*;

#[test]
fn concurrent_requests_batched_together_answer_their_own_prompts() {
    let _engine = exclusive();
    // An engine of its own, without the prefix cache: what earlier tests left in a shared
    // engine's cache would change how these prompts are computed, and this test is about
    // batching alone.
    let mut config = EngineConfig::new(model_path(), "smollm2");
    config.context_size = Some(2048);
    config.slots = 3;
    config.threads = Some(2);
    config.prefix_cache = false;
    let engine = LlamaEngine::load(config).expect("tiny model loads");
    let prompts = [
        "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
        "<|im_start|>user\nSay hello in French.<|im_end|>\n<|im_start|>assistant\n",
        "<|im_start|>user\nWrite a haiku about rain.<|im_end|>\n<|im_start|>assistant\n",
    ];
    let sequential: Vec<String> = prompts
        .iter()
        .map(|p| run_on(&engine, greedy(p, 20)))
        .collect();
    let concurrent: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = prompts
            .iter()
            .map(|p| scope.spawn(|| run_on(&engine, greedy(p, 20))))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    // llama.cpp's CPU kernels are not batch-invariant (a batch of one uses a different matmul
    // path than a batch of several), so a tiny model's greedy answers may drift apart after
    // a few tokens. A sequence mix-up (wrong logits row, shared KV) shows at once, so the
    // answers must agree on their opening words.
    for (seq, conc) in sequential.iter().zip(&concurrent) {
        assert_eq!(
            opening(seq),
            opening(conc),
            "sequential {seq:?} vs batched {conc:?}"
        );
    }
}

/// The first words of an answer: what must agree when llama.cpp computed it in other batches.
fn opening(text: &str) -> String {
    text.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn fresh_engine() -> LlamaEngine {
    let mut config = EngineConfig::new(model_path(), "smollm2");
    config.context_size = Some(2048);
    config.slots = 2;
    config.threads = Some(2);
    LlamaEngine::load(config).expect("tiny model loads")
}

pub(super) fn run_on(engine: &LlamaEngine, request: GenerationRequest) -> String {
    super::run_with(engine, request).0
}

/// A prompt behind a long shared system prompt, as an agent's steps are.
fn behind_system_prompt(question: &str) -> String {
    let rules = "Answer briefly and politely. Use plain words. ".repeat(30);
    format!(
        "<|im_start|>system\n{rules}<|im_end|>\n<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n"
    )
}

/// A fresh engine that computes prompts in chunks of `chunk` tokens.
fn chunked_engine(chunk: usize) -> LlamaEngine {
    let mut config = EngineConfig::new(model_path(), "smollm2");
    config.context_size = Some(2048);
    config.slots = 2;
    config.threads = Some(2);
    config.batch_size = u32::try_from(chunk).expect("small");
    LlamaEngine::load(config).expect("tiny model loads")
}

/// llama.cpp's CPU kernels round differently by batch shape, so a prompt computed as a cached
/// prefix plus the rest can answer otherwise than the same prompt computed at once (with the
/// tiny model, "1. Aardvarks" became "1. The Mona Lisa" when the prompt was merely cut in two
/// on a fresh engine). The exact reference for a cached run is therefore a cold run cut at the
/// same place: any wrong cell (another prompt's, a wrong position) shows as a difference.
#[test]
fn a_cached_prefix_is_reused_and_answers_as_a_cold_run_cut_at_the_same_place() {
    let _engine = exclusive();
    let france = behind_system_prompt("What is the capital of France?");
    let animals = behind_system_prompt("Name three animals.");
    let engine = fresh_engine();
    let shared = engine
        .count_tokens(&behind_system_prompt(""))
        .expect("count")
        - 10;

    let first = run_on(&engine, greedy(&france, 16));
    assert_eq!(first, run_on(&fresh_engine(), greedy(&france, 16)));
    let after_first = engine.occupancy();
    assert_eq!(
        after_first.prefix_reused_tokens_total, 0,
        "nothing was cached yet"
    );

    // Another question behind the same system prompt reuses the system prompt's KV (copied
    // into the other slot: the first conversation stays whole for its next turn).
    let warm_animals = run_on(&engine, greedy(&animals, 16));
    let after_second = engine.occupancy();
    let reused =
        (after_second.prefix_reused_tokens_total - after_first.prefix_reused_tokens_total) as usize;
    assert!(
        reused >= shared,
        "reused {reused} of {shared} shared tokens"
    );
    assert_eq!(after_second.prefix_hits_total, 1);
    assert_eq!(
        warm_animals,
        run_on(&chunked_engine(reused), greedy(&animals, 16))
    );

    // The first prompt again: all of it is still cached, with the logits that followed it, so
    // nothing is computed before its first token and it answers exactly as it did.
    let france_tokens = engine.count_tokens(&france).expect("count");
    let warm_france = run_on(&engine, greedy(&france, 16));
    let after_third = engine.occupancy();
    let reused =
        (after_third.prefix_reused_tokens_total - after_second.prefix_reused_tokens_total) as usize;
    assert_eq!(reused, france_tokens);
    assert_eq!(warm_france, first);
    assert_eq!(
        after_third.prompt_tokens_total as usize,
        2 * france_tokens + engine.count_tokens(&animals).expect("count")
    );
}

#[test]
fn a_prefix_cache_budget_drops_what_it_cannot_hold() {
    let prompt = behind_system_prompt("Name a colour.");
    let reused_with_budget = |budget: usize| {
        let mut config = EngineConfig::new(model_path(), "smollm2");
        config.context_size = Some(2048);
        config.slots = 2;
        config.threads = Some(2);
        config.prefix_cache_tokens = Some(budget);
        let engine = LlamaEngine::load(config).expect("tiny model loads");
        run_on(&engine, greedy(&prompt, 4));
        run_on(&engine, greedy(&prompt, 4));
        engine.occupancy().prefix_reused_tokens_total
    };
    // The finished prompt (about 300 tokens) does not fit a budget of 10: nothing is kept.
    assert_eq!(reused_with_budget(10), 0);
    assert!(reused_with_budget(10_000) > 200);
}

#[test]
fn a_running_sequence_lends_its_prefix_to_a_new_request() {
    let _engine = exclusive();
    let engine = Arc::new(fresh_engine());
    let long = behind_system_prompt("Count from one to one hundred.");
    let mut request = greedy(&long, 200);
    request.ignore_eos = true;
    let mut running = engine.generate(request).expect("generate");
    match running.blocking_next() {
        Some(Ok(GenerationEvent::Text(_))) => {}
        other => panic!("expected text, got {other:?}"),
    }
    // Both slots are free of cache but one runs: the new request copies its prefix.
    let question = behind_system_prompt("Name three colours.");
    let answer = run_on(&engine, greedy(&question, 8));
    assert!(!answer.trim().is_empty());
    let load = engine.occupancy();
    let shared = engine
        .count_tokens(&behind_system_prompt(""))
        .expect("count")
        - 10;
    assert!(
        load.prefix_reused_tokens_total as usize >= shared,
        "reused {} of {shared}",
        load.prefix_reused_tokens_total
    );
    drop(running);
}

#[test]
fn dropping_the_stream_cancels_and_frees_the_slot() {
    let _engine = exclusive();
    let engine = engine();
    let mut request = greedy(PROMPT, 1500);
    request.ignore_eos = true;
    let mut stream = engine.generate(request).expect("generate");
    // Wait for the first token, then walk away.
    match stream.blocking_next() {
        Some(Ok(GenerationEvent::Text(_))) => {}
        other => panic!("expected text, got {other:?}"),
    }
    drop(stream);
    let deadline = Instant::now() + Duration::from_secs(20);
    while engine.occupancy().running > 0 {
        assert!(
            Instant::now() < deadline,
            "cancelled generation still running"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The engine still serves.
    assert!(!run(greedy(PROMPT, 4)).0.is_empty());
}

/// Collects a stream to its end: the text, and how it ended.
fn drain(
    mut stream: fulcrum_engine::GenerationStream,
) -> (String, Result<FinishReason, EngineError>) {
    let mut text = String::new();
    while let Some(event) = stream.blocking_next() {
        match event {
            Ok(GenerationEvent::Text(piece)) => text.push_str(&piece),
            Ok(GenerationEvent::Finished { reason, .. }) => return (text, Ok(reason)),
            Err(err) => return (text, Err(err)),
        }
    }
    panic!("stream ended without Finished or an error");
}

#[test]
fn a_request_joins_a_running_generation_between_steps() {
    let engine = fresh_engine();
    let mut long = greedy(PROMPT, 200);
    long.ignore_eos = true;
    let mut first = engine.generate(long).expect("generate");
    match first.blocking_next() {
        Some(Ok(GenerationEvent::Text(_))) => {}
        other => panic!("expected text, got {other:?}"),
    }
    // The second request is answered while the first is still generating: it did not wait
    // for the first to finish.
    let (second, reason) = drain(engine.generate(greedy(PROMPT, 8)).expect("generate"));
    assert_eq!(reason.expect("finishes"), FinishReason::Length);
    assert!(!second.is_empty());
    // The worker updates its count after the step that finished the second.
    let deadline = Instant::now() + Duration::from_secs(2);
    while engine.occupancy().running != 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(engine.occupancy().running, 1, "the first is still running");
    let (rest, reason) = drain(first);
    assert_eq!(reason.expect("finishes"), FinishReason::Length);
    assert!(!rest.is_empty());
    let load = engine.occupancy();
    assert_eq!(load.admitted_total, 2);
    assert!(load.queue_wait_seconds_total >= 0.0);
}

/// How many tokens a generating sequence receives between a long prompt's arrival and that
/// prompt's first token, on an engine that puts at most `prefill_chunk` prompt tokens beside
/// generating sequences in a step.
fn tokens_while_a_long_prompt_is_computed(prefill_chunk: u32) -> usize {
    let mut config = EngineConfig::new(model_path(), "smollm2");
    config.context_size = Some(2048);
    config.slots = 2;
    config.threads = Some(2);
    config.prefill_chunk_tokens = prefill_chunk;
    let engine = LlamaEngine::load(config).expect("tiny model loads");

    let mut generating = greedy(PROMPT, 400);
    generating.ignore_eos = true;
    let mut first = engine.generate(generating).expect("generate");
    assert!(matches!(
        first.blocking_next(),
        Some(Ok(GenerationEvent::Text(_)))
    ));
    // Read the first sequence's tokens as they come, with the time each arrived.
    let reader = std::thread::spawn(move || {
        let mut arrivals = Vec::new();
        while let Some(event) = first.blocking_next() {
            match event.expect("no engine error") {
                GenerationEvent::Text(_) => arrivals.push(Instant::now()),
                GenerationEvent::Finished { .. } => break,
            }
        }
        arrivals
    });
    let notes: String = (0..240).map(|i| format!("note {i}, ")).collect();
    let long_prompt =
        format!("<|im_start|>user\nCount these: {notes}<|im_end|>\n<|im_start|>assistant\n");
    let submitted = Instant::now();
    let mut long = engine.generate(greedy(&long_prompt, 2)).expect("generate");
    let mut answered = None;
    let usage = loop {
        match long.blocking_next().expect("the long prompt answers") {
            Ok(GenerationEvent::Text(_)) => {
                answered.get_or_insert_with(Instant::now);
            }
            Ok(GenerationEvent::Finished { usage, .. }) => break usage,
            Err(err) => panic!("long prompt failed: {err}"),
        }
    };
    assert!(usage.prompt_tokens > 600, "{usage:?}");
    let answered = answered.expect("the long prompt's answer has text");
    let arrivals = reader.join().expect("reader");
    arrivals
        .iter()
        .filter(|at| **at > submitted && **at < answered)
        .count()
}

/// A long prompt is computed in chunks between the generating sequences' steps, so they keep
/// receiving tokens meanwhile; with the chunk as large as the batch they get almost none.
#[test]
fn a_long_prompt_is_computed_in_chunks_between_other_sequences_tokens() {
    // ~1,000 prompt tokens: about 60 steps of 16, 2 steps of 512.
    let chunked = tokens_while_a_long_prompt_is_computed(16);
    let whole = tokens_while_a_long_prompt_is_computed(512);
    assert!(chunked >= 25, "{chunked} tokens while chunked");
    assert!(whole <= 12, "{whole} tokens with whole batches");
}

#[test]
fn a_request_past_its_timeout_ends_with_an_error_and_frees_its_slot() {
    let mut config = EngineConfig::new(model_path(), "smollm2");
    config.context_size = Some(2048);
    config.slots = 1;
    config.threads = Some(2);
    let engine = LlamaEngine::load(config).expect("tiny model loads");

    let mut endless = greedy(PROMPT, 1500);
    endless.ignore_eos = true;
    endless.timeout = Some(Duration::from_millis(600));
    let started = Instant::now();
    let running = engine.generate(endless).expect("generate");
    // With the only slot taken, this one times out while still waiting: no text at all.
    let mut queued = greedy(PROMPT, 4);
    queued.timeout = Some(Duration::from_millis(200));
    let (queued_text, queued_end) = drain(engine.generate(queued).expect("generate"));
    assert!(
        matches!(queued_end, Err(EngineError::Timeout { limit_ms: 200 })),
        "{queued_end:?}"
    );
    assert!(
        queued_text.is_empty(),
        "it never got a slot: {queued_text:?}"
    );

    let (text, end) = drain(running);
    assert!(
        matches!(end, Err(EngineError::Timeout { limit_ms: 600 })),
        "{end:?}"
    );
    assert!(!text.is_empty(), "text before the limit is delivered");
    assert!(started.elapsed() < Duration::from_secs(20));
    let load = engine.occupancy();
    assert_eq!(load.timed_out_total, 2);
    // The slot is free again: a request without a limit runs to its end.
    let (_, end) = drain(engine.generate(greedy(PROMPT, 4)).expect("generate"));
    assert_eq!(end.expect("finishes"), FinishReason::Length);
    assert!(engine.occupancy().queue_wait_seconds_total > 0.0);
}
