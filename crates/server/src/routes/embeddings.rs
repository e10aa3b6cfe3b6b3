//! `POST /v1/embeddings`: the sentence-embedding model Fulcrum searches its documents with
//! (all-MiniLM-L6-v2), served to clients that build their own knowledge bases (Dify,
//! LangChain). Same authentication, roles, admission, audit and metrics as chat completions.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use base64::Engine as _;
use fulcrum_retrieval::{DIMENSIONS as EMBEDDING_DIMENSIONS, EMBEDDING_MODEL_ID};
use fulcrum_tools::{ChatAuditContent, Principal};
use serde_json::json;

use super::chat_audit::{audit_event, check_allowed};
use crate::error::ApiError;
use crate::json::ApiJson;
use crate::state::AppState;
use crate::wire::embeddings::{
    Embedding, EmbeddingInput, EmbeddingList, EmbeddingRequest, EmbeddingUsage, EmbeddingVector,
};
use crate::wire::{ApiErrors, ErrorResponse};

/// Texts one request may embed (OpenAI's limit).
const MAX_INPUTS: usize = 2048;

#[utoipa::path(post, path = "/v1/embeddings", tag = "openai", request_body = EmbeddingRequest, responses((status = 200, body = EmbeddingList), ApiErrors, (status = 413, description = "body too large", body = ErrorResponse), (status = 503, description = "the embedding model is not loaded", body = ErrorResponse)), security(("api_key" = [])))]
pub async fn embeddings(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
    ApiJson(request): ApiJson<EmbeddingRequest>,
) -> Result<Response, ApiError> {
    if request.model != EMBEDDING_MODEL_ID {
        return Err(ApiError::not_found(
            format!(
                "the embedding model `{}` does not exist here: this server embeds with `{EMBEDDING_MODEL_ID}` (see GET /v1/models)",
                request.model
            ),
            "model_not_found",
        )
        .with_param("model"));
    }
    let base64 = match request.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(ApiError::invalid_value(
                "encoding_format",
                format!("`encoding_format` must be `float` or `base64`, not `{other}`"),
            ))
        }
    };
    if let Some(dimensions) = request.dimensions {
        if dimensions as usize != EMBEDDING_DIMENSIONS {
            return Err(ApiError::unsupported(
                "dimensions",
                format!("`{EMBEDDING_MODEL_ID}` makes vectors of {EMBEDDING_DIMENSIONS} dimensions only"),
            ));
        }
    }
    let texts = input_texts(request.input)?;
    let caller = principal.map(|Extension(principal)| principal);
    check_allowed(&state, caller.as_ref(), "embeddings")?;
    let admission = match state.admit(caller.as_ref()) {
        Ok(admission) => admission,
        Err(refused) => return Ok(*refused),
    };
    let embedder = state.embedder.clone();
    let (vectors, tokens) = {
        let texts = texts.clone();
        tokio::task::spawn_blocking(move || {
            let embedder = embedder.get().ok_or_else(|| ApiError {
                message: format!(
                    "the embedding model `{EMBEDDING_MODEL_ID}` is not loaded (it loads with the model, unless `serve_embeddings` is false; see the server's log)"
                ),
                ..ApiError::not_ready()
            })?;
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            embedder.embed_counted(&refs).map_err(|err| {
                tracing::error!(%err, "embedding failed");
                ApiError::internal()
            })
        })
        .await
        .map_err(|err| {
            tracing::error!(%err, "the embedding task failed");
            ApiError::internal()
        })??
    };
    drop(admission);
    state.metrics.embedding_tokens.inc_by(tokens as u64);
    if let Some(caller) = &caller {
        let mut data =
            json!({"model": EMBEDDING_MODEL_ID, "inputs": texts.len(), "tokens": tokens});
        if audit_content(&state) == Some(ChatAuditContent::Full) {
            data["input"] = json!(texts);
        }
        audit_event(&state, caller, "embeddings", data);
    }
    let data = vectors
        .into_iter()
        .enumerate()
        .map(|(index, vector)| Embedding {
            object: "embedding",
            index,
            embedding: if base64 {
                EmbeddingVector::Base64(little_endian_base64(&vector))
            } else {
                EmbeddingVector::Float(vector)
            },
        })
        .collect();
    Ok(Json(EmbeddingList {
        object: "list",
        data,
        model: EMBEDDING_MODEL_ID.to_string(),
        usage: EmbeddingUsage {
            prompt_tokens: tokens,
            total_tokens: tokens,
        },
    })
    .into_response())
}

fn audit_content(state: &AppState) -> Option<ChatAuditContent> {
    let governance = state.governance.as_ref()?;
    Some(governance.policy.registry().config().audit_chat_content)
}

/// The texts to embed, refused when empty, too many, or token ids.
fn input_texts(input: EmbeddingInput) -> Result<Vec<String>, ApiError> {
    let texts = match input {
        EmbeddingInput::One(text) => vec![text],
        EmbeddingInput::Many(texts) => texts,
        EmbeddingInput::Tokens(ids) => return Err(token_ids_refused(ids.len())),
        EmbeddingInput::TokenLists(lists) => {
            return Err(token_ids_refused(lists.iter().map(Vec::len).sum()))
        }
    };
    if texts.is_empty() {
        return Err(ApiError::invalid_value(
            "input",
            "`input` must hold at least one text",
        ));
    }
    if texts.len() > MAX_INPUTS {
        return Err(ApiError::invalid_value(
            "input",
            format!(
                "`input` holds {} texts, more than the {MAX_INPUTS} one request may embed",
                texts.len()
            ),
        ));
    }
    if let Some(index) = texts.iter().position(|text| text.is_empty()) {
        return Err(ApiError::invalid_value(
            "input",
            format!("`input[{index}]` is empty: there is nothing to embed"),
        ));
    }
    Ok(texts)
}

fn token_ids_refused(count: usize) -> ApiError {
    ApiError::unsupported(
        "input",
        format!("`input` holds {count} token ids, but must be text: token ids (of another tokenizer, e.g. tiktoken's) mean nothing to `{EMBEDDING_MODEL_ID}`. LangChain: OpenAIEmbeddings(check_embedding_ctx_length=False)"),
    )
}

/// The vector's f32 values as little-endian bytes in base64, as OpenAI sends them.
fn little_endian_base64(vector: &[f32]) -> String {
    let bytes: Vec<u8> = vector
        .iter()
        .flat_map(|value| value.to_le_bytes())
        .collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_vectors_are_little_endian_f32() {
        let encoded = little_endian_base64(&[1.0, -0.5]);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .expect("valid base64");
        assert_eq!(bytes, [0, 0, 128, 63, 0, 0, 0, 191]);
    }

    #[test]
    fn token_ids_empty_and_too_many_inputs_are_refused_by_name() {
        let refused = |input| input_texts(input).expect_err("refused");
        assert!(refused(EmbeddingInput::Tokens(vec![1, 2]))
            .message
            .contains("tiktoken"));
        assert!(refused(EmbeddingInput::Many(Vec::new()))
            .message
            .contains("at least one"));
        assert!(
            refused(EmbeddingInput::Many(vec!["a".into(), String::new()]))
                .message
                .contains("input[1]")
        );
        assert!(
            refused(EmbeddingInput::Many(vec!["a".into(); MAX_INPUTS + 1]))
                .message
                .contains("2048")
        );
        assert_eq!(
            input_texts(EmbeddingInput::One("hi".into())).ok(),
            Some(vec!["hi".to_string()])
        );
    }
}
