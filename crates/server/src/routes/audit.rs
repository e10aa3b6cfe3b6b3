//! The audit log for auditors: rows in order, paged by sequence number.

use axum::extract::{Query, State};
use axum::{Extension, Json};
use fulcrum_tools::Principal;
use serde::Deserialize;

use crate::auth::caller;
use crate::error::ApiError;
use crate::state::AppState;
use crate::wire::audit::{AuditPage, AuditRow};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    /// Rows after this sequence number.
    #[serde(default)]
    after: i64,
    #[serde(default = "default_limit")]
    limit: usize,
}

fn default_limit() -> usize {
    100
}

pub async fn list(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
    Query(page): Query<Page>,
) -> Result<Json<AuditPage>, ApiError> {
    let principal = caller(principal)?;
    let governance = state.governance.as_ref().ok_or_else(|| {
        ApiError::not_found("this server runs without a policy", "not_configured")
    })?;
    if !governance.policy.registry().is_auditor(&principal.role) {
        return Err(ApiError {
            status: axum::http::StatusCode::FORBIDDEN,
            message: format!("role `{}` may not read the audit log", principal.role),
            kind: "invalid_request_error",
            param: None,
            code: Some("not_allowed"),
        });
    }
    let records = governance
        .policy
        .audit()
        .records(page.after, page.limit.clamp(1, 1000))?;
    Ok(Json(AuditPage {
        data: records.into_iter().map(AuditRow::from).collect(),
    }))
}
