//! Agent sessions in PostgreSQL, shared by several Fulcrum instances: the same tables and
//! meaning as the SQLite store (`session.rs`), so a session begun on one instance continues
//! on another.

use fulcrum_chat::Message;
use fulcrum_tools::{PgConnection, Principal};

use crate::error::AgentError;
use crate::session::{KeyEvent, PendingCall, SessionInfo, SessionMemory};

/// The session tables' migrations, in order (never edit one: add the next).
pub(crate) const MIGRATIONS: &[&str] = &["
CREATE TABLE agent_sessions (
    id TEXT PRIMARY KEY,
    \"user\" TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_order BIGSERIAL
);
CREATE INDEX agent_sessions_user ON agent_sessions (\"user\", created_at);
CREATE TABLE agent_messages (
    session_id TEXT NOT NULL REFERENCES agent_sessions(id),
    seq BIGINT NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY (session_id, seq)
);
CREATE TABLE agent_key_events (
    session_id TEXT NOT NULL REFERENCES agent_sessions(id),
    seq BIGINT NOT NULL,
    turn BIGINT NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (session_id, seq)
);
CREATE TABLE agent_summaries (
    session_id TEXT PRIMARY KEY REFERENCES agent_sessions(id),
    through_turn BIGINT NOT NULL,
    text TEXT NOT NULL
);
CREATE TABLE agent_pending_calls (
    action_id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES agent_sessions(id),
    call_id TEXT NOT NULL,
    tool TEXT NOT NULL,
    added_order BIGSERIAL
)"];

fn store_error(err: impl std::fmt::Display) -> AgentError {
    AgentError::Store(err.to_string())
}

fn session_info(row: &postgres::Row) -> Result<SessionInfo, postgres::Error> {
    Ok(SessionInfo {
        id: row.try_get(0)?,
        user: row.try_get(1)?,
        role: row.try_get(2)?,
        created_at: row.try_get(3)?,
    })
}

pub(crate) fn create(pg: &PgConnection, info: SessionInfo) -> Result<SessionInfo, AgentError> {
    pg.run(move |client| {
        client.execute(
            "INSERT INTO agent_sessions (id, \"user\", role, created_at) VALUES ($1, $2, $3, $4)",
            &[&info.id, &info.user, &info.role, &info.created_at],
        )?;
        Ok(info)
    })
    .map_err(AgentError::from)
}

pub(crate) fn list_owned(
    pg: &PgConnection,
    caller: &Principal,
    limit: usize,
) -> Result<Vec<SessionInfo>, AgentError> {
    let user = caller.user.clone();
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    Ok(pg.run(move |client| {
        client
            .query(
                "SELECT id, \"user\", role, created_at FROM agent_sessions WHERE \"user\" = $1
                 ORDER BY created_at DESC, created_order DESC LIMIT $2",
                &[&user, &limit],
            )?
            .iter()
            .map(session_info)
            .collect()
    })?)
}

pub(crate) fn count_owned(pg: &PgConnection, user: &str) -> Result<usize, AgentError> {
    let user = user.to_string();
    let count: i64 = pg.run(move |client| {
        client
            .query_one(
                "SELECT COUNT(*) FROM agent_sessions WHERE \"user\" = $1",
                &[&user],
            )?
            .try_get(0)
    })?;
    Ok(usize::try_from(count).unwrap_or(0))
}

pub(crate) fn get(pg: &PgConnection, id: &str) -> Result<Option<SessionInfo>, AgentError> {
    let id = id.to_string();
    Ok(pg.run(move |client| {
        client
            .query_opt(
                "SELECT id, \"user\", role, created_at FROM agent_sessions WHERE id = $1",
                &[&id],
            )?
            .map(|row| session_info(&row))
            .transpose()
    })?)
}

pub(crate) fn message_texts(
    pg: &PgConnection,
    session_id: &str,
) -> Result<Vec<String>, AgentError> {
    let id = session_id.to_string();
    Ok(pg.run(move |client| {
        client
            .query(
                "SELECT message FROM agent_messages WHERE session_id = $1 ORDER BY seq",
                &[&id],
            )?
            .iter()
            .map(|row| row.try_get(0))
            .collect()
    })?)
}

/// Inserts `texts` after the session's last message (the transaction holds the session's
/// row, so two instances appending to one session take turns).
fn insert_messages(
    transaction: &mut postgres::Transaction<'_>,
    session_id: &str,
    texts: &[String],
) -> Result<(), postgres::Error> {
    transaction.execute(
        "SELECT 1 FROM agent_sessions WHERE id = $1 FOR UPDATE",
        &[&session_id],
    )?;
    let next: i64 = transaction
        .query_one(
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM agent_messages WHERE session_id = $1",
            &[&session_id],
        )?
        .try_get(0)?;
    for (offset, text) in texts.iter().enumerate() {
        let seq = next + i64::try_from(offset).unwrap_or(i64::MAX);
        transaction.execute(
            "INSERT INTO agent_messages (session_id, seq, message) VALUES ($1, $2, $3)",
            &[&session_id, &seq, text],
        )?;
    }
    Ok(())
}

fn serialized(messages: &[Message]) -> Result<Vec<String>, AgentError> {
    messages
        .iter()
        .map(|m| serde_json::to_string(m).map_err(store_error))
        .collect()
}

pub(crate) fn append(
    pg: &PgConnection,
    session_id: &str,
    messages: &[Message],
    pending: &[PendingCall],
) -> Result<(), AgentError> {
    let texts = serialized(messages)?;
    let id = session_id.to_string();
    let pending = pending.to_vec();
    Ok(pg.run(move |client| {
        let mut transaction = client.transaction()?;
        insert_messages(&mut transaction, &id, &texts)?;
        for call in &pending {
            transaction.execute(
                "INSERT INTO agent_pending_calls (action_id, session_id, call_id, tool)
                 VALUES ($1, $2, $3, $4)",
                &[&call.action_id, &id, &call.call_id, &call.tool],
            )?;
        }
        transaction.commit()
    })?)
}

pub(crate) fn message_counts(
    pg: &PgConnection,
    session_id: &str,
) -> Result<(usize, usize), AgentError> {
    let id = session_id.to_string();
    let (all, user): (i64, i64) = pg.run(move |client| {
        let row = client.query_one(
            "SELECT COUNT(*), COUNT(*) FILTER (WHERE message::jsonb ->> 'role' = 'user')
             FROM agent_messages WHERE session_id = $1",
            &[&id],
        )?;
        Ok((row.try_get(0)?, row.try_get(1)?))
    })?;
    Ok((
        usize::try_from(all).unwrap_or(0),
        usize::try_from(user).unwrap_or(0),
    ))
}

pub(crate) fn add_key_event(
    pg: &PgConnection,
    session_id: &str,
    turn: usize,
    text: &str,
) -> Result<(), AgentError> {
    let (id, text) = (session_id.to_string(), text.to_string());
    let turn = i64::try_from(turn).unwrap_or(i64::MAX);
    pg.run(move |client| {
        let mut transaction = client.transaction()?;
        transaction.execute(
            "SELECT 1 FROM agent_sessions WHERE id = $1 FOR UPDATE",
            &[&id],
        )?;
        transaction.execute(
            "INSERT INTO agent_key_events (session_id, seq, turn, text)
             SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3 FROM agent_key_events WHERE session_id = $1",
            &[&id, &turn, &text],
        )?;
        transaction.commit()
    })?;
    Ok(())
}

pub(crate) fn memory(pg: &PgConnection, session_id: &str) -> Result<SessionMemory, AgentError> {
    let id = session_id.to_string();
    Ok(pg.run(move |client| {
        let summary = client
            .query_opt(
                "SELECT through_turn, text FROM agent_summaries WHERE session_id = $1",
                &[&id],
            )?
            .map(|row| -> Result<(i64, String), postgres::Error> {
                Ok((row.try_get(0)?, row.try_get(1)?))
            })
            .transpose()?;
        let events = client
            .query(
                "SELECT turn, text FROM agent_key_events WHERE session_id = $1 ORDER BY seq",
                &[&id],
            )?
            .iter()
            .map(|row| {
                Ok(KeyEvent {
                    turn: usize::try_from(row.try_get::<_, i64>(0)?).unwrap_or(0),
                    text: row.try_get(1)?,
                })
            })
            .collect::<Result<_, postgres::Error>>()?;
        let (summarized_turns, summary) = match summary {
            Some((through, text)) => (usize::try_from(through).unwrap_or(0), Some(text)),
            None => (0, None),
        };
        Ok(SessionMemory {
            summary,
            summarized_turns,
            events,
        })
    })?)
}

pub(crate) fn set_summary(
    pg: &PgConnection,
    session_id: &str,
    through_turn: usize,
    text: &str,
) -> Result<(), AgentError> {
    let (id, text) = (session_id.to_string(), text.to_string());
    let through = i64::try_from(through_turn).unwrap_or(i64::MAX);
    pg.run(move |client| {
        client.execute(
            "INSERT INTO agent_summaries (session_id, through_turn, text) VALUES ($1, $2, $3)
             ON CONFLICT (session_id) DO UPDATE SET through_turn = excluded.through_turn, text = excluded.text",
            &[&id, &through, &text],
        )
    })?;
    Ok(())
}

pub(crate) fn pending_calls(
    pg: &PgConnection,
    session_id: &str,
) -> Result<Vec<PendingCall>, AgentError> {
    let id = session_id.to_string();
    Ok(pg.run(move |client| {
        client
            .query(
                "SELECT action_id, call_id, tool FROM agent_pending_calls WHERE session_id = $1
                 ORDER BY added_order",
                &[&id],
            )?
            .iter()
            .map(|row| {
                Ok(PendingCall {
                    action_id: row.try_get(0)?,
                    call_id: row.try_get(1)?,
                    tool: row.try_get(2)?,
                })
            })
            .collect()
    })?)
}

pub(crate) fn session_of_action(
    pg: &PgConnection,
    action_id: &str,
) -> Result<Option<String>, AgentError> {
    let id = action_id.to_string();
    Ok(pg.run(move |client| {
        client
            .query_opt(
                "SELECT session_id FROM agent_pending_calls WHERE action_id = $1",
                &[&id],
            )?
            .map(|row| row.try_get(0))
            .transpose()
    })?)
}

pub(crate) fn resolve_pending(
    pg: &PgConnection,
    session_id: &str,
    action_id: &str,
    message: &Message,
) -> Result<bool, AgentError> {
    let texts = serialized(std::slice::from_ref(message))?;
    let (session, action) = (session_id.to_string(), action_id.to_string());
    Ok(pg.run(move |client| {
        let mut transaction = client.transaction()?;
        let removed = transaction.execute(
            "DELETE FROM agent_pending_calls WHERE action_id = $1 AND session_id = $2",
            &[&action, &session],
        )?;
        if removed == 0 {
            return Ok(false);
        }
        insert_messages(&mut transaction, &session, &texts)?;
        transaction.commit()?;
        Ok(true)
    })?)
}
