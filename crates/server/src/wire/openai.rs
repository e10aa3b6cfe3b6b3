//! OpenAI's chat-completion JSON, as clients send and expect it. Only this crate knows it;
//! requests are translated into `fulcrum_chat` and `fulcrum_engine` types at the edge.

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `POST /v1/chat/completions`. Unknown fields are rejected rather than silently ignored.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatCompletionRequest {
    pub model: String,
    pub messages: Vec<RequestMessage>,
    #[serde(default)]
    pub temperature: Option<f32>,
    #[serde(default)]
    pub top_p: Option<f32>,
    /// Not in OpenAI's API; llama.cpp's and vLLM's servers accept it.
    #[serde(default)]
    pub top_k: Option<i32>,
    #[serde(default)]
    pub seed: Option<i64>,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    #[serde(default)]
    pub max_completion_tokens: Option<u32>,
    #[serde(default)]
    pub stop: Option<StopField>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    #[serde(default)]
    pub n: Option<u32>,
    #[serde(default)]
    pub presence_penalty: Option<f32>,
    #[serde(default)]
    pub frequency_penalty: Option<f32>,
    #[serde(default)]
    pub logit_bias: Option<Map<String, Value>>,
    #[serde(default)]
    pub logprobs: Option<bool>,
    #[serde(default)]
    pub top_logprobs: Option<u32>,
    #[serde(default)]
    pub response_format: Option<Value>,
    #[serde(default)]
    pub tools: Option<Vec<Value>>,
    #[serde(default)]
    pub tool_choice: Option<Value>,
    #[serde(default)]
    pub parallel_tool_calls: Option<bool>,
    #[serde(default)]
    pub chat_template_kwargs: Option<Map<String, Value>>,
    /// Not in OpenAI's API (llama.cpp's and vLLM's servers accept it): generate exactly
    /// `max_tokens`, past the end of the turn. For load tests.
    #[serde(default)]
    pub ignore_eos: Option<bool>,
    // Accepted for compatibility; they do not change the answer.
    #[serde(default)]
    pub user: Option<String>,
    #[schema(value_type = Option<Object>)]
    #[serde(default, rename = "store")]
    pub _store: Option<IgnoredAny>,
    #[schema(value_type = Option<Object>)]
    #[serde(default, rename = "metadata")]
    pub _metadata: Option<IgnoredAny>,
    #[schema(value_type = Option<Object>)]
    #[serde(default, rename = "service_tier")]
    pub _service_tier: Option<IgnoredAny>,
    #[serde(default)]
    pub modalities: Option<Vec<String>>,
    #[serde(default)]
    pub reasoning_effort: Option<String>,
    #[serde(default)]
    pub prediction: Option<Value>,
    #[serde(default)]
    pub audio: Option<Value>,
    #[serde(default)]
    pub functions: Option<Value>,
    #[serde(default)]
    pub function_call: Option<Value>,
}

impl ChatCompletionRequest {
    /// `messages` for `model`, every other field unset (the Responses API fills in its own).
    pub fn new(model: String, messages: Vec<RequestMessage>) -> Self {
        ChatCompletionRequest {
            model,
            messages,
            temperature: None,
            top_p: None,
            top_k: None,
            seed: None,
            max_tokens: None,
            max_completion_tokens: None,
            stop: None,
            stream: None,
            stream_options: None,
            n: None,
            presence_penalty: None,
            frequency_penalty: None,
            logit_bias: None,
            logprobs: None,
            top_logprobs: None,
            response_format: None,
            tools: None,
            tool_choice: None,
            parallel_tool_calls: None,
            chat_template_kwargs: None,
            ignore_eos: None,
            user: None,
            _store: None,
            _metadata: None,
            _service_tier: None,
            modalities: None,
            reasoning_effort: None,
            prediction: None,
            audio: None,
            functions: None,
            function_call: None,
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum StopField {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: bool,
    /// Accepted for compatibility: Fulcrum's streams are not padded.
    #[schema(value_type = Option<Object>)]
    #[serde(default, rename = "include_obfuscation")]
    pub _include_obfuscation: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestMessage {
    pub role: String,
    #[serde(default)]
    pub content: Option<MessageContent>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub tool_calls: Option<Vec<RequestToolCall>>,
    #[serde(default)]
    pub tool_call_id: Option<String>,
    #[serde(default)]
    pub reasoning_content: Option<String>,
    /// A refusal the assistant gave earlier; it is not shown to the model again.
    #[schema(value_type = Option<Object>)]
    #[serde(default, rename = "refusal")]
    pub _refusal: Option<IgnoredAny>,
}

impl RequestMessage {
    pub fn new(role: &str, content: Option<MessageContent>) -> Self {
        RequestMessage {
            role: role.to_string(),
            content,
            name: None,
            tool_calls: None,
            tool_call_id: None,
            reasoning_content: None,
            _refusal: None,
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum MessageContent {
    Text(String),
    Parts(Vec<ContentPart>),
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ContentPart {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub text: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RequestToolCall {
    pub id: String,
    /// Always `function`.
    #[schema(value_type = Option<Object>)]
    #[serde(rename = "type", default)]
    pub _kind: Option<IgnoredAny>,
    pub function: RequestFunctionCall,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RequestFunctionCall {
    pub name: String,
    /// JSON text, as OpenAI sends it; an object is accepted too.
    pub arguments: Value,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChatCompletion {
    pub id: String,
    pub object: &'static str,
    pub created: u64,
    pub model: String,
    pub choices: Vec<Choice>,
    pub usage: WireUsage,
    pub system_fingerprint: &'static str,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Choice {
    pub index: u32,
    pub message: ResponseMessage,
    pub finish_reason: &'static str,
    pub logprobs: Option<super::completions::ChatLogprobs>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ResponseMessage {
    pub role: &'static str,
    pub content: Option<String>,
    pub refusal: Option<String>,
    /// The model's `<think>` text (Qwen3), as vLLM and llama.cpp's server name it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ResponseToolCall>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ResponseToolCall {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub function: ResponseFunction,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ResponseFunction {
    pub name: String,
    /// JSON text, as OpenAI's clients expect.
    pub arguments: String,
}

/// One element of a streamed `tool_calls` delta.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ToolCallDelta {
    pub index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    pub function: FunctionDelta,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FunctionDelta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub arguments: String,
}

#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct WireUsage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub total_tokens: u32,
}

impl From<fulcrum_engine::Usage> for WireUsage {
    fn from(usage: fulcrum_engine::Usage) -> Self {
        WireUsage {
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            total_tokens: usage.prompt_tokens + usage.completion_tokens,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChatCompletionChunk {
    pub id: String,
    pub object: &'static str,
    pub created: u64,
    pub model: String,
    pub choices: Vec<ChunkChoice>,
    pub system_fingerprint: &'static str,
    /// Present (as `null` until the last chunk) only when the client asked for usage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Option<WireUsage>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChunkChoice {
    pub index: u32,
    pub delta: Delta,
    pub finish_reason: Option<&'static str>,
    pub logprobs: Option<super::completions::ChatLogprobs>,
}

#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct Delta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCallDelta>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ModelList {
    pub object: &'static str,
    pub data: Vec<ModelCard>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ModelCard {
    pub id: String,
    pub object: &'static str,
    pub created: u64,
    pub owned_by: &'static str,
    /// Not in OpenAI's API: the context size the server runs the model with.
    pub context_length: u32,
    /// Not in OpenAI's API: the remote engines serving the model (`engine = "remote"`), and
    /// whether each enforces tool-call grammars; absent for the embedded engine.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub upstreams: Vec<UpstreamCard>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UpstreamCard {
    pub name: String,
    /// `vllm`, `sglang`, `llama-server` or `openai`.
    pub kind: String,
    pub healthy: bool,
    /// `llguidance` (enforced by the engine) or `none` (calls validated after).
    pub grammar: String,
}
