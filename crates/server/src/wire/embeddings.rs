//! OpenAI's embeddings JSON (`POST /v1/embeddings`).

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmbeddingRequest {
    pub model: String,
    pub input: EmbeddingInput,
    /// `float` (the default) or `base64` (little-endian f32, as OpenAI's Python client asks).
    #[serde(default)]
    pub encoding_format: Option<String>,
    /// Only the model's own size is accepted: its vectors cannot be shortened.
    #[serde(default)]
    pub dimensions: Option<u32>,
    /// Accepted for compatibility; it does not change the answer.
    #[schema(value_type = Option<String>)]
    #[serde(default, rename = "user")]
    pub _user: Option<IgnoredAny>,
}

/// One text or several; token ids (another tokenizer's, as some clients send) are refused.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum EmbeddingInput {
    One(String),
    Many(Vec<String>),
    Tokens(Vec<i64>),
    TokenLists(Vec<Vec<i64>>),
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EmbeddingList {
    pub object: &'static str,
    pub data: Vec<Embedding>,
    pub model: String,
    pub usage: EmbeddingUsage,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Embedding {
    pub object: &'static str,
    pub index: usize,
    pub embedding: EmbeddingVector,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum EmbeddingVector {
    Float(Vec<f32>),
    Base64(String),
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EmbeddingUsage {
    pub prompt_tokens: usize,
    pub total_tokens: usize,
}
