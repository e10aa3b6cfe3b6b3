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
    // A first token the grammar refuses as text (a bare JSON call) takes the call path.
    let refused = request.instead_of_refused_start.expect("a redirect");
    assert_eq!(refused.instead, "<tool_call>");
    assert!(refused.openers.contains(&"{".to_string()));
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
        assert_eq!(
            request.instead_of_refused_start, None,
            "{choice}: no choice to redirect"
        );
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

#[tokio::test]
async fn a_call_the_loop_check_stopped_is_closed_and_one_cut_by_the_token_limit_is_not() {
    // The engine's loop check stopped the model writing its member again.
    let looped = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"city\": \"Paris\", \"ci";
    let (app, _) = ready(&[looped, looped]);
    let (status, body) = post_chat(&app, chat(json!({"tools": weather_tools()}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let choice = &body["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls", "{body}");
    let calls = choice["message"]["tool_calls"].as_array().expect("calls");
    assert_eq!(calls.len(), 1, "{body}");
    let arguments: Value =
        serde_json::from_str(calls[0]["function"]["arguments"].as_str().expect("text"))
            .expect("json");
    assert_eq!(arguments, json!({"city": "Paris"}));
    // The same text cut by the token limit is reported as cut, not made a call.
    let (status, body) = post_chat(
        &app,
        chat(json!({"tools": weather_tools(), "max_tokens": 6})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let choice = &body["choices"][0];
    assert_eq!(choice["finish_reason"], "length", "{body}");
    assert!(choice["message"]["tool_calls"].is_null(), "{body}");
}

#[tokio::test]
async fn under_required_a_call_that_ran_on_is_asked_again_bounded_and_never_replaced_by_text() {
    // The engine's loop check stopped the model inside the call's one required string.
    let ran_on =
        "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris Paris Paris Pa";
    let whole = weather_call("Paris");
    let (app, backend) = ready(&[ran_on, &whole]);
    let required = chat(json!({"tools": weather_tools(), "tool_choice": "required"}));
    let (status, body) = post_chat(&app, required.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["choices"][0]["finish_reason"], "tool_calls", "{body}");
    let second = backend.requests().pop().expect("a second generation");
    let grammar = second.grammar.expect("a grammar");
    assert!(grammar.contains("256") && !second.loop_check, "{grammar}");

    // Twice no valid call: an error in OpenAI's format, and no text in place of the call.
    let (app, backend) = ready(&[ran_on, ran_on, "Sunny in Paris."]);
    let (status, body) = post_chat(&app, required).await;
    let (_, code) = check_error(status, &body, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(code, "no_valid_tool_call");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("tool_choice")),
        "{body}"
    );
    assert_eq!(backend.requests().len(), 2, "no text answer was generated");
}

/// A server with the served call checks on (the other tests run without them).
fn ready_checked(outputs: &[&str]) -> (Router, Arc<ScriptedBackend>) {
    let state = AppState::new(ServerOptions::default()).expect("state");
    let backend = Arc::new(ScriptedBackend::new(outputs.iter().copied()));
    state.set_model(LoadedModel::new(backend.clone()).expect("model"));
    (router(state), backend)
}

fn weather_call(city: &str) -> String {
    format!("<tool_call>\n{{\"name\": \"get_weather\", \"arguments\": {{\"city\": \"{city}\"}}}}\n</tool_call>")
}

fn asking(question: &str, stream: bool) -> String {
    json!({
        "model": "scripted",
        "messages": [{"role": "user", "content": question}],
        "tools": weather_tools(),
        "stream": stream,
    })
    .to_string()
}

/// The content and the calls' arguments of an answer, streamed or not.
fn content_and_calls(text: &str, stream: bool) -> (String, Vec<String>) {
    if !stream {
        let body: Value = serde_json::from_str(text).expect("json");
        let message = &body["choices"][0]["message"];
        let calls = message["tool_calls"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(|c| c["function"]["arguments"].as_str().map(str::to_string))
            .collect();
        return (message["content"].as_str().unwrap_or("").to_string(), calls);
    }
    let chunks: Vec<Value> = text
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .filter_map(|data| serde_json::from_str::<Value>(data).ok())
        .collect();
    let content = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    let calls = chunks
        .iter()
        .flat_map(|c| {
            c["choices"][0]["delta"]["tool_calls"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|d| d["function"]["arguments"].as_str().map(str::to_string))
        .filter(|arguments| !arguments.is_empty())
        .collect();
    (content, calls)
}

#[tokio::test]
async fn checked_a_call_with_made_up_values_is_answered_in_text_instead() {
    for stream in [false, true] {
        let invented = weather_call("Atlantis");
        let (app, backend) = ready_checked(&[&invented, "I cannot tell the time."]);
        let (status, text) = send(
            &app,
            "POST",
            "/v1/chat/completions",
            Some(asking("What time is it?", stream)),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{text}");
        let (content, calls) = content_and_calls(&text, stream);
        assert!(calls.is_empty(), "stream={stream}: {calls:?}");
        assert_eq!(content, "I cannot tell the time.", "stream={stream}");
        let requests = backend.requests();
        assert_eq!(requests.len(), 2);
        let second = requests[1].grammar.clone().unwrap_or_default();
        assert!(second.contains("start: think? text\n"), "{second}");
    }
}

#[tokio::test]
async fn checked_the_call_a_small_model_leaves_out_is_asked_for_and_returned() {
    for stream in [false, true] {
        let (paris, rome) = (weather_call("Paris"), weather_call("Rome"));
        let (app, backend) = ready_checked(&[&paris, &rome, &rome]);
        let (status, text) = send(
            &app,
            "POST",
            "/v1/chat/completions",
            Some(asking("Weather in Paris and in Rome?", stream)),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{text}");
        let (_, calls) = content_and_calls(&text, stream);
        assert_eq!(calls.len(), 2, "stream={stream}: {calls:?}");
        assert!(calls[0].contains("Paris") && calls[1].contains("Rome"));
        // The second generation continued the answer after the first call.
        let prompts = backend.prompts();
        assert!(
            prompts[1].ends_with(&format!("{paris}\n")),
            "{}",
            prompts[1]
        );
    }
}

#[tokio::test]
async fn checked_nothing_is_asked_again_when_parallel_calls_are_off_and_the_call_is_grounded() {
    let paris = weather_call("Paris");
    let (app, backend) = ready_checked(&[&paris]);
    let mut body: Value = serde_json::from_str(&asking("Weather in Paris?", false)).expect("json");
    body["parallel_tool_calls"] = json!(false);
    let (status, body) = post_chat(&app, body).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["choices"][0]["message"]["tool_calls"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(backend.requests().len(), 1);
}

#[tokio::test]
async fn parallel_call_guidance_is_in_the_prompt_only_where_parallel_calls_are_allowed_in_auto() {
    use fulcrum_agent::{CallGuidance, ToolCallTuning};
    let call = weather_call("Paris");
    for (guidance, said) in [
        (CallGuidance::Off, None),
        (
            CallGuidance::Rule,
            Some("make one function call for each of them"),
        ),
        (CallGuidance::Example, Some("\"city\": \"Rome\"")),
    ] {
        let state = state_tuned(ToolCallTuning {
            parallel_call_guidance: guidance,
            ..exact_tuning()
        });
        let backend = Arc::new(ScriptedBackend::new([call.as_str(), &call, &call]));
        state.set_model(LoadedModel::new(backend.clone()).expect("model"));
        let app = router(state);
        let auto: Value = serde_json::from_str(&asking("Weather in Paris?", false)).expect("json");
        let mut serial = auto.clone();
        serial["parallel_tool_calls"] = json!(false);
        let mut required = auto.clone();
        required["tool_choice"] = json!("required");
        for body in [auto, serial, required] {
            let (status, body) = post_chat(&app, body).await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        let prompts = backend.prompts();
        assert_eq!(prompts.len(), 3);
        assert!(
            prompts
                .iter()
                .take(2)
                .all(|p| p.contains(fulcrum_agent::WHEN_TO_CALL)),
            "the when-to-call rule is said in auto whatever the guidance"
        );
        match said {
            Some(words) => assert!(prompts[0].contains(words), "{guidance:?}: {}", prompts[0]),
            None => assert!(!prompts[0].contains("one function call for each")),
        }
        for prompt in &prompts[1..] {
            assert!(
                !prompt.contains("one function call for each"),
                "{guidance:?}: said without parallel calls or outside auto: {prompt}"
            );
        }
    }
}
