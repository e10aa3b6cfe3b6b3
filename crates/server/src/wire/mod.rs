//! The JSON of Fulcrum's public API, and only here: OpenAI's chat completions (`openai`) and
//! Fulcrum's own routes (`agent`, `actions`, `audit`, `reports`). Core types never go to a
//! client as they are: each route converts them into these structs with an explicit `From`, so
//! renaming a field in a core crate cannot change what clients read (rust-analyzer keeps its
//! `to_proto` at the edge the same way).

pub mod actions;
pub mod agent;
pub mod audit;
pub mod completions;
pub mod documents;
pub mod embeddings;
pub mod knowledge;
pub mod me;
mod openai;
pub mod reports;
pub mod responses;

pub use openai::*;

use serde::Serialize;

/// The errors any route with a key may answer, documented once for all of them.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // a description for the OpenAPI document, never built
pub enum ApiErrors {
    /// invalid request
    #[response(status = 400)]
    Invalid(ErrorResponse),
    /// missing or unknown API key
    #[response(status = 401)]
    Unauthorized(ErrorResponse),
    /// the role may not
    #[response(status = 403)]
    Forbidden(ErrorResponse),
    /// not found
    #[response(status = 404)]
    NotFound(ErrorResponse),
    /// a limit was reached; see Retry-After
    #[response(status = 429)]
    TooMany(ErrorResponse),
    /// server failure (details in its log)
    #[response(status = 500)]
    Failed(ErrorResponse),
}

/// Every error, in OpenAI's shape.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorResponse {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// What was wrong and what to do.
    pub message: String,
    /// `invalid_request_error`, `authentication_error`, `rate_limit_error`, `server_error`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// The request field at fault, when one is.
    pub param: Option<String>,
    /// A machine-readable reason (`not_allowed`, `limit_reached`, …).
    pub code: Option<String>,
}
