//! The audit log: an append-only SQLite table in which each row carries the SHA-256 of its
//! own content and of the row before it, so an edited, deleted, inserted or reordered row
//! breaks the chain at a place `verify` names.
//!
//! What a chain cannot show by itself is rows cut from the end, or rows rewritten with a
//! consistent chain: checkpoints of the head kept outside the database (`anchor.rs`) and a head
//! recorded elsewhere (`--expect-head`) show both to `verify_anchored`.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::anchor::{check_signature, AuditAnchor, AuditKey, Checkpoint};
use crate::error::ToolsError;
use crate::postgres::PgConnection;

/// The columns `read_row` reads, in its order.
const COLUMNS: &str = "seq, at, request_id, session_id, user, role, kind, data, prev_hash, hash";

/// The chain's head: the last row's sequence number and hash.
const HEAD: &str = "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1";

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
    /// The first way the log disagrees with its anchors (checkpoints, an expected head).
    pub anchor_problem: Option<String>,
}

/// Which rows an auditor asks for; every field set must match (`None`: any).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub user: Option<String>,
    pub kind: Option<String>,
    pub session_id: Option<String>,
    /// The tool a row is about (`data.tool`: decisions, confirmations, executions).
    pub tool: Option<String>,
    /// Rows written at or after this time (RFC 3339, UTC, as rows store it).
    pub since: Option<String>,
    /// Rows written before this time.
    pub until: Option<String>,
}

impl AuditFilter {
    /// `text` (RFC 3339, or a date meaning its midnight UTC) written as rows store their time,
    /// so that rows compare with it in order; `None` when it is neither.
    pub fn time(text: &str) -> Option<String> {
        let at = match chrono::DateTime::parse_from_rfc3339(text) {
            Ok(at) => at.with_timezone(&chrono::Utc),
            Err(_) => chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()?
                .and_hms_opt(0, 0, 0)?
                .and_utc(),
        };
        Some(at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
    }
}

/// What the log is checked against besides its own chain.
#[derive(Debug, Default)]
pub struct AnchorCheck<'a> {
    /// Recorded heads, oldest first: each row must still have its hash, and the log must
    /// reach the last one.
    pub checkpoints: &'a [Checkpoint],
    pub key: Option<&'a AuditKey>,
    /// A head recorded elsewhere: some row must have this hash.
    pub expect_head: Option<&'a str>,
}

pub struct AuditLog {
    store: Store,
    /// Where checkpoints of the head go, once set.
    anchor: OnceLock<Arc<AuditAnchor>>,
}

/// Where the rows live: a SQLite file of this machine, or PostgreSQL shared by instances.
enum Store {
    Sqlite(Mutex<Connection>),
    Postgres(PgConnection),
}

/// The columns in PostgreSQL, where `user` is a reserved word.
const PG_COLUMNS: &str =
    "seq, at, request_id, session_id, \"user\", role, kind, data, prev_hash, hash";

/// The audit tables' migrations in PostgreSQL, in order (never edit one: add the next).
const PG_MIGRATIONS: &[&str] = &["CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY,
    at TEXT NOT NULL,
    request_id TEXT,
    session_id TEXT,
    \"user\" TEXT,
    role TEXT,
    kind TEXT NOT NULL,
    data TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
)"];

/// The advisory lock every instance's append holds for its transaction: appends are
/// serialized across instances, so the chain stays one chain.
const APPEND_LOCK: i64 = 0x61_75_64_69_74; // "audit"

/// Rows read at a time when checking or exporting the chain.
const PAGE_ROWS: usize = 1_000;

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
            store: Store::Sqlite(Mutex::new(connection)),
            anchor: OnceLock::new(),
        })
    }

    /// The log in PostgreSQL, shared by every instance connected to it (tables created or
    /// migrated on first use).
    pub fn postgres(connection: PgConnection) -> Result<AuditLog, ToolsError> {
        connection.migrate("audit", PG_MIGRATIONS)?;
        Ok(AuditLog {
            store: Store::Postgres(connection),
            anchor: OnceLock::new(),
        })
    }

    /// Appends one row; when this returns, the row is durable (and checkpointed, when one
    /// is due).
    pub fn append(&self, event: AuditEvent) -> Result<AuditRecord, ToolsError> {
        let record = match &self.store {
            Store::Sqlite(connection) => append_sqlite(&lock(connection), event),
            Store::Postgres(connection) => append_postgres(connection, event),
        }?;
        if let Some(anchor) = self.anchor.get().filter(|a| a.due(record.seq)) {
            // The row is written; a checkpoint that fails leaves it unanchored, not lost.
            if let Err(err) = anchor.checkpoint(record.seq, &record.hash) {
                tracing::error!(%err, "the audit log was not checkpointed");
            }
        }
        Ok(record)
    }

    /// From now on, checkpoints of the head go to `anchor`; one of the current head is
    /// written at once (rows cut while nothing ran show against it later).
    pub fn anchor_with(&self, anchor: Arc<AuditAnchor>) -> Result<(), ToolsError> {
        let anchor = self.anchor.get_or_init(|| anchor);
        self.checkpoint_now(anchor).map(|_| ())
    }

    /// Writes a checkpoint of the current head to `anchor` (none while the log is empty).
    pub fn checkpoint_now(&self, anchor: &AuditAnchor) -> Result<Option<Checkpoint>, ToolsError> {
        match self.head()? {
            Some((seq, hash)) => anchor.checkpoint(seq, &hash).map(Some),
            None => Ok(None),
        }
    }

    /// The last row's sequence number and hash.
    fn head(&self) -> Result<Option<(i64, String)>, ToolsError> {
        match &self.store {
            Store::Sqlite(connection) => sqlite_head(&lock(connection)),
            Store::Postgres(connection) => connection.run(pg_head),
        }
    }

    /// Checks the whole chain, in order of sequence number.
    pub fn verify(&self) -> Result<VerifyReport, ToolsError> {
        self.verify_anchored(&AnchorCheck::default())
    }

    /// Checks the chain, and against this log's own checkpoints when it writes any (what a
    /// running server can tell an auditor without being handed the files).
    pub fn verify_with_own_anchor(&self) -> Result<VerifyReport, ToolsError> {
        let Some(anchor) = self.anchor.get() else {
            return self.verify();
        };
        let checkpoints = if anchor.path().exists() {
            crate::anchor::read_checkpoints(anchor.path())?
        } else {
            Vec::new()
        };
        self.verify_anchored(&AnchorCheck {
            checkpoints: &checkpoints,
            key: anchor.key(),
            expect_head: None,
        })
    }

    /// Checks the chain and that it agrees with `anchors`: every checkpoint signed (when a key
    /// is given), its row still there with its hash, the log not ending before the last one,
    /// and the expected head found.
    pub fn verify_anchored(&self, anchors: &AnchorCheck<'_>) -> Result<VerifyReport, ToolsError> {
        let mut report = VerifyReport {
            rows: 0,
            head_seq: 0,
            head_hash: GENESIS.to_string(),
            first_bad: None,
            anchor_problem: anchors
                .checkpoints
                .iter()
                .find_map(|c| check_signature(c, anchors.key)),
        };
        // The first problem found is the one reported.
        fn problem(report: &mut VerifyReport, text: String) {
            report.anchor_problem.get_or_insert(text);
        }
        let mut wanted: HashMap<i64, &str> = HashMap::new();
        for checkpoint in anchors.checkpoints {
            let earlier = wanted.insert(checkpoint.seq, &checkpoint.hash);
            if earlier.is_some_and(|hash| hash != checkpoint.hash) {
                problem(
                    &mut report,
                    format!(
                        "two checkpoints disagree on row {}: the log was rewritten from there on",
                        checkpoint.seq
                    ),
                );
            }
        }
        let mut head_found = anchors.expect_head.is_none();
        loop {
            let page = self.page(report.head_seq, PAGE_ROWS)?;
            if page.is_empty() {
                break;
            }
            for (record, data) in page {
                if wanted
                    .remove(&record.seq)
                    .is_some_and(|hash| hash != record.hash)
                {
                    problem(&mut report, format!(
                        "row {} is not the row checkpointed: its hash changed (rows from there on were rewritten)",
                        record.seq
                    ));
                }
                head_found |= anchors.expect_head == Some(record.hash.as_str());
                check_row(&mut report, record, &data);
            }
        }
        if let Some(last) = anchors.checkpoints.iter().map(|c| c.seq).max() {
            if last > report.head_seq {
                let text = format!(
                    "the log ends at row {} but a checkpoint says row {last} existed: rows were cut",
                    report.head_seq
                );
                problem(&mut report, text);
            }
        }
        if !head_found {
            let text = "no row has the expected head hash: rows were cut or rewritten".to_string();
            problem(&mut report, text);
        }
        Ok(report)
    }

    /// Rows after `after_seq` with each one's stored `data` text, oldest first, at most `limit`.
    fn page(&self, after_seq: i64, limit: usize) -> Result<Vec<(AuditRecord, String)>, ToolsError> {
        self.page_matching(after_seq, limit, &AuditFilter::default())
    }

    /// Rows after `after_seq` that match `filter`, oldest first, at most `limit`; every
    /// condition is a bound parameter.
    fn page_matching(
        &self,
        after_seq: i64,
        limit: usize,
        filter: &AuditFilter,
    ) -> Result<Vec<(AuditRecord, String)>, ToolsError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let f = filter.clone();
        match &self.store {
            Store::Sqlite(connection) => {
                let connection = lock(connection);
                let mut statement = connection.prepare(&format!(
                    "SELECT {COLUMNS} FROM audit_log WHERE seq > ?1
                       AND (?3 IS NULL OR user = ?3) AND (?4 IS NULL OR kind = ?4)
                       AND (?5 IS NULL OR session_id = ?5)
                       AND (?6 IS NULL OR json_extract(data, '$.tool') = ?6)
                       AND (?7 IS NULL OR at >= ?7) AND (?8 IS NULL OR at < ?8)
                     ORDER BY seq LIMIT ?2"
                ))?;
                let mut rows = statement.query(params![
                    after_seq,
                    limit,
                    f.user,
                    f.kind,
                    f.session_id,
                    f.tool,
                    f.since,
                    f.until
                ])?;
                let mut out = Vec::new();
                while let Some(row) = rows.next()? {
                    out.push(read_row(row)?);
                }
                Ok(out)
            }
            Store::Postgres(connection) => connection.run(move |client| {
                client
                    .query(
                        &format!(
                            "SELECT {PG_COLUMNS} FROM audit_log WHERE seq > $1
                               AND ($3::TEXT IS NULL OR \"user\" = $3)
                               AND ($4::TEXT IS NULL OR kind = $4)
                               AND ($5::TEXT IS NULL OR session_id = $5)
                               AND ($6::TEXT IS NULL OR (data::jsonb ->> 'tool') = $6)
                               AND ($7::TEXT IS NULL OR at >= $7) AND ($8::TEXT IS NULL OR at < $8)
                             ORDER BY seq LIMIT $2"
                        ),
                        &[
                            &after_seq,
                            &limit,
                            &f.user,
                            &f.kind,
                            &f.session_id,
                            &f.tool,
                            &f.since,
                            &f.until,
                        ],
                    )?
                    .iter()
                    .map(read_pg_row)
                    .collect()
            }),
        }
    }

    /// Rows after `after_seq`, oldest first, at most `limit`.
    pub fn records(&self, after_seq: i64, limit: usize) -> Result<Vec<AuditRecord>, ToolsError> {
        self.records_matching(after_seq, limit, &AuditFilter::default())
    }

    /// Rows after `after_seq` that match `filter`, oldest first, at most `limit` (page on by
    /// the last row's `seq`).
    pub fn records_matching(
        &self,
        after_seq: i64,
        limit: usize,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditRecord>, ToolsError> {
        Ok(self
            .page_matching(after_seq, limit, filter)?
            .into_iter()
            .map(|(record, _)| record)
            .collect())
    }

    /// Writes every row as one JSON object per line.
    pub fn export_jsonl(&self, out: &mut dyn Write) -> Result<u64, ToolsError> {
        let mut after = 0;
        let mut written = 0;
        loop {
            let batch = self.records(after, PAGE_ROWS)?;
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

fn lock(connection: &Mutex<Connection>) -> std::sync::MutexGuard<'_, Connection> {
    // A panic while holding the lock cannot leave a half-written row: rows are written in one
    // transaction. So the connection stays usable.
    connection
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The row that follows `last` (the chain's head, if any) with `event`.
fn next_row(last: Option<(i64, String)>, event: AuditEvent) -> (AuditRecord, String) {
    let (seq, prev_hash) = match last {
        Some((seq, hash)) => (seq + 1, hash),
        None => (1, GENESIS.to_string()),
    };
    let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let data = event.data.to_string();
    let hash = row_hash(seq, &at, &event, &data, &prev_hash);
    (
        AuditRecord {
            seq,
            at,
            event,
            prev_hash,
            hash,
        },
        data,
    )
}

fn sqlite_head(connection: &Connection) -> Result<Option<(i64, String)>, ToolsError> {
    Ok(connection
        .query_row(HEAD, [], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?)
}

fn pg_head(
    client: &mut impl postgres::GenericClient,
) -> Result<Option<(i64, String)>, postgres::Error> {
    Ok(client
        .query_opt(HEAD, &[])?
        .map(|row| (row.get::<_, i64>(0), row.get::<_, String>(1))))
}

fn append_sqlite(connection: &Connection, event: AuditEvent) -> Result<AuditRecord, ToolsError> {
    let transaction =
        rusqlite::Transaction::new_unchecked(connection, rusqlite::TransactionBehavior::Immediate)?;
    let (record, data) = next_row(sqlite_head(&transaction)?, event);
    let e = &record.event;
    transaction.execute(
        &format!(
            "INSERT INTO audit_log ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
        ),
        params![
            record.seq,
            record.at,
            e.request_id,
            e.session_id,
            e.user,
            e.role,
            e.kind,
            data,
            record.prev_hash,
            record.hash
        ],
    )?;
    transaction.commit()?;
    Ok(record)
}

/// Appends under the advisory lock, inside one transaction: whichever instance appends, the
/// row follows the head every other instance sees.
fn append_postgres(
    connection: &PgConnection,
    event: AuditEvent,
) -> Result<AuditRecord, ToolsError> {
    connection.run(move |client| {
        let mut transaction = client.transaction()?;
        transaction.execute("SELECT pg_advisory_xact_lock($1)", &[&APPEND_LOCK])?;
        let (record, data) = next_row(pg_head(&mut transaction)?, event);
        let e = &record.event;
        transaction.execute(
            &format!(
                "INSERT INTO audit_log ({PG_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            ),
            &[
                &record.seq,
                &record.at,
                &e.request_id,
                &e.session_id,
                &e.user,
                &e.role,
                &e.kind,
                &data,
                &record.prev_hash,
                &record.hash,
            ],
        )?;
        transaction.commit()?;
        Ok(record)
    })
}

/// Adds one row to a running check of the chain.
fn check_row(report: &mut VerifyReport, record: AuditRecord, data: &str) {
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
            data,
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

fn read_pg_row(row: &postgres::Row) -> Result<(AuditRecord, String), postgres::Error> {
    let data: String = row.try_get(7)?;
    let record = AuditRecord {
        seq: row.try_get(0)?,
        at: row.try_get(1)?,
        event: AuditEvent {
            request_id: row.try_get(2)?,
            session_id: row.try_get(3)?,
            user: row.try_get(4)?,
            role: row.try_get(5)?,
            kind: row.try_get(6)?,
            data: serde_json::from_str(&data).unwrap_or(Value::String(data.clone())),
        },
        prev_hash: row.try_get(8)?,
        hash: row.try_get(9)?,
    };
    Ok((record, data))
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
