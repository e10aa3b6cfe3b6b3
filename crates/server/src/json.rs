//! A JSON body extractor whose every rejection is an OpenAI-shaped error naming the bad field.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Like `axum::Json`, but errors say which field is wrong, in OpenAI's error format.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(body_error)?;
        let mut deserializer = serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
            let path = err.path().to_string();
            let inner = err.into_inner();
            if inner.is_syntax() || inner.is_eof() {
                ApiError::invalid_request(format!("the body is not valid JSON: {inner}"))
                    .with_code("invalid_json")
            } else if path == "." {
                ApiError::invalid_request(format!("invalid request: {inner}"))
            } else {
                ApiError::invalid_value(&path, format!("invalid value for `{path}`: {inner}"))
            }
        })?;
        deserializer.end().map_err(|err| {
            ApiError::invalid_request(format!("the body is not valid JSON: {err}"))
                .with_code("invalid_json")
        })?;
        Ok(ApiJson(value))
    }
}

fn body_error(rejection: BytesRejection) -> ApiError {
    let status = rejection.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError {
            status,
            message: "the request body is over the server's size limit (see `max_body_bytes` in the configuration)".into(),
            kind: "invalid_request_error",
            param: None,
            code: Some("request_too_large"),
        }
    } else {
        ApiError {
            status,
            message: format!("cannot read the request body: {}", rejection.body_text()),
            kind: "invalid_request_error",
            param: None,
            code: None,
        }
    }
}
