//! API errors in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`.
//!
//! Every error the server can produce is mapped here explicitly to a status and a body. Details
//! of internal failures go to the log, never to the client.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use fulcrum_chat::ChatError;
use fulcrum_engine::EngineError;

use crate::wire::{ErrorDetail, ErrorResponse};

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub kind: &'static str,
    pub param: Option<String>,
    pub code: Option<&'static str>,
}

impl ApiError {
    pub fn invalid_request(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            kind: "invalid_request_error",
            param: None,
            code: None,
        }
    }

    /// A field the server does not support, or a value of it that it does not.
    pub fn unsupported(param: &str, message: impl Into<String>) -> Self {
        Self::invalid_request(message)
            .with_param(param)
            .with_code("unsupported_parameter")
    }

    pub fn invalid_value(param: &str, message: impl Into<String>) -> Self {
        Self::invalid_request(message)
            .with_param(param)
            .with_code("invalid_value")
    }

    pub fn not_found(message: impl Into<String>, code: &'static str) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
            kind: "invalid_request_error",
            param: None,
            code: Some(code),
        }
    }

    /// Too many generations pending; the response carries `Retry-After`.
    /// The 429 for a request refused at the door, naming the limit, with `Retry-After`.
    pub fn refused(refusal: &crate::limits::Refusal) -> Response {
        use crate::limits::Refusal;
        let error = ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: refusal.message(),
            kind: "rate_limit_error",
            param: None,
            code: Some(match refusal {
                Refusal::QueueFull => "server_busy",
                Refusal::Concurrent { .. } => "concurrent_requests_limit",
                Refusal::PerMinute { .. } => "requests_per_minute_limit",
                Refusal::TokensPerMinute { .. } => "tokens_per_minute_limit",
            }),
        };
        let mut response = error.into_response();
        response.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from(refusal.retry_after_secs()),
        );
        response
    }

    pub fn not_ready() -> Self {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: "the model is still loading; retry when GET /readyz answers 200".into(),
            kind: "server_error",
            param: None,
            code: Some("model_not_ready"),
        }
    }

    /// 403 `not_allowed`: the caller's role may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::FORBIDDEN,
            message: message.into(),
            kind: "invalid_request_error",
            param: None,
            code: Some("not_allowed"),
        }
    }

    pub fn internal() -> Self {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: "the server failed while handling the request; the details are in its log"
                .into(),
            kind: "server_error",
            param: None,
            code: None,
        }
    }

    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    pub fn body(&self) -> ErrorResponse {
        ErrorResponse {
            error: ErrorDetail {
                message: self.message.clone(),
                kind: self.kind.to_string(),
                param: self.param.clone(),
                code: self.code.map(str::to_string),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}

impl From<ChatError> for ApiError {
    fn from(err: ChatError) -> Self {
        match err {
            ChatError::Rejected(_) | ChatError::OutOfFuel => {
                ApiError::invalid_request(err.to_string()).with_param("messages")
            }
            ChatError::InvalidTool { index, .. } => {
                ApiError::invalid_value(&format!("tools[{index}]"), err.to_string())
            }
            ChatError::InvalidTemplate(_) => {
                tracing::error!(%err, "chat template failed");
                ApiError::internal()
            }
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(err: EngineError) -> Self {
        match err {
            EngineError::ContextOverflow { .. } => ApiError::invalid_request(err.to_string())
                .with_param("messages")
                .with_code("context_length_exceeded"),
            EngineError::UnknownToken { .. } => ApiError::invalid_value("prompt", err.to_string()),
            EngineError::Unsupported(_) => {
                ApiError::invalid_request(err.to_string()).with_code("unsupported_parameter")
            }
            EngineError::EmptyPrompt => {
                ApiError::invalid_request(err.to_string()).with_param("messages")
            }
            EngineError::Grammar(_) => ApiError::invalid_request(err.to_string())
                .with_param("tools")
                .with_code("invalid_grammar"),
            EngineError::Timeout { .. } => ApiError {
                status: StatusCode::GATEWAY_TIMEOUT,
                message: err.to_string(),
                kind: "timeout_error",
                param: None,
                code: Some("request_timeout"),
            },
            EngineError::Upstream(_) => {
                tracing::error!(%err, "upstream engine failure");
                ApiError {
                    status: StatusCode::BAD_GATEWAY,
                    message: "the model's engine failed while answering; retry the request".into(),
                    kind: "server_error",
                    param: None,
                    code: Some("upstream_error"),
                }
            }
            EngineError::NoValidCall => {
                tracing::warn!(%err, "no valid call under a tool_choice that requires one");
                ApiError {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    message: err.to_string(),
                    kind: "server_error",
                    param: None,
                    code: Some("no_valid_tool_call"),
                }
            }
            EngineError::Unavailable(_) => ApiError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                message: err.to_string(),
                kind: "server_error",
                param: None,
                code: Some("upstream_unavailable"),
            },
            EngineError::ModelNotFound { .. }
            | EngineError::ModelLoad { .. }
            | EngineError::ContextCreate { .. }
            | EngineError::InvalidConfig(_)
            | EngineError::Stopped(_)
            | EngineError::Decode(_) => {
                tracing::error!(%err, "engine failure");
                ApiError::internal()
            }
        }
    }
}

impl From<fulcrum_tools::ToolsError> for ApiError {
    fn from(err: fulcrum_tools::ToolsError) -> Self {
        use fulcrum_tools::ToolsError;
        match err {
            ToolsError::UnknownAction(_) => ApiError::not_found(err.to_string(), "unknown_action"),
            ToolsError::UnknownTool(_) => ApiError::not_found(err.to_string(), "unknown_tool"),
            ToolsError::InvalidArguments { .. } => ApiError::invalid_request(err.to_string()),
            ToolsError::ConfigRead { .. }
            | ToolsError::Config { .. }
            | ToolsError::AuditKey(_)
            | ToolsError::ToolConfig { .. }
            | ToolsError::Database(_)
            | ToolsError::Execution { .. }
            | ToolsError::Mcp { .. }
            | ToolsError::Timeout { .. } => {
                tracing::error!(%err, "tools layer failure");
                ApiError::internal()
            }
        }
    }
}

impl From<fulcrum_agent::AgentError> for ApiError {
    fn from(err: fulcrum_agent::AgentError) -> Self {
        use fulcrum_agent::AgentError;
        match err {
            AgentError::Engine(err) => err.into(),
            AgentError::Chat(err) => err.into(),
            AgentError::Tools(err) => err.into(),
            // Someone else's session is reported as missing: its existence is not the
            // caller's business.
            AgentError::UnknownSession(_) | AgentError::NotYourSession(_) => ApiError::not_found(
                "no such session (or not yours): create one with POST /v1/agent/sessions",
                "unknown_session",
            ),
            AgentError::AwaitingConfirmation { .. } => ApiError {
                status: StatusCode::CONFLICT,
                message: err.to_string(),
                kind: "invalid_request_error",
                param: None,
                code: Some("awaiting_confirmation"),
            },
            AgentError::LimitReached(message) => ApiError {
                status: StatusCode::BAD_REQUEST,
                message,
                kind: "invalid_request_error",
                param: None,
                code: Some("limit_reached"),
            },
            AgentError::Store(_) | AgentError::Incomplete => {
                tracing::error!(%err, "agent failure");
                ApiError::internal()
            }
        }
    }
}
