//! `fulcrum audit verify` and `fulcrum audit export`: check the hash chain, or write it out.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use crate::config::Config;
use crate::governance::open_audit;

#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Check every row's hash and its link to the row before; names the first bad row
    Verify,
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
    if !path.is_file() {
        bail!(
            "no state database at {}: start the server once, or set `state_db`",
            path.display()
        );
    }
    let audit = open_audit(config)?;
    match command {
        AuditCommand::Verify => {
            let report = audit.verify()?;
            if let Some((seq, reason)) = report.first_bad {
                bail!(
                    "the audit log in {} is broken at row {seq}: {reason} ({} rows)",
                    path.display(),
                    report.rows
                );
            }
            println!(
                "audit log OK: {} rows, head row {} with hash {}\n(record the head elsewhere: a chain alone cannot show rows cut from its end)",
                report.rows, report.head_seq, report.head_hash
            );
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
