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
    connection: Mutex<Connection>,
}

impl Actions {
    /// Takes a connection to the state database; actions caught running by a previous
    /// process's end are marked `interrupted`.
    pub fn new(connection: Connection) -> Result<Actions, ToolsError> {
        connection.execute_batch(
            "CREATE TABLE IF NOT EXISTS actions (
                id TEXT PRIMARY KEY,
                session_id TEXT,
                user TEXT NOT NULL,
                role TEXT NOT NULL,
                tool TEXT NOT NULL,
                arguments TEXT NOT NULL,
                arguments_sha256 TEXT NOT NULL,
                summary TEXT NOT NULL,
                created_at TEXT NOT NULL,
                expires_at TEXT NOT NULL,
                state TEXT NOT NULL,
                decided_by TEXT,
                result TEXT
            );",
        )?;
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
            connection: Mutex::new(connection),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.connection
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
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
        self.lock().execute(
            "INSERT INTO actions (id, session_id, user, role, tool, arguments, arguments_sha256,
                summary, created_at, expires_at, state)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'pending')",
            params![
                action.id,
                action.session_id,
                action.user,
                action.role,
                action.tool,
                action.arguments.to_string(),
                action.arguments_sha256,
                action.summary,
                action.created_at,
                action.expires_at
            ],
        )?;
        Ok(action)
    }

    pub fn get(&self, id: &str) -> Result<Option<Action>, ToolsError> {
        get(&self.lock(), id)
    }

    /// Pending actions a user asked for, oldest first.
    pub fn pending_for(&self, user: &str) -> Result<Vec<Action>, ToolsError> {
        let connection = self.lock();
        let mut statement = connection.prepare(
            "SELECT id FROM actions WHERE user = ?1 AND state = 'pending' ORDER BY created_at",
        )?;
        let ids: Vec<String> = statement
            .query_map([user], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        let mut out = Vec::new();
        for id in ids {
            if let Some(action) = get(&connection, &id)? {
                out.push(action);
            }
        }
        Ok(out)
    }

    /// Moves a pending, unexpired action to `executing` for `approver`, in one transaction:
    /// of two approvals at once, one claims it and the other finds it decided.
    pub fn claim(
        &self,
        id: &str,
        approver: &str,
        expected_hash: Option<&str>,
    ) -> Result<ApprovalOutcome, ToolsError> {
        self.decide(id, |action| {
            if let Some(expected) = expected_hash {
                if expected != action.arguments_sha256 {
                    return (None, ApprovalOutcome::HashMismatch(action.clone()));
                }
            }
            let mut claimed = action.clone();
            claimed.state = ActionState::Executing;
            claimed.decided_by = Some(approver.to_string());
            (
                Some(ActionState::Executing),
                ApprovalOutcome::Claimed(claimed),
            )
        })
    }

    /// Denies a pending action; a decided one is left as it is.
    pub fn deny(&self, id: &str, by: &str) -> Result<ApprovalOutcome, ToolsError> {
        self.decide(id, |action| {
            let mut denied = action.clone();
            denied.state = ActionState::Denied;
            denied.decided_by = Some(by.to_string());
            (Some(ActionState::Denied), ApprovalOutcome::Denied(denied))
        })
    }

    fn decide(
        &self,
        id: &str,
        decide: impl FnOnce(&Action) -> (Option<ActionState>, ApprovalOutcome),
    ) -> Result<ApprovalOutcome, ToolsError> {
        let mut connection = self.lock();
        let transaction =
            connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut action =
            get(&transaction, id)?.ok_or_else(|| ToolsError::UnknownAction(id.to_string()))?;
        if action.state != ActionState::Pending {
            return Ok(ApprovalOutcome::AlreadyDecided(action));
        }
        if action.expires_at <= timestamp(now()) {
            transaction.execute("UPDATE actions SET state = 'expired' WHERE id = ?1", [id])?;
            transaction.commit()?;
            action.state = ActionState::Expired;
            return Ok(ApprovalOutcome::Expired(action));
        }
        // Arguments edited in the database since they were shown no longer match their hash.
        if arguments_hash(&action.arguments) != action.arguments_sha256 {
            return Err(ToolsError::Database(format!(
                "action {id}: stored arguments do not match their hash; refusing to run it"
            )));
        }
        let (state, outcome) = decide(&action);
        if let Some(state) = state {
            let by = match &outcome {
                ApprovalOutcome::Claimed(a) | ApprovalOutcome::Denied(a) => a.decided_by.clone(),
                _ => None,
            };
            transaction.execute(
                "UPDATE actions SET state = ?2, decided_by = ?3 WHERE id = ?1 AND state = 'pending'",
                params![id, state.as_str(), by],
            )?;
            transaction.commit()?;
        }
        Ok(outcome)
    }

    /// Records how a claimed action's execution ended.
    pub fn finish(&self, id: &str, succeeded: bool, result: &str) -> Result<(), ToolsError> {
        let state = if succeeded {
            ActionState::Executed
        } else {
            ActionState::Failed
        };
        self.lock().execute(
            "UPDATE actions SET state = ?2, result = ?3 WHERE id = ?1 AND state = 'executing'",
            params![id, state.as_str(), result],
        )?;
        Ok(())
    }
}

fn get(connection: &Connection, id: &str) -> Result<Option<Action>, ToolsError> {
    let row = connection
        .query_row(
            "SELECT id, session_id, user, role, tool, arguments, arguments_sha256, summary,
                created_at, expires_at, state, decided_by, result
             FROM actions WHERE id = ?1",
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
    let Some((mut action, arguments, state)) = row else {
        return Ok(None);
    };
    action.arguments = serde_json::from_str(&arguments).map_err(|err| {
        ToolsError::Database(format!("action {id}: stored arguments are not JSON: {err}"))
    })?;
    action.state = ActionState::parse(&state)
        .ok_or_else(|| ToolsError::Database(format!("action {id}: unknown state `{state}`")))?;
    Ok(Some(action))
}
