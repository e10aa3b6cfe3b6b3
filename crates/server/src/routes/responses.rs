//! `POST /v1/responses`, the stateless subset of OpenAI's Responses API (what the OpenAI
//! Agents SDK and LangChain's `use_responses_api` send): the request is translated into a chat
//! completion and runs through the same checks, admission, template, grammar, audit and
//! metrics; the answer is written back as response items, or as the Responses stream events.

use std::convert::Infallible;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use fulcrum_engine::FinishReason;
use fulcrum_tools::Principal;
use futures::Stream;
use serde_json::{json, Map, Value};

use super::chat::{begin, collect, completion, Begun, Running};
use super::chat_stream::async_stream;
use super::completion::{finish_reason, unix_now};
use super::pieces::{pieces, Piece, Step};
use crate::error::ApiError;
use crate::json::ApiJson;
use crate::state::AppState;
use crate::wire::responses::{
    IncompleteDetails, OutputItem, OutputText, ReasoningText, ResponseError, ResponseInput,
    ResponseObject, ResponseUsage, ResponsesRequest,
};
use crate::wire::{ApiErrors, ErrorResponse};
use crate::wire::{
    ChatCompletionRequest, MessageContent, RequestFunctionCall, RequestMessage, RequestToolCall,
};

#[utoipa::path(post, path = "/v1/responses", tag = "openai", request_body = ResponsesRequest, responses((status = 200, description = "the response (or, with `stream`, its server-sent events)", content((ResponseObject = "application/json"), (serde_json::Value = "text/event-stream"))), ApiErrors, (status = 413, description = "body too large", body = ErrorResponse), (status = 503, description = "the model is not loaded", body = ErrorResponse), (status = 504, description = "the generation ran out of time", body = ErrorResponse)), security(("api_key" = [])))]
pub async fn create_response(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
    ApiJson(request): ApiJson<ResponsesRequest>,
) -> Result<Response, ApiError> {
    let (chat, shell) = translate(request)?;
    let running = match begin(&state, principal, chat, "the Responses API").await? {
        Begun::Refused(response) => return Ok(response),
        Begun::Running(running) => running,
    };
    if running.stream {
        let events = stream_events(state, running, shell);
        return Ok(Sse::new(events)
            .keep_alive(KeepAlive::default())
            .into_response());
    }
    let Running {
        generation,
        meta,
        in_flight,
        ..
    } = running;
    let (text, reason, usage) = collect(&state, generation, meta.started).await?;
    drop(in_flight);
    let message = completion(meta, &text, reason, usage, None)
        .choices
        .into_iter()
        .next()
        .map(|choice| choice.message);
    let mut output = Vec::new();
    if let Some(message) = message {
        if let Some(reasoning) = message.reasoning_content.filter(|r| !r.is_empty()) {
            output.push(reasoning_item(new_id("rs"), reasoning));
        }
        if let Some(content) = message.content.filter(|c| !c.is_empty()) {
            output.push(message_item(new_id("msg"), "completed", content));
        }
        for call in message.tool_calls {
            output.push(call_item(call, "completed"));
        }
    }
    Ok(Json(shell.finished(output, reason, usage)).into_response())
}

/// What the response object repeats of the request, and its identity.
struct Shell {
    id: String,
    created_at: u64,
    model: String,
    instructions: Option<String>,
    max_output_tokens: Option<u32>,
    parallel_tool_calls: bool,
    temperature: Option<f32>,
    top_p: Option<f32>,
    tool_choice: Value,
    tools: Vec<Value>,
    text: Value,
    metadata: Value,
}

impl Shell {
    fn object(&self, status: &'static str, output: Vec<OutputItem>) -> ResponseObject {
        ResponseObject {
            id: self.id.clone(),
            object: "response",
            created_at: self.created_at,
            status,
            model: self.model.clone(),
            output,
            usage: None,
            error: None,
            incomplete_details: None,
            instructions: self.instructions.clone(),
            max_output_tokens: self.max_output_tokens,
            parallel_tool_calls: self.parallel_tool_calls,
            previous_response_id: None,
            temperature: self.temperature,
            top_p: self.top_p,
            tool_choice: self.tool_choice.clone(),
            tools: self.tools.clone(),
            text: self.text.clone(),
            metadata: self.metadata.clone(),
            truncation: "disabled",
            store: false,
        }
    }

    /// `completed`, or `incomplete` when the output ran into `max_output_tokens`.
    fn finished(
        &self,
        output: Vec<OutputItem>,
        reason: FinishReason,
        usage: fulcrum_engine::Usage,
    ) -> ResponseObject {
        let cut = reason == FinishReason::Length;
        ResponseObject {
            usage: Some(ResponseUsage::from(usage)),
            incomplete_details: cut.then_some(IncompleteDetails {
                reason: "max_output_tokens",
            }),
            ..self.object(if cut { "incomplete" } else { "completed" }, output)
        }
    }
}

fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

fn message_item(id: String, status: &'static str, text: String) -> OutputItem {
    OutputItem::Message {
        id,
        status,
        role: "assistant",
        content: vec![output_text(text)],
    }
}

fn output_text(text: String) -> OutputText {
    OutputText {
        kind: "output_text",
        text,
        annotations: Vec::new(),
    }
}

fn reasoning_item(id: String, text: String) -> OutputItem {
    OutputItem::Reasoning {
        id,
        summary: Vec::new(),
        content: vec![ReasoningText {
            kind: "reasoning_text",
            text,
        }],
    }
}

fn call_item(call: crate::wire::ResponseToolCall, status: &'static str) -> OutputItem {
    OutputItem::FunctionCall {
        id: call.id.replacen("call_", "fc_", 1),
        call_id: call.id,
        name: call.function.name,
        arguments: call.function.arguments,
        status,
    }
}

/// The chat completion a Responses request asks for, and the shell of its answer. Fields
/// Fulcrum cannot honour are refused by name.
fn translate(request: ResponsesRequest) -> Result<(ChatCompletionRequest, Shell), ApiError> {
    if request.previous_response_id.is_some() {
        return Err(ApiError::unsupported(
            "previous_response_id",
            "`previous_response_id` is not supported: Fulcrum stores no responses; send the whole conversation in `input` (earlier output items and `function_call_output` items), or use the agent API (/v1/agent/sessions) for conversations kept on the server",
        ));
    }
    if request.conversation.is_some() {
        return Err(ApiError::unsupported(
            "conversation",
            "`conversation` is not supported: Fulcrum stores no conversations; send the whole conversation in `input`, or use the agent API (/v1/agent/sessions)",
        ));
    }
    if request.background == Some(true) {
        return Err(ApiError::unsupported(
            "background",
            "`background` responses are not supported: stream the response instead (`stream: true`)",
        ));
    }
    if request.top_logprobs.is_some_and(|n| n > 0) {
        return Err(ApiError::unsupported(
            "top_logprobs",
            "`top_logprobs` is not supported on /v1/responses: use /v1/chat/completions or /v1/completions",
        ));
    }
    let input = request.input.ok_or_else(|| {
        ApiError::invalid_value("input", "`input` is required: a text or a list of items")
    })?;
    let messages = messages(request.instructions.clone(), input)?;
    let tools = request
        .tools
        .as_ref()
        .map(|tools| {
            tools
                .iter()
                .enumerate()
                .map(|(index, tool)| chat_tool(index, tool))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    let tool_choice = request
        .tool_choice
        .as_ref()
        .map(chat_tool_choice)
        .transpose()?;
    let response_format = request
        .text
        .as_ref()
        .and_then(|text| text.get("format"))
        .map(chat_response_format)
        .transpose()?
        .flatten();
    let shell = Shell {
        id: new_id("resp"),
        created_at: unix_now(),
        model: request.model.clone(),
        instructions: request.instructions,
        max_output_tokens: request.max_output_tokens,
        parallel_tool_calls: request.parallel_tool_calls.unwrap_or(true),
        temperature: request.temperature,
        top_p: request.top_p,
        tool_choice: request.tool_choice.unwrap_or_else(|| json!("auto")),
        tools: request.tools.unwrap_or_default(),
        text: request
            .text
            .unwrap_or_else(|| json!({"format": {"type": "text"}})),
        metadata: request.metadata.unwrap_or_else(|| json!({})),
    };
    let chat = ChatCompletionRequest {
        temperature: request.temperature,
        top_p: request.top_p,
        max_tokens: request.max_output_tokens,
        stream: request.stream,
        tools,
        tool_choice,
        parallel_tool_calls: request.parallel_tool_calls,
        response_format,
        user: request.user,
        ..ChatCompletionRequest::new(request.model, messages)
    };
    Ok((chat, shell))
}

/// The chat messages of `instructions` and `input`: message items become messages,
/// `function_call` items the assistant's tool calls, `function_call_output` items tool
/// messages; reasoning items are not shown again (as chat templates drop earlier thinking).
fn messages(
    instructions: Option<String>,
    input: ResponseInput,
) -> Result<Vec<RequestMessage>, ApiError> {
    let mut messages: Vec<RequestMessage> = Vec::new();
    if let Some(instructions) = instructions {
        messages.push(text_message("system", instructions));
    }
    let items = match input {
        ResponseInput::Text(text) => {
            messages.push(text_message("user", text));
            return Ok(messages);
        }
        ResponseInput::Items(items) => items,
    };
    for (index, item) in items.iter().enumerate() {
        let param = |field: &str| format!("input[{index}].{field}");
        let kind = match item.get("type").and_then(Value::as_str) {
            Some(kind) => kind,
            None if item.get("role").is_some() => "message",
            None => {
                return Err(ApiError::invalid_value(
                    &param("type"),
                    "each input item needs a `type` (message, function_call, function_call_output) or a `role`",
                ))
            }
        };
        match kind {
            "message" => {
                let role = match item.get("role").and_then(Value::as_str) {
                    Some("developer" | "system") => "system",
                    Some(role @ ("user" | "assistant")) => role,
                    other => {
                        return Err(ApiError::invalid_value(
                            &param("role"),
                            format!(
                                "unknown role {}: use user, assistant, system or developer",
                                other.map_or_else(|| "(none)".to_string(), |r| format!("`{r}`"))
                            ),
                        ))
                    }
                };
                let text = item_text(item.get("content"), &param("content"))?;
                messages.push(text_message(role, text));
            }
            "function_call" => {
                let field = |name: &str| -> Result<String, ApiError> {
                    item.get(name)
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .ok_or_else(|| {
                            ApiError::invalid_value(
                                &param(name),
                                format!("a `function_call` item needs `{name}` (a string)"),
                            )
                        })
                };
                let call = RequestToolCall {
                    id: field("call_id")?,
                    _kind: None,
                    function: RequestFunctionCall {
                        name: field("name")?,
                        arguments: Value::String(field("arguments")?),
                    },
                };
                // Calls made together are one assistant message with several tool calls.
                match messages.last_mut() {
                    Some(last) if last.role == "assistant" => {
                        last.tool_calls.get_or_insert_with(Vec::new).push(call)
                    }
                    _ => messages.push(RequestMessage {
                        tool_calls: Some(vec![call]),
                        ..RequestMessage::new("assistant", None)
                    }),
                }
            }
            "function_call_output" => {
                let call_id = item
                    .get("call_id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        ApiError::invalid_value(
                            &param("call_id"),
                            "a `function_call_output` item needs `call_id` (a string)",
                        )
                    })?;
                let output = item_text(item.get("output"), &param("output"))?;
                messages.push(RequestMessage {
                    tool_call_id: Some(call_id.to_string()),
                    ..RequestMessage::new("tool", Some(MessageContent::Text(output)))
                });
            }
            "reasoning" => {}
            other => {
                return Err(ApiError::unsupported(
                    &param("type"),
                    format!("input items of type `{other}` are not supported: send message, function_call and function_call_output items"),
                ))
            }
        }
    }
    if messages.is_empty() {
        return Err(ApiError::invalid_value(
            "input",
            "`input` must hold at least one item",
        ));
    }
    Ok(messages)
}

fn text_message(role: &str, text: String) -> RequestMessage {
    RequestMessage::new(role, Some(MessageContent::Text(text)))
}

/// The text of a message's `content` or an output's `output`: a string, or text parts.
fn item_text(content: Option<&Value>, param: &str) -> Result<String, ApiError> {
    match content {
        Some(Value::String(text)) => Ok(text.clone()),
        Some(Value::Array(parts)) => {
            let mut texts = Vec::with_capacity(parts.len());
            for (index, part) in parts.iter().enumerate() {
                match part.get("type").and_then(Value::as_str) {
                    Some("input_text" | "output_text" | "text") => {
                        let text = part.get("text").and_then(Value::as_str).ok_or_else(|| {
                            ApiError::invalid_value(
                                &format!("{param}[{index}].text"),
                                "a text part needs `text`",
                            )
                        })?;
                        texts.push(text);
                    }
                    // An earlier refusal is not shown to the model again.
                    Some("refusal") => {}
                    other => {
                        return Err(ApiError::unsupported(
                            &format!("{param}[{index}].type"),
                            format!(
                                "content parts of type `{}` are not supported: this model reads text only",
                                other.unwrap_or("(none)")
                            ),
                        ))
                    }
                }
            }
            Ok(texts.join("\n"))
        }
        _ => Err(ApiError::invalid_value(
            param,
            format!("`{param}` must be a string or a list of text parts"),
        )),
    }
}

/// A Responses function tool (`{type, name, description, parameters, strict}`) as a chat tool.
fn chat_tool(index: usize, tool: &Value) -> Result<Value, ApiError> {
    match tool.get("type").and_then(Value::as_str) {
        Some("function") => {
            let mut function = Map::new();
            for key in ["name", "description", "parameters", "strict"] {
                if let Some(value) = tool.get(key).filter(|v| !v.is_null()) {
                    function.insert(key.to_string(), value.clone());
                }
            }
            Ok(json!({"type": "function", "function": function}))
        }
        other => Err(ApiError::unsupported(
            &format!("tools[{index}].type"),
            format!(
                "tools of type `{}` are not supported: only `function` tools are served here (hosted tools such as web_search run inside OpenAI)",
                other.unwrap_or("(none)")
            ),
        )),
    }
}

/// `auto` / `none` / `required` as they are; `{type: function, name}` as the chat form.
fn chat_tool_choice(choice: &Value) -> Result<Value, ApiError> {
    match choice {
        Value::String(_) => Ok(choice.clone()),
        Value::Object(object) if object.get("type").and_then(Value::as_str) == Some("function") => {
            let name = object.get("name").and_then(Value::as_str).ok_or_else(|| {
                ApiError::invalid_value("tool_choice.name", "a function `tool_choice` needs `name`")
            })?;
            Ok(json!({"type": "function", "function": {"name": name}}))
        }
        _ => Err(ApiError::unsupported(
            "tool_choice",
            "`tool_choice` must be `auto`, `none`, `required` or {\"type\": \"function\", \"name\": …}",
        )),
    }
}

/// `text.format` as the chat `response_format`; `None` for plain text.
fn chat_response_format(format: &Value) -> Result<Option<Value>, ApiError> {
    match format.get("type").and_then(Value::as_str) {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(json!({"type": "json_object"}))),
        Some("json_schema") => {
            let mut schema = Map::new();
            for key in ["name", "schema", "strict", "description"] {
                if let Some(value) = format.get(key).filter(|v| !v.is_null()) {
                    schema.insert(key.to_string(), value.clone());
                }
            }
            Ok(Some(json!({"type": "json_schema", "json_schema": schema})))
        }
        other => Err(ApiError::unsupported(
            "text.format.type",
            format!(
                "`text.format.type` must be text, json_object or json_schema, not `{}`",
                other.unwrap_or("(none)")
            ),
        )),
    }
}

/// The item being written while its pieces arrive.
enum OpenItem {
    Reasoning {
        index: usize,
        id: String,
        text: String,
    },
    Message {
        index: usize,
        id: String,
        text: String,
    },
}

/// Writes the Responses stream: numbered events, each item opened, filled and closed in
/// order, and the whole response in the last event.
struct Writer {
    shell: Shell,
    sequence: u64,
    output: Vec<OutputItem>,
    open: Option<OpenItem>,
}

impl Writer {
    fn event(&mut self, kind: &str, data: Value) -> Event {
        let mut data = data;
        data["type"] = json!(kind);
        data["sequence_number"] = json!(self.sequence);
        self.sequence += 1;
        Event::default().event(kind).data(data.to_string())
    }

    fn response_event(&mut self, kind: &str, response: ResponseObject) -> Event {
        self.event(kind, json!({ "response": response }))
    }

    /// The events of one piece: the open item closed if the piece starts another.
    fn piece(&mut self, piece: Piece) -> Vec<Event> {
        let mut events = Vec::new();
        match piece {
            Piece::Reasoning(text) => {
                if !matches!(self.open, Some(OpenItem::Reasoning { .. })) {
                    events.extend(self.close());
                    let (index, id) = (self.output.len(), new_id("rs"));
                    let added = reasoning_item(id.clone(), String::new());
                    events.push(self.item_event("response.output_item.added", index, &added));
                    events.push(self.event(
                        "response.content_part.added",
                        json!({"item_id": id, "output_index": index, "content_index": 0, "part": {"type": "reasoning_text", "text": ""}}),
                    ));
                    self.open = Some(OpenItem::Reasoning {
                        index,
                        id,
                        text: String::new(),
                    });
                }
                if let Some(OpenItem::Reasoning {
                    index,
                    id,
                    text: so_far,
                }) = &mut self.open
                {
                    so_far.push_str(&text);
                    let data = json!({"item_id": id, "output_index": index, "content_index": 0, "delta": text});
                    events.push(self.event("response.reasoning_text.delta", data));
                }
            }
            Piece::Content(text) => {
                if !matches!(self.open, Some(OpenItem::Message { .. })) {
                    events.extend(self.close());
                    let (index, id) = (self.output.len(), new_id("msg"));
                    let added = OutputItem::Message {
                        id: id.clone(),
                        status: "in_progress",
                        role: "assistant",
                        content: Vec::new(),
                    };
                    events.push(self.item_event("response.output_item.added", index, &added));
                    events.push(self.event(
                        "response.content_part.added",
                        json!({"item_id": id, "output_index": index, "content_index": 0, "part": output_text(String::new())}),
                    ));
                    self.open = Some(OpenItem::Message {
                        index,
                        id,
                        text: String::new(),
                    });
                }
                if let Some(OpenItem::Message {
                    index,
                    id,
                    text: so_far,
                }) = &mut self.open
                {
                    so_far.push_str(&text);
                    let data = json!({"item_id": id, "output_index": index, "content_index": 0, "delta": text, "logprobs": []});
                    events.push(self.event("response.output_text.delta", data));
                }
            }
            Piece::Call { call, .. } => {
                events.extend(self.close());
                let index = self.output.len();
                let done = call_item(call, "completed");
                let OutputItem::FunctionCall {
                    id,
                    call_id,
                    name,
                    arguments,
                    ..
                } = &done
                else {
                    return events;
                };
                let added = OutputItem::FunctionCall {
                    id: id.clone(),
                    call_id: call_id.clone(),
                    name: name.clone(),
                    arguments: String::new(),
                    status: "in_progress",
                };
                let (id, name, arguments) = (id.clone(), name.clone(), arguments.clone());
                events.push(self.item_event("response.output_item.added", index, &added));
                events.push(self.event(
                    "response.function_call_arguments.delta",
                    json!({"item_id": id, "output_index": index, "delta": arguments}),
                ));
                events.push(self.event(
                    "response.function_call_arguments.done",
                    json!({"item_id": id, "output_index": index, "name": name, "arguments": arguments}),
                ));
                events.push(self.item_event("response.output_item.done", index, &done));
                self.output.push(done);
            }
        }
        events
    }

    fn item_event(&mut self, kind: &str, index: usize, item: &OutputItem) -> Event {
        self.event(kind, json!({"output_index": index, "item": item}))
    }

    /// The events that close the open item, if any.
    fn close(&mut self) -> Vec<Event> {
        let mut events = Vec::new();
        match self.open.take() {
            None => {}
            Some(OpenItem::Reasoning { index, id, text }) => {
                events.push(self.event(
                    "response.reasoning_text.done",
                    json!({"item_id": id, "output_index": index, "content_index": 0, "text": text}),
                ));
                events.push(self.event(
                    "response.content_part.done",
                    json!({"item_id": id, "output_index": index, "content_index": 0, "part": {"type": "reasoning_text", "text": text}}),
                ));
                let done = reasoning_item(id, text);
                events.push(self.item_event("response.output_item.done", index, &done));
                self.output.push(done);
            }
            Some(OpenItem::Message { index, id, text }) => {
                events.push(self.event(
                    "response.output_text.done",
                    json!({"item_id": id, "output_index": index, "content_index": 0, "text": text, "logprobs": []}),
                ));
                events.push(self.event(
                    "response.content_part.done",
                    json!({"item_id": id, "output_index": index, "content_index": 0, "part": output_text(text.clone())}),
                ));
                let done = message_item(id, "completed", text);
                events.push(self.item_event("response.output_item.done", index, &done));
                self.output.push(done);
            }
        }
        events
    }
}

fn stream_events(
    state: AppState,
    running: Running,
    shell: Shell,
) -> impl Stream<Item = Result<Event, Infallible>> {
    async_stream(move |tx| async move {
        let Running {
            generation,
            meta,
            in_flight,
            ..
        } = running;
        let _in_flight = in_flight;
        let mut steps = pieces(
            state.metrics.clone(),
            generation,
            meta.started,
            meta.tools.clone(),
        );
        let mut writer = Writer {
            shell,
            sequence: 0,
            output: Vec::new(),
            open: None,
        };
        let started = writer.shell.object("in_progress", Vec::new());
        for kind in ["response.created", "response.in_progress"] {
            let event = writer.response_event(kind, started.clone());
            if tx.send(event).await.is_err() {
                return;
            }
        }
        loop {
            let step = tokio::select! {
                () = tx.closed() => return,
                step = steps.recv() => step,
            };
            let events = match step {
                Some(Step::Piece(piece)) => writer.piece(piece),
                Some(Step::Finished { reason, usage, .. }) => {
                    let mut events = writer.close();
                    let output = std::mem::take(&mut writer.output);
                    let response = writer.shell.finished(output, reason, usage);
                    let kind = match finish_reason(reason) {
                        "length" => "response.incomplete",
                        _ => "response.completed",
                    };
                    events.push(writer.response_event(kind, response));
                    for event in events {
                        if tx.send(event).await.is_err() {
                            return;
                        }
                    }
                    return;
                }
                Some(Step::Failed(err)) => {
                    let mut events = writer.close();
                    let output = std::mem::take(&mut writer.output);
                    let response = ResponseObject {
                        error: Some(ResponseError {
                            code: err.code.unwrap_or("server_error").to_string(),
                            message: err.message.clone(),
                        }),
                        ..writer.shell.object("failed", output)
                    };
                    events.push(writer.response_event("response.failed", response));
                    for event in events {
                        let _ = tx.send(event).await;
                    }
                    return;
                }
                None => return,
            };
            for event in events {
                if tx.send(event).await.is_err() {
                    return;
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(value: Value) -> ResponseInput {
        match value {
            Value::Array(items) => ResponseInput::Items(items),
            other => panic!("not a list: {other}"),
        }
    }

    #[test]
    fn calls_made_together_become_one_assistant_message_and_outputs_tool_messages() {
        let messages = messages(
            Some("Be brief.".into()),
            items(json!([
                {"role": "user", "content": "Weather in Paris and Rome?"},
                {"type": "function_call", "call_id": "c1", "name": "weather", "arguments": "{\"city\":\"Paris\"}"},
                {"type": "function_call", "call_id": "c2", "name": "weather", "arguments": "{\"city\":\"Rome\"}"},
                {"type": "function_call_output", "call_id": "c1", "output": "18C"},
                {"type": "function_call_output", "call_id": "c2", "output": [{"type": "input_text", "text": "21C"}]},
                {"type": "reasoning", "id": "rs_1", "summary": []}
            ])),
        )
        .expect("valid input");
        let roles: Vec<&str> = messages.iter().map(|m| m.role.as_str()).collect();
        assert_eq!(roles, ["system", "user", "assistant", "tool", "tool"]);
        let calls = messages[2].tool_calls.as_ref().expect("calls");
        assert_eq!(
            calls.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
            ["c1", "c2"]
        );
        assert_eq!(messages[4].tool_call_id.as_deref(), Some("c2"));
        assert!(matches!(&messages[4].content, Some(MessageContent::Text(t)) if t == "21C"));
    }

    #[test]
    fn what_cannot_be_honoured_is_refused_by_name() {
        let refused = |input: Value| messages(None, items(input)).expect_err("refused");
        let image = refused(
            json!([{"role": "user", "content": [{"type": "input_image", "image_url": "x"}]}]),
        );
        assert_eq!(image.param.as_deref(), Some("input[0].content[0].type"));
        let reference = refused(json!([{"type": "item_reference", "id": "x"}]));
        assert_eq!(reference.param.as_deref(), Some("input[0].type"));
        let no_id = refused(json!([{"type": "function_call_output", "output": "x"}]));
        assert_eq!(no_id.param.as_deref(), Some("input[0].call_id"));
        let hosted = chat_tool(1, &json!({"type": "web_search"})).expect_err("refused");
        assert_eq!(hosted.param.as_deref(), Some("tools[1].type"));
    }

    #[test]
    fn tools_choices_and_formats_take_their_chat_forms() {
        let tool = chat_tool(
            0,
            &json!({"type": "function", "name": "f", "parameters": {"type": "object"}, "strict": true, "description": null}),
        )
        .expect("a function tool");
        assert_eq!(
            tool,
            json!({"type": "function", "function": {"name": "f", "parameters": {"type": "object"}, "strict": true}})
        );
        assert_eq!(
            chat_tool_choice(&json!({"type": "function", "name": "f"})).ok(),
            Some(json!({"type": "function", "function": {"name": "f"}}))
        );
        assert_eq!(
            chat_tool_choice(&json!("required")).ok(),
            Some(json!("required"))
        );
        assert_eq!(
            chat_response_format(
                &json!({"type": "json_schema", "name": "n", "schema": {"type": "object"}})
            )
            .ok(),
            Some(Some(
                json!({"type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "object"}}})
            ))
        );
        assert_eq!(
            chat_response_format(&json!({"type": "text"})).ok(),
            Some(None)
        );
    }
}
