//! OpenAI's (legacy) completions JSON (`POST /v1/completions`), what evaluation harnesses such
//! as lm-evaluation-harness send, and the log-probabilities of both completion APIs.

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{StopField, StreamOptions, WireUsage};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompletionRequest {
    pub model: String,
    /// A text, several texts, a list of token ids, or several lists.
    pub prompt: PromptField,
    /// Generated tokens at most (default 16, as OpenAI).
    #[serde(default)]
    pub max_tokens: Option<u32>,
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
    pub stop: Option<StopField>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    /// The log-probability of each token and of this many alternatives (0..=20).
    #[serde(default)]
    pub logprobs: Option<u32>,
    /// The prompt is returned before the completion (with its log-probabilities when asked).
    #[serde(default)]
    pub echo: Option<bool>,
    #[serde(default)]
    pub n: Option<u32>,
    #[serde(default)]
    pub best_of: Option<u32>,
    #[serde(default)]
    pub suffix: Option<String>,
    #[serde(default)]
    pub presence_penalty: Option<f32>,
    #[serde(default)]
    pub frequency_penalty: Option<f32>,
    #[serde(default)]
    pub logit_bias: Option<Map<String, Value>>,
    /// Not in OpenAI's API: generate exactly `max_tokens`, past the end of text.
    #[serde(default)]
    pub ignore_eos: Option<bool>,
    // Accepted for compatibility; they do not change the answer.
    #[schema(value_type = Option<String>)]
    #[serde(default, rename = "user")]
    pub _user: Option<IgnoredAny>,
    #[schema(value_type = Option<Object>)]
    #[serde(default, rename = "metadata")]
    pub _metadata: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum PromptField {
    Text(String),
    Texts(Vec<String>),
    Tokens(Vec<u32>),
    TokenLists(Vec<Vec<u32>>),
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Completion {
    pub id: String,
    pub object: &'static str,
    pub created: u64,
    pub model: String,
    pub choices: Vec<CompletionChoice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<WireUsage>,
    pub system_fingerprint: &'static str,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CompletionChoice {
    pub index: usize,
    pub text: String,
    pub logprobs: Option<CompletionLogprobs>,
    /// `stop` or `length`; `null` in a stream's chunks before the last.
    pub finish_reason: Option<&'static str>,
}

/// Per token, in order: its text, log-probability (`null` for a prompt's first token), the
/// most likely alternatives, and where its text starts in the choice's text.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct CompletionLogprobs {
    pub tokens: Vec<String>,
    pub token_logprobs: Vec<Option<f32>>,
    #[schema(value_type = Vec<Option<Object>>)]
    pub top_logprobs: Vec<Option<Map<String, Value>>>,
    pub text_offset: Vec<usize>,
}

/// A chat completion's `logprobs`: one entry per generated token.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChatLogprobs {
    pub content: Vec<ChatTokenLogprob>,
    pub refusal: Option<Vec<ChatTokenLogprob>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChatTokenLogprob {
    pub token: String,
    pub logprob: f32,
    pub bytes: Vec<u8>,
    pub top_logprobs: Vec<ChatTopLogprob>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChatTopLogprob {
    pub token: String,
    pub logprob: f32,
    pub bytes: Vec<u8>,
}

impl From<fulcrum_engine::TokenLogprob> for ChatTokenLogprob {
    fn from(entry: fulcrum_engine::TokenLogprob) -> Self {
        ChatTokenLogprob {
            token: String::from_utf8_lossy(&entry.bytes).into_owned(),
            logprob: entry.logprob,
            bytes: entry.bytes,
            top_logprobs: entry
                .top
                .into_iter()
                .map(|top| ChatTopLogprob {
                    token: String::from_utf8_lossy(&top.bytes).into_owned(),
                    logprob: top.logprob,
                    bytes: top.bytes,
                })
                .collect(),
        }
    }
}

/// `POST /tokenize` (vLLM's shape, which lm-evaluation-harness's remote tokenizer reads).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenizeRequest {
    #[serde(default)]
    pub model: Option<String>,
    pub prompt: String,
    /// A BOS token first when the model uses one (default true, as vLLM).
    #[serde(default)]
    pub add_special_tokens: Option<bool>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Tokenized {
    pub tokens: Vec<u32>,
    pub count: usize,
    pub max_model_len: u32,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DetokenizeRequest {
    #[serde(default)]
    pub model: Option<String>,
    pub tokens: Vec<u32>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Detokenized {
    pub prompt: String,
}

/// `GET /tokenizer_info`: the special tokens and the chat template.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenizerInfo {
    pub model: String,
    pub bos_token: Option<String>,
    pub eos_token: Option<String>,
    pub pad_token: Option<String>,
    pub chat_template: Option<String>,
    pub model_max_length: u32,
}
