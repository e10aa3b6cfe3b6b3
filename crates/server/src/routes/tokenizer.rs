//! `POST /tokenize`, `POST /detokenize` and `GET /tokenizer_info`, in vLLM's shapes: clients
//! that count or build prompts in the model's own tokens (lm-evaluation-harness's remote
//! tokenizer) read them. Keyed like every route but health.

use axum::extract::State;
use axum::Json;

use fulcrum_agent::LoadedModel;

use super::completion::served_model;
use crate::error::ApiError;
use crate::json::ApiJson;
use crate::state::AppState;
use crate::wire::completions::{
    DetokenizeRequest, Detokenized, TokenizeRequest, Tokenized, TokenizerInfo,
};
use crate::wire::{ApiErrors, ErrorResponse};

/// A request naming a model must name the one served; one naming none gets it.
fn check_model<'a>(state: &'a AppState, model: Option<&str>) -> Result<&'a LoadedModel, ApiError> {
    match model {
        Some(model) => served_model(state, model),
        None => state.model.get().ok_or_else(ApiError::not_ready),
    }
}

#[utoipa::path(post, path = "/tokenize", tag = "openai", request_body = TokenizeRequest, responses((status = 200, body = Tokenized), ApiErrors, (status = 503, description = "the model is not loaded", body = ErrorResponse)), security(("api_key" = [])))]
pub async fn tokenize(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<TokenizeRequest>,
) -> Result<Json<Tokenized>, ApiError> {
    let model = check_model(&state, request.model.as_deref())?;
    let add_bos = request.add_special_tokens.unwrap_or(true);
    let backend = model.backend.clone();
    let tokens = tokio::task::spawn_blocking(move || backend.tokenize(&request.prompt, add_bos))
        .await
        .map_err(|err| {
            tracing::error!(%err, "the tokenize task failed");
            ApiError::internal()
        })??;
    Ok(Json(Tokenized {
        count: tokens.len(),
        tokens,
        max_model_len: model.backend.info().context_size,
    }))
}

#[utoipa::path(post, path = "/detokenize", tag = "openai", request_body = DetokenizeRequest, responses((status = 200, body = Detokenized), ApiErrors, (status = 503, description = "the model is not loaded", body = ErrorResponse)), security(("api_key" = [])))]
pub async fn detokenize(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<DetokenizeRequest>,
) -> Result<Json<Detokenized>, ApiError> {
    let model = check_model(&state, request.model.as_deref())?;
    let prompt = model.backend.detokenize(&request.tokens)?;
    Ok(Json(Detokenized { prompt }))
}

#[utoipa::path(get, path = "/tokenizer_info", tag = "openai", responses((status = 200, body = TokenizerInfo), ApiErrors, (status = 503, description = "the model is not loaded", body = ErrorResponse)), security(("api_key" = [])))]
pub async fn info(State(state): State<AppState>) -> Result<Json<TokenizerInfo>, ApiError> {
    let model = state.model.get().ok_or_else(ApiError::not_ready)?;
    let info = model.backend.info();
    let named = |text: &str| (!text.is_empty()).then(|| text.to_string());
    Ok(Json(TokenizerInfo {
        model: info.id.clone(),
        bos_token: named(&info.bos_token),
        eos_token: named(&info.eos_token),
        pad_token: None,
        chat_template: info.chat_template.clone(),
        model_max_length: info.context_size,
    }))
}
