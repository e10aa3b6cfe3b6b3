//! `fulcrum ingest PATH --collection NAME`: adds documents (a file, or every supported file
//! under a folder) to a collection of the knowledge database, for retrieval.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use fulcrum_retrieval::{ChunkLimits, IngestOutcome, KnowledgeStore};

use crate::config::Config;

#[derive(Debug, clap::Args)]
pub struct IngestArgs {
    /// A file, or a folder whose Markdown and text files are all ingested
    path: PathBuf,
    /// The collection the documents join (letters, digits, `-`, `_`)
    #[arg(long)]
    collection: String,
}

#[derive(Debug, clap::Args)]
pub struct SearchArgs {
    /// What to look for
    query: String,
    /// The collection to search
    #[arg(long)]
    collection: String,
    /// Chunks to show
    #[arg(long, default_value_t = 5)]
    limit: usize,
}

const SUPPORTED: [&str; 3] = ["md", "markdown", "txt"];

/// `fulcrum search QUERY --collection NAME`: the best-matching chunks, with their sources.
pub fn search(config: &Config, args: &SearchArgs) -> Result<()> {
    let database = config.home_dir().join("knowledge.db");
    if !database.is_file() {
        bail!(
            "no knowledge database at {}: run `fulcrum ingest` first",
            database.display()
        );
    }
    let store = KnowledgeStore::open(&database)?;
    let hits = store.search(&args.collection, &args.query, args.limit)?;
    if hits.is_empty() {
        eprintln!("search: nothing in `{}` matches", args.collection);
    }
    for hit in hits {
        println!(
            "[{:.2}] {} — {}\n{}\n",
            hit.score, hit.source, hit.heading, hit.text
        );
    }
    Ok(())
}

pub fn run(config: &Config, args: &IngestArgs) -> Result<()> {
    let files = files_under(&args.path)?;
    if files.is_empty() {
        bail!(
            "no Markdown or text file at {} (supported: .{})",
            args.path.display(),
            SUPPORTED.join(", .")
        );
    }
    let database = config.home_dir().join("knowledge.db");
    std::fs::create_dir_all(config.home_dir())
        .with_context(|| format!("cannot create {}", config.home_dir().display()))?;
    let mut store = KnowledgeStore::open(&database)?;
    let started = Instant::now();
    let mut total = 0usize;
    for file in &files {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {} as UTF-8 text", file.display()))?;
        let source = file.display().to_string();
        let outcome = store.ingest(&args.collection, &source, &text, ChunkLimits::default())?;
        let said = match outcome {
            IngestOutcome::Added { chunks } => {
                total += chunks;
                format!("added, {chunks} chunks")
            }
            IngestOutcome::Replaced { chunks } => {
                total += chunks;
                format!("changed: replaced by {chunks} chunks")
            }
            IngestOutcome::Unchanged => "unchanged".into(),
        };
        eprintln!("ingest: {source}: {said}");
    }
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "ingest: {} files, {total} chunks in {:.1} ms ({:.0} chunks/s) into `{}` ({})",
        files.len(),
        seconds * 1000.0,
        total as f64 / seconds.max(1e-9),
        args.collection,
        database.display()
    );
    Ok(())
}

fn files_under(path: &Path) -> Result<Vec<PathBuf>> {
    if path.is_file() {
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_lowercase)
            .unwrap_or_default();
        if !SUPPORTED.contains(&extension.as_str()) {
            bail!(
                "{} is not a Markdown or text file (supported: .{}; PDF and DOCX are not yet)",
                path.display(),
                SUPPORTED.join(", .")
            );
        }
        return Ok(vec![path.to_path_buf()]);
    }
    if !path.is_dir() {
        bail!("{} does not exist", path.display());
    }
    let mut files = Vec::new();
    let mut folders = vec![path.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder)
            .with_context(|| format!("cannot list {}", folder.display()))?
        {
            let entry = entry.with_context(|| format!("cannot list {}", folder.display()))?;
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
            } else if path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| SUPPORTED.contains(&e.to_lowercase().as_str()))
            {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}
