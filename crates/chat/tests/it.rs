//! Chat templates rendered by Fulcrum must equal the reference rendering (Hugging Face's
//! jinja2 environment, see `fixtures/render_reference.py`) byte for byte.

use std::path::PathBuf;

use fulcrum_chat::{ChatTemplate, Message, RenderOptions, Role, ToolCall, ToolDefinition};
use serde_json::Value;

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

fn conversation() -> Value {
    serde_json::from_str(&fixture("conversation.json")).expect("conversation.json")
}

/// Converts the fixture's OpenAI-shaped JSON into Fulcrum's message types.
fn messages(list: &Value) -> Vec<Message> {
    list.as_array()
        .expect("array")
        .iter()
        .map(|m| {
            let role = match m["role"].as_str().expect("role") {
                "system" => Role::System,
                "user" => Role::User,
                "assistant" => Role::Assistant,
                "tool" => Role::Tool,
                other => panic!("role {other}"),
            };
            let tool_calls = m["tool_calls"]
                .as_array()
                .map(|calls| {
                    calls
                        .iter()
                        .map(|c| ToolCall {
                            id: c["id"].as_str().expect("id").into(),
                            name: c["function"]["name"].as_str().expect("name").into(),
                            arguments: c["function"]["arguments"].to_string(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            Message {
                role,
                content: m["content"].as_str().map(Into::into),
                reasoning_content: None,
                tool_calls,
                tool_call_id: m["tool_call_id"].as_str().map(Into::into),
                name: None,
            }
        })
        .collect()
}

fn tools(list: &Value) -> Vec<ToolDefinition> {
    list.as_array()
        .expect("array")
        .iter()
        .map(|t| ToolDefinition {
            name: t["function"]["name"].as_str().expect("name").into(),
            description: t["function"]["description"].as_str().map(Into::into),
            parameters: t["function"]["parameters"].clone(),
            strict: false,
        })
        .collect()
}

fn check(template_file: &str, expected_file: &str, messages: &[Message], tools: &[ToolDefinition]) {
    let template =
        ChatTemplate::new(&fixture(template_file), "", "<|im_end|>").expect("template compiles");
    let options = RenderOptions {
        add_generation_prompt: true,
        ..Default::default()
    };
    let rendered = template.render(messages, tools, &options).expect("render");
    let expected = fixture(expected_file);
    if rendered != expected {
        let at = rendered
            .chars()
            .zip(expected.chars())
            .take_while(|(a, b)| a == b)
            .count();
        panic!(
            "{template_file}: rendering differs at char {at}\n--- got ---\n{rendered}\n--- expected ---\n{expected}"
        );
    }
}

#[test]
fn qwen_template_with_tools_tool_calls_and_tool_results_matches_reference() {
    let case = conversation();
    check(
        "qwen2.5-coder.jinja",
        "qwen2.5-coder.expected",
        &messages(&case["messages"]),
        &tools(&case["tools"]),
    );
}

#[test]
fn smollm_template_matches_reference() {
    let case = conversation();
    check(
        "smollm2.jinja",
        "smollm2.expected",
        &messages(&case["plain_messages"]),
        &[],
    );
}

#[test]
fn qwen_template_without_tools_uses_default_system_prompt() {
    let template =
        ChatTemplate::new(&fixture("qwen2.5-coder.jinja"), "", "<|im_end|>").expect("compile");
    let out = template
        .render(
            &[Message::user("Hi")],
            &[],
            &RenderOptions {
                add_generation_prompt: false,
                ..Default::default()
            },
        )
        .expect("render");
    assert_eq!(
        out,
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
    );
}
