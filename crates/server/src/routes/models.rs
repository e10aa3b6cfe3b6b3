//! `GET /v1/models` and `GET /v1/models/{id}`.

use axum::extract::{Path, State};
use axum::Json;

use crate::error::ApiError;
use crate::wire::{ApiErrors, ErrorResponse};
use fulcrum_agent::LoadedModel;
use fulcrum_retrieval::{EMBEDDING_MAX_TOKENS, EMBEDDING_MODEL_ID};

use crate::state::AppState;
use crate::wire::{ModelCard, ModelList, UpstreamCard};

fn card(model: &LoadedModel) -> ModelCard {
    let info = model.backend.info();
    ModelCard {
        id: info.id.clone(),
        object: "model",
        created: model.created,
        owned_by: "fulcrum",
        context_length: info.context_size,
        upstreams: model
            .backend
            .upstreams()
            .into_iter()
            .map(|upstream| UpstreamCard {
                name: upstream.name,
                kind: upstream.kind,
                healthy: upstream.healthy,
                grammar: upstream.grammar,
            })
            .collect(),
    }
}

/// The embedding model of `/v1/embeddings`, once it is loaded.
fn embedding_card(state: &AppState, created: u64) -> Option<ModelCard> {
    state.embedder.get().map(|_| ModelCard {
        id: EMBEDDING_MODEL_ID.to_string(),
        object: "model",
        created,
        owned_by: "fulcrum",
        context_length: EMBEDDING_MAX_TOKENS as u32,
        upstreams: Vec::new(),
    })
}

#[utoipa::path(get, path = "/v1/models", tag = "openai", responses((status = 200, body = ModelList), ApiErrors, (status = 503, description = "the model is not loaded", body = ErrorResponse)), security(("api_key" = [])))]
pub async fn list(State(state): State<AppState>) -> Result<Json<ModelList>, ApiError> {
    let model = state.model.get().ok_or_else(ApiError::not_ready)?;
    let mut data = vec![card(model)];
    data.extend(embedding_card(&state, model.created));
    Ok(Json(ModelList {
        object: "list",
        data,
    }))
}

#[utoipa::path(get, path = "/v1/models/{id}", tag = "openai", params(("id" = String, Path, description = "the model id")), responses((status = 200, body = ModelCard), ApiErrors, (status = 503, description = "the model is not loaded", body = ErrorResponse)), security(("api_key" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ModelCard>, ApiError> {
    let model = state.model.get().ok_or_else(ApiError::not_ready)?;
    if id == EMBEDDING_MODEL_ID {
        if let Some(card) = embedding_card(&state, model.created) {
            return Ok(Json(card));
        }
    }
    if model.backend.info().id != id {
        return Err(ApiError::not_found(
            format!("the model `{id}` does not exist here"),
            "model_not_found",
        ));
    }
    Ok(Json(card(model)))
}
