//! The audit log: an append-only SQLite table in which each row carries the SHA-256 of its
//! own content and of the row before it, so an edited, deleted, inserted or reordered row
//! breaks the chain at a place `verify` names.
//!
//! What a chain cannot show by itself is rows cut from the end: `verify` reports the head
//! (last sequence number and hash) so it can be recorded elsewhere and compared later.

use std::io::Write;
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::ToolsError;

/// The columns `read_row` reads, in its order.
const COLUMNS: &str = "seq, at, request_id, session_id, user, role, kind, data, prev_hash, hash";

/// The hash the first row chains to.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One step to record.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AuditEvent {
    pub request_id: Option<String>,
    pub session_id: Option<String>,
    pub user: Option<String>,
    pub role: Option<String>,
    /// What happened: `user_input`, `model_output`, `parsed_calls`, `validation`, `decision`,
    /// `confirmation`, `execution`, …
    pub kind: String,
    pub data: Value,
}

impl AuditEvent {
    pub fn new(kind: &str, data: Value) -> AuditEvent {
        AuditEvent {
            kind: kind.to_string(),
            data,
            ..AuditEvent::default()
        }
    }
}

/// A stored row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRecord {
    pub seq: i64,
    pub at: String,
    #[serde(flatten)]
    pub event: AuditEvent,
    pub prev_hash: String,
    pub hash: String,
}

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerifyReport {
    pub rows: u64,
    pub head_seq: i64,
    pub head_hash: String,
    /// The first row that does not check out, and why.
    pub first_bad: Option<(i64, String)>,
}

pub struct AuditLog {
    connection: Mutex<Connection>,
}

impl AuditLog {
    /// Takes a connection to the state database and creates the table if needed.
    pub fn new(connection: Connection) -> Result<AuditLog, ToolsError> {
        connection.execute_batch(
            "CREATE TABLE IF NOT EXISTS audit_log (
                seq INTEGER PRIMARY KEY,
                at TEXT NOT NULL,
                request_id TEXT,
                session_id TEXT,
                user TEXT,
                role TEXT,
                kind TEXT NOT NULL,
                data TEXT NOT NULL,
                prev_hash TEXT NOT NULL,
                hash TEXT NOT NULL
            );",
        )?;
        Ok(AuditLog {
            connection: Mutex::new(connection),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a half-written row: rows are written in
        // one transaction. So the connection stays usable.
        self.connection
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends one row; when this returns, the row is durable.
    pub fn append(&self, event: AuditEvent) -> Result<AuditRecord, ToolsError> {
        let mut connection = self.lock();
        let transaction =
            connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let last: Option<(i64, String)> = transaction
            .query_row(
                "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        let (seq, prev_hash) = match last {
            Some((seq, hash)) => (seq + 1, hash),
            None => (1, GENESIS.to_string()),
        };
        let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let data = event.data.to_string();
        let hash = row_hash(seq, &at, &event, &data, &prev_hash);
        transaction.execute(
            &format!(
                "INSERT INTO audit_log ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
            ),
            params![
                seq,
                at,
                event.request_id,
                event.session_id,
                event.user,
                event.role,
                event.kind,
                data,
                prev_hash,
                hash
            ],
        )?;
        transaction.commit()?;
        Ok(AuditRecord {
            seq,
            at,
            event,
            prev_hash,
            hash,
        })
    }

    /// Checks the whole chain, in order of sequence number.
    pub fn verify(&self) -> Result<VerifyReport, ToolsError> {
        let connection = self.lock();
        let mut statement =
            connection.prepare(&format!("SELECT {COLUMNS} FROM audit_log ORDER BY seq"))?;
        let mut rows = statement.query([])?;
        let mut report = VerifyReport {
            rows: 0,
            head_seq: 0,
            head_hash: GENESIS.to_string(),
            first_bad: None,
        };
        while let Some(row) = rows.next()? {
            let (record, data) = read_row(row)?;
            report.rows += 1;
            if report.first_bad.is_none() {
                let problem = if record.seq != report.head_seq + 1 {
                    Some(format!(
                        "sequence number {} follows {}: a row is missing or was inserted",
                        record.seq, report.head_seq
                    ))
                } else if record.prev_hash != report.head_hash {
                    Some("its previous-row hash does not match the row before it: a row before it was deleted, inserted or moved".to_string())
                } else if row_hash(
                    record.seq,
                    &record.at,
                    &record.event,
                    &data,
                    &record.prev_hash,
                ) != record.hash
                {
                    Some("its content does not match its hash: the row was edited".to_string())
                } else {
                    None
                };
                if let Some(reason) = problem {
                    report.first_bad = Some((record.seq, reason));
                }
            }
            report.head_seq = record.seq;
            report.head_hash = record.hash;
        }
        Ok(report)
    }

    /// Rows after `after_seq`, oldest first, at most `limit`.
    pub fn records(&self, after_seq: i64, limit: usize) -> Result<Vec<AuditRecord>, ToolsError> {
        let connection = self.lock();
        let mut statement = connection.prepare(&format!(
            "SELECT {COLUMNS} FROM audit_log WHERE seq > ?1 ORDER BY seq LIMIT ?2"
        ))?;
        let mut rows =
            statement.query(params![after_seq, i64::try_from(limit).unwrap_or(i64::MAX)])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(read_row(row)?.0);
        }
        Ok(out)
    }

    /// Writes every row as one JSON object per line.
    pub fn export_jsonl(&self, out: &mut dyn Write) -> Result<u64, ToolsError> {
        let mut after = 0;
        let mut written = 0;
        loop {
            let batch = self.records(after, 1_000)?;
            let Some(last) = batch.last() else {
                return Ok(written);
            };
            after = last.seq;
            for record in &batch {
                let line = serde_json::to_string(record)
                    .map_err(|err| ToolsError::Database(err.to_string()))?;
                writeln!(out, "{line}")
                    .map_err(|err| ToolsError::Database(format!("cannot write: {err}")))?;
                written += 1;
            }
        }
    }
}

fn read_row(row: &rusqlite::Row<'_>) -> Result<(AuditRecord, String), ToolsError> {
    let data: String = row.get(7)?;
    let record = AuditRecord {
        seq: row.get(0)?,
        at: row.get(1)?,
        event: AuditEvent {
            request_id: row.get(2)?,
            session_id: row.get(3)?,
            user: row.get(4)?,
            role: row.get(5)?,
            kind: row.get(6)?,
            // A row edited into invalid JSON still verifies as "edited", not as an error.
            data: serde_json::from_str(&data).unwrap_or(Value::String(data.clone())),
        },
        prev_hash: row.get(8)?,
        hash: row.get(9)?,
    };
    Ok((record, data))
}

/// The hash of a row: its fields as a JSON array (unambiguous), then the previous hash.
fn row_hash(seq: i64, at: &str, event: &AuditEvent, data: &str, prev_hash: &str) -> String {
    let fields = serde_json::json!([
        seq,
        at,
        event.request_id,
        event.session_id,
        event.user,
        event.role,
        event.kind,
        data,
        prev_hash
    ]);
    hex::encode(Sha256::digest(fields.to_string().as_bytes()))
}
