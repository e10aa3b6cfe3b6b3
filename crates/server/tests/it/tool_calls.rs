//! Tool calls over the chat API: parsed, validated, given ids, shaped by `tool_choice`, streamed
//! as OpenAI deltas, kept apart from reasoning and deduplicated.

use super::*;

fn weather_tools() -> Value {
    json!([tool("get_weather"), tool("get_time")])
}

#[tokio::test]
async fn tool_calls_are_parsed_validated_and_returned_with_ids() {
    let output = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"town\": \"Rome\"}}\n</tool_call>";
    let (app, backend) = ready(&[output]);
    let (status, body) = post_chat(&app, chat(json!({"tools": weather_tools()}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let choice = &body["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert!(choice["message"]["content"].is_null());
    // The second call breaks its schema (`town` is not a parameter; `city` is missing): dropped.
    let calls = choice["message"]["tool_calls"].as_array().expect("calls");
    assert_eq!(calls.len(), 1, "{body}");
    assert_eq!(calls[0]["type"], "function");
    assert!(calls[0]["id"]
        .as_str()
        .is_some_and(|id| id.starts_with("call_")));
    assert_eq!(calls[0]["function"]["name"], "get_weather");
    let arguments: Value =
        serde_json::from_str(calls[0]["function"]["arguments"].as_str().expect("text"))
            .expect("json");
    assert_eq!(arguments, json!({"city": "Paris"}));

    // The engine got a grammar for these tools, the opening-tag bias of `auto`, and the bias
    // on another call after a finished one (parallel calls are allowed by default).
    let request = backend.requests().pop().expect("request");
    let grammar = request.grammar.expect("grammar");
    assert!(grammar.contains("start: think? (text | calls)") && grammar.contains("get_time"));
    let mut expected = vec![
        LogitBias::at_start("<tool_call>", fulcrum_agent::DEFAULT_TOOL_CALL_BIAS),
        LogitBias::after(
            "</think>",
            "<tool_call>",
            fulcrum_agent::DEFAULT_TOOL_CALL_BIAS,
        ),
        LogitBias::after(
            "</tool_call>",
            "\n",
            fulcrum_agent::DEFAULT_PARALLEL_CALL_BIAS,
        ),
    ];
    // A bias of 0 is no bias and is not sent.
    expected.retain(|bias| bias.bias != 0.0);
    assert_eq!(request.logit_bias, expected);
}

#[tokio::test]
async fn tool_choice_modes_shape_the_grammar() {
    let (app, backend) = ready(&["ok"]);
    let cases = [
        (json!("none"), "start: think? text\n"),
        (json!("required"), "start: think? calls\n"),
        (
            json!({"type": "function", "function": {"name": "get_time"}}),
            "start: think? calls\n",
        ),
    ];
    for (choice, start) in cases {
        let (status, body) = post_chat(
            &app,
            chat(json!({"tools": weather_tools(), "tool_choice": choice})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let request = backend.requests().pop().expect("request");
        let grammar = request.grammar.expect("grammar");
        assert!(grammar.contains(start), "{choice}: {grammar}");
        // The opening-tag bias is for `auto` only; another call may be encouraged wherever
        // calls are allowed.
        assert!(
            request
                .logit_bias
                .iter()
                .all(|bias| bias.when == BiasWhen::After("</tool_call>".into())),
            "{choice}: {:?}",
            request.logit_bias
        );
        let parallel_bias = fulcrum_agent::DEFAULT_PARALLEL_CALL_BIAS != 0.0;
        assert_eq!(
            request.logit_bias.is_empty(),
            choice == json!("none") || !parallel_bias
        );
        if choice.is_object() {
            assert!(
                grammar.contains("\"const\":\"get_time\"")
                    && !grammar.contains("\"const\":\"get_weather\"")
            );
        }
    }
    let (_, _) = post_chat(
        &app,
        chat(json!({"tools": weather_tools(), "parallel_tool_calls": false})),
    )
    .await;
    let grammar = backend
        .requests()
        .pop()
        .and_then(|r| r.grammar)
        .expect("grammar");
    assert!(grammar.contains("calls: call\n"), "{grammar}");
}

#[tokio::test]
async fn streamed_tool_calls_arrive_as_openai_deltas() {
    let output =
        "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>";
    let (app, _) = ready(&[output]);
    let body = chat(json!({"tools": weather_tools(), "stream": true}));
    let (status, text) = send(&app, "POST", "/v1/chat/completions", Some(body.to_string())).await;
    assert_eq!(status, StatusCode::OK);
    let chunks: Vec<Value> = sse_data(&text)
        .iter()
        .filter(|e| e.as_str() != "[DONE]")
        .map(|e| serde_json::from_str(e).expect("json"))
        .collect();
    let deltas: Vec<&Value> = chunks.iter().map(|c| &c["choices"][0]["delta"]).collect();
    let calls: Vec<&Value> = deltas.iter().filter_map(|d| d.get("tool_calls")).collect();
    assert_eq!(calls.len(), 2, "{text}");
    assert_eq!(calls[0][0]["index"], 0);
    assert_eq!(calls[0][0]["function"]["name"], "get_time");
    assert!(calls[0][0]["id"]
        .as_str()
        .is_some_and(|id| id.starts_with("call_")));
    assert_eq!(calls[1][0]["function"]["arguments"], "{\"city\":\"Oslo\"}");
    assert!(deltas
        .iter()
        .all(|d| d["content"].as_str().is_none_or(|c| !c.contains('<'))));
    assert_eq!(
        chunks.last().expect("last")["choices"][0]["finish_reason"],
        "tool_calls"
    );
}

#[tokio::test]
async fn reasoning_goes_to_reasoning_content() {
    let (app, _) = ready(&["<think>The user greets. </think>\n\nHello!"]);
    let (_, body) = post_chat(&app, chat(json!({}))).await;
    let message = &body["choices"][0]["message"];
    assert_eq!(message["content"], "Hello!");
    assert_eq!(message["reasoning_content"], "The user greets.");
}

#[tokio::test]
async fn a_call_repeated_in_one_answer_is_returned_once() {
    let paris = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>";
    let rome = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\"}}\n</tool_call>";
    let output = format!("{paris}\n{paris}\n{rome}\n{paris}");
    let (app, _) = ready(&[&output]);
    for stream in [false, true] {
        let (status, text) = send(
            &app,
            "POST",
            "/v1/chat/completions",
            Some(chat(json!({"tools": weather_tools(), "stream": stream})).to_string()),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{text}");
        let cities: Vec<String> = if stream {
            text.lines()
                .filter_map(|line| line.strip_prefix("data: "))
                .filter_map(|data| serde_json::from_str::<Value>(data).ok())
                .flat_map(|chunk| {
                    chunk["choices"][0]["delta"]["tool_calls"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                })
                .filter_map(|delta| delta["function"]["arguments"].as_str().map(str::to_string))
                .filter(|arguments| !arguments.is_empty())
                .collect()
        } else {
            let body: Value = serde_json::from_str(&text).expect("json");
            body["choices"][0]["message"]["tool_calls"]
                .as_array()
                .expect("calls")
                .iter()
                .filter_map(|c| c["function"]["arguments"].as_str().map(str::to_string))
                .collect()
        };
        assert_eq!(cities.len(), 2, "stream={stream}: {cities:?}");
        assert!(
            cities[0].contains("Paris") && cities[1].contains("Rome"),
            "{cities:?}"
        );
    }
}
