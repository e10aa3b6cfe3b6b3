//! Layered context over a long session: older turns leave the prompt into the summary and
//! key events, facts of the first turn stay reachable, and no prompt exceeds the budget.

use fulcrum_agent::{AgentOptions, ContextBudget, TurnStop};
use serde_json::json;

use crate::{call, user, world_with};

/// Whitespace tokens (the scripted backend's tokenizer) of a filler sentence.
fn chatter(turn: usize) -> String {
    format!(
        "Turn {turn} question: tell me more about the delivery options, opening hours, \
         payment methods and the warranty terms that apply to accessories bought in store \
         number {turn} during the spring campaign, and compare them with the online shop."
    )
}

fn answer(turn: usize) -> String {
    format!(
        "Answer {turn}: accessories bought in store {turn} follow the same warranty and payment \
         rules as the online shop; delivery is free above 99 yuan and stores open at ten."
    )
}

const SUMMARY: &str = "Wang Fang asked about order 12345 and the iPhone 15, which costs 799; \
                       later turns compared store and online rules.";

fn options(max_prompt_tokens: usize) -> AgentOptions {
    AgentOptions {
        context: ContextBudget {
            max_prompt_tokens,
            recent_turns: 5,
            passage_tokens: 200,
            memory_tokens: 200,
        },
        ..AgentOptions::default()
    }
}

#[tokio::test]
async fn twelve_turns_move_the_oldest_into_summary_and_key_events_within_budget() {
    const BUDGET: usize = 1_000;
    let search = call("search_product", json!({"query": "iPhone 15"}));
    // The model's outputs in order: turn 1 calls a tool then answers; turns 2–6 answer; from
    // turn 6 on, each turn is followed by the summary of the turn that left the window.
    let mut script: Vec<String> = vec![search, "The iPhone 15 costs 799.".into()];
    for turn in 2..=12 {
        script.push(answer(turn));
        if turn >= 6 {
            script.push(SUMMARY.into());
        }
    }
    let script: Vec<&str> = script.iter().map(String::as_str).collect();
    let w = world_with(&script, options(BUDGET));
    let erin = user("erin", "employee");
    let session = w.agent.create_session(&erin).expect("session");

    let first = "My name is Wang Fang and my order number is 12345: look up the iPhone 15.";
    let mut last = None;
    for turn in 1..=12 {
        let text = if turn == 1 {
            first.to_string()
        } else {
            chatter(turn)
        };
        let outcome = w
            .agent
            .send(&erin, &session.id, &text, None)
            .await
            .expect("turn");
        assert_eq!(outcome.stop, TurnStop::Answer);
        let layers = outcome.context.clone().expect("layer accounting");
        assert!(layers.total <= BUDGET, "turn {turn}: {layers:?}");
        assert_eq!(
            layers.recent_turns,
            (turn - 1).min(5),
            "turn {turn}: {layers:?}"
        );
        assert_eq!(layers.dropped_turns, 0, "turn {turn}: {layers:?}");
        // The summary is written after the answer; from turn 6 on one turn leaves per turn.
        let changed = w
            .agent
            .remember(&erin, &session.id)
            .await
            .expect("remember");
        assert_eq!(changed, turn >= 6, "turn {turn}");
        last = Some(layers);
    }
    let layers = last.expect("turn 12");
    assert!(
        layers.memory > 0 && layers.key_events_used == 1,
        "{layers:?}"
    );
    let memory = w.agent.sessions().memory(&session.id).expect("memory");
    assert_eq!(
        memory.summarized_turns, 7,
        "turns 1–7 left the window after turn 12"
    );
    assert!(memory.events[0].text.contains("iPhone 15"), "{memory:?}");
    assert_eq!(memory.events[0].turn, 1);

    let prompts = w.backend.prompts();
    // The first summary was written from turn 1 itself, with the fact in it.
    let first_summary = prompts
        .iter()
        .find(|p| p.contains("Summary so far"))
        .expect("a summary request");
    assert!(first_summary.contains("12345") && first_summary.contains("Turn 1:"));
    // Turn 12's prompt: turn 1 only through memory (summary and the tool's key event), turns
    // 7–11 verbatim, nothing of turns 2–6 verbatim.
    // (The last request is the summary written after turn 12.)
    let turn_12 = prompts
        .iter()
        .rev()
        .find(|p| !p.contains("Summary so far"))
        .expect("turn 12 prompt");
    assert!(!turn_12.contains(first), "turn 1 is no longer verbatim");
    assert!(turn_12.contains("order 12345") && turn_12.contains("(turn 1) search_product"));
    assert!(turn_12.contains("799"));
    for turn in 7..=11 {
        assert!(turn_12.contains(&chatter(turn)), "turn {turn} verbatim");
    }
    for turn in 2..=6 {
        assert!(!turn_12.contains(&chatter(turn)), "turn {turn} summarized");
    }
    // Memory comes after the system prompt and before the recent turns (stable part first).
    let memory_at = turn_12
        .find("Memory of this conversation")
        .expect("memory layer");
    assert!(turn_12.find("<|im_start|>system").expect("system") < memory_at);
    assert!(memory_at < turn_12.find(&chatter(7)).expect("turn 7"));
    // Every prompt of the session stayed within the budget (whitespace tokens).
    for prompt in &prompts {
        assert!(prompt.split_inclusive(' ').count() <= BUDGET);
    }
    // The layer accounting is in the audit log too.
    let audit = w.agent.policy().audit().records(0, 1000).expect("audit");
    let outputs: Vec<_> = audit
        .iter()
        .filter(|r| r.event.kind == "model_output")
        .collect();
    assert!(outputs
        .iter()
        .all(|r| r.event.data["context"]["total"].as_u64().is_some()));
    assert!(audit.iter().any(|r| r.event.kind == "summary"));
}

#[tokio::test]
async fn without_a_summary_the_budget_drops_the_oldest_turns_deterministically() {
    const BUDGET: usize = 600;
    let script: Vec<String> = (1..=8).map(answer).collect();
    let script: Vec<&str> = script.iter().map(String::as_str).collect();
    let w = world_with(&script, options(BUDGET));
    let erin = user("erin", "employee");
    let session = w.agent.create_session(&erin).expect("session");
    let mut dropped = Vec::new();
    for turn in 1..=8 {
        let outcome = w
            .agent
            .send(&erin, &session.id, &chatter(turn), None)
            .await
            .expect("turn");
        let layers = outcome.context.expect("layers");
        assert!(layers.total <= BUDGET, "turn {turn}: {layers:?}");
        dropped.push(layers.dropped_turns);
    }
    // No summaries were written (remember never ran): turns stay verbatim until the budget
    // pushes the oldest out, one more as the session grows.
    assert!(dropped.iter().any(|&d| d > 0), "{dropped:?}");
    assert!(dropped.windows(2).all(|w| w[0] <= w[1]), "{dropped:?}");
    let prompts = w.backend.prompts();
    let last = prompts.last().expect("prompt");
    assert!(last.contains(&chatter(8)) && !last.contains(&chatter(1)));
}

#[tokio::test]
async fn a_first_question_answered_without_tools_is_reused_for_the_same_role_only() {
    use std::sync::Arc;

    use fulcrum_agent::{AnswerCache, CacheCounts};

    let search = call("search_product", json!({"query": "iPhone 15"}));
    let crate::World {
        dir: _dir,
        backend,
        agent,
    } = world_with(
        &[
            "Returns are accepted within 30 days.",
            "Finance: 30 days.",
            &search,
            "It costs 799.",
            "Something else.",
        ],
        AgentOptions::default(),
    );
    let cache = Arc::new(AnswerCache::new(std::time::Duration::from_secs(60)));
    let agent = agent.with_answer_cache(Arc::clone(&cache));
    let (erin, fiona) = (user("erin", "employee"), user("fiona", "finance"));
    let ask = |who: &fulcrum_tools::Principal, text: &'static str| {
        let who = who.clone();
        let agent = &agent;
        async move {
            let session = agent.create_session(&who).expect("session");
            agent
                .send(&who, &session.id, text, None)
                .await
                .expect("turn")
        }
    };
    let first = ask(&erin, "What is the return window?").await;
    assert_eq!(first.steps, 1);
    let generations = backend.prompts().len();
    // Same question, another session, other spelling: from the cache, no generation.
    let again = ask(&erin, "  what is the RETURN window ").await;
    assert_eq!(again.steps, 0);
    assert_eq!(
        again.answer.as_deref(),
        Some("Returns are accepted within 30 days.")
    );
    assert_eq!(backend.prompts().len(), generations);
    // Another role asks the model itself.
    let other = ask(&fiona, "What is the return window?").await;
    assert_eq!(other.answer.as_deref(), Some("Finance: 30 days."));
    // An answer that needed a tool holds live data: not cached.
    let priced = ask(&erin, "How much is the iPhone 15?").await;
    assert_eq!(priced.steps, 2);
    let priced_again = ask(&erin, "How much is the iPhone 15?").await;
    assert_ne!(priced_again.steps, 0);
    assert_eq!(cache.counts(), CacheCounts { hits: 1, misses: 4 });
}
