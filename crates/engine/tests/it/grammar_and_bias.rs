//! Constrained decoding and logit biases on the tiny model.

use super::*;

#[test]
fn grammar_constrains_the_output() {
    let _engine = exclusive();
    let mut request = greedy(PROMPT, 40);
    request.grammar = Some("start: \"red\" | \"green\" | \"blue\"\n".into());
    let (text, reason, _) = run(request);
    assert!(
        ["red", "green", "blue"].contains(&text.as_str()),
        "{text:?}"
    );
    assert_eq!(reason, FinishReason::Stop);

    let mut request = greedy(PROMPT, 60);
    request.grammar = Some(
        r#"start: %json {"type": "object", "properties": {"colours": {"type": "array", "items": {"type": "string"}, "maxItems": 3}}, "required": ["colours"], "additionalProperties": false}"#
            .into(),
    );
    let (text, _, _) = run(request);
    let value: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|err| panic!("{text:?}: {err}"));
    assert!(value["colours"].is_array(), "{text}");
}

#[test]
fn broken_grammar_is_refused_up_front() {
    let mut request = greedy(PROMPT, 10);
    request.grammar = Some("start: undefined_rule\n".into());
    let err = engine().generate(request).expect_err("must refuse");
    assert!(matches!(err, EngineError::Grammar(_)), "{err}");
}

#[test]
fn grammar_too_complex_to_enforce_is_refused_up_front() {
    // Intersecting many `.*X.*` complements makes the lexer's automaton explode.
    let complements: String = (1..40)
        .map(|i| format!(" & ~/(?s:.*q[a-z]{{{i}}}z.*)/"))
        .collect();
    let mut request = greedy(PROMPT, 10);
    request.grammar = Some(format!("start: TEXT\nTEXT: /(?s:.+)/{complements}\n"));
    let err = engine().generate(request).expect_err("must refuse");
    assert!(
        matches!(&err, EngineError::Grammar(m) if m.contains("lexer")),
        "{err}"
    );
}

#[test]
fn logit_bias_moves_the_choice_and_skips_non_tokens() {
    let _engine = exclusive();
    let mut request = greedy(PROMPT, 3);
    request.logit_bias = vec![
        LogitBias::always(" blue", 100.0),
        LogitBias::always("not one token at all", 100.0),
    ];
    let (text, _, usage) = run(request);
    assert_eq!(usage.completion_tokens, 3);
    assert_eq!(text, " blue blue blue");
}

#[test]
fn a_start_bias_applies_to_the_first_token_only() {
    let _engine = exclusive();
    let mut request = greedy(PROMPT, 3);
    request.logit_bias = vec![LogitBias::at_start(" green", 100.0)];
    let (biased, _, _) = run(request);
    let (plain, _, _) = run(greedy(PROMPT, 3));
    assert!(biased.starts_with(" green"), "{biased}");
    assert_ne!(biased, plain);
}

#[test]
fn followup_bias_applies_only_right_after_its_token() {
    let _engine = exclusive();
    let mut request = greedy(PROMPT, 4);
    request.logit_bias = vec![
        LogitBias::always(" blue", 50.0),
        LogitBias::after(" blue", " green", 100.0),
    ];
    let (text, _, _) = run(request);
    assert_eq!(text, " blue green blue green");
}

/// A first choice the grammar refuses is replaced by `instead_of_refused_start` when it opens
/// as one of its openers do (a model opening a bare JSON object where only text or a tagged
/// call may start); another refused first choice, and one the grammar allows, are left alone.
#[test]
fn a_refused_first_choice_is_replaced_by_the_given_token() {
    let _engine = exclusive();
    let colours = [" red", " green", " blue"];
    let (own_first, _, _) = run(greedy(PROMPT, 1));
    assert!(!colours.contains(&own_first.as_str()), "{own_first:?}");
    let only_colours = || {
        let mut request = greedy(PROMPT, 4);
        request.grammar = Some("start: \" red\" | \" green\" | \" blue\"\n".into());
        request
    };
    let (chosen, _, _) = run(only_colours());
    let other = colours
        .iter()
        .find(|colour| **colour != chosen)
        .expect("another colour");
    let redirect = |openers: Vec<String>| {
        Some(fulcrum_engine::RefusedStart {
            openers,
            instead: (*other).to_string(),
        })
    };
    let (instead, _, _) = run(GenerationRequest {
        instead_of_refused_start: redirect(vec![own_first.trim_start().to_string()]),
        ..only_colours()
    });
    assert_eq!(instead, *other, "the model's {own_first:?} is refused");
    let (not_an_opener, _, _) = run(GenerationRequest {
        instead_of_refused_start: redirect(vec!["{".into(), "```".into()]),
        ..only_colours()
    });
    assert_eq!(
        not_an_opener, chosen,
        "{own_first:?} opens with none of the openers"
    );

    let mut free = greedy(PROMPT, 4);
    free.grammar = Some("start: /(?s:.+)/\n".into());
    let (plain, _, _) = run(free.clone());
    let (unchanged, _, _) = run(GenerationRequest {
        instead_of_refused_start: redirect(vec![own_first.trim_start().to_string()]),
        ..free
    });
    assert_eq!(unchanged, plain, "a first choice the grammar allows stays");
    assert!(plain.starts_with(&own_first), "{plain:?}");
}

/// A grammar that can only repeat one sentence: the engine ends it at the fourth copy,
/// unless `stop_repetition` is off (or the request turns the loop check off), when it runs
/// to `max_tokens`.
#[test]
fn a_generation_repeating_one_sentence_is_stopped_at_its_fourth_copy() {
    const SENTENCE: &str = "The West Lake room has a projector. ";
    let grammar = format!("start: (\"{SENTENCE}\")+\n");
    let _engine = exclusive();
    let mut request = greedy(PROMPT, 200);
    request.grammar = Some(grammar.clone());
    let (text, reason, usage) = run(request);
    assert_eq!(reason, FinishReason::Stop, "{text:?}");
    let copies = text.matches(SENTENCE.trim_end()).count();
    assert!((4..=5).contains(&copies), "{copies} copies: {text:?}");
    // Forced text is tokenized in small pieces: some 25 tokens a copy here.
    assert!(usage.completion_tokens < 150, "{usage:?}");
    let mut unwatched = greedy(PROMPT, 200);
    unwatched.grammar = Some(grammar.clone());
    unwatched.loop_check = false;
    let (text, reason, usage) = run(unwatched);
    assert_eq!(reason, FinishReason::Length, "{text:?}");
    assert_eq!(usage.completion_tokens, 200);

    let mut config = EngineConfig::new(model_path(), "smollm2");
    config.context_size = Some(1024);
    config.slots = 1;
    config.threads = Some(2);
    config.stop_repetition = false;
    let unguarded = LlamaEngine::load(config).expect("tiny model loads");
    let mut request = greedy(PROMPT, 200);
    request.grammar = Some(grammar);
    let mut stream = unguarded.generate(request).expect("generate");
    let mut finished = None;
    while let Some(event) = stream.blocking_next() {
        if let GenerationEvent::Finished { reason, usage } = event.expect("no engine error") {
            finished = Some((reason, usage));
        }
    }
    let (reason, usage) = finished.expect("finished");
    assert_eq!(reason, FinishReason::Length);
    assert_eq!(usage.completion_tokens, 200);
}

/// With `jump_forward`, what a grammar forces is taken without sampling and still counted,
/// cut by a stop sequence and by the token limit as sampled text is; where each token's
/// log-probability is asked for, or with `jump_forward` off (the default), every token is
/// sampled.
#[test]
fn tokens_a_grammar_forces_are_taken_without_sampling_and_counted_as_generated() {
    const OPENING: &str = r#"{"name": "get_weather", "arguments": {"city": ""#;
    let grammar = format!(
        "start: \"{}\" /[A-Z][a-z]{{2,8}}/ \"\\\"}}}}\"\n",
        OPENING.replace('"', "\\\"")
    );
    let forced_so_far = |engine: &LlamaEngine| engine.occupancy().forced_tokens_total;
    let mut config = EngineConfig::new(model_path(), "smollm2");
    config.context_size = Some(1024);
    config.slots = 1;
    config.threads = Some(2);
    config.jump_forward = true;
    let jumping = LlamaEngine::load(config).expect("tiny model loads");

    let mut request = greedy(PROMPT, 60);
    request.grammar = Some(grammar);
    let (text, reason, usage) = run_with(&jumping, request.clone());
    let forced = forced_so_far(&jumping);
    assert_eq!(reason, FinishReason::Stop, "{text:?}");
    let call: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|err| panic!("{text:?}: {err}"));
    assert!(call["arguments"]["city"].is_string(), "{text}");
    assert!(forced >= 8, "{forced} tokens forced for {text:?}");
    assert!(
        u64::from(usage.completion_tokens) > forced,
        "forced tokens are generated tokens: {usage:?}, {forced} forced"
    );

    let (cut, reason, _) = run_with(
        &jumping,
        GenerationRequest {
            stop: vec!["arguments".into()],
            ..request.clone()
        },
    );
    assert_eq!(
        (cut.as_str(), reason),
        (r#"{"name": "get_weather", ""#, FinishReason::Stop)
    );
    let (short, reason, usage) = run_with(
        &jumping,
        GenerationRequest {
            max_tokens: Some(3),
            ..request.clone()
        },
    );
    assert_eq!(
        (reason, usage.completion_tokens),
        (FinishReason::Length, 3),
        "{short:?}"
    );
    assert!(OPENING.starts_with(&short), "{short:?}");

    let before = forced_so_far(&jumping);
    let (with_logprobs, _, _) = run_with(
        &jumping,
        GenerationRequest {
            logprobs: Some(0),
            ..request.clone()
        },
    );
    assert_eq!(
        forced_so_far(&jumping),
        before,
        "every token sampled for its log-probability"
    );
    assert!(with_logprobs.starts_with(OPENING), "{with_logprobs:?}");

    let _engine = exclusive();
    let shared = engine();
    let before = forced_so_far(&shared);
    let (text, _, _) = run_with(&shared, request);
    assert!(text.starts_with(OPENING), "{text:?}");
    assert_eq!(forced_so_far(&shared), before, "off by default");
}
