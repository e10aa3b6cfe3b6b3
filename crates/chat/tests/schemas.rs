//! Tool schemas as clients send them (MCP servers' tool lists, OpenAPI-derived functions,
//! pydantic models; `tool_schemas.json`): none is refused unless it is `strict`, and the call
//! grammar of each compiles in llguidance — so a `tool_choice: required` request can always be
//! served. `tests/e2e/test_tool_schemas.py` generates a call for each with the real engine.

use fulcrum_chat::tools::{ToolChoice, ToolSet, ValueBounds};
use fulcrum_chat::{ChatError, ToolDefinition};
use llguidance::api::TopLevelGrammar;
use llguidance::toktrie::ApproximateTokEnv;
use llguidance::ParserFactory;
use serde_json::Value;

fn corpus() -> Vec<(String, ToolDefinition)> {
    let text = include_str!("tool_schemas.json");
    let entries: Vec<Value> = serde_json::from_str(text).expect("corpus json");
    entries
        .into_iter()
        .map(|entry| {
            let function = &entry["function"];
            (
                entry["source"].as_str().expect("source").to_string(),
                ToolDefinition {
                    name: function["name"].as_str().expect("name").to_string(),
                    description: function["description"].as_str().map(str::to_string),
                    parameters: function.get("parameters").cloned().unwrap_or(Value::Null),
                    strict: false,
                },
            )
        })
        .collect()
}

const BOUNDS: ValueBounds = ValueBounds {
    string_chars: 256,
    list_items: 16,
};

#[test]
fn every_schema_of_the_corpus_is_served_and_its_call_grammar_compiles() {
    let env = ApproximateTokEnv::single_byte_env();
    let factory = ParserFactory::new_simple(&env).expect("factory");
    let corpus = corpus();
    assert!(corpus.len() >= 30, "{}", corpus.len());
    let mut relaxed = 0;
    for (source, tool) in corpus {
        let set = ToolSet::new(vec![tool.clone()])
            .unwrap_or_else(|err| panic!("{source}: refused: {err}"));
        let grammar = set.grammar(&ToolChoice::Required, false);
        factory
            .create_parser(TopLevelGrammar::from_lark(grammar))
            .unwrap_or_else(|err| panic!("{source}: the call grammar does not compile: {err}"));
        // The call asked for again when the model ran on in a free value.
        let bounded = set.bounded_call_grammar(&|_| true, BOUNDS);
        factory
            .create_parser(TopLevelGrammar::from_lark(bounded))
            .unwrap_or_else(|err| panic!("{source}: the bounded grammar does not compile: {err}"));
        if !set.relaxations().is_empty() {
            relaxed += 1;
            // The same schema, `strict`, is refused naming what could not be enforced.
            let strict = ToolSet::new(vec![ToolDefinition {
                strict: true,
                ..tool
            }]);
            let Err(ChatError::InvalidTool { reason, .. }) = strict else {
                panic!("{source}: a strict tool with an unenforceable schema was accepted");
            };
            let (_, first) = &set.relaxations()[0];
            assert!(
                reason.contains(&first.keyword) && reason.contains("strict"),
                "{reason}"
            );
        }
    }
    // The enum written on an array, the look-ahead, if/then: the corpus does hold schemas
    // that need relaxing, so this test is not passing on easy ones only.
    assert!(relaxed >= 2, "{relaxed}");
}

#[test]
fn a_pinned_call_grammar_admits_the_pinned_value_alone() {
    let set = ToolSet::new(vec![ToolDefinition {
        name: "mortgage".into(),
        description: None,
        parameters: serde_json::json!({
            "type": "object",
            "properties": {
                "amount": {"type": "number"},
                "years": {"type": "integer", "description": "loan term"}
            },
            "required": ["amount"]
        }),
        strict: false,
    }])
    .expect("tool");
    let grammar = set
        .pinned_call_grammar("mortgage", "years", &serde_json::json!(20))
        .expect("the tool has `years`");
    assert!(set
        .pinned_call_grammar("mortgage", "rate", &serde_json::json!(1))
        .is_none());
    let accepts = |arguments: &str| grammar_accepts(&grammar, "mortgage", arguments);
    assert!(accepts(r#"{"amount": 400000, "years": 20}"#));
    assert!(!accepts(r#"{"amount": 400000, "years": 15}"#));
    // Pinned means required, though the tool leaves it optional.
    assert!(!accepts(r#"{"amount": 400000}"#));
}

#[test]
fn a_bounded_call_grammar_ends_free_strings_and_lists_at_their_bounds() {
    let set = ToolSet::new(vec![ToolDefinition {
        name: "think".into(),
        description: None,
        parameters: serde_json::json!({
            "type": "object",
            "properties": {
                "thought": {"type": "string"},
                "steps": {"type": "array", "items": {"type": "integer"}},
                "done": {"type": "boolean"}
            },
            "required": ["thought", "done"]
        }),
        strict: false,
    }])
    .expect("tool");
    let grammar = set.bounded_call_grammar(&|_| true, BOUNDS);
    let accepts = |thought: &str, steps: usize| {
        let steps: Vec<String> = (0..steps).map(|step| step.to_string()).collect();
        let arguments = format!(
            "{{\"thought\": \"{thought}\", \"steps\": [{}], \"done\": true}}",
            steps.join(", ")
        );
        grammar_accepts(&grammar, "think", &arguments)
    };
    let at_bound = "a".repeat(256);
    assert!(accepts(&at_bound, 16));
    assert!(
        !accepts(&format!("{at_bound}a"), 16),
        "a string past its bound"
    );
    assert!(!accepts("short", 17), "a list past its bound");
    // The request's own grammar is left as the client wrote the schema.
    let unbounded = set.grammar(&ToolChoice::Required, false);
    assert!(!unbounded.contains("256"));
}

/// Whether `grammar` takes a whole call of `name` with `arguments` (JSON text), byte by byte.
fn grammar_accepts(grammar: &str, name: &str, arguments: &str) -> bool {
    let call =
        format!("<tool_call>\n{{\"name\": \"{name}\", \"arguments\": {arguments}}}\n</tool_call>");
    let env = ApproximateTokEnv::single_byte_env();
    let factory = ParserFactory::new_simple(&env).expect("factory");
    let parser = factory
        .create_parser(TopLevelGrammar::from_lark(grammar.to_string()))
        .expect("the grammar compiles");
    let mut matcher = llguidance::Matcher::new(Ok(parser));
    let tokens: Vec<u32> = call.bytes().map(u32::from).collect();
    matcher.consume_tokens(&tokens).is_ok() && matcher.is_accepting().unwrap_or(false)
}
