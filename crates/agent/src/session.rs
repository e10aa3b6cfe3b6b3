//! Agent sessions: who owns each, its messages in order, and the calls waiting for a
//! confirmation — in SQLite (one instance), or in PostgreSQL (`session_pg.rs`) shared by
//! several.

use std::path::Path;
use std::sync::Mutex;

use fulcrum_chat::Message;
use fulcrum_tools::{PgConnection, Principal};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use crate::error::AgentError;
use crate::session_pg as pg;

#[derive(Debug, Clone, PartialEq)]
pub struct SessionInfo {
    pub id: String,
    pub user: String,
    pub role: String,
    pub created_at: String,
}

/// A call of an assistant message that waits for its action's decision: its tool message is
/// written only once the action is approved (and run), denied or expired.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingCall {
    pub action_id: String,
    pub call_id: String,
    pub tool: String,
}

/// Something a tool call did, in words, kept after its turn leaves the prompt.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyEvent {
    /// The turn (1-based) it happened in.
    pub turn: usize,
    pub text: String,
}

/// A session's mid-term memory: the model-written summary of its older turns, and the key
/// events extracted in code from its tool calls.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SessionMemory {
    pub summary: Option<String>,
    /// Turns 1..=this are covered by the summary.
    pub summarized_turns: usize,
    pub events: Vec<KeyEvent>,
}

/// A row of `SELECT id, user, role, created_at FROM agent_sessions`.
fn read_session(row: &rusqlite::Row<'_>) -> rusqlite::Result<SessionInfo> {
    Ok(SessionInfo {
        id: row.get(0)?,
        user: row.get(1)?,
        role: row.get(2)?,
        created_at: row.get(3)?,
    })
}

pub struct SessionStore {
    store: Store,
}

enum Store {
    Sqlite(Mutex<Connection>),
    Postgres(PgConnection),
}

impl SessionStore {
    pub fn open(path: &Path) -> Result<SessionStore, AgentError> {
        SessionStore::open_with(path, fulcrum_tools::Durability::Disk)
    }

    pub fn open_with(
        path: &Path,
        durability: fulcrum_tools::Durability,
    ) -> Result<SessionStore, AgentError> {
        let connection = fulcrum_tools::open_state_database_with(path, durability)?;
        SessionStore::new(connection)
    }

    pub fn new(connection: Connection) -> Result<SessionStore, AgentError> {
        connection.execute_batch(
            "CREATE TABLE IF NOT EXISTS agent_sessions (
                id TEXT PRIMARY KEY,
                user TEXT NOT NULL,
                role TEXT NOT NULL,
                created_at TEXT NOT NULL
            );
            CREATE TABLE IF NOT EXISTS agent_messages (
                session_id TEXT NOT NULL REFERENCES agent_sessions(id),
                seq INTEGER NOT NULL,
                message TEXT NOT NULL,
                PRIMARY KEY (session_id, seq)
            );
            CREATE TABLE IF NOT EXISTS agent_key_events (
                session_id TEXT NOT NULL REFERENCES agent_sessions(id),
                seq INTEGER NOT NULL,
                turn INTEGER NOT NULL,
                text TEXT NOT NULL,
                PRIMARY KEY (session_id, seq)
            );
            CREATE TABLE IF NOT EXISTS agent_summaries (
                session_id TEXT PRIMARY KEY REFERENCES agent_sessions(id),
                through_turn INTEGER NOT NULL,
                text TEXT NOT NULL
            );
            CREATE TABLE IF NOT EXISTS agent_pending_calls (
                action_id TEXT PRIMARY KEY,
                session_id TEXT NOT NULL REFERENCES agent_sessions(id),
                call_id TEXT NOT NULL,
                tool TEXT NOT NULL
            );",
        )?;
        Ok(SessionStore {
            store: Store::Sqlite(Mutex::new(connection)),
        })
    }

    /// Sessions in PostgreSQL, shared by every instance connected to it.
    pub fn postgres(connection: PgConnection) -> Result<SessionStore, AgentError> {
        connection.migrate("agent_sessions", pg::MIGRATIONS)?;
        Ok(SessionStore {
            store: Store::Postgres(connection),
        })
    }

    /// The SQLite connection, or the PostgreSQL one as `Err`: each method's two stores.
    fn sqlite(&self) -> Result<std::sync::MutexGuard<'_, Connection>, &PgConnection> {
        match &self.store {
            Store::Sqlite(connection) => Ok(connection
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)),
            Store::Postgres(connection) => Err(connection),
        }
    }

    pub fn create(&self, owner: &Principal) -> Result<SessionInfo, AgentError> {
        let info = SessionInfo {
            id: format!("sess_{}", uuid::Uuid::new_v4().simple()),
            user: owner.user.clone(),
            role: owner.role.clone(),
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        };
        match self.sqlite() {
            Ok(connection) => connection.execute(
                "INSERT INTO agent_sessions (id, user, role, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![info.id, info.user, info.role, info.created_at],
            )?,
            Err(postgres) => return pg::create(postgres, info),
        };
        Ok(info)
    }

    /// The caller's sessions, newest first, at most `limit`.
    pub fn list_owned(
        &self,
        caller: &Principal,
        limit: usize,
    ) -> Result<Vec<SessionInfo>, AgentError> {
        let connection = match self.sqlite() {
            Ok(connection) => connection,
            Err(postgres) => return pg::list_owned(postgres, caller, limit),
        };
        let mut statement = connection.prepare(
            "SELECT id, user, role, created_at FROM agent_sessions WHERE user = ?1
             ORDER BY created_at DESC, rowid DESC LIMIT ?2",
        )?;
        let sessions = statement
            .query_map(
                params![caller.user, i64::try_from(limit).unwrap_or(i64::MAX)],
                read_session,
            )?
            .collect::<Result<_, _>>()?;
        Ok(sessions)
    }

    /// How many sessions `user` has.
    pub fn count_owned(&self, user: &str) -> Result<usize, AgentError> {
        let connection = match self.sqlite() {
            Ok(connection) => connection,
            Err(postgres) => return pg::count_owned(postgres, user),
        };
        let count: i64 = connection.query_row(
            "SELECT COUNT(*) FROM agent_sessions WHERE user = ?1",
            [user],
            |row| row.get(0),
        )?;
        Ok(usize::try_from(count).unwrap_or(0))
    }

    /// The session, if `caller` owns it.
    pub fn get_owned(&self, id: &str, caller: &Principal) -> Result<SessionInfo, AgentError> {
        let found = match self.sqlite() {
            Ok(connection) => connection
                .query_row(
                    "SELECT id, user, role, created_at FROM agent_sessions WHERE id = ?1",
                    [id],
                    read_session,
                )
                .optional()?,
            Err(postgres) => pg::get(postgres, id)?,
        };
        let info = found.ok_or_else(|| AgentError::UnknownSession(id.to_string()))?;
        if info.user != caller.user {
            return Err(AgentError::NotYourSession(id.to_string()));
        }
        Ok(info)
    }

    pub fn messages(&self, session_id: &str) -> Result<Vec<Message>, AgentError> {
        let rows: Vec<String> = match self.sqlite() {
            Ok(connection) => {
                let mut statement = connection.prepare(
                    "SELECT message FROM agent_messages WHERE session_id = ?1 ORDER BY seq",
                )?;
                let rows = statement
                    .query_map([session_id], |row| row.get(0))?
                    .collect::<Result<_, _>>()?;
                rows
            }
            Err(postgres) => pg::message_texts(postgres, session_id)?,
        };
        rows.iter()
            .map(|text| {
                serde_json::from_str(text).map_err(|err| {
                    AgentError::Store(format!(
                        "a stored message of {session_id} is unreadable: {err}"
                    ))
                })
            })
            .collect()
    }

    /// Appends messages (in one transaction) and records the calls they leave waiting.
    pub fn append(
        &self,
        session_id: &str,
        messages: &[Message],
        pending: &[PendingCall],
    ) -> Result<(), AgentError> {
        let connection = match self.sqlite() {
            Ok(connection) => connection,
            Err(postgres) => return pg::append(postgres, session_id, messages, pending),
        };
        // Immediate: the write lock is taken (or waited for, under the busy timeout) before the
        // read; a deferred transaction that reads and then writes fails at once with "database
        // is locked" when another connection to the state database (the audit log, the
        // actions) wrote in between.
        let transaction = rusqlite::Transaction::new_unchecked(
            &connection,
            rusqlite::TransactionBehavior::Immediate,
        )?;
        let next: i64 = transaction.query_row(
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM agent_messages WHERE session_id = ?1",
            [session_id],
            |row| row.get(0),
        )?;
        for (offset, message) in messages.iter().enumerate() {
            let text =
                serde_json::to_string(message).map_err(|err| AgentError::Store(err.to_string()))?;
            transaction.execute(
                "INSERT INTO agent_messages (session_id, seq, message) VALUES (?1, ?2, ?3)",
                params![session_id, next + offset as i64, text],
            )?;
        }
        for call in pending {
            transaction.execute(
                "INSERT INTO agent_pending_calls (action_id, session_id, call_id, tool)
                 VALUES (?1, ?2, ?3, ?4)",
                params![call.action_id, session_id, call.call_id, call.tool],
            )?;
        }
        transaction.commit()?;
        Ok(())
    }

    /// How many messages the session holds, and how many of them are the user's (its turns),
    /// without reading them.
    pub fn message_counts(&self, session_id: &str) -> Result<(usize, usize), AgentError> {
        let connection = match self.sqlite() {
            Ok(connection) => connection,
            Err(postgres) => return pg::message_counts(postgres, session_id),
        };
        let (all, user): (i64, i64) = connection.query_row(
            "SELECT COUNT(*), COALESCE(SUM(json_extract(message, '$.role') = 'user'), 0)
             FROM agent_messages WHERE session_id = ?1",
            [session_id],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        Ok((all.max(0) as usize, user.max(0) as usize))
    }

    /// Records what a turn's tool call did, for the session's mid-term memory.
    pub fn add_key_event(
        &self,
        session_id: &str,
        turn: usize,
        text: &str,
    ) -> Result<(), AgentError> {
        let connection = match self.sqlite() {
            Ok(connection) => connection,
            Err(postgres) => return pg::add_key_event(postgres, session_id, turn, text),
        };
        connection.execute(
            "INSERT INTO agent_key_events (session_id, seq, turn, text)
             SELECT ?1, COALESCE(MAX(seq), 0) + 1, ?2, ?3 FROM agent_key_events WHERE session_id = ?1",
            params![session_id, turn as i64, text],
        )?;
        Ok(())
    }

    /// The summary of the session's older turns and its key events, oldest first.
    pub fn memory(&self, session_id: &str) -> Result<SessionMemory, AgentError> {
        let connection = match self.sqlite() {
            Ok(connection) => connection,
            Err(postgres) => return pg::memory(postgres, session_id),
        };
        let summary: Option<(i64, String)> = connection
            .query_row(
                "SELECT through_turn, text FROM agent_summaries WHERE session_id = ?1",
                [session_id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        let mut statement = connection.prepare(
            "SELECT turn, text FROM agent_key_events WHERE session_id = ?1 ORDER BY seq",
        )?;
        let events = statement
            .query_map([session_id], |row| {
                Ok(KeyEvent {
                    turn: row.get::<_, i64>(0)?.max(0) as usize,
                    text: row.get(1)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        let (summarized_turns, summary) = match summary {
            Some((through, text)) => (through.max(0) as usize, Some(text)),
            None => (0, None),
        };
        Ok(SessionMemory {
            summary,
            summarized_turns,
            events,
        })
    }

    /// Replaces the summary with one that covers turns 1..=`through_turn`.
    pub fn set_summary(
        &self,
        session_id: &str,
        through_turn: usize,
        text: &str,
    ) -> Result<(), AgentError> {
        let connection = match self.sqlite() {
            Ok(connection) => connection,
            Err(postgres) => return pg::set_summary(postgres, session_id, through_turn, text),
        };
        connection.execute(
            "INSERT INTO agent_summaries (session_id, through_turn, text) VALUES (?1, ?2, ?3)
             ON CONFLICT (session_id) DO UPDATE SET through_turn = excluded.through_turn, text = excluded.text",
            params![session_id, through_turn as i64, text],
        )?;
        Ok(())
    }

    pub fn pending_calls(&self, session_id: &str) -> Result<Vec<PendingCall>, AgentError> {
        let connection = match self.sqlite() {
            Ok(connection) => connection,
            Err(postgres) => return pg::pending_calls(postgres, session_id),
        };
        let mut statement = connection.prepare(
            "SELECT action_id, call_id, tool FROM agent_pending_calls WHERE session_id = ?1
             ORDER BY rowid",
        )?;
        let calls = statement
            .query_map([session_id], |row| {
                Ok(PendingCall {
                    action_id: row.get(0)?,
                    call_id: row.get(1)?,
                    tool: row.get(2)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(calls)
    }

    /// The session a pending action belongs to.
    pub fn session_of_action(&self, action_id: &str) -> Result<Option<String>, AgentError> {
        let connection = match self.sqlite() {
            Ok(connection) => connection,
            Err(postgres) => return pg::session_of_action(postgres, action_id),
        };
        Ok(connection
            .query_row(
                "SELECT session_id FROM agent_pending_calls WHERE action_id = ?1",
                [action_id],
                |row| row.get(0),
            )
            .optional()?)
    }

    /// Writes the tool message that answers a pending call and forgets the call, together.
    pub fn resolve_pending(
        &self,
        session_id: &str,
        action_id: &str,
        message: &Message,
    ) -> Result<bool, AgentError> {
        let connection = match self.sqlite() {
            Ok(connection) => connection,
            Err(postgres) => return pg::resolve_pending(postgres, session_id, action_id, message),
        };
        let transaction = rusqlite::Transaction::new_unchecked(
            &connection,
            rusqlite::TransactionBehavior::Immediate,
        )?;
        let removed = transaction.execute(
            "DELETE FROM agent_pending_calls WHERE action_id = ?1 AND session_id = ?2",
            params![action_id, session_id],
        )?;
        if removed == 0 {
            return Ok(false);
        }
        let next: i64 = transaction.query_row(
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM agent_messages WHERE session_id = ?1",
            [session_id],
            |row| row.get(0),
        )?;
        let text =
            serde_json::to_string(message).map_err(|err| AgentError::Store(err.to_string()))?;
        transaction.execute(
            "INSERT INTO agent_messages (session_id, seq, message) VALUES (?1, ?2, ?3)",
            params![session_id, next, text],
        )?;
        transaction.commit()?;
        Ok(true)
    }
}
