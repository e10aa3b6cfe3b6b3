//! `fulcrum ingest PATH --collection NAME`: adds documents (a file, or every supported file
//! under a folder) to a collection of the knowledge database, for retrieval: words for BM25 and
//! embeddings for dense search.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use fulcrum_retrieval::{
    extract_text, is_supported, ChunkLimits, IngestOutcome, KnowledgeStore, SearchMode,
    SUPPORTED_EXTENSIONS,
};

use crate::config::Config;
use crate::model_source::load_embedder;

#[derive(Debug, clap::Args)]
pub struct IngestArgs {
    /// A file, or a folder whose Markdown and text files are all ingested
    path: PathBuf,
    /// The collection the documents join (letters, digits, `-`, `_`)
    #[arg(long)]
    collection: String,
    /// Limit the collection to these roles (comma-separated; replaces an earlier list).
    /// The search tool refuses other roles. `--roles ''` opens it to every role again.
    #[arg(long, value_delimiter = ',')]
    roles: Option<Vec<String>>,
    /// Index words only (no embeddings: no dense or hybrid search over these documents)
    #[arg(long)]
    no_embeddings: bool,
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
    /// How to rank: bm25 (words), dense (embeddings) or hybrid (both, fused by rank)
    #[arg(long, default_value = "hybrid", value_parser = parse_mode)]
    mode: SearchMode,
}

fn parse_mode(text: &str) -> Result<SearchMode, String> {
    SearchMode::parse(text).ok_or_else(|| format!("`{text}` is not bm25, dense or hybrid"))
}

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
    let embedder = match args.mode {
        SearchMode::Bm25 => None,
        SearchMode::Dense | SearchMode::Hybrid => Some(load_embedder(config)?),
    };
    let hits = store.search(
        &args.collection,
        &args.query,
        args.limit,
        args.mode,
        embedder.as_ref(),
    )?;
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
            "no document at {} (supported: .{})",
            args.path.display(),
            SUPPORTED_EXTENSIONS.join(", .")
        );
    }
    let embedder = if args.no_embeddings {
        None
    } else {
        Some(load_embedder(config)?)
    };
    let database = config.home_dir().join("knowledge.db");
    std::fs::create_dir_all(config.home_dir())
        .with_context(|| format!("cannot create {}", config.home_dir().display()))?;
    let mut store = KnowledgeStore::open(&database)?;
    if let Some(roles) = &args.roles {
        let roles: Vec<String> = roles
            .iter()
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty())
            .collect();
        store.set_roles(&args.collection, &roles)?;
    }
    let started = Instant::now();
    let mut total = 0usize;
    let mut embedding_time = Duration::ZERO;
    let mut unreadable = 0usize;
    for file in &files {
        // One unreadable file does not stop a folder: the others are ingested, and the
        // command fails at the end naming it.
        let text = match extract_text(file) {
            Ok(text) => text,
            Err(err) => {
                eprintln!("ingest: skipped: {err}");
                unreadable += 1;
                continue;
            }
        };
        let source = file.display().to_string();
        let ingested = store.ingest(
            &args.collection,
            &source,
            &text,
            ChunkLimits::default(),
            embedder.as_ref(),
        )?;
        embedding_time += ingested.embedding_time;
        let said = match ingested.outcome {
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
    let embedding = embedding_time.as_secs_f64();
    eprintln!(
        "ingest: {} files, {total} chunks in {:.1} ms ({:.0} chunks/s; embeddings {:.1} ms, the rest {:.1} ms) into `{}` ({})",
        files.len(),
        seconds * 1000.0,
        total as f64 / seconds.max(1e-9),
        embedding * 1000.0,
        (seconds - embedding) * 1000.0,
        args.collection,
        database.display()
    );
    let roles = store.roles(&args.collection)?;
    if !roles.is_empty() {
        eprintln!(
            "ingest: `{}` is limited to the roles {}",
            args.collection,
            roles.join(", ")
        );
    }
    if unreadable > 0 {
        bail!(
            "{unreadable} of {} files could not be read (named above); the others were ingested",
            files.len()
        );
    }
    Ok(())
}

fn files_under(path: &Path) -> Result<Vec<PathBuf>> {
    if path.is_file() {
        if !is_supported(path) {
            bail!(
                "{} is not a document Fulcrum reads (supported: .{})",
                path.display(),
                SUPPORTED_EXTENSIONS.join(", .")
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
            } else if is_supported(&path) {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}
