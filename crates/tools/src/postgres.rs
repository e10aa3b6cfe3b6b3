//! Fulcrum's state in PostgreSQL, shared by several instances: a connection owned by a thread
//! of its own, and versioned migrations applied once whichever instance starts first.
//!
//! `postgres`' blocking client drives its own runtime on the calling thread, which must not be
//! an async runtime's worker. So the client lives on a dedicated thread and callers hand it
//! work and wait for the answer, from anywhere (async tasks included, as they call SQLite).

use std::sync::mpsc;

use crate::error::ToolsError;

type Job = Box<dyn FnOnce(&mut postgres::Client) + Send>;

/// One PostgreSQL connection on its own thread.
pub struct PgConnection {
    jobs: mpsc::Sender<Job>,
}

/// The advisory-lock key of migrations (any constant shared by every instance).
const MIGRATION_LOCK: i64 = 0x66_75_6c_63_72_75_6d; // "fulcrum"

impl PgConnection {
    /// Connects to `url` (`postgres://user@host:port/database`); the connection's thread
    /// ends when this is dropped.
    pub fn connect(url: &str) -> Result<Self, ToolsError> {
        let mut config: postgres::Config = url.parse().map_err(|err| {
            ToolsError::Database(format!("`state_url` is not a PostgreSQL URL: {err}"))
        })?;
        // As libpq does: the password from the environment, so it stays out of the URL.
        if config.get_password().is_none() {
            if let Ok(password) = std::env::var("PGPASSWORD") {
                config.password(password);
            }
        }
        let (jobs, inbox) = mpsc::channel::<Job>();
        let (ready, connected) = mpsc::channel();
        std::thread::Builder::new()
            .name("fulcrum-postgres".into())
            .spawn(move || {
                let mut client = match config.connect(postgres::NoTls) {
                    Ok(client) => {
                        let _ = ready.send(Ok(()));
                        client
                    }
                    Err(err) => {
                        let _ = ready.send(Err(err.to_string()));
                        return;
                    }
                };
                while let Ok(job) = inbox.recv() {
                    job(&mut client);
                }
            })
            .map_err(|err| ToolsError::Database(format!("cannot start a thread: {err}")))?;
        connected
            .recv()
            .map_err(|_| ToolsError::Database("the PostgreSQL thread died".into()))?
            .map_err(|err| {
                ToolsError::Database(format!(
                    "cannot connect to PostgreSQL at `state_url`: {err}"
                ))
            })?;
        Ok(PgConnection { jobs })
    }

    /// Runs `work` with the client and returns its result.
    pub fn run<R: Send + 'static>(
        &self,
        work: impl FnOnce(&mut postgres::Client) -> Result<R, postgres::Error> + Send + 'static,
    ) -> Result<R, ToolsError> {
        let (answer, result) = mpsc::channel();
        let job: Job = Box::new(move |client| {
            let _ = answer.send(work(client));
        });
        self.jobs
            .send(job)
            .map_err(|_| ToolsError::Database("the PostgreSQL connection is closed".into()))?;
        result
            .recv()
            .map_err(|_| ToolsError::Database("the PostgreSQL thread died".into()))?
            .map_err(|err| ToolsError::Database(format!("PostgreSQL: {err}")))
    }

    /// Applies the migrations of `table_set` not yet applied, in order, each in a transaction
    /// that holds the migrations' advisory lock (instances starting together apply each once).
    pub fn migrate(
        &self,
        table_set: &'static str,
        migrations: &'static [&'static str],
    ) -> Result<(), ToolsError> {
        self.run(move |client| {
            client.batch_execute(
                "CREATE TABLE IF NOT EXISTS fulcrum_migrations (
                    table_set TEXT NOT NULL,
                    version INTEGER NOT NULL,
                    applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
                    PRIMARY KEY (table_set, version)
                )",
            )?;
            for (index, sql) in migrations.iter().enumerate() {
                let version = i32::try_from(index + 1).unwrap_or(i32::MAX);
                let mut transaction = client.transaction()?;
                transaction.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
                let applied = transaction
                    .query_opt(
                        "SELECT 1 FROM fulcrum_migrations WHERE table_set = $1 AND version = $2",
                        &[&table_set, &version],
                    )?
                    .is_some();
                if !applied {
                    transaction.batch_execute(sql)?;
                    transaction.execute(
                        "INSERT INTO fulcrum_migrations (table_set, version) VALUES ($1, $2)",
                        &[&table_set, &version],
                    )?;
                }
                transaction.commit()?;
            }
            Ok(())
        })
    }
}
