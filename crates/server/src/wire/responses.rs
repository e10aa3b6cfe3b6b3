//! OpenAI's Responses API JSON (`POST /v1/responses`), the stateless subset Fulcrum serves:
//! input as text or items, instructions, function tools, and function-call outputs sent back.

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `POST /v1/responses`. Unknown fields are refused; known ones Fulcrum cannot honour are
/// refused by name when set, the rest accepted and ignored where they change no answer.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResponsesRequest {
    pub model: String,
    /// A text (one user message) or a list of items: messages, `function_call` and
    /// `function_call_output`.
    #[serde(default)]
    pub input: Option<ResponseInput>,
    /// A system message before the input.
    #[serde(default)]
    pub instructions: Option<String>,
    #[serde(default)]
    pub tools: Option<Vec<Value>>,
    #[serde(default)]
    pub tool_choice: Option<Value>,
    #[serde(default)]
    pub parallel_tool_calls: Option<bool>,
    #[serde(default)]
    pub max_output_tokens: Option<u32>,
    #[serde(default)]
    pub temperature: Option<f32>,
    #[serde(default)]
    pub top_p: Option<f32>,
    #[serde(default)]
    pub stream: Option<bool>,
    /// `{"format": {"type": "text" | "json_object" | "json_schema", …}}`.
    #[serde(default)]
    pub text: Option<Value>,
    /// Refused: Fulcrum keeps no responses (send the whole conversation as `input`).
    #[serde(default)]
    pub previous_response_id: Option<String>,
    /// Refused, as `previous_response_id`.
    #[serde(default)]
    pub conversation: Option<Value>,
    /// Refused when true.
    #[serde(default)]
    pub background: Option<bool>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub metadata: Option<Value>,
    #[serde(default)]
    pub top_logprobs: Option<u32>,
    // Accepted for compatibility; they do not change the answer.
    #[schema(value_type = Option<Object>)]
    #[serde(default, rename = "store")]
    pub _store: Option<IgnoredAny>,
    #[schema(value_type = Option<Object>)]
    #[serde(default, rename = "reasoning")]
    pub _reasoning: Option<IgnoredAny>,
    #[schema(value_type = Option<Object>)]
    #[serde(default, rename = "include")]
    pub _include: Option<IgnoredAny>,
    #[schema(value_type = Option<Object>)]
    #[serde(default, rename = "truncation")]
    pub _truncation: Option<IgnoredAny>,
    #[schema(value_type = Option<Object>)]
    #[serde(default, rename = "service_tier")]
    pub _service_tier: Option<IgnoredAny>,
    #[schema(value_type = Option<Object>)]
    #[serde(default, rename = "prompt_cache_key")]
    pub _prompt_cache_key: Option<IgnoredAny>,
    #[schema(value_type = Option<Object>)]
    #[serde(default, rename = "prompt_cache_retention")]
    pub _prompt_cache_retention: Option<IgnoredAny>,
    #[schema(value_type = Option<Object>)]
    #[serde(default, rename = "safety_identifier")]
    pub _safety_identifier: Option<IgnoredAny>,
    #[schema(value_type = Option<Object>)]
    #[serde(default, rename = "stream_options")]
    pub _stream_options: Option<IgnoredAny>,
    #[schema(value_type = Option<Object>)]
    #[serde(default, rename = "max_tool_calls")]
    pub _max_tool_calls: Option<IgnoredAny>,
    #[schema(value_type = Option<Object>)]
    #[serde(default, rename = "prompt")]
    pub _prompt: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum ResponseInput {
    Text(String),
    Items(Vec<Value>),
}

/// A response, complete or (in a stream's first events) in progress.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ResponseObject {
    pub id: String,
    pub object: &'static str,
    pub created_at: u64,
    /// `in_progress`, `completed`, `incomplete` or `failed`.
    pub status: &'static str,
    pub model: String,
    pub output: Vec<OutputItem>,
    pub usage: Option<ResponseUsage>,
    pub error: Option<ResponseError>,
    pub incomplete_details: Option<IncompleteDetails>,
    pub instructions: Option<String>,
    pub max_output_tokens: Option<u32>,
    pub parallel_tool_calls: bool,
    pub previous_response_id: Option<String>,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub tool_choice: Value,
    pub tools: Vec<Value>,
    pub text: Value,
    pub metadata: Value,
    pub truncation: &'static str,
    pub store: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutputItem {
    Message {
        id: String,
        status: &'static str,
        role: &'static str,
        content: Vec<OutputText>,
    },
    FunctionCall {
        id: String,
        call_id: String,
        name: String,
        /// JSON text, as OpenAI's clients expect.
        arguments: String,
        status: &'static str,
    },
    /// The model's `<think>` text (Qwen3).
    Reasoning {
        id: String,
        summary: Vec<Value>,
        content: Vec<ReasoningText>,
    },
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OutputText {
    /// Always `output_text`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub text: String,
    pub annotations: Vec<Value>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReasoningText {
    /// Always `reasoning_text`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub text: String,
}

#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct ResponseUsage {
    pub input_tokens: u32,
    pub input_tokens_details: InputTokensDetails,
    pub output_tokens: u32,
    pub output_tokens_details: OutputTokensDetails,
    pub total_tokens: u32,
}

#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct InputTokensDetails {
    pub cached_tokens: u32,
}

#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct OutputTokensDetails {
    pub reasoning_tokens: u32,
}

impl From<fulcrum_engine::Usage> for ResponseUsage {
    fn from(usage: fulcrum_engine::Usage) -> Self {
        ResponseUsage {
            input_tokens: usage.prompt_tokens,
            input_tokens_details: InputTokensDetails { cached_tokens: 0 },
            output_tokens: usage.completion_tokens,
            output_tokens_details: OutputTokensDetails {
                reasoning_tokens: 0,
            },
            total_tokens: usage.prompt_tokens + usage.completion_tokens,
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ResponseError {
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IncompleteDetails {
    /// `max_output_tokens`.
    pub reason: &'static str,
}
