//! `fulcrum summarize`: the key figures and risks of a long document (Markdown, text, DOCX,
//! PDF, or one already ingested into a knowledge collection), every number checked against it.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use fulcrum_agent::LoadedModel;
use fulcrum_report::summary::{self, SummaryMode, SummaryOptions};

use crate::config::{Config, ModelFlags};
use crate::model_source::load_backend;

#[derive(Debug, clap::Args)]
pub struct SummarizeArgs {
    #[command(flatten)]
    pub model: ModelFlags,
    /// The document: .md, .markdown, .txt, .docx or .pdf
    #[arg(required_unless_present = "document")]
    file: Option<PathBuf>,
    /// Summarize a document already ingested: its collection (with --document)
    #[arg(long, requires = "document")]
    collection: Option<String>,
    /// The ingested document's name (as `fulcrum ingest` recorded it)
    #[arg(long, requires = "collection", conflicts_with = "file")]
    document: Option<String>,
    /// map-reduce (any length: parts read concurrently, findings merged) or whole (one
    /// prompt, when the document fits the window)
    #[arg(long, default_value = "map-reduce")]
    mode: String,
    /// What the summary is for
    #[arg(long, default_value = summary::DEFAULT_TASK)]
    task: String,
    /// Most tokens of the document in one part (map-reduce)
    #[arg(long, default_value_t = 1_500)]
    part_tokens: usize,
    /// Write the summary here instead of standard output
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print the summary as JSON (points, sections, checks, timings) instead of Markdown
    #[arg(long)]
    json: bool,
}

impl SummarizeArgs {
    pub fn flag_layers(&self) -> Vec<serde_json::Value> {
        vec![crate::config::layer(&self.model)]
    }
}

pub fn run(config: &Config, args: &SummarizeArgs) -> Result<()> {
    let options = SummaryOptions {
        mode: SummaryMode::parse(&args.mode)?,
        task: args.task.clone(),
        max_prompt_tokens: config.context_max_tokens,
        part_tokens: args.part_tokens,
        ..SummaryOptions::default()
    };
    if args.part_tokens < 128 {
        bail!(
            "--part-tokens must be at least 128, got {}",
            args.part_tokens
        );
    }
    let (name, text) = match (&args.file, &args.collection, &args.document) {
        (Some(file), _, _) => (
            file.file_name().map_or_else(
                || file.display().to_string(),
                |n| n.to_string_lossy().into(),
            ),
            fulcrum_retrieval::extract_text(file)?,
        ),
        (None, Some(collection), Some(document)) => {
            let path = config.home_dir().join("knowledge.db");
            let store = fulcrum_retrieval::KnowledgeStore::open(&path).with_context(|| {
                format!("cannot open the knowledge database {}", path.display())
            })?;
            let text = store.document_text(collection, document)?;
            (document.clone(), text)
        }
        _ => bail!("give a FILE, or --collection and --document"),
    };
    let model = LoadedModel::new(load_backend(config)?)?;
    let reader = summary::EngineSummaryModel::new(model.backend, model.template);
    let result = summary::summarize(&reader, &text, &name, &options)?;
    let stats = &result.stats;
    eprintln!(
        "summarize: {} tokens, {} sections, {} parts, {} model calls (largest prompt {} tokens); \
         {} findings, {} dropped by the number check ({} invented, {} misattributed); {:.1} s",
        stats.document_tokens,
        stats.sections,
        stats.parts,
        stats.model_calls,
        stats.largest_prompt_tokens,
        stats.findings,
        stats.dropped,
        stats.dropped_invented,
        stats.dropped_misattributed,
        stats.seconds
    );
    let output = if args.json {
        serde_json::to_string_pretty(&result)? + "\n"
    } else {
        result.markdown()
    };
    match &args.out {
        Some(path) => {
            let temporary = path.with_extension("partial");
            std::fs::write(&temporary, output)
                .with_context(|| format!("cannot write {}", temporary.display()))?;
            std::fs::rename(&temporary, path)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        None => print!("{output}"),
    }
    Ok(())
}
