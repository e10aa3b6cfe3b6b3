//! The HTTP API in process (`tower::ServiceExt::oneshot` on the router) with a scripted
//! backend: response shapes, streaming, and every error status.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use fulcrum_agent::LoadedModel;
use fulcrum_engine::scripted::ScriptedBackend;
use fulcrum_engine::{BiasWhen, LogitBias};
use fulcrum_server::{router, AppState, ServerOptions};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

mod api_snapshot;
mod audit_verify;
mod console;
mod documents;
mod governed;
mod knowledge;
mod limits;
mod openapi;
mod responses;
mod tool_calls;

/// The served call tuning without the call checks: the scripted replies are exact, so no call
/// is dropped and none asked for beyond them (`tool_calls::checked_*` test the checks).
fn exact_tuning() -> fulcrum_agent::ToolCallTuning {
    fulcrum_agent::ToolCallTuning {
        call_grounding: fulcrum_agent::CallGrounding::Off,
        probe_parallel_calls: false,
        calls_for_lists: false,
        list_members_per_function: false,
        calls_for_named_choices: false,
        flags_both_ways: false,
        flags_as_written: false,
        flags_asked_for: false,
        companion_calls: false,
        variants_as_calls: false,
        calls_for_list_combinations: false,
        probe_other_values: false,
        probe_unused_numbers: false,
        probe_unused_names: false,
        drop_copied_values: false,
        pronouns_are_values: true,
        descriptions_are_values: true,
        other_functions_by_name: false,
        acronyms_name_functions: false,
        other_functions_asked: false,
        functions_asked_by_values: false,
        values_beside_their_functions: false,
        optionals_in_their_sentence: false,
        list_items_in_their_parts: false,
        flags_in_their_parts: false,
        parts_of_values_not_new: false,
        ground_optional_arguments: false,
        ground_optional_choices: false,
        optional_flags_asked: false,
        ground_listed_choices: false,
        ground_list_items: false,
        years_in_their_own_argument: false,
        values_in_their_own_argument: false,
        drop_sentence_articles: false,
        ends_as_written: false,
        named_functions_called: false,
        values_as_described: false,
        dates_in_words_as_iso: false,
        hemispheres_as_signs: false,
        units_as_written: false,
        optional_choices_named: false,
        currencies_as_codes: false,
        drop_copied_numbers: false,
        city_with_state: false,
        numbers_at_written_scale: false,
        percentages_as_fractions: false,
        percentages_as_points: false,
        numbers_run_together: false,
        percentages_beside_plain_numbers: false,
        lists_paired_in_order: false,
        moved_values_are_new: false,
        calls_written_as_text: false,
        call_after_echo: false,
        call_relevance: false,
        ..Default::default()
    }
}

fn state() -> AppState {
    state_tuned(exact_tuning())
}

fn state_tuned(tuning: fulcrum_agent::ToolCallTuning) -> AppState {
    AppState::new(ServerOptions {
        max_body_bytes: 64 * 1024,
        tuning,
        ..ServerOptions::default()
    })
    .expect("state")
}

fn ready(outputs: &[&str]) -> (Router, Arc<ScriptedBackend>) {
    let state = state();
    let backend = Arc::new(ScriptedBackend::new(outputs.iter().copied()));
    state.set_model(LoadedModel::new(backend.clone()).expect("model"));
    (router(state), backend)
}

async fn send(app: &Router, method: &str, uri: &str, body: Option<String>) -> (StatusCode, String) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(body.map_or_else(Body::empty, Body::from))
        .expect("request");
    let response = app.clone().oneshot(request).await.expect("response");
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

async fn post_chat(app: &Router, body: Value) -> (StatusCode, Value) {
    let (status, text) = send(app, "POST", "/v1/chat/completions", Some(body.to_string())).await;
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

fn chat(extra: Value) -> Value {
    let mut body = json!({
        "model": "scripted",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
    });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            body.insert(k.clone(), v.clone());
        }
    }
    body
}

fn tool(name: &str) -> Value {
    json!({"type": "function", "function": {"name": name, "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}})
}

/// Asserts the OpenAI error shape and returns (param, code).
fn check_error(status: StatusCode, body: &Value, expected: StatusCode) -> (Value, Value) {
    assert_eq!(status, expected, "{body}");
    let error = &body["error"];
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(error["type"].is_string(), "{body}");
    assert!(
        error.get("param").is_some() && error.get("code").is_some(),
        "{body}"
    );
    (error["param"].clone(), error["code"].clone())
}

#[tokio::test]
async fn before_the_model_loads_health_is_up_and_the_api_says_503() {
    let app = router(state());
    assert_eq!(send(&app, "GET", "/healthz", None).await.0, StatusCode::OK);
    let (status, body) = send(&app, "GET", "/readyz", None).await;
    let body: Value = serde_json::from_str(&body).expect("json");
    check_error(status, &body, StatusCode::SERVICE_UNAVAILABLE);
    let (status, body) = post_chat(&app, chat(json!({}))).await;
    let (_, code) = check_error(status, &body, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(code, "model_not_ready");
}

#[tokio::test]
async fn non_streaming_completion_has_content_usage_and_the_rendered_prompt() {
    let (app, backend) = ready(&["Hello there friend"]);
    let (status, body) = post_chat(&app, chat(json!({"temperature": 0}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["object"], "chat.completion");
    assert!(body["id"]
        .as_str()
        .is_some_and(|id| id.starts_with("chatcmpl-")));
    assert_eq!(body["model"], "scripted");
    assert_eq!(body["choices"][0]["message"]["role"], "assistant");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Hello there friend"
    );
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!(body["usage"]["completion_tokens"], 3);
    let prompt = &backend.prompts()[0];
    // No template in the scripted model: the ChatML fallback renders the conversation.
    assert_eq!(
        prompt,
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    );
    assert_eq!(
        body["usage"]["prompt_tokens"],
        prompt.split_inclusive(' ').count()
    );
    assert_eq!(
        body["usage"]["total_tokens"],
        body["usage"]["prompt_tokens"].as_u64().unwrap_or(0) + 3
    );
}

#[tokio::test]
async fn max_tokens_gives_finish_reason_length() {
    let (app, _) = ready(&["one two three four"]);
    let (status, body) = post_chat(&app, chat(json!({"max_tokens": 2}))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["choices"][0]["message"]["content"], "one two ");
    assert_eq!(body["choices"][0]["finish_reason"], "length");
    assert_eq!(body["usage"]["completion_tokens"], 2);
}

fn sse_data(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn streaming_sends_role_deltas_finish_usage_and_done() {
    let (app, _) = ready(&["a b c"]);
    let body = chat(json!({"stream": true, "stream_options": {"include_usage": true}}));
    let (status, text) = send(&app, "POST", "/v1/chat/completions", Some(body.to_string())).await;
    assert_eq!(status, StatusCode::OK);
    let events = sse_data(&text);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).expect("chunk json"))
        .collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(content, "a b c");
    let finish: Vec<&Value> = chunks
        .iter()
        .map(|c| &c["choices"][0]["finish_reason"])
        .filter(|f| !f.is_null())
        .collect();
    assert_eq!(finish, vec![&json!("stop")]);
    let usage_chunk = chunks.last().expect("usage chunk");
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(usage_chunk["usage"]["completion_tokens"], 3);
    assert!(chunks[..chunks.len() - 1]
        .iter()
        .all(|c| c["usage"].is_null()));
    assert!(chunks
        .iter()
        .all(|c| c["object"] == "chat.completion.chunk" && c["id"] == chunks[0]["id"]));
}

#[tokio::test]
async fn streaming_without_usage_option_has_no_usage_field() {
    let (app, _) = ready(&["x"]);
    let (_, text) = send(
        &app,
        "POST",
        "/v1/chat/completions",
        Some(chat(json!({"stream": true})).to_string()),
    )
    .await;
    let events = sse_data(&text);
    for event in &events[..events.len() - 1] {
        let chunk: Value = serde_json::from_str(event).expect("json");
        assert!(chunk.get("usage").is_none(), "{chunk}");
    }
}

#[tokio::test]
async fn bad_requests_are_400_with_the_field_named() {
    let (app, _) = ready(&["x"]);
    let cases = [
        (chat(json!({"n": 2})), "n"),
        (chat(json!({"temperature": 3.5})), "temperature"),
        (chat(json!({"top_p": 0})), "top_p"),
        (chat(json!({"max_tokens": 0})), "max_tokens"),
        (chat(json!({"ignore_eos": true})), "ignore_eos"),
        (chat(json!({"stop": ["a", "b", "c", "d", "e"]})), "stop"),
        (
            chat(json!({"stream_options": {"include_usage": true}})),
            "stream_options",
        ),
        (chat(json!({"tool_choice": "required"})), "tool_choice"),
        (
            chat(
                json!({"tools": [tool("f")], "tool_choice": {"type": "function", "function": {"name": "g"}}}),
            ),
            "tool_choice",
        ),
        (
            chat(json!({"tools": [tool("f")], "tool_choice": "sometimes"})),
            "tool_choice",
        ),
        (
            chat(json!({"tools": [{"type": "retrieval"}]})),
            "tools[0].type",
        ),
        (chat(json!({"tools": [tool("f"), tool("f")]})), "tools[1]"),
        (
            chat(
                json!({"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": 7}}}]}),
            ),
            "tools[0]",
        ),
        (
            chat(json!({"parallel_tool_calls": false})),
            "parallel_tool_calls",
        ),
        (chat(json!({"functions": [{"name": "f"}]})), "functions"),
        (chat(json!({"top_logprobs": 2})), "top_logprobs"),
        (
            chat(json!({"logprobs": true, "top_logprobs": 21})),
            "top_logprobs",
        ),
        (chat(json!({"frequency_penalty": 0.5})), "frequency_penalty"),
        (
            chat(json!({"response_format": {"type": "yaml"}})),
            "response_format.type",
        ),
        (
            chat(json!({"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}})),
            "response_format.json_schema.schema",
        ),
        (chat(json!({"messages": []})), "messages"),
        (
            chat(json!({"messages": [{"role": "wizard", "content": "x"}]})),
            "messages[0].role",
        ),
        (
            chat(json!({"messages": [{"role": "user"}]})),
            "messages[0].content",
        ),
        (
            chat(json!({"messages": [{"role": "tool", "content": "x"}]})),
            "messages[0].tool_call_id",
        ),
        (
            chat(
                json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}),
            ),
            "messages[0].content[0].type",
        ),
        (chat(json!({"temperature": "hot"})), "temperature"),
        (chat(json!({"bogus_field": 1})), ""),
    ];
    for (body, param) in cases {
        let (status, response) = post_chat(&app, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "for {body}");
        let (got_param, _) = check_error(status, &response, StatusCode::BAD_REQUEST);
        if param.is_empty() {
            let message = response["error"]["message"].as_str().unwrap_or_default();
            assert!(message.contains("bogus_field"), "{response}");
        } else {
            assert_eq!(got_param, param, "for {body}: {response}");
        }
    }
}

#[tokio::test]
async fn accepted_client_fields_do_not_fail() {
    let (app, _) = ready(&["ok"]);
    let body = chat(json!({
        "user": "u-1", "store": false, "metadata": {"k": "v"}, "service_tier": "auto",
        "n": 1, "presence_penalty": 0, "seed": 7, "top_k": 20,
        "response_format": {"type": "text"}, "max_completion_tokens": 5,
        "chat_template_kwargs": {"enable_thinking": false},
        "messages": [{"role": "developer", "content": "d"}, {"role": "user", "content": [{"type": "text", "text": "hi"}]}],
    }));
    let (status, response) = post_chat(&app, body).await;
    assert_eq!(status, StatusCode::OK, "{response}");
}

#[tokio::test]
async fn invalid_json_is_400() {
    let (app, _) = ready(&["x"]);
    let (status, text) = send(
        &app,
        "POST",
        "/v1/chat/completions",
        Some("{\"model\": ".into()),
    )
    .await;
    let body: Value = serde_json::from_str(&text).expect("json");
    let (_, code) = check_error(status, &body, StatusCode::BAD_REQUEST);
    assert_eq!(code, "invalid_json");
}

#[tokio::test]
async fn unknown_model_and_route_are_404() {
    let (app, _) = ready(&["x"]);
    let (status, body) = post_chat(&app, chat(json!({"model": "gpt-9"}))).await;
    let (param, code) = check_error(status, &body, StatusCode::NOT_FOUND);
    assert_eq!((param, code), (json!("model"), json!("model_not_found")));

    let (status, text) = send(&app, "GET", "/v1/nothing", None).await;
    check_error(
        status,
        &serde_json::from_str(&text).expect("json"),
        StatusCode::NOT_FOUND,
    );
    let (status, text) = send(&app, "GET", "/v1/models/gpt-9", None).await;
    check_error(
        status,
        &serde_json::from_str(&text).expect("json"),
        StatusCode::NOT_FOUND,
    );
    let (status, text) = send(&app, "GET", "/v1/chat/completions", None).await;
    check_error(
        status,
        &serde_json::from_str(&text).expect("json"),
        StatusCode::METHOD_NOT_ALLOWED,
    );
}

#[tokio::test]
async fn body_over_the_limit_is_413() {
    let (app, _) = ready(&["x"]);
    let huge = "x".repeat(100 * 1024);
    let body = chat(json!({"messages": [{"role": "user", "content": huge}]}));
    let (status, text) = send(&app, "POST", "/v1/chat/completions", Some(body.to_string())).await;
    let body: Value = serde_json::from_str(&text).expect("json");
    let (_, code) = check_error(status, &body, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(code, "request_too_large");
}

#[tokio::test]
async fn models_and_metrics_report_the_served_model_and_traffic() {
    let (app, _) = ready(&["hi"]);
    let (status, text) = send(&app, "GET", "/v1/models", None).await;
    assert_eq!(status, StatusCode::OK);
    let models: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(models["object"], "list");
    assert_eq!(models["data"][0]["id"], "scripted");
    assert_eq!(
        send(&app, "GET", "/v1/models/scripted", None).await.0,
        StatusCode::OK
    );

    post_chat(&app, chat(json!({}))).await;
    post_chat(&app, chat(json!({"n": 3}))).await;
    let (status, metrics) = send(&app, "GET", "/metrics", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        metrics.contains(
            r#"fulcrum_http_requests_total{route="/v1/chat/completions",status="200"} 1"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            r#"fulcrum_http_requests_total{route="/v1/chat/completions",status="400"} 1"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("fulcrum_completion_tokens_total 1"),
        "{metrics}"
    );
    assert!(metrics.contains("fulcrum_queue_depth 0"), "{metrics}");
    for family in [
        "fulcrum_queue_wait_seconds_total",
        "fulcrum_engine_admitted_total",
        "fulcrum_request_timeouts_total",
    ] {
        assert!(metrics.contains(&format!("{family} 0")), "{metrics}");
    }
}

#[tokio::test]
async fn ignore_eos_and_the_time_limit_reach_the_engine() {
    let state = AppState::new(ServerOptions {
        request_timeout: Some(std::time::Duration::from_secs(7)),
        ..ServerOptions::default()
    })
    .expect("state");
    let backend = Arc::new(ScriptedBackend::new(["a b c"]));
    state.set_model(LoadedModel::new(backend.clone()).expect("model"));
    let app = router(state);
    let (status, _) = post_chat(&app, chat(json!({"ignore_eos": true, "max_tokens": 2}))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = post_chat(&app, chat(json!({}))).await;
    assert_eq!(status, StatusCode::OK);
    let requests = backend.requests();
    assert!(requests[0].ignore_eos);
    assert!(!requests[1].ignore_eos);
    assert!(requests
        .iter()
        .all(|r| r.timeout == Some(std::time::Duration::from_secs(7))));
}

#[tokio::test]
async fn a_generation_past_its_time_limit_is_504_or_an_error_event_after_the_text() {
    let state = state();
    let backend = ScriptedBackend::new(["partial answer"])
        .failing_with(fulcrum_engine::EngineError::Timeout { limit_ms: 1500 });
    state.set_model(LoadedModel::new(Arc::new(backend)).expect("model"));
    let app = router(state);
    let (status, body) = post_chat(&app, chat(json!({}))).await;
    let (_, code) = check_error(status, &body, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(code, "request_timeout");
    assert!(body["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("1500 ms")));

    let (status, text) = send(
        &app,
        "POST",
        "/v1/chat/completions",
        Some(chat(json!({"stream": true})).to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let events = sse_data(&text);
    assert!(events.iter().any(|e| e.contains("partial")), "{events:?}");
    let last: Value = serde_json::from_str(events.last().expect("events")).expect("json");
    assert_eq!(last["error"]["code"], "request_timeout", "{events:?}");
}

/// What one request may ask for is capped before any work: `max_tokens` above the limit, and
/// more tools than the server takes, are 400s naming the field.
#[tokio::test]
async fn requests_over_the_size_limits_are_refused_naming_the_field() {
    let (app, backend) = ready(&["unused"]);
    let (status, body) = post_chat(&app, chat(json!({"max_tokens": 5000}))).await;
    let (param, _) = check_error(status, &body, StatusCode::BAD_REQUEST);
    assert_eq!(param, "max_tokens");
    assert!(body["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("4096")));
    let tools: Vec<Value> = (0..129).map(|n| tool(&format!("tool_{n}"))).collect();
    let (status, body) = post_chat(&app, chat(json!({"tools": tools}))).await;
    let (param, _) = check_error(status, &body, StatusCode::BAD_REQUEST);
    assert_eq!(param, "tools");
    assert!(backend.prompts().is_empty(), "nothing reached the model");
    // Without `max_tokens` the engine is told the server's limit.
    let (status, _) = post_chat(&app, chat(json!({}))).await;
    assert_eq!(status, StatusCode::OK);
    let request = backend.requests().pop().expect("a request");
    assert_eq!(
        (request.max_tokens, request.max_tokens_limit),
        (None, Some(4096))
    );
    assert_eq!(request.caller.as_deref(), Some("anonymous"));
}
