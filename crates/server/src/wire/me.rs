//! `GET /v1/me`: the caller and what their role may do.

use serde::Serialize;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Caller {
    pub user: String,
    pub role: String,
    /// The tools the role may call (through the agent).
    pub tools: Vec<String>,
    /// The tools whose pending calls the role approves (its queue: `GET /v1/actions/queue`).
    pub approves: Vec<String>,
    pub may: Permissions,
}

/// The API's other doors, as the policy opens them to the role.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Permissions {
    /// Chat completions, completions, responses and embeddings (the policy's `chat_roles`).
    pub chat: bool,
    /// `GET /v1/audit` and `/v1/audit/verify` (the policy's `auditor_roles`).
    pub read_audit: bool,
    /// `…/v1/knowledge/…` (the policy's `knowledge_roles`).
    pub manage_knowledge: bool,
    /// `POST /v1/reports/monthly` (a report tool open to the role without a confirmation).
    pub write_reports: bool,
}
