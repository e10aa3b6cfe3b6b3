//! `fulcrum eval summaries`: the long-document set (`eval/summaries`) summarized by Fulcrum
//! (map-reduce, whole, or both, with the model in this process) and, with `--peer`, by an
//! OpenAI-compatible server given the whole document and the same task in one prompt (the
//! peer a user would try first: llama-server). Every summary is graded by
//! `fulcrum_eval::summaries`: planted items covered, numbers invented, numbers misattributed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use fulcrum_agent::LoadedModel;
use fulcrum_eval::summaries::{grade_summary, load_cases, SummaryCase, SummaryGrade};
use fulcrum_report::summary::{self, SummaryMode, SummaryOptions};
use serde_json::{json, Value};

use crate::config::{Config, ModelFlags};
use crate::model_source::load_backend;

#[derive(Debug, clap::Args)]
pub struct SummaryEvalArgs {
    #[command(flatten)]
    pub model: ModelFlags,
    /// The set's folder: `reports.jsonl` and the reports it names
    #[arg(long, default_value = "eval/summaries")]
    set: PathBuf,
    /// map-reduce, whole, both, or none (only the peer)
    #[arg(long, default_value = "map-reduce")]
    mode: String,
    /// Also summarize each report with this OpenAI-compatible server (e.g. llama-server at
    /// http://127.0.0.1:8081), the whole document in one prompt
    #[arg(long)]
    peer: Option<String>,
    /// The first N reports only
    #[arg(long)]
    limit: Option<usize>,
    /// Write each summary with its grade here (JSON lines)
    #[arg(long)]
    out: Option<PathBuf>,
}

struct Row {
    report: String,
    who: String,
    grade: Option<SummaryGrade>,
    items: usize,
    deep: bool,
    seconds: f64,
    error: Option<String>,
}

pub fn run(config: &Config, args: &SummaryEvalArgs) -> Result<()> {
    let modes = match args.mode.as_str() {
        "both" => vec![SummaryMode::MapReduce, SummaryMode::Whole],
        "none" => Vec::new(),
        one => vec![SummaryMode::parse(one)?],
    };
    if modes.is_empty() && args.peer.is_none() {
        bail!("--mode none needs --peer: nothing would be evaluated");
    }
    let mut cases = load_cases(&args.set.join("reports.jsonl"))?;
    if let Some(limit) = args.limit {
        cases.truncate(limit);
    }
    let model = if modes.is_empty() {
        None
    } else {
        Some(LoadedModel::new(load_backend(config)?)?)
    };
    let mut out = match &args.out {
        Some(path) => Some(
            std::fs::File::create(path)
                .with_context(|| format!("cannot write {}", path.display()))?,
        ),
        None => None,
    };
    let mut rows = Vec::new();
    for case in &cases {
        let source = read_report(&args.set, case)?;
        if let Some(model) = &model {
            let reader =
                summary::EngineSummaryModel::new(model.backend.clone(), model.template.clone());
            for mode in &modes {
                let options = SummaryOptions {
                    mode: *mode,
                    max_prompt_tokens: config.context_max_tokens,
                    ..SummaryOptions::default()
                };
                let started = Instant::now();
                let result = summary::summarize(&reader, &source, &case.file, &options);
                let who = match mode {
                    SummaryMode::MapReduce => "fulcrum map-reduce",
                    SummaryMode::Whole => "fulcrum whole",
                };
                let (text, error, extra) = match result {
                    Ok(done) => (
                        done.markdown(),
                        None,
                        serde_json::to_value(&done.stats).unwrap_or(Value::Null),
                    ),
                    Err(err) => (String::new(), Some(err.to_string()), Value::Null),
                };
                let row = graded(case, &source, who, &text, error, started.elapsed());
                write_line(&mut out, &row, &text, extra)?;
                rows.push(row);
            }
        }
        if let Some(peer) = &args.peer {
            let started = Instant::now();
            let (text, error) = match ask_peer(peer, &source) {
                Ok(text) => (text, None),
                Err(err) => (String::new(), Some(format!("{err:#}"))),
            };
            let row = graded(
                case,
                &source,
                "peer, whole document",
                &text,
                error,
                started.elapsed(),
            );
            write_line(&mut out, &row, &text, Value::Null)?;
            rows.push(row);
        }
    }
    print_table(&rows);
    Ok(())
}

fn read_report(set: &Path, case: &SummaryCase) -> Result<String> {
    let path = set.join(&case.file);
    std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))
}

fn graded(
    case: &SummaryCase,
    source: &str,
    who: &str,
    text: &str,
    error: Option<String>,
    took: Duration,
) -> Row {
    let grade = error.is_none().then(|| grade_summary(case, source, text));
    let row = Row {
        report: case.id.clone(),
        who: who.to_string(),
        deep: grade.as_ref().is_some_and(|g| g.deep_covered(case)),
        items: case.items.len(),
        grade,
        seconds: took.as_secs_f64(),
        error,
    };
    match (&row.grade, &row.error) {
        (Some(g), _) => eprintln!(
            "summaries: {} {}: {}/{} items, {} invented, {} misattributed, {:.0} s",
            row.report,
            row.who,
            g.covered.len(),
            row.items,
            g.invented.len(),
            g.misattributed.len(),
            row.seconds
        ),
        (None, Some(err)) => eprintln!("summaries: {} {}: failed: {err}", row.report, row.who),
        (None, None) => {}
    }
    row
}

fn write_line(out: &mut Option<std::fs::File>, row: &Row, text: &str, stats: Value) -> Result<()> {
    use std::io::Write;
    if let Some(file) = out {
        let line = json!({
            "report": row.report, "by": row.who, "summary": text, "grade": row.grade,
            "deep_covered": row.deep, "seconds": row.seconds, "error": row.error,
            "stats": stats,
        });
        writeln!(file, "{line}").context("cannot write the results")?;
    }
    Ok(())
}

/// The peer's summary: the whole document and the same task in one chat completion.
fn ask_peer(base_url: &str, source: &str) -> Result<String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(3_600))
            .build()
            .context("cannot create the HTTP client")?;
        let instruction = format!(
            "Summarize this document for a manager: {}. Give a short overview, then the key \
             indicators and the risks as lists, each point citing the heading of the section it \
             comes from as (§ heading). Copy every number exactly as the document writes it.",
            summary::DEFAULT_TASK
        );
        let body = json!({
            "model": "peer",
            "messages": [{"role": "user", "content": format!("{source}\n\n{instruction}")}],
            "temperature": 0,
            "max_tokens": 700,
        });
        let url = format!("{}/v1/chat/completions", base_url.trim_end_matches('/'));
        let response = client
            .post(&url)
            .json(&body)
            .send()
            .await
            .with_context(|| format!("cannot reach {url}"))?;
        let status = response.status();
        let answer: Value = response
            .json()
            .await
            .with_context(|| format!("{url} did not answer JSON"))?;
        if !status.is_success() {
            bail!("{url} answered {status}: {}", answer["error"]["message"]);
        }
        answer["choices"][0]["message"]["content"]
            .as_str()
            .map(str::to_string)
            .with_context(|| format!("{url} answered without a message"))
    })
}

fn print_table(rows: &[Row]) {
    println!(
        "{:<22} {:<22} {:>7} {:>5} {:>8} {:>14} {:>8}",
        "report", "summarized by", "items", "deep", "invented", "misattributed", "seconds"
    );
    for row in rows {
        match &row.grade {
            Some(g) => println!(
                "{:<22} {:<22} {:>7} {:>5} {:>8} {:>14} {:>8.0}",
                row.report,
                row.who,
                format!("{}/{}", g.covered.len(), row.items),
                if row.deep { "yes" } else { "no" },
                g.invented.len(),
                g.misattributed.len(),
                row.seconds
            ),
            None => println!(
                "{:<22} {:<22} failed: {}",
                row.report,
                row.who,
                row.error.as_deref().unwrap_or("")
            ),
        }
    }
}
