//! The audit log for auditors: rows in order, paged by sequence number.

use axum::extract::{Query, State};
use axum::{Extension, Json};
use std::sync::Arc;

use fulcrum_tools::{AuditFilter, Policy, Principal};
use serde::Deserialize;

use crate::auth::caller;
use crate::error::ApiError;
use crate::state::AppState;
use crate::wire::audit::{AuditPage, AuditRow, AuditVerification};
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
    /// Only this user's rows.
    #[serde(default)]
    user: Option<String>,
    /// Only rows of this kind (`decision`, `execution`, `chat_completion`, …).
    #[serde(default)]
    kind: Option<String>,
    /// Only rows about this tool.
    #[serde(default)]
    tool: Option<String>,
    /// Only this agent session's rows.
    #[serde(default)]
    session: Option<String>,
    /// Only rows written at or after this time (RFC 3339, or a date).
    #[serde(default)]
    since: Option<String>,
    /// Only rows written before this time (RFC 3339, or a date).
    #[serde(default)]
    until: Option<String>,
}

impl Page {
    fn filter(&self) -> Result<AuditFilter, ApiError> {
        let time = |param: &str, text: &Option<String>| -> Result<Option<String>, ApiError> {
            text.as_deref()
                .map(|text| {
                    AuditFilter::time(text).ok_or_else(|| {
                        ApiError::invalid_value(
                            param,
                            format!("`{param}` must be an RFC 3339 time or a date (YYYY-MM-DD), not `{text}`"),
                        )
                    })
                })
                .transpose()
        };
        Ok(AuditFilter {
            user: self.user.clone(),
            kind: self.kind.clone(),
            tool: self.tool.clone(),
            session_id: self.session.clone(),
            since: time("since", &self.since)?,
            until: time("until", &self.until)?,
        })
    }
}

fn default_limit() -> usize {
    100
}

/// The policy, when the caller is one of its auditors.
fn audited(
    state: &AppState,
    principal: Option<Extension<Principal>>,
) -> Result<&Arc<Policy>, ApiError> {
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
    Ok(&governance.policy)
}

#[utoipa::path(get, path = "/v1/audit", tag = "audit", params(Page), responses((status = 200, body = AuditPage), ApiErrors), security(("api_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
    Query(page): Query<Page>,
) -> Result<Json<AuditPage>, ApiError> {
    let filter = page.filter()?;
    let records = audited(&state, principal)?.audit().records_matching(
        page.after,
        page.limit.clamp(1, 1000),
        &filter,
    )?;
    Ok(Json(AuditPage {
        data: records.into_iter().map(AuditRow::from).collect(),
    }))
}

/// The chain checked whole (every row's hash and link), and against the server's own
/// checkpoints when it writes any: what `fulcrum audit verify` says, for an auditor without a
/// shell.
#[utoipa::path(get, path = "/v1/audit/verify", tag = "audit", responses((status = 200, body = AuditVerification), ApiErrors), security(("api_key" = [])))]
pub async fn verify(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
) -> Result<Json<AuditVerification>, ApiError> {
    let policy = Arc::clone(audited(&state, principal)?);
    let report = tokio::task::spawn_blocking(move || policy.audit().verify_with_own_anchor())
        .await
        .map_err(|err| {
            tracing::error!(%err, "the audit verification task failed");
            ApiError::internal()
        })??;
    Ok(Json(AuditVerification::from(report)))
}
