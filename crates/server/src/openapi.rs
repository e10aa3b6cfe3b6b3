//! The API's OpenAPI document, generated from the handlers' `#[utoipa::path]` annotations and
//! the wire types' schemas: served at `/openapi.json`, checked against the router by a test,
//! and fuzzed by schemathesis in `scripts/test`.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Fulcrum",
        description = "OpenAI-compatible chat completions, responses and embeddings, and the governed agent, actions, audit and reports of Fulcrum."
    ),
    paths(
        routes::chat::chat_completions,
        routes::responses::create_response,
        routes::embeddings::embeddings,
        routes::completions::completions,
        routes::tokenizer::tokenize,
        routes::tokenizer::detokenize,
        routes::tokenizer::info,
        routes::models::list,
        routes::models::get,
        routes::health::healthz,
        routes::health::readyz,
        routes::health::metrics,
        routes::agent::create_session,
        routes::agent::list_sessions,
        routes::agent::messages,
        routes::agent::send,
        routes::me::whoami,
        routes::actions::pending,
        routes::actions::queue,
        routes::actions::approve,
        routes::actions::deny,
        routes::audit::list,
        routes::audit::verify,
        routes::reports::monthly,
        routes::documents::summarize,
        routes::knowledge::collections,
        routes::knowledge::add_document,
        routes::knowledge::search,
        document,
    ),
    modifiers(&BearerKey),
    tags(
        (name = "openai", description = "OpenAI-compatible"),
        (name = "agent", description = "agent sessions and turns"),
        (name = "actions", description = "confirmations of sensitive calls"),
        (name = "audit", description = "the audit log, for auditor roles"),
        (name = "reports", description = "monthly reports"),
        (name = "documents", description = "summaries of long documents"),
        (name = "knowledge", description = "knowledge collections, for their administrators"),
        (name = "health", description = "liveness, readiness, metrics"),
    )
)]
pub struct ApiDoc;

/// The API key, sent as a bearer token.
struct BearerKey;

impl Modify for BearerKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "health", responses((status = 200, description = "the OpenAPI document", body = Object)), security(()))]
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
