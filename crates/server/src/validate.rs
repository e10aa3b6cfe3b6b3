//! Checks a chat-completion request and translates it into Fulcrum's own types.
//!
//! Every field is either honoured or refused with a 400 that names it: a client that asks for
//! something the server cannot do must learn so, not get a silently different answer.

use fulcrum_chat::tools::ToolChoice;
use fulcrum_chat::{Message, Role, ToolCall, ToolDefinition};
use fulcrum_engine::{SamplingParams, MAX_TOP_LOGPROBS};
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::state::RequestLimits;
use crate::wire::{
    ChatCompletionRequest, MessageContent, RequestMessage, StopField, StreamOptions,
};

const MAX_STOP_STRINGS: usize = 4;

/// A request that passed validation.
#[derive(Debug)]
pub struct ValidRequest {
    pub messages: Vec<Message>,
    pub sampling: SamplingParams,
    pub max_tokens: Option<u32>,
    pub stop: Vec<String>,
    pub ignore_eos: bool,
    pub stream: bool,
    pub include_usage: bool,
    pub template_kwargs: Map<String, Value>,
    pub tools: Vec<ToolDefinition>,
    pub tool_choice: ToolChoice,
    pub parallel_tool_calls: bool,
    /// Grammar from `response_format` (`json_object` / `json_schema`).
    pub response_grammar: Option<String>,
    /// Each generated token's log-probability is reported, with this many alternatives.
    pub logprobs: Option<u32>,
}

/// Temperature, nucleus, top-k and seed, checked (chat completions and completions alike).
pub fn sampling_params(
    temperature: Option<f32>,
    top_p: Option<f32>,
    top_k: Option<i32>,
    seed: Option<i64>,
) -> Result<SamplingParams, ApiError> {
    let temperature = temperature.unwrap_or(1.0);
    if !(0.0..=2.0).contains(&temperature) {
        return Err(ApiError::invalid_value(
            "temperature",
            "`temperature` must be between 0 and 2",
        ));
    }
    let top_p = top_p.unwrap_or(1.0);
    if !(top_p > 0.0 && top_p <= 1.0) {
        return Err(ApiError::invalid_value(
            "top_p",
            "`top_p` must be greater than 0 and at most 1",
        ));
    }
    let top_k = top_k.unwrap_or(0);
    if top_k < 0 {
        return Err(ApiError::invalid_value(
            "top_k",
            "`top_k` must be 0 (disabled) or positive",
        ));
    }
    // llama.cpp seeds are 32-bit; fold larger seeds deterministically.
    let seed = seed.map(|seed| (seed as u64 ^ ((seed as u64) >> 32)) as u32);
    Ok(SamplingParams {
        temperature,
        top_p,
        top_k,
        seed,
    })
}

/// Penalties and token biases are not applied by the engine: refused when set.
pub fn refuse_penalties_and_bias(
    presence_penalty: Option<f32>,
    frequency_penalty: Option<f32>,
    logit_bias: Option<&Map<String, Value>>,
) -> Result<(), ApiError> {
    for (param, value) in [
        ("presence_penalty", presence_penalty),
        ("frequency_penalty", frequency_penalty),
    ] {
        if value.is_some_and(|v| v != 0.0) {
            return Err(ApiError::unsupported(
                param,
                format!("`{param}` other than 0 is not supported yet"),
            ));
        }
    }
    if logit_bias.is_some_and(|m| !m.is_empty()) {
        return Err(ApiError::unsupported(
            "logit_bias",
            "`logit_bias` is not supported yet",
        ));
    }
    Ok(())
}

/// Whether a stream ends with a usage chunk; `stream_options` only with `stream`.
pub fn include_usage(stream: bool, options: Option<StreamOptions>) -> Result<bool, ApiError> {
    match options {
        Some(_) if !stream => Err(ApiError::invalid_value(
            "stream_options",
            "`stream_options` is only allowed when `stream` is true",
        )),
        Some(options) => Ok(options.include_usage),
        None => Ok(false),
    }
}

/// At most [`MAX_STOP_STRINGS`] non-empty stop strings.
pub fn stop_strings(stop: Option<StopField>) -> Result<Vec<String>, ApiError> {
    let stop = match stop {
        None => Vec::new(),
        Some(StopField::One(stop)) => vec![stop],
        Some(StopField::Many(stops)) => stops,
    };
    if stop.len() > MAX_STOP_STRINGS {
        return Err(ApiError::invalid_value(
            "stop",
            format!("`stop` takes at most {MAX_STOP_STRINGS} strings"),
        ));
    }
    if stop.iter().any(String::is_empty) {
        return Err(ApiError::invalid_value(
            "stop",
            "`stop` strings must not be empty",
        ));
    }
    Ok(stop)
}

/// A chat completion's `logprobs` / `top_logprobs`: the alternatives per token, when asked.
fn logprobs(logprobs: Option<bool>, top_logprobs: Option<u32>) -> Result<Option<u32>, ApiError> {
    match (logprobs.unwrap_or(false), top_logprobs) {
        (false, Some(n)) if n > 0 => Err(ApiError::invalid_value(
            "top_logprobs",
            "`top_logprobs` needs `logprobs: true`",
        )),
        (false, _) => Ok(None),
        (true, Some(n)) if n > MAX_TOP_LOGPROBS => Err(ApiError::invalid_value(
            "top_logprobs",
            format!("`top_logprobs` must be between 0 and {MAX_TOP_LOGPROBS}"),
        )),
        (true, n) => Ok(Some(n.unwrap_or(0))),
    }
}

/// The request's size against `limits`: cheap, so checked before admission and before any
/// template, schema or grammar work.
pub fn check_size(request: &ChatCompletionRequest, limits: &RequestLimits) -> Result<(), ApiError> {
    if request.messages.len() > limits.messages {
        return Err(ApiError::invalid_value(
            "messages",
            format!(
                "`messages` holds {} messages, more than the {} this server takes",
                request.messages.len(),
                limits.messages
            ),
        ));
    }
    if let Some(tools) = &request.tools {
        if tools.len() > limits.tools {
            return Err(ApiError::invalid_value(
                "tools",
                format!(
                    "`tools` lists {} tools, more than the {} this server takes",
                    tools.len(),
                    limits.tools
                ),
            ));
        }
        let bytes: usize = tools.iter().map(|tool| tool.to_string().len()).sum();
        if bytes > limits.tool_schema_bytes {
            return Err(ApiError::invalid_value(
                "tools",
                format!(
                    "the tool definitions take {bytes} bytes, more than the {} this server takes",
                    limits.tool_schema_bytes
                ),
            ));
        }
    }
    for (param, value) in [
        ("max_tokens", request.max_tokens),
        ("max_completion_tokens", request.max_completion_tokens),
    ] {
        if let Some(asked) = value {
            if asked > limits.max_tokens {
                return Err(ApiError::invalid_value(
                    param,
                    format!(
                        "`{param}` is {asked}, above this server's limit of {} (`max_tokens_limit`)",
                        limits.max_tokens
                    ),
                ));
            }
        }
    }
    Ok(())
}

pub fn validate(request: ChatCompletionRequest) -> Result<ValidRequest, ApiError> {
    refuse_unsupported(&request)?;

    if request.messages.is_empty() {
        return Err(ApiError::invalid_value(
            "messages",
            "`messages` must hold at least one message",
        ));
    }
    let messages = request
        .messages
        .into_iter()
        .enumerate()
        .map(|(index, message)| convert_message(index, message))
        .collect::<Result<Vec<_>, _>>()?;

    let sampling = sampling_params(
        request.temperature,
        request.top_p,
        request.top_k,
        request.seed,
    )?;
    let logprobs = logprobs(request.logprobs, request.top_logprobs)?;

    let max_tokens = match (request.max_tokens, request.max_completion_tokens) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid_request(
                "give either `max_tokens` or `max_completion_tokens`, not both",
            )
            .with_param("max_tokens"))
        }
        (Some(0), None) => {
            return Err(ApiError::invalid_value(
                "max_tokens",
                "`max_tokens` must be at least 1",
            ))
        }
        (None, Some(0)) => {
            return Err(ApiError::invalid_value(
                "max_completion_tokens",
                "`max_completion_tokens` must be at least 1",
            ))
        }
        (a, b) => a.or(b),
    };

    let stop = stop_strings(request.stop)?;

    let ignore_eos = request.ignore_eos.unwrap_or(false);
    if ignore_eos && max_tokens.is_none() {
        return Err(ApiError::invalid_value(
            "ignore_eos",
            "`ignore_eos` needs `max_tokens`: without it the generation would fill the context",
        ));
    }

    let stream = request.stream.unwrap_or(false);
    let include_usage = include_usage(stream, request.stream_options)?;

    let tools = match request.tools {
        None => Vec::new(),
        Some(tools) => tools
            .into_iter()
            .enumerate()
            .map(|(index, tool)| convert_tool(index, tool))
            .collect::<Result<Vec<_>, _>>()?,
    };
    let tool_choice = tool_choice(request.tool_choice, &tools)?;
    if request.parallel_tool_calls.is_some() && tools.is_empty() {
        return Err(ApiError::invalid_value(
            "parallel_tool_calls",
            "`parallel_tool_calls` is only allowed when `tools` are given",
        ));
    }
    let response_grammar = match request.response_format {
        None => None,
        Some(format) => response_grammar(&format)?,
    };
    if response_grammar.is_some() && !tools.is_empty() {
        return Err(ApiError::unsupported(
            "response_format",
            "`response_format` with a JSON type cannot be combined with `tools` in one request",
        ));
    }

    Ok(ValidRequest {
        tools,
        tool_choice,
        parallel_tool_calls: request.parallel_tool_calls.unwrap_or(true),
        response_grammar,
        messages,
        sampling,
        logprobs,
        max_tokens,
        stop,
        ignore_eos,
        stream,
        include_usage,
        template_kwargs: request.chat_template_kwargs.unwrap_or_default(),
    })
}

fn refuse_unsupported(request: &ChatCompletionRequest) -> Result<(), ApiError> {
    if let Some(n) = request.n {
        if n != 1 {
            return Err(ApiError::unsupported(
                "n",
                "only `n: 1` is supported: send separate requests for several answers",
            ));
        }
    }
    refuse_penalties_and_bias(
        request.presence_penalty,
        request.frequency_penalty,
        request.logit_bias.as_ref(),
    )?;
    if request.functions.is_some() || request.function_call.is_some() {
        return Err(ApiError::unsupported(
            "functions",
            "the legacy `functions` / `function_call` fields are not supported: use `tools` and `tool_choice`",
        ));
    }
    if request.audio.is_some()
        || request
            .modalities
            .as_ref()
            .is_some_and(|m| m.iter().any(|x| x != "text"))
    {
        return Err(ApiError::unsupported(
            "modalities",
            "only text output is supported",
        ));
    }
    if request.prediction.is_some() {
        return Err(ApiError::unsupported(
            "prediction",
            "`prediction` is not supported",
        ));
    }
    if request.reasoning_effort.is_some() {
        return Err(ApiError::unsupported(
            "reasoning_effort",
            "`reasoning_effort` is not supported: use `chat_template_kwargs: {\"enable_thinking\": …}` with Qwen3",
        ));
    }
    Ok(())
}

fn convert_message(index: usize, message: RequestMessage) -> Result<Message, ApiError> {
    let param = |field: &str| format!("messages[{index}].{field}");
    let role = match message.role.as_str() {
        "system" | "developer" => Role::System,
        "user" => Role::User,
        "assistant" => Role::Assistant,
        "tool" => Role::Tool,
        other => {
            return Err(ApiError::invalid_value(
                &param("role"),
                format!("unknown role `{other}`: use system, developer, user, assistant or tool"),
            ))
        }
    };
    let content = match message.content {
        None => None,
        Some(MessageContent::Text(text)) => Some(text),
        Some(MessageContent::Parts(parts)) => {
            let mut texts = Vec::with_capacity(parts.len());
            for (part_index, part) in parts.into_iter().enumerate() {
                match (part.kind.as_str(), part.text) {
                    ("text", Some(text)) => texts.push(text),
                    ("text", None) => {
                        return Err(ApiError::invalid_value(
                            &format!("messages[{index}].content[{part_index}].text"),
                            "a text part needs `text`",
                        ))
                    }
                    (kind, _) => {
                        return Err(ApiError::unsupported(
                            &format!("messages[{index}].content[{part_index}].type"),
                            format!("content parts of type `{kind}` are not supported: this model reads text only"),
                        ))
                    }
                }
            }
            Some(texts.join("\n"))
        }
    };
    let tool_calls = message
        .tool_calls
        .unwrap_or_default()
        .into_iter()
        .map(|call| ToolCall {
            id: call.id,
            name: call.function.name,
            arguments: match call.function.arguments {
                Value::String(text) => text,
                other => other.to_string(),
            },
        })
        .collect::<Vec<_>>();
    if role != Role::Assistant && !tool_calls.is_empty() {
        return Err(ApiError::invalid_value(
            &param("tool_calls"),
            "only assistant messages carry `tool_calls`",
        ));
    }
    if role == Role::Tool && message.tool_call_id.is_none() {
        return Err(ApiError::invalid_value(
            &param("tool_call_id"),
            "a tool message needs `tool_call_id`",
        ));
    }
    let carries_calls = role == Role::Assistant && !tool_calls.is_empty();
    if content.is_none() && !carries_calls {
        return Err(ApiError::invalid_value(
            &param("content"),
            "this message needs `content`",
        ));
    }
    Ok(Message {
        role,
        content,
        reasoning_content: message.reasoning_content,
        tool_calls,
        tool_call_id: message.tool_call_id,
        name: message.name,
    })
}

/// `{"type": "function", "function": {"name", "description"?, "parameters"?, "strict"?}}`.
fn convert_tool(index: usize, tool: Value) -> Result<ToolDefinition, ApiError> {
    let param = format!("tools[{index}]");
    let Value::Object(mut tool) = tool else {
        return Err(ApiError::invalid_value(&param, "a tool must be an object"));
    };
    match tool.get("type").and_then(Value::as_str) {
        Some("function") => {}
        _ => {
            return Err(ApiError::invalid_value(
                &format!("{param}.type"),
                "only tools of `\"type\": \"function\"` are supported",
            ))
        }
    }
    let Some(Value::Object(mut function)) = tool.remove("function") else {
        return Err(ApiError::invalid_value(
            &format!("{param}.function"),
            "a tool needs a `function` object",
        ));
    };
    let name = match function.remove("name") {
        Some(Value::String(name)) => name,
        _ => {
            return Err(ApiError::invalid_value(
                &format!("{param}.function.name"),
                "a function needs a `name` string",
            ))
        }
    };
    let description = match function.remove("description") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text),
        Some(_) => {
            return Err(ApiError::invalid_value(
                &format!("{param}.function.description"),
                "`description` must be a string",
            ))
        }
    };
    let parameters = function.remove("parameters").unwrap_or(Value::Null);
    let strict = match function.remove("strict") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(strict)) => strict,
        Some(_) => {
            return Err(ApiError::invalid_value(
                &format!("{param}.function.strict"),
                "`strict` must be true or false",
            ))
        }
    };
    Ok(ToolDefinition {
        name,
        description,
        parameters,
        strict,
    })
}

fn tool_choice(choice: Option<Value>, tools: &[ToolDefinition]) -> Result<ToolChoice, ApiError> {
    let default = if tools.is_empty() {
        ToolChoice::None
    } else {
        ToolChoice::Auto
    };
    let Some(choice) = choice else {
        return Ok(default);
    };
    let parsed = match &choice {
        Value::String(mode) => match mode.as_str() {
            "none" => ToolChoice::None,
            "auto" => ToolChoice::Auto,
            "required" => ToolChoice::Required,
            other => {
                return Err(ApiError::invalid_value(
                    "tool_choice",
                    format!("unknown `tool_choice` `{other}`: use none, auto, required or {{\"type\": \"function\", \"function\": {{\"name\": …}}}}"),
                ))
            }
        },
        Value::Object(object) => match object.get("function").and_then(|f| f.get("name")).and_then(Value::as_str) {
            Some(name) => ToolChoice::Named(name.to_string()),
            None => {
                return Err(ApiError::invalid_value(
                    "tool_choice",
                    "a named `tool_choice` is `{\"type\": \"function\", \"function\": {\"name\": …}}`",
                ))
            }
        },
        _ => return Err(ApiError::invalid_value("tool_choice", "`tool_choice` must be a string or an object")),
    };
    match &parsed {
        ToolChoice::Auto | ToolChoice::Required if tools.is_empty() => {
            Err(ApiError::invalid_value(
                "tool_choice",
                "`tool_choice` asks for calls but no `tools` were given",
            ))
        }
        ToolChoice::Named(name) if !tools.iter().any(|t| &t.name == name) => {
            Err(ApiError::invalid_value(
                "tool_choice",
                format!("`tool_choice` names `{name}`, which is not among `tools`"),
            ))
        }
        _ => Ok(parsed),
    }
}

/// `text` → no grammar; `json_object` → any JSON object; `json_schema` → that schema.
fn response_grammar(format: &Value) -> Result<Option<String>, ApiError> {
    let schema = match format.get("type").and_then(Value::as_str) {
        Some("text") => return Ok(None),
        Some("json_object") => serde_json::json!({"type": "object"}),
        Some("json_schema") => match format.get("json_schema").and_then(|j| j.get("schema")) {
            Some(schema @ Value::Object(_)) => schema.clone(),
            _ => {
                return Err(ApiError::invalid_value(
                    "response_format.json_schema.schema",
                    "`json_schema` needs a `schema` object",
                ))
            }
        },
        _ => {
            return Err(ApiError::invalid_value(
                "response_format.type",
                "`response_format.type` must be text, json_object or json_schema",
            ))
        }
    };
    if let Err(err) = jsonschema::validator_for(&schema) {
        return Err(ApiError::invalid_value(
            "response_format.json_schema.schema",
            format!("not a valid JSON Schema: {err}"),
        ));
    }
    Ok(Some(format!("start: %json {schema}\n")))
}
