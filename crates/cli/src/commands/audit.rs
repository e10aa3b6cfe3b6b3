//! `fulcrum audit verify` and `fulcrum audit export`: check the hash chain, or write it out.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use fulcrum_tools::{read_checkpoints, AnchorCheck};

use crate::config::Config;
use crate::governance::open_audit;

#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Check every row's hash and its link to the row before, and the log against its
    /// checkpoints; names the first bad row
    Verify {
        /// Checkpoints to check against [default: the configured `audit_checkpoints` file,
        /// when it exists]. Signed ones need the key (`$FULCRUM_AUDIT_KEY` or `audit_key_file`)
        #[arg(long)]
        checkpoints: Option<PathBuf>,
        /// A head hash recorded earlier (printed by a previous verify): some row must have it
        #[arg(long)]
        expect_head: Option<String>,
    },
    /// Write a checkpoint of the log's head now (e.g. before a backup, or from cron)
    Checkpoint,
    /// Write every row out
    Export {
        /// Output format
        #[arg(long, default_value = "jsonl", value_parser = ["jsonl"])]
        format: String,
        /// File to write [default: standard output]
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

pub fn run(config: &Config, command: AuditCommand) -> Result<()> {
    let path = config.state_db_path();
    if config.state_url.is_none() && !path.is_file() {
        bail!(
            "no state database at {}: start the server once, or set `state_db`",
            path.display()
        );
    }
    let audit = open_audit(config)?;
    let place = crate::governance::state_description(config);
    match command {
        AuditCommand::Verify {
            checkpoints,
            expect_head,
        } => {
            let key = config.audit_key()?;
            let file = checkpoints.or_else(|| {
                let configured = config.audit_checkpoints_path();
                configured.is_file().then_some(configured)
            });
            let recorded = match &file {
                Some(file) => read_checkpoints(file)?,
                None => Vec::new(),
            };
            let report = audit.verify_anchored(&AnchorCheck {
                checkpoints: &recorded,
                key: key.as_ref(),
                expect_head: expect_head.as_deref(),
            })?;
            if let Some((seq, reason)) = report.first_bad {
                bail!(
                    "the audit log in {place} is broken at row {seq}: {reason} ({} rows)",
                    report.rows
                );
            }
            if let Some(problem) = report.anchor_problem {
                bail!("the audit log in {place} does not match its anchors: {problem}");
            }
            let anchored = match &file {
                Some(file) => format!(
                    "{} checkpoints in {} ({})",
                    recorded.len(),
                    file.display(),
                    if key.is_some() { "signatures checked" } else { "unsigned" }
                ),
                None => "no checkpoints: record the head elsewhere, a chain alone cannot show rows cut from its end".into(),
            };
            println!(
                "audit log OK: {} rows, head row {} with hash {}\n{anchored}",
                report.rows, report.head_seq, report.head_hash
            );
            Ok(())
        }
        AuditCommand::Checkpoint => {
            let anchor = crate::governance::audit_anchor(config)?;
            match audit.checkpoint_now(&anchor)? {
                Some(point) => println!(
                    "checkpoint of row {} ({}) written to {}{}",
                    point.seq,
                    point.hash,
                    anchor.path().display(),
                    if anchor.is_signed() {
                        ", signed"
                    } else {
                        ", unsigned"
                    }
                ),
                None => println!("the audit log is empty: nothing to checkpoint"),
            }
            Ok(())
        }
        AuditCommand::Export { out, .. } => {
            let written = match &out {
                Some(file) => {
                    let partial = file.with_extension("partial");
                    let mut writer = std::io::BufWriter::new(
                        std::fs::File::create(&partial)
                            .with_context(|| format!("cannot create {}", partial.display()))?,
                    );
                    let written = audit.export_jsonl(&mut writer)?;
                    writer.flush().context("cannot write the export")?;
                    drop(writer);
                    std::fs::rename(&partial, file)
                        .with_context(|| format!("cannot write {}", file.display()))?;
                    written
                }
                None => {
                    let stdout = std::io::stdout();
                    let mut lock = stdout.lock();
                    audit.export_jsonl(&mut lock)?
                }
            };
            eprintln!("exported {written} rows");
            Ok(())
        }
    }
}
