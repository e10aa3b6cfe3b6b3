//! Pending actions: calls to sensitive tools waiting for a second confirmation. Persisted, so
//! a restart loses none, and claimed in one transaction, so each runs at most once.

use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::ToolsError;
use crate::identity::Principal;
use crate::postgres::PgConnection;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionState {
    /// Waiting for approval.
    Pending,
    /// Approved and claimed; running.
    Executing,
    Executed,
    /// Approved, ran, and the tool reported an error.
    Failed,
    Denied,
    Expired,
    /// Fulcrum stopped while it ran; it is not run again, since it may have taken effect.
    Interrupted,
}

impl ActionState {
    /// The state's name, as stored in the state database (and so fixed for good).
    pub fn as_str(self) -> &'static str {
        match self {
            ActionState::Pending => "pending",
            ActionState::Executing => "executing",
            ActionState::Executed => "executed",
            ActionState::Failed => "failed",
            ActionState::Denied => "denied",
            ActionState::Expired => "expired",
            ActionState::Interrupted => "interrupted",
        }
    }

    fn parse(text: &str) -> Option<ActionState> {
        Some(match text {
            "pending" => ActionState::Pending,
            "executing" => ActionState::Executing,
            "executed" => ActionState::Executed,
            "failed" => ActionState::Failed,
            "denied" => ActionState::Denied,
            "expired" => ActionState::Expired,
            "interrupted" => ActionState::Interrupted,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Action {
    pub id: String,
    pub session_id: Option<String>,
    pub user: String,
    pub role: String,
    pub tool: String,
    pub arguments: Value,
    /// SHA-256 of the exact arguments; an approval is bound to it.
    pub arguments_sha256: String,
    pub summary: String,
    pub created_at: String,
    pub expires_at: String,
    pub state: ActionState,
    pub decided_by: Option<String>,
    /// The tool's output or error, once run.
    pub result: Option<String>,
}

/// What an attempt to claim an action for execution found.
#[derive(Debug, Clone, PartialEq)]
pub enum ApprovalOutcome {
    /// This caller owns the execution; the action is now `executing`.
    Claimed(Action),
    /// Someone decided before (approved, denied, or it ran): nothing runs again.
    AlreadyDecided(Action),
    Expired(Action),
    /// This caller denied it.
    Denied(Action),
    /// The approver approved other arguments than the ones stored.
    HashMismatch(Action),
}

pub fn arguments_hash(arguments: &Value) -> String {
    hex::encode(Sha256::digest(arguments.to_string().as_bytes()))
}

fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

fn timestamp(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub struct Actions {
    store: Store,
}

/// Where actions live: a SQLite file of this machine, or PostgreSQL shared by instances.
enum Store {
    Sqlite(Mutex<Connection>),
    Postgres(PgConnection),
}

/// The columns `read_action` reads, in its order (`user` quoted: PostgreSQL reserves it).
const ACTION_COLUMNS: &str = "id, session_id, \"user\", role, tool, arguments, arguments_sha256, \
    summary, created_at, expires_at, state, decided_by, result";

/// The actions table's columns, the same in SQLite and PostgreSQL.
macro_rules! actions_columns {
    () => {
        "id TEXT PRIMARY KEY,
        session_id TEXT,
        \"user\" TEXT NOT NULL,
        role TEXT NOT NULL,
        tool TEXT NOT NULL,
        arguments TEXT NOT NULL,
        arguments_sha256 TEXT NOT NULL,
        summary TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        state TEXT NOT NULL,
        decided_by TEXT,
        result TEXT"
    };
}

/// The actions table's migrations in PostgreSQL, in order (never edit one: add the next).
const PG_MIGRATIONS: &[&str] = &[concat!(
    "CREATE TABLE actions (",
    actions_columns!(),
    ");
CREATE INDEX actions_pending ON actions (\"user\", state, created_at)"
)];

/// A decision on a pending action, made by someone.
#[derive(Debug, Clone)]
enum Verdict {
    Claim {
        approver: String,
        expected_hash: Option<String>,
    },
    Deny {
        by: String,
    },
}

impl Verdict {
    /// The state the action moves to (none: it stays pending) and what the caller is told.
    fn apply(self, action: &Action) -> (Option<ActionState>, ApprovalOutcome) {
        match self {
            Verdict::Claim {
                approver,
                expected_hash,
            } => {
                if expected_hash.is_some_and(|expected| expected != action.arguments_sha256) {
                    return (None, ApprovalOutcome::HashMismatch(action.clone()));
                }
                let mut claimed = action.clone();
                claimed.state = ActionState::Executing;
                claimed.decided_by = Some(approver);
                (
                    Some(ActionState::Executing),
                    ApprovalOutcome::Claimed(claimed),
                )
            }
            Verdict::Deny { by } => {
                let mut denied = action.clone();
                denied.state = ActionState::Denied;
                denied.decided_by = Some(by);
                (Some(ActionState::Denied), ApprovalOutcome::Denied(denied))
            }
        }
    }
}

/// What a pending action's check before any verdict found: decided already, expired now, or
/// open to the verdict.
fn screen(action: &Action) -> Result<Option<ApprovalOutcome>, ToolsError> {
    if action.state != ActionState::Pending {
        return Ok(Some(ApprovalOutcome::AlreadyDecided(action.clone())));
    }
    if action.expires_at <= timestamp(now()) {
        let mut expired = action.clone();
        expired.state = ActionState::Expired;
        return Ok(Some(ApprovalOutcome::Expired(expired)));
    }
    // Arguments edited in the database since they were shown no longer match their hash.
    if arguments_hash(&action.arguments) != action.arguments_sha256 {
        return Err(ToolsError::Database(format!(
            "action {}: stored arguments do not match their hash; refusing to run it",
            action.id
        )));
    }
    Ok(None)
}

impl Actions {
    /// Takes a connection to the state database; actions caught running by a previous
    /// process's end are marked `interrupted`.
    pub fn new(connection: Connection) -> Result<Actions, ToolsError> {
        connection.execute_batch(concat!(
            "CREATE TABLE IF NOT EXISTS actions (",
            actions_columns!(),
            ");"
        ))?;
        let interrupted = connection.execute(
            "UPDATE actions SET state = 'interrupted' WHERE state = 'executing'",
            [],
        )?;
        if interrupted > 0 {
            tracing::warn!(
                interrupted,
                "actions were running when Fulcrum stopped; marked interrupted, not run again"
            );
        }
        Ok(Actions {
            store: Store::Sqlite(Mutex::new(connection)),
        })
    }

    /// Actions in PostgreSQL, shared by every instance connected to it. Unlike one process's
    /// SQLite file, an action found `executing` here may be another live instance's, so none
    /// is marked interrupted at start-up.
    pub fn postgres(connection: PgConnection) -> Result<Actions, ToolsError> {
        connection.migrate("actions", PG_MIGRATIONS)?;
        Ok(Actions {
            store: Store::Postgres(connection),
        })
    }

    pub fn create(
        &self,
        principal: &Principal,
        session_id: Option<&str>,
        tool: &str,
        arguments: &Value,
        summary: &str,
        ttl: Duration,
    ) -> Result<Action, ToolsError> {
        let created = now();
        let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::days(1));
        let action = Action {
            id: format!("act_{}", uuid::Uuid::new_v4().simple()),
            session_id: session_id.map(str::to_string),
            user: principal.user.clone(),
            role: principal.role.clone(),
            tool: tool.to_string(),
            arguments: arguments.clone(),
            arguments_sha256: arguments_hash(arguments),
            summary: summary.to_string(),
            created_at: timestamp(created),
            expires_at: timestamp(created + ttl),
            state: ActionState::Pending,
            decided_by: None,
            result: None,
        };
        let arguments = action.arguments.to_string();
        match &self.store {
            Store::Sqlite(connection) => {
                lock(connection).execute(
                    "INSERT INTO actions (id, session_id, user, role, tool, arguments, arguments_sha256,
                        summary, created_at, expires_at, state)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'pending')",
                    params![
                        action.id,
                        action.session_id,
                        action.user,
                        action.role,
                        action.tool,
                        arguments,
                        action.arguments_sha256,
                        action.summary,
                        action.created_at,
                        action.expires_at
                    ],
                )?;
            }
            Store::Postgres(connection) => {
                let row = action.clone();
                connection.run(move |client| {
                    client.execute(
                        "INSERT INTO actions (id, session_id, \"user\", role, tool, arguments,
                            arguments_sha256, summary, created_at, expires_at, state)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending')",
                        &[
                            &row.id,
                            &row.session_id,
                            &row.user,
                            &row.role,
                            &row.tool,
                            &arguments,
                            &row.arguments_sha256,
                            &row.summary,
                            &row.created_at,
                            &row.expires_at,
                        ],
                    )
                })?;
            }
        }
        Ok(action)
    }

    pub fn get(&self, id: &str) -> Result<Option<Action>, ToolsError> {
        match &self.store {
            Store::Sqlite(connection) => get(&lock(connection), id),
            Store::Postgres(connection) => {
                let id = id.to_string();
                connection
                    .run(move |client| {
                        client.query_opt(
                            &format!("SELECT {ACTION_COLUMNS} FROM actions WHERE id = $1"),
                            &[&id],
                        )
                    })?
                    .map(|row| read_pg_action(&row))
                    .transpose()
            }
        }
    }

    /// Every action of one tool asked for in a session, in any state, oldest first.
    pub fn in_session(&self, session_id: &str, tool: &str) -> Result<Vec<Action>, ToolsError> {
        match &self.store {
            Store::Sqlite(connection) => get_all(
                &lock(connection),
                "SELECT id FROM actions WHERE session_id = ?1 AND tool = ?2 ORDER BY created_at",
                params![session_id, tool],
            ),
            Store::Postgres(connection) => {
                let (session_id, tool) = (session_id.to_string(), tool.to_string());
                connection
                    .run(move |client| {
                        client.query(
                            &format!(
                                "SELECT {ACTION_COLUMNS} FROM actions
                                 WHERE session_id = $1 AND tool = $2 ORDER BY created_at"
                            ),
                            &[&session_id, &tool],
                        )
                    })?
                    .iter()
                    .map(read_pg_action)
                    .collect()
            }
        }
    }

    /// Pending actions a user asked for that can still be approved (not expired), oldest first.
    pub fn pending_for(&self, user: &str) -> Result<Vec<Action>, ToolsError> {
        self.pending_where(PendingKey::User, user)
    }

    /// Pending actions on one tool that can still be approved (not expired), oldest first: an
    /// approver's queue is made of those of the tools their role approves.
    pub fn pending_on_tool(&self, tool: &str) -> Result<Vec<Action>, ToolsError> {
        self.pending_where(PendingKey::Tool, tool)
    }

    fn pending_where(&self, key: PendingKey, value: &str) -> Result<Vec<Action>, ToolsError> {
        // The column is one of two fixed names, never text from outside; the value is bound.
        let column = match key {
            PendingKey::User => "\"user\"",
            PendingKey::Tool => "tool",
        };
        match &self.store {
            Store::Sqlite(connection) => get_all(
                &lock(connection),
                &format!(
                    "SELECT id FROM actions WHERE {column} = ?1 AND state = 'pending' AND expires_at > ?2
                     ORDER BY created_at"
                ),
                params![value, timestamp(now())],
            ),
            Store::Postgres(connection) => {
                let value = value.to_string();
                let now = timestamp(now());
                connection
                    .run(move |client| {
                        client.query(
                            &format!(
                                "SELECT {ACTION_COLUMNS} FROM actions
                                 WHERE {column} = $1 AND state = 'pending' AND expires_at > $2
                                 ORDER BY created_at"
                            ),
                            &[&value, &now],
                        )
                    })?
                    .iter()
                    .map(read_pg_action)
                    .collect()
            }
        }
    }

    /// Moves a pending, unexpired action to `executing` for `approver`, in one transaction:
    /// of two approvals at once, one claims it and the other finds it decided.
    pub fn claim(
        &self,
        id: &str,
        approver: &str,
        expected_hash: Option<&str>,
    ) -> Result<ApprovalOutcome, ToolsError> {
        self.decide(
            id,
            Verdict::Claim {
                approver: approver.to_string(),
                expected_hash: expected_hash.map(str::to_string),
            },
        )
    }

    /// Denies a pending action; a decided one is left as it is.
    pub fn deny(&self, id: &str, by: &str) -> Result<ApprovalOutcome, ToolsError> {
        self.decide(id, Verdict::Deny { by: by.to_string() })
    }

    /// Reads the action and applies `verdict` in one transaction that holds the action: of two
    /// decisions at once (two approvers, two instances), one applies and the other finds the
    /// action decided.
    fn decide(&self, id: &str, verdict: Verdict) -> Result<ApprovalOutcome, ToolsError> {
        match &self.store {
            Store::Sqlite(connection) => {
                let connection = lock(connection);
                let transaction = rusqlite::Transaction::new_unchecked(
                    &connection,
                    rusqlite::TransactionBehavior::Immediate,
                )?;
                let action = get(&transaction, id)?
                    .ok_or_else(|| ToolsError::UnknownAction(id.to_string()))?;
                if let Some(outcome) = screen(&action)? {
                    if let ApprovalOutcome::Expired(_) = outcome {
                        transaction
                            .execute("UPDATE actions SET state = 'expired' WHERE id = ?1", [id])?;
                        transaction.commit()?;
                    }
                    return Ok(outcome);
                }
                let (state, outcome) = verdict.apply(&action);
                if let Some(state) = state {
                    transaction.execute(
                        "UPDATE actions SET state = ?2, decided_by = ?3 WHERE id = ?1 AND state = 'pending'",
                        params![id, state.as_str(), decided_by(&outcome)],
                    )?;
                    transaction.commit()?;
                }
                Ok(outcome)
            }
            Store::Postgres(connection) => {
                let id = id.to_string();
                connection
                    .run(move |client| {
                        let mut transaction = client.transaction()?;
                        let Some(row) = transaction.query_opt(
                            &format!(
                                "SELECT {ACTION_COLUMNS} FROM actions WHERE id = $1 FOR UPDATE"
                            ),
                            &[&id],
                        )?
                        else {
                            return Ok(Err(ToolsError::UnknownAction(id)));
                        };
                        let action = match read_pg_action(&row) {
                            Ok(action) => action,
                            Err(err) => return Ok(Err(err)),
                        };
                        match screen(&action) {
                            Err(err) => return Ok(Err(err)),
                            Ok(Some(outcome)) => {
                                if let ApprovalOutcome::Expired(_) = outcome {
                                    transaction.execute(
                                        "UPDATE actions SET state = 'expired' WHERE id = $1",
                                        &[&id],
                                    )?;
                                    transaction.commit()?;
                                }
                                return Ok(Ok(outcome));
                            }
                            Ok(None) => {}
                        }
                        let (state, outcome) = verdict.apply(&action);
                        if let Some(state) = state {
                            transaction.execute(
                                "UPDATE actions SET state = $2, decided_by = $3
                                 WHERE id = $1 AND state = 'pending'",
                                &[&id, &state.as_str(), &decided_by(&outcome)],
                            )?;
                            transaction.commit()?;
                        }
                        Ok(Ok(outcome))
                    })
                    .and_then(|decided| decided)
            }
        }
    }

    /// Records how a claimed action's execution ended.
    pub fn finish(&self, id: &str, succeeded: bool, result: &str) -> Result<(), ToolsError> {
        let state = if succeeded {
            ActionState::Executed
        } else {
            ActionState::Failed
        };
        match &self.store {
            Store::Sqlite(connection) => {
                lock(connection).execute(
                    "UPDATE actions SET state = ?2, result = ?3 WHERE id = ?1 AND state = 'executing'",
                    params![id, state.as_str(), result],
                )?;
            }
            Store::Postgres(connection) => {
                let (id, result) = (id.to_string(), result.to_string());
                connection.run(move |client| {
                    client.execute(
                        "UPDATE actions SET state = $2, result = $3 WHERE id = $1 AND state = 'executing'",
                        &[&id, &state.as_str(), &result],
                    )
                })?;
            }
        }
        Ok(())
    }
}

fn lock(connection: &Mutex<Connection>) -> std::sync::MutexGuard<'_, Connection> {
    connection
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn decided_by(outcome: &ApprovalOutcome) -> Option<String> {
    match outcome {
        ApprovalOutcome::Claimed(a) | ApprovalOutcome::Denied(a) => a.decided_by.clone(),
        _ => None,
    }
}

/// An action from its stored columns (`ACTION_COLUMNS`' order) and the texts of its
/// arguments and state.
fn action_from(mut action: Action, arguments: &str, state: &str) -> Result<Action, ToolsError> {
    let id = action.id.clone();
    action.arguments = serde_json::from_str(arguments).map_err(|err| {
        ToolsError::Database(format!("action {id}: stored arguments are not JSON: {err}"))
    })?;
    action.state = ActionState::parse(state)
        .ok_or_else(|| ToolsError::Database(format!("action {id}: unknown state `{state}`")))?;
    Ok(action)
}

fn read_pg_action(row: &postgres::Row) -> Result<Action, ToolsError> {
    let text = |index: usize| -> Result<String, ToolsError> {
        row.try_get(index)
            .map_err(|err| ToolsError::Database(format!("PostgreSQL: {err}")))
    };
    let optional = |index: usize| -> Result<Option<String>, ToolsError> {
        row.try_get(index)
            .map_err(|err| ToolsError::Database(format!("PostgreSQL: {err}")))
    };
    let action = Action {
        id: text(0)?,
        session_id: optional(1)?,
        user: text(2)?,
        role: text(3)?,
        tool: text(4)?,
        arguments: Value::Null,
        arguments_sha256: text(6)?,
        summary: text(7)?,
        created_at: text(8)?,
        expires_at: text(9)?,
        state: ActionState::Pending,
        decided_by: optional(11)?,
        result: optional(12)?,
    };
    action_from(action, &text(5)?, &text(10)?)
}

/// The actions whose ids `query` selects, in its order (`get` reads each row).
/// The columns pending actions are listed by.
#[derive(Clone, Copy)]
enum PendingKey {
    User,
    Tool,
}

fn get_all(
    connection: &Connection,
    query: &str,
    parameters: impl rusqlite::Params,
) -> Result<Vec<Action>, ToolsError> {
    let mut statement = connection.prepare(query)?;
    let ids: Vec<String> = statement
        .query_map(parameters, |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        out.extend(get(connection, &id)?);
    }
    Ok(out)
}

fn get(connection: &Connection, id: &str) -> Result<Option<Action>, ToolsError> {
    let row = connection
        .query_row(
            &format!("SELECT {ACTION_COLUMNS} FROM actions WHERE id = ?1"),
            [id],
            |row| {
                Ok((
                    Action {
                        id: row.get(0)?,
                        session_id: row.get(1)?,
                        user: row.get(2)?,
                        role: row.get(3)?,
                        tool: row.get(4)?,
                        arguments: Value::Null,
                        arguments_sha256: row.get(6)?,
                        summary: row.get(7)?,
                        created_at: row.get(8)?,
                        expires_at: row.get(9)?,
                        state: ActionState::Pending,
                        decided_by: row.get(11)?,
                        result: row.get(12)?,
                    },
                    row.get::<_, String>(5)?,
                    row.get::<_, String>(10)?,
                ))
            },
        )
        .optional()?;
    let Some((action, arguments, state)) = row else {
        return Ok(None);
    };
    action_from(action, &arguments, &state).map(Some)
}
