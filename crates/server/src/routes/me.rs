//! `GET /v1/me`: who the API key belongs to and what their role may do, so a client (the
//! console) shows only what the API would not refuse.

use axum::extract::State;
use axum::{Extension, Json};
use fulcrum_tools::Principal;

use crate::auth::caller;
use crate::error::ApiError;
use crate::state::AppState;
use crate::wire::me::{Caller, Permissions};
use crate::wire::ApiErrors;

#[utoipa::path(get, path = "/v1/me", tag = "agent", responses((status = 200, body = Caller), ApiErrors), security(("api_key" = [])))]
pub async fn whoami(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
) -> Result<Json<Caller>, ApiError> {
    let principal = caller(principal)?;
    let governance = state.governance.as_ref().ok_or_else(|| {
        ApiError::not_found("this server runs without a policy", "not_configured")
    })?;
    let policy = &governance.policy;
    let registry = policy.registry();
    let role = principal.role.as_str();
    let tools = registry
        .tools()
        .filter(|tool| tool.allows_role(role))
        .map(|tool| tool.config.name.clone())
        .collect();
    let approves = registry
        .tools()
        .filter(|tool| tool.config.approver_roles.iter().any(|r| r == role))
        .map(|tool| tool.config.name.clone())
        .collect();
    Ok(Json(Caller {
        user: principal.user.clone(),
        role: principal.role.clone(),
        tools,
        approves,
        may: Permissions {
            chat: registry.config().may_chat(role),
            read_audit: registry.is_auditor(role),
            manage_knowledge: registry.manages_knowledge(role),
            write_reports: super::reports::may_write_reports(policy, role),
        },
    }))
}
