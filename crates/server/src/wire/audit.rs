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

/// `GET /v1/audit/verify`: the hash chain checked whole, and against the server's own
/// checkpoints when it writes any.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditVerification {
    /// Every row checks out and the log agrees with its checkpoints.
    pub ok: bool,
    pub rows: u64,
    pub head_seq: i64,
    pub head_hash: String,
    /// The first row that does not check out.
    pub first_bad: Option<BadRow>,
    /// The first way the log disagrees with its checkpoints (a cut tail, a rewrite).
    pub anchor_problem: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BadRow {
    pub seq: i64,
    pub reason: String,
}

impl From<fulcrum_tools::VerifyReport> for AuditVerification {
    fn from(report: fulcrum_tools::VerifyReport) -> Self {
        AuditVerification {
            ok: report.first_bad.is_none() && report.anchor_problem.is_none(),
            rows: report.rows,
            head_seq: report.head_seq,
            head_hash: report.head_hash,
            first_bad: report.first_bad.map(|(seq, reason)| BadRow { seq, reason }),
            anchor_problem: report.anchor_problem,
        }
    }
}
