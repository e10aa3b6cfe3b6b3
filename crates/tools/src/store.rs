//! The state database (audit log, pending actions): one SQLite file, opened for durability.

use std::path::Path;

use rusqlite::Connection;

use crate::error::ToolsError;

/// Opens (creating if needed) the SQLite file that holds Fulcrum's state.
///
/// WAL with `synchronous = FULL` makes every committed transaction durable before `commit`
/// returns, which the audit invariant ("the decision is on disk before the tool runs") needs.
pub fn open_state_database(path: &Path) -> Result<Connection, ToolsError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|err| {
            ToolsError::Database(format!("cannot create {}: {err}", parent.display()))
        })?;
    }
    let connection = Connection::open(path)
        .map_err(|err| ToolsError::Database(format!("cannot open {}: {err}", path.display())))?;
    configure(&connection)?;
    Ok(connection)
}

pub(crate) fn configure(connection: &Connection) -> Result<(), ToolsError> {
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection.pragma_update(None, "foreign_keys", "ON")?;
    connection.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(())
}
