//! The audit log for auditors: rows in order, paged by sequence number.

use axum::extract::{Query, State};
use axum::{Extension, Json};
use fulcrum_tools::Principal;
use serde::Deserialize;

use crate::auth::caller;
use crate::error::ApiError;
use crate::state::AppState;
use crate::wire::audit::{AuditPage, AuditRow};
use crate::wire::ApiErrors;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
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

#[utoipa::path(get, path = "/v1/audit", tag = "audit", params(Page), responses((status = 200, body = AuditPage), ApiErrors), security(("api_key" = [])))]
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
        return Err(ApiError::forbidden(format!(
            "role `{}` may not read the audit log",
            principal.role
        )));
    }
    let records = governance
        .policy
        .audit()
        .records(page.after, page.limit.clamp(1, 1000))?;
    Ok(Json(AuditPage {
        data: records.into_iter().map(AuditRow::from).collect(),
    }))
}
