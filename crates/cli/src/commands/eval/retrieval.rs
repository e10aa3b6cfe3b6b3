//! `fulcrum eval retrieval`: ingests a corpus into a scratch knowledge database and measures
//! recall@k and MRR of BM25, dense and hybrid search on a labeled query set.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use fulcrum_retrieval::{
    evaluate, extract_text, is_supported, load_queries, ChunkLimits, KnowledgeStore, SearchMode,
};
use serde_json::json;

use crate::config::Config;
use crate::model_source::load_embedder;

#[derive(Debug, clap::Args)]
pub struct RetrievalArgs {
    /// Folder of documents to search
    #[arg(long, default_value = "docs/eval/retrieval/corpus")]
    corpus: PathBuf,
    /// JSON lines: {"query", "source" (file name), "section" (heading)}
    #[arg(long, default_value = "docs/eval/retrieval/queries.jsonl")]
    queries: PathBuf,
    /// Recall is counted within the first K chunks
    #[arg(long, default_value_t = 5)]
    k: usize,
    /// Print one JSON object instead of a table
    #[arg(long)]
    json: bool,
}

const COLLECTION: &str = "eval";

pub fn run(config: &Config, args: &RetrievalArgs) -> Result<()> {
    if args.k == 0 {
        bail!("--k must be at least 1");
    }
    let queries = load_queries(&args.queries)?;
    if queries.is_empty() {
        bail!("{} holds no queries", args.queries.display());
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&args.corpus)
        .with_context(|| format!("cannot list the corpus {}", args.corpus.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| is_supported(path))
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("no documents in {}", args.corpus.display());
    }
    let embedder = load_embedder(config)?;
    let scratch = tempfile::tempdir().context("cannot create a scratch folder")?;
    let mut store = KnowledgeStore::open(&scratch.path().join("knowledge.db"))?;
    let started = Instant::now();
    for file in &files {
        let text = extract_text(file)?;
        let source = file.display().to_string();
        store.ingest(
            COLLECTION,
            &source,
            &text,
            ChunkLimits::default(),
            Some(&embedder),
        )?;
    }
    let ingest_seconds = started.elapsed().as_secs_f64();
    let depth = args.k.max(10);
    let mut results = Vec::new();
    for mode in [SearchMode::Bm25, SearchMode::Dense, SearchMode::Hybrid] {
        results.push(evaluate(
            &store,
            COLLECTION,
            &queries,
            mode,
            Some(&embedder),
            depth,
        )?);
    }
    if args.json {
        let modes: Vec<_> = results
            .iter()
            .map(|result| {
                json!({
                    "mode": mode_name(result.mode),
                    "recall_at_1": result.recall_at(1),
                    "recall_at_k": result.recall_at(args.k),
                    "mrr": result.mean_reciprocal_rank(),
                })
            })
            .collect();
        println!(
            "{}",
            json!({"queries": queries.len(), "documents": files.len(), "k": args.k, "modes": modes})
        );
        return Ok(());
    }
    println!(
        "{} queries over {} documents (ingested with embeddings in {:.1} s)\n",
        queries.len(),
        files.len(),
        ingest_seconds
    );
    println!("| search | recall@1 | recall@{} | MRR@{depth} |", args.k);
    println!("| --- | --- | --- | --- |");
    for result in &results {
        println!(
            "| {} | {:.3} | {:.3} | {:.3} |",
            mode_name(result.mode),
            result.recall_at(1),
            result.recall_at(args.k),
            result.mean_reciprocal_rank()
        );
    }
    let [bm25, dense, hybrid] = [&results[0], &results[1], &results[2]];
    for (index, query) in queries.iter().enumerate() {
        let within = |rank: Option<usize>| rank.is_some_and(|r| r <= args.k);
        if !within(hybrid.ranks[index]) {
            eprintln!(
                "missed by hybrid (bm25 {:?}, dense {:?}): {}",
                bm25.ranks[index], dense.ranks[index], query.query
            );
        }
    }
    Ok(())
}

fn mode_name(mode: SearchMode) -> &'static str {
    match mode {
        SearchMode::Bm25 => "BM25",
        SearchMode::Dense => "dense (MiniLM)",
        SearchMode::Hybrid => "hybrid (RRF)",
    }
}
