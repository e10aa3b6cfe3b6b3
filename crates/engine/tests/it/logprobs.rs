//! Log-probabilities: each generated token's, and a prompt's own (what `echo` scores), on the
//! tiny model. A token scored inside a prompt has the probability it had when it was generated.

use fulcrum_engine::{
    Backend, FinishReason, GenerationEvent, GenerationRequest, LogprobEvent, TokenLogprob,
};

use super::{engine, exclusive, greedy, PROMPT};

struct Scored {
    text: String,
    reason: FinishReason,
    prompt: Option<(u32, Vec<TokenLogprob>)>,
    generated: Vec<TokenLogprob>,
}

fn scored(request: GenerationRequest) -> Scored {
    let mut stream = engine().generate(request).expect("generate");
    let mut logprobs = stream
        .take_logprobs()
        .expect("log-probabilities were asked for");
    let mut text = String::new();
    let reason = loop {
        match stream
            .blocking_next()
            .expect("an event")
            .expect("no engine error")
        {
            GenerationEvent::Text(piece) => text.push_str(&piece),
            GenerationEvent::Finished { reason, .. } => break reason,
        }
    };
    let (mut prompt, mut generated) = (None, Vec::new());
    while let Ok(event) = logprobs.try_recv() {
        match event {
            LogprobEvent::Prompt { first, rest } => prompt = Some((first.token, rest)),
            LogprobEvent::Generated(entry) => generated.push(entry),
        }
    }
    Scored {
        text,
        reason,
        prompt,
        generated,
    }
}

#[test]
fn greedy_tokens_are_the_most_likely_and_their_pieces_make_the_text() {
    let _engine = exclusive();
    let out = scored(GenerationRequest {
        logprobs: Some(3),
        ..greedy(PROMPT, 8)
    });
    assert!(!out.generated.is_empty() && out.prompt.is_none());
    let pieces: Vec<u8> = out.generated.iter().flat_map(|e| e.bytes.clone()).collect();
    assert_eq!(String::from_utf8_lossy(&pieces), out.text);
    for entry in &out.generated {
        assert!(entry.logprob <= 0.0);
        assert_eq!(entry.top.len(), 3);
        assert!(entry.top.windows(2).all(|w| w[0].logprob >= w[1].logprob));
        assert_eq!(
            entry.top[0].token, entry.token,
            "greedy takes the most likely"
        );
        assert!((entry.top[0].logprob - entry.logprob).abs() < 1e-6);
    }
}

#[test]
fn a_prompt_is_scored_token_by_token_as_generation_would_score_it() {
    let _engine = exclusive();
    let prompt = engine().tokenize(PROMPT, false).expect("tokenize");
    let alone = scored(GenerationRequest {
        prompt_tokens: Some(prompt.clone()),
        logprobs: Some(0),
        ..greedy("", 1)
    });
    let next = alone.generated[0].clone();
    let mut extended = prompt.clone();
    extended.push(next.token);
    // max_tokens 0: only the prompt is computed and scored.
    let echo = scored(GenerationRequest {
        prompt_tokens: Some(extended.clone()),
        prompt_logprobs: Some(2),
        ..greedy("", 0)
    });
    assert_eq!(echo.reason, FinishReason::Length);
    assert!(echo.text.is_empty() && echo.generated.is_empty());
    let (first, rest) = echo.prompt.expect("the prompt's log-probabilities");
    assert_eq!(first, extended[0]);
    assert_eq!(rest.len(), extended.len() - 1);
    assert_eq!(
        rest.iter().map(|e| e.token).collect::<Vec<_>>(),
        extended[1..]
    );
    assert!(rest.iter().all(|e| e.logprob <= 0.0 && e.top.len() == 2));
    let last = rest.last().expect("the appended token");
    assert!(
        (last.logprob - next.logprob).abs() < 0.01,
        "in the prompt {} , generated {}",
        last.logprob,
        next.logprob
    );
}

#[test]
fn token_ids_outside_the_vocabulary_are_refused() {
    let err = engine()
        .generate(GenerationRequest {
            prompt_tokens: Some(vec![1, u32::MAX]),
            ..greedy("", 1)
        })
        .expect_err("refused");
    assert!(
        err.to_string().contains("not in the model's vocabulary"),
        "{err}"
    );
}

#[test]
fn text_and_its_token_ids_are_the_same_prompt() {
    let _engine = exclusive();
    let ids = engine().tokenize(PROMPT, false).expect("tokenize");
    assert_eq!(engine().detokenize(&ids).expect("detokenize"), PROMPT);
    let from_text = scored(GenerationRequest {
        logprobs: Some(0),
        ..greedy(PROMPT, 6)
    });
    let from_ids = scored(GenerationRequest {
        prompt_tokens: Some(ids),
        logprobs: Some(0),
        ..greedy("", 6)
    });
    assert_eq!(from_text.text, from_ids.text);
}

#[test]
fn a_text_is_scored_after_its_context_by_its_own_tokens_alone() {
    let _engine = exclusive();
    let context = "<|im_start|>user\nName three colours.<|im_end|>\n";
    let text = "<|im_start|>assistant\nRed, green and blue.";
    let backend: std::sync::Arc<dyn Backend> = engine();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let likelihood = runtime
        .block_on(fulcrum_engine::text_likelihood(
            &backend, context, text, false,
        ))
        .expect("scored");
    // The same prompt scored whole: the text's tokens are its last ones.
    let whole = scored(GenerationRequest {
        prompt_logprobs: Some(0),
        ..greedy(&format!("{context}{text}"), 0)
    });
    let (_, rest) = whole.prompt.expect("the prompt's log-probabilities");
    let text_tokens = engine().count_tokens(text).expect("count");
    assert_eq!(likelihood.tokens, text_tokens);
    let tail: f32 = rest[rest.len() - text_tokens..]
        .iter()
        .map(|e| e.logprob)
        .sum();
    assert!(
        (likelihood.logprob - tail).abs() < 0.01,
        "{} against {tail}",
        likelihood.logprob
    );
    assert!(likelihood.logprob < 0.0);
    assert!((likelihood.per_token() - likelihood.logprob / text_tokens as f32).abs() < 1e-6);
}
