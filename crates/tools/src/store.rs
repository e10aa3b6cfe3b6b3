//! The state database (audit log, pending actions): one SQLite file, opened for durability.

use std::path::Path;

use rusqlite::Connection;

use crate::error::ToolsError;

/// How far a committed write of the state database (an audit row, a pending action) is safe.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Durability {
    /// On disk before the commit returns (`synchronous = FULL`): survives a power loss. Costs
    /// an fsync per commit (about 2 ms on the development machine's disk).
    #[default]
    Disk,
    /// In the operating system before the commit returns (WAL, `synchronous = NORMAL`):
    /// survives a crash or `kill -9` of Fulcrum, not one of the machine.
    Process,
}

/// Opens (creating if needed) the SQLite file that holds Fulcrum's state, with writes durable
/// to the disk. The audit invariant ("the decision is committed before the tool runs") holds
/// at either [`Durability`]; it is what "committed" survives that differs.
pub fn open_state_database(path: &Path) -> Result<Connection, ToolsError> {
    open_state_database_with(path, Durability::Disk)
}

pub fn open_state_database_with(
    path: &Path,
    durability: Durability,
) -> Result<Connection, ToolsError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|err| {
            ToolsError::Database(format!("cannot create {}: {err}", parent.display()))
        })?;
    }
    let connection = Connection::open(path)
        .map_err(|err| ToolsError::Database(format!("cannot open {}: {err}", path.display())))?;
    configure(&connection, durability)?;
    Ok(connection)
}

fn configure(connection: &Connection, durability: Durability) -> Result<(), ToolsError> {
    connection.pragma_update(None, "journal_mode", "WAL")?;
    let synchronous = match durability {
        Durability::Disk => "FULL",
        Durability::Process => "NORMAL",
    };
    connection.pragma_update(None, "synchronous", synchronous)?;
    connection.pragma_update(None, "foreign_keys", "ON")?;
    connection.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(())
}
