//! The Responses API, the completions route and the tokenizer routes in process, on the
//! scripted backend: requests translated into the chat pipeline, items and events written back.

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::{check_error, ready, send};

const CALL: &str =
    "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>";

fn weather() -> Value {
    json!({"type": "function", "name": "get_weather", "description": "The weather now.",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}})
}

async fn post(app: &axum::Router, uri: &str, body: Value) -> (StatusCode, String) {
    send(app, "POST", uri, Some(body.to_string())).await
}

#[tokio::test]
async fn a_tool_call_comes_back_as_a_function_call_item_and_its_output_goes_to_the_model() {
    let (app, backend) = ready(&[CALL, "It is 18 degrees in Paris."]);
    let asked = json!({"role": "user", "content": "Weather in Paris?"});
    let (status, body) = post(
        &app,
        "/v1/responses",
        json!({"model": "scripted", "instructions": "Use tools.", "input": [asked], "tools": [weather()], "tool_choice": "required"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let first: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(first["object"], "response");
    assert_eq!(first["status"], "completed");
    let call = &first["output"][0];
    assert_eq!(call["type"], "function_call");
    assert_eq!(call["name"], "get_weather");
    assert_eq!(call["arguments"], "{\"city\":\"Paris\"}");
    assert!(call["call_id"]
        .as_str()
        .is_some_and(|id| id.starts_with("call_")));
    assert_eq!(
        first["usage"]["total_tokens"],
        first["usage"]["input_tokens"].as_u64().unwrap_or(0)
            + first["usage"]["output_tokens"].as_u64().unwrap_or(0)
    );
    // The request went through the chat pipeline: instructions as the system message, the
    // grammar of `required` (the scripted model's ChatML fallback shows no tools).
    let prompt = &backend.prompts()[0];
    assert!(
        prompt.starts_with("<|im_start|>system\nUse tools."),
        "{prompt}"
    );
    let grammar = backend.requests()[0].grammar.clone().unwrap_or_default();
    assert!(grammar.contains("get_weather"), "{grammar}");

    let output =
        json!({"type": "function_call_output", "call_id": call["call_id"], "output": "18C, sunny"});
    let (status, body) = post(
        &app,
        "/v1/responses",
        json!({"model": "scripted", "input": [asked, call, output], "tools": [weather()]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let second: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(second["output"][0]["type"], "message");
    assert_eq!(
        second["output"][0]["content"][0]["text"],
        "It is 18 degrees in Paris."
    );
    let prompt = &backend.prompts()[1];
    // The output is the tool turn after the assistant's call (which the scripted model's
    // ChatML fallback shows empty).
    assert!(
        prompt.contains("<|im_start|>assistant\n<|im_end|>\n<|im_start|>tool\n18C, sunny"),
        "{prompt}"
    );
}

#[tokio::test]
async fn a_streamed_response_is_numbered_events_that_build_the_final_one() {
    let (app, _) = ready(&["Hello there"]);
    let (status, body) = post(
        &app,
        "/v1/responses",
        json!({"model": "scripted", "input": "Hi", "stream": true}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let events: Vec<Value> = body
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .map(|data| serde_json::from_str(data).expect("an event"))
        .collect();
    let mut kinds: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    // The scripted model writes a word at a time: one delta each.
    kinds.dedup();
    assert_eq!(
        kinds,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    let numbers: Vec<u64> = events
        .iter()
        .filter_map(|e| e["sequence_number"].as_u64())
        .collect();
    assert_eq!(numbers, (0..events.len() as u64).collect::<Vec<u64>>());
    let last = &events[events.len() - 1]["response"];
    assert_eq!(last["output"][0]["content"][0]["text"], "Hello there");
    let deltas: String = events
        .iter()
        .filter(|e| e["type"] == "response.output_text.delta")
        .filter_map(|e| e["delta"].as_str())
        .collect();
    assert_eq!(deltas, "Hello there");
    assert_eq!(events[0]["response"]["id"], last["id"]);
}

#[tokio::test]
async fn responses_that_need_what_is_not_kept_or_served_are_refused_by_name() {
    let (app, _) = ready(&["unused"]);
    for (body, param) in [
        (
            json!({"model": "scripted", "input": "x", "previous_response_id": "resp_1"}),
            "previous_response_id",
        ),
        (
            json!({"model": "scripted", "input": "x", "conversation": "conv_1"}),
            "conversation",
        ),
        (
            json!({"model": "scripted", "input": "x", "tools": [{"type": "file_search"}]}),
            "tools[0].type",
        ),
        (
            json!({"model": "scripted", "input": [{"type": "item_reference", "id": "x"}]}),
            "input[0].type",
        ),
        (json!({"model": "scripted"}), "input"),
    ] {
        let (status, text) = post(&app, "/v1/responses", body).await;
        let body: Value = serde_json::from_str(&text).expect("json");
        let (got, _) = check_error(status, &body, StatusCode::BAD_REQUEST);
        assert_eq!(got, param, "{body}");
    }
    let (status, text) = post(
        &app,
        "/v1/responses",
        json!({"model": "scripted", "input": "x", "surprise": 1}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
}

#[tokio::test]
async fn a_completion_runs_its_prompt_raw_and_echoes_it() {
    let (app, backend) = ready(&[" world", " again"]);
    let (status, body) = post(
        &app,
        "/v1/completions",
        json!({"model": "scripted", "prompt": ["Hello", "Hello"], "max_tokens": 5, "echo": true}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let body: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(body["object"], "text_completion");
    let texts: Vec<&str> = body["choices"]
        .as_array()
        .expect("choices")
        .iter()
        .filter_map(|c| c["text"].as_str())
        .collect();
    assert_eq!(texts.len(), 2);
    assert!(texts.iter().all(|t| t.starts_with("Hello ")), "{texts:?}");
    // No chat template: the prompt is what the client sent.
    assert_eq!(backend.prompts(), ["Hello", "Hello"]);
    assert_eq!(backend.requests()[0].max_tokens, Some(5));
    // Log-probabilities and token ids need an engine that has them.
    let (status, text) = post(
        &app,
        "/v1/completions",
        json!({"model": "scripted", "prompt": [1, 2]}),
    )
    .await;
    let body: Value = serde_json::from_str(&text).expect("json");
    check_error(status, &body, StatusCode::BAD_REQUEST);
}
