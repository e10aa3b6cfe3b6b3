//! Audit rows for auditors.

use fulcrum_tools::AuditRecord;
use serde::Serialize;
use serde_json::Value;

/// One row of the hash chain, as stored.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditRow {
    pub seq: i64,
    pub at: String,
    pub request_id: Option<String>,
    pub session_id: Option<String>,
    pub user: Option<String>,
    pub role: Option<String>,
    pub kind: String,
    pub data: Value,
    pub prev_hash: String,
    pub hash: String,
}

impl From<AuditRecord> for AuditRow {
    fn from(record: AuditRecord) -> Self {
        AuditRow {
            seq: record.seq,
            at: record.at,
            request_id: record.event.request_id,
            session_id: record.event.session_id,
            user: record.event.user,
            role: record.event.role,
            kind: record.event.kind,
            data: record.event.data,
            prev_hash: record.prev_hash,
            hash: record.hash,
        }
    }
}

/// `GET /v1/audit`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    pub data: Vec<AuditRow>,
}
