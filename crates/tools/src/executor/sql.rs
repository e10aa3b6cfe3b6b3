//! The `sql` executor: one named statement per tool, arguments bound as parameters (never
//! spliced into the SQL), queries on read-only connections.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Connection, OpenFlags};
use serde_json::{json, Map, Value};

use crate::config::SqlMode;
use crate::error::ToolsError;
use crate::template::fill_template;

/// The `:name` parameters of a statement, in order of first use (string literals, quoted
/// identifiers and comments are skipped).
pub fn statement_parameters(statement: &str) -> Vec<&str> {
    let bytes = statement.as_bytes();
    let mut names: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            quote @ (b'\'' | b'"' | b'`') => {
                i += 1;
                while i < bytes.len() && bytes[i] != quote {
                    i += 1;
                }
                i += 1;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b':' => {
                let start = i + 1;
                let mut end = start;
                while end < bytes.len()
                    && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_')
                {
                    end += 1;
                }
                if end > start {
                    let name = &statement[start..end];
                    if !names.contains(&name) {
                        names.push(name);
                    }
                }
                i = end.max(i + 1);
            }
            _ => i += 1,
        }
    }
    names
}

pub(crate) struct SqlCall {
    pub tool: String,
    pub path: PathBuf,
    pub statement: String,
    pub mode: SqlMode,
    pub max_rows: usize,
    /// The error of a write that changes no row.
    pub no_rows: String,
    /// Columns summed over every matched row (see `ExecutorConfig::Sql::totals`).
    pub totals: Vec<String>,
    pub arguments: Value,
    pub caller: crate::identity::Principal,
    pub timeout: Duration,
}

/// Parameters bound from the caller, not from the model's arguments: a statement can use
/// them to act as (or only on rows of) the user, and the model cannot change them.
pub const CALLER_PARAMETERS: [&str; 2] = ["caller_user", "caller_role"];

/// The error a write that changed no row reports: the tool's own words, or a general one.
pub(crate) fn no_rows_message(configured: Option<&str>, arguments: &Value) -> String {
    match configured {
        Some(template) => fill_template(template, arguments, str::to_string),
        None => "no row matched these arguments: nothing was changed".into(),
    }
}

/// How long a statement interrupted at its deadline may take to give up before its outcome
/// is reported without it.
pub(crate) const INTERRUPT_GRACE: Duration = Duration::from_secs(5);

pub(crate) async fn run(call: SqlCall) -> Result<Value, ToolsError> {
    let failed = {
        let tool = call.tool.clone();
        move |reason: String| ToolsError::Execution {
            tool: tool.clone(),
            reason,
        }
    };
    let flags = match call.mode {
        SqlMode::Read => OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        SqlMode::Write => OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    };
    let connection = Connection::open_with_flags(&call.path, flags)
        .map_err(|err| failed(format!("cannot open {}: {err}", call.path.display())))?;
    // A statement still running at the deadline is interrupted, not left to finish unseen,
    // and a write past it is rolled back rather than committed after the caller gave up.
    let abandoned = Arc::new(AtomicBool::new(false));
    let mut interrupt = InterruptOnDrop {
        handle: connection.get_interrupt_handle(),
        abandoned: Arc::clone(&abandoned),
        armed: true,
    };
    let timeout = call.timeout;
    let worker_abandoned = Arc::clone(&abandoned);
    let mut task = tokio::task::spawn_blocking(move || match call.mode {
        SqlMode::Read => execute(&connection, &call),
        SqlMode::Write => execute_write(&connection, &call, &worker_abandoned),
    });
    let joined = match tokio::time::timeout(timeout, &mut task).await {
        Ok(joined) => joined,
        Err(_) => {
            interrupt.fire();
            // The statement's own outcome decides: a write that committed just before the
            // deadline did take effect, and says so; anything else was rolled back.
            match tokio::time::timeout(INTERRUPT_GRACE, task).await {
                Ok(Ok(Ok(value))) => return Ok(value),
                _ => {
                    return Err(failed(
                        "interrupted at the tool's timeout; nothing was changed".into(),
                    ))
                }
            }
        }
    };
    interrupt.armed = false;
    match joined {
        Ok(result) => result.map_err(failed),
        Err(err) => Err(failed(format!("the statement's task failed: {err}"))),
    }
}

/// Stops the statement when its caller stops waiting: at the deadline, or when the caller's
/// future is dropped (a cancelled request), so no write commits after nobody awaits it.
struct InterruptOnDrop {
    handle: rusqlite::InterruptHandle,
    abandoned: Arc<AtomicBool>,
    armed: bool,
}

impl InterruptOnDrop {
    fn fire(&mut self) {
        self.abandoned.store(true, Ordering::SeqCst);
        self.handle.interrupt();
        self.armed = false;
    }
}

impl Drop for InterruptOnDrop {
    fn drop(&mut self) {
        if self.armed {
            self.fire();
        }
    }
}

/// A write in its own transaction: committed only when it changed a row and its caller still
/// waits for it.
fn execute_write(
    connection: &Connection,
    call: &SqlCall,
    abandoned: &AtomicBool,
) -> Result<Value, String> {
    connection
        .busy_timeout(call.timeout)
        .map_err(|err| err.to_string())?;
    connection
        .execute_batch("BEGIN IMMEDIATE")
        .map_err(|err| format!("cannot begin the write: {err}"))?;
    let outcome = execute(connection, call).and_then(|value| {
        if value.get("rows_affected").and_then(Value::as_u64) == Some(0) {
            return Err(call.no_rows.clone());
        }
        if abandoned.load(Ordering::SeqCst) {
            return Err("interrupted at the tool's timeout; nothing was changed".into());
        }
        Ok(value)
    });
    let end = if outcome.is_ok() {
        "COMMIT"
    } else {
        "ROLLBACK"
    };
    match connection.execute_batch(end) {
        Ok(()) => outcome,
        Err(err) if outcome.is_ok() => Err(format!("the write did not commit: {err}")),
        // The error that made us roll back says more than the rollback's own.
        Err(_) => outcome,
    }
}

fn execute(connection: &Connection, call: &SqlCall) -> Result<Value, String> {
    if call.mode == SqlMode::Read {
        connection
            .pragma_update(None, "query_only", "ON")
            .map_err(|err| err.to_string())?;
    }
    connection
        .busy_timeout(call.timeout)
        .map_err(|err| err.to_string())?;
    let mut statement = connection
        .prepare(&call.statement)
        .map_err(|err| format!("the statement does not prepare: {err}"))?;
    if call.mode == SqlMode::Read && !statement.readonly() {
        return Err("a read tool's statement writes; set `mode = \"write\"` if it must".into());
    }
    for name in statement_parameters(&call.statement) {
        let Some(index) = statement
            .parameter_index(&format!(":{name}"))
            .map_err(|err| err.to_string())?
        else {
            continue;
        };
        let value = match name {
            "caller_user" => SqlValue::Text(call.caller.user.clone()),
            "caller_role" => SqlValue::Text(call.caller.role.clone()),
            _ => to_sql(call.arguments.get(name).unwrap_or(&Value::Null)),
        };
        statement
            .raw_bind_parameter(index, value)
            .map_err(|err| err.to_string())?;
    }
    if statement.column_count() == 0 {
        let changed = statement.raw_execute().map_err(|err| err.to_string())?;
        return Ok(json!({"rows_affected": changed}));
    }
    let columns: Vec<String> = statement
        .column_names()
        .into_iter()
        .map(str::to_string)
        .collect();
    let mut totals = ColumnTotals::new(&call.totals, &columns)?;
    let mut rows = statement.raw_query();
    let mut out = Vec::new();
    let mut more = false;
    while let Some(row) = rows.next().map_err(|err| err.to_string())? {
        totals.add(row)?;
        if out.len() == call.max_rows {
            more = true;
            if totals.is_empty() {
                break;
            }
            continue;
        }
        let mut object = Map::with_capacity(columns.len());
        for (index, column) in columns.iter().enumerate() {
            let value = row.get_ref(index).map_err(|err| err.to_string())?;
            object.insert(column.clone(), from_sql(value));
        }
        out.push(Value::Object(object));
    }
    let mut result = Map::new();
    if !totals.is_empty() {
        result.insert("totals".into(), totals.finish());
    }
    result.insert("rows".into(), Value::Array(out));
    if more {
        result.insert("more_rows".into(), json!(true));
    }
    Ok(Value::Object(result))
}

/// The running sums of a read's `totals` columns.
struct ColumnTotals {
    /// Each summed column's index in the result, name and sum so far.
    columns: Vec<(usize, String, ColumnSum)>,
}

/// A column's sum: exact while every value is an integer, else a float rounded at the end to
/// the most decimals any value was written with (so that 0.1 + 0.2 reads 0.3).
#[derive(Default)]
struct ColumnSum {
    integer: i128,
    real: f64,
    any_real: bool,
    decimals: usize,
}

/// Decimals kept at most when rounding a sum of floats.
const MAX_TOTAL_DECIMALS: usize = 6;

impl ColumnTotals {
    fn new(names: &[String], columns: &[String]) -> Result<Self, String> {
        let columns = names
            .iter()
            .map(|name| {
                let index = columns
                    .iter()
                    .position(|column| column == name)
                    .ok_or_else(|| {
                        format!(
                            "`totals` names column `{name}`, which the statement does not return \
                         (it returns {})",
                            columns.join(", ")
                        )
                    })?;
                Ok((index, name.clone(), ColumnSum::default()))
            })
            .collect::<Result<_, String>>()?;
        Ok(ColumnTotals { columns })
    }

    fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    fn add(&mut self, row: &rusqlite::Row<'_>) -> Result<(), String> {
        for (index, name, sum) in &mut self.columns {
            match row.get_ref(*index).map_err(|err| err.to_string())? {
                ValueRef::Null => {}
                ValueRef::Integer(value) => sum.integer += i128::from(value),
                ValueRef::Real(value) => {
                    sum.any_real = true;
                    sum.real += value;
                    sum.decimals = sum.decimals.max(decimals_written(value));
                }
                ValueRef::Text(_) | ValueRef::Blob(_) => {
                    return Err(format!(
                        "`totals` column `{name}` holds a value that is not a number"
                    ))
                }
            }
        }
        Ok(())
    }

    fn finish(self) -> Value {
        let mut totals = Map::new();
        for (_, name, sum) in self.columns {
            let value = if sum.any_real {
                let total = sum.real + sum.integer as f64;
                let scale = 10f64.powi(sum.decimals.min(MAX_TOTAL_DECIMALS) as i32);
                json!((total * scale).round() / scale)
            } else {
                i64::try_from(sum.integer).map_or_else(|_| json!(sum.integer as f64), |i| json!(i))
            };
            totals.insert(name, value);
        }
        Value::Object(totals)
    }
}

/// How many decimals the shortest form of `value` has (`12.5` has one).
fn decimals_written(value: f64) -> usize {
    let written = json!(value).to_string();
    match written.split_once('.') {
        Some((_, fraction)) if !fraction.contains(['e', 'E']) => fraction.len(),
        _ => 0,
    }
}

fn to_sql(value: &Value) -> SqlValue {
    match value {
        Value::Null => SqlValue::Null,
        Value::Bool(b) => SqlValue::Integer(i64::from(*b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => SqlValue::Integer(i),
            None => SqlValue::Real(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => SqlValue::Text(s.clone()),
        other => SqlValue::Text(other.to_string()),
    }
}

fn from_sql(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => json!(i),
        ValueRef::Real(f) => json!(f),
        ValueRef::Text(t) => json!(String::from_utf8_lossy(t)),
        ValueRef::Blob(b) => json!(format!("<{} bytes>", b.len())),
    }
}

#[cfg(test)]
mod tests {
    use super::statement_parameters;

    #[test]
    fn parameters_skip_literals_and_comments() {
        let statement =
            "SELECT ':not', \"a:b\" FROM t -- :comment\nWHERE a = :a AND b = :b OR c = :a";
        assert_eq!(statement_parameters(statement), vec!["a", "b"]);
    }
}
