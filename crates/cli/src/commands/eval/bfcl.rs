//! `fulcrum eval bfcl`: BFCL-format function-calling accuracy of the embedded engine (served
//! in-process through the real HTTP API) or of any OpenAI-compatible server (`--server`).

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use fulcrum_agent::LoadedModel;
use fulcrum_eval::convert::to_tool;
use fulcrum_eval::{check_entry, load_category, Category, Entry, ModelOutput};
use fulcrum_server::{AppState, ServerOptions};
use futures::StreamExt;
use serde_json::{json, Value};

use crate::config::{Config, ModelFlags};
use crate::model_source::load_backend;

#[derive(Debug, clap::Args)]
pub struct BfclArgs {
    #[command(flatten)]
    pub model: ModelFlags,
    /// An OpenAI-compatible base URL (e.g. http://127.0.0.1:8081/v1) instead of the embedded engine
    #[arg(long)]
    server: Option<String>,
    /// Model name to send to --server [default: the first of its GET /models]
    #[arg(long)]
    server_model: Option<String>,
    /// BFCL data folder (the copy in the repository, relative to its root)
    #[arg(long, default_value = "eval/bfcl")]
    data: PathBuf,
    /// Comma-separated categories [default: all five]
    #[arg(long, value_delimiter = ',')]
    categories: Vec<String>,
    /// Only one half of each category, for tuning on one and judging on the other:
    /// `tuning` (the 1st, 3rd, 5th… entries) or `judged` (the 2nd, 4th…)
    #[arg(long, value_enum)]
    half: Option<Half>,
    /// At most this many entries per category (the first ones, after --half)
    #[arg(long)]
    limit: Option<usize>,
    /// Requests in flight at once [default: the engine's slots, or 4 with --server]
    #[arg(long)]
    concurrency: Option<usize>,
    /// JSON-lines file with every entry's output and verdict
    #[arg(long, default_value = "bfcl-results.jsonl")]
    out: PathBuf,
    /// Keep the entries already answered in --out and run only the rest (a long run can be
    /// stopped and continued; entries that failed with a request error are asked again)
    #[arg(long)]
    resume: bool,
}

/// One half of a category's entries, by position.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Half {
    Tuning,
    Judged,
}

pub fn run(config: &Config, args: BfclArgs) -> Result<()> {
    let categories = if args.categories.is_empty() {
        Category::ALL.to_vec()
    } else {
        args.categories
            .iter()
            .map(|name| {
                Category::parse(name).with_context(|| {
                    format!("unknown category `{name}`: use simple_python, multiple, parallel, parallel_multiple or irrelevance")
                })
            })
            .collect::<Result<Vec<_>>>()?
    };
    let mut entries = Vec::new();
    for category in &categories {
        let mut loaded = load_category(&args.data, *category).with_context(|| {
            format!(
                "cannot load BFCL data from {} (see --data)",
                args.data.display()
            )
        })?;
        if let Some(half) = args.half {
            let keep = match half {
                Half::Tuning => 0,
                Half::Judged => 1,
            };
            loaded = loaded
                .into_iter()
                .enumerate()
                .filter(|(index, _)| index % 2 == keep)
                .map(|(_, entry)| entry)
                .collect();
        }
        if let Some(limit) = args.limit {
            loaded.truncate(limit);
        }
        entries.extend(loaded);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(evaluate(config, &args, &categories, entries))
}

async fn evaluate(
    config: &Config,
    args: &BfclArgs,
    categories: &[Category],
    entries: Vec<Entry>,
) -> Result<()> {
    let client = reqwest::Client::builder()
        .timeout(ANSWER_TIME_LIMIT)
        .build()
        .context("cannot create the HTTP client")?;
    let (base_url, model, concurrency) = match &args.server {
        Some(url) => {
            let url = url.trim_end_matches('/').to_string();
            let model = match &args.server_model {
                Some(model) => model.clone(),
                None => first_model(&client, &url).await?,
            };
            (url, model, args.concurrency.unwrap_or(4))
        }
        None => {
            let (url, model) = start_embedded(config).await?;
            (
                url,
                model,
                args.concurrency.unwrap_or(config.slots as usize),
            )
        }
    };
    eprintln!(
        "bfcl: {} entries against {base_url} (model {model}), {concurrency} at a time",
        entries.len()
    );

    let previous = if args.resume {
        previous_results(&args.out)?
    } else {
        Vec::new()
    };
    let answered: std::collections::HashSet<&str> = previous
        .iter()
        .filter_map(|line| line.get("id").and_then(Value::as_str))
        .collect();
    let entries: Vec<Entry> = entries
        .into_iter()
        .filter(|entry| !answered.contains(entry.id.as_str()))
        .collect();
    if args.resume {
        eprintln!(
            "bfcl: resuming: {} entries already answered in {}, {} to go",
            previous.len(),
            args.out.display(),
            entries.len()
        );
    }
    // The kept lines are written back whole first, so a line cut short by a killed run is gone.
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(&args.out)
            .with_context(|| format!("cannot create {}", args.out.display()))?,
    );
    for line in &previous {
        writeln!(out, "{line}").context("cannot write the results file")?;
    }
    out.flush().context("cannot write the results file")?;
    let total = entries.len();
    // Started in the entries' order, `concurrency` at a time, each written as it ends: a slow
    // entry holds back neither the next ones' start nor their lines (a killed run keeps them).
    let (client, base_url, model) = (&client, &base_url, &model);
    let mut running = futures::stream::iter(entries)
        .map(|entry| async move {
            let started = Instant::now();
            let result = ask(client, base_url, model, &entry).await;
            (entry, result, started.elapsed())
        })
        .buffer_unordered(concurrency.max(1));

    let mut scores: Vec<(Category, usize, usize)> = categories.iter().map(|c| (*c, 0, 0)).collect();
    let mut calls_seen = 0usize;
    let mut calls_invalid = 0usize;
    for line in &previous {
        let category = line.get("category").and_then(Value::as_str);
        if let Some(score) = scores.iter_mut().find(|s| Some(s.0.name()) == category) {
            score.1 += 1;
            score.2 += usize::from(line.get("correct") == Some(&Value::Bool(true)));
        }
        for call in line
            .get("output")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            calls_seen += 1;
            let arguments = call.get("arguments").and_then(Value::as_str).unwrap_or("");
            if !matches!(
                serde_json::from_str::<Value>(arguments),
                Ok(Value::Object(_))
            ) {
                calls_invalid += 1;
            }
        }
    }
    let mut done = 0;
    while let Some((entry, result, elapsed)) = running.next().await {
        let (output, usage, request_error) = match result {
            Ok((output, usage)) => (output, usage, None),
            Err(err) => (
                ModelOutput::Text(String::new()),
                Value::Null,
                Some(err.to_string()),
            ),
        };
        if let ModelOutput::Calls(calls) = &output {
            for (_, arguments) in calls {
                calls_seen += 1;
                if !matches!(
                    serde_json::from_str::<Value>(arguments),
                    Ok(Value::Object(_))
                ) {
                    calls_invalid += 1;
                }
            }
        }
        let verdict = check_entry(&entry, &output);
        if let Some(score) = scores.iter_mut().find(|s| s.0 == entry.category) {
            score.1 += 1;
            score.2 += usize::from(verdict.correct);
        }
        let output_json = match &output {
            ModelOutput::Calls(calls) => json!(calls
                .iter()
                .map(|(name, arguments)| json!({"name": name, "arguments": arguments}))
                .collect::<Vec<_>>()),
            ModelOutput::Text(text) => json!(text),
        };
        let line = json!({
            "id": entry.id,
            "category": entry.category.name(),
            "correct": verdict.correct,
            "error": verdict.error,
            "request_error": request_error,
            "output": output_json,
            "usage": usage,
            "latency_ms": elapsed.as_millis() as u64,
        });
        writeln!(out, "{line}").context("cannot write the results file")?;
        out.flush().context("cannot write the results file")?;
        let correct: usize = scores.iter().map(|s| s.2).sum();
        done += 1;
        eprint!("\rbfcl: {done}/{total} done, {correct} correct");
    }
    eprintln!();
    out.flush().context("cannot write the results file")?;

    println!("| category | entries | correct | accuracy |");
    println!("| --- | --- | --- | --- |");
    for (category, count, correct) in &scores {
        let accuracy = if *count == 0 {
            0.0
        } else {
            100.0 * *correct as f64 / *count as f64
        };
        println!(
            "| {} | {count} | {correct} | {accuracy:.2} |",
            category.name()
        );
    }
    println!(
        "\ncalls returned: {calls_seen}, of which with arguments that are not a JSON object: {calls_invalid}; details in {}",
        args.out.display()
    );
    Ok(())
}

/// The complete, answered lines of an earlier results file (none if there is no file yet).
fn previous_results(path: &std::path::Path) -> Result<Vec<Value>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err).with_context(|| format!("cannot read {}", path.display())),
    };
    Ok(text
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line.get("id").is_some_and(Value::is_string))
        .filter(|line| line.get("request_error").is_none_or(Value::is_null))
        .collect())
}

async fn first_model(client: &reqwest::Client, url: &str) -> Result<String> {
    let models: Value = client
        .get(format!("{url}/models"))
        .send()
        .await
        .with_context(|| format!("cannot reach {url}/models"))?
        .json()
        .await
        .context("GET /models did not return JSON")?;
    match models["data"][0]["id"].as_str() {
        Some(id) => Ok(id.to_string()),
        None => bail!("{url}/models lists no model: pass --server-model"),
    }
}

/// Loads the configured model and serves it in-process on a free local port.
async fn start_embedded(config: &Config) -> Result<(String, String)> {
    let config = config.clone();
    let loaded = tokio::task::spawn_blocking(move || -> Result<(LoadedModel, ServerOptions)> {
        let mut options = config.server_options();
        options.request_timeout = options
            .request_timeout
            .map(|limit| limit.max(ANSWER_TIME_LIMIT));
        Ok((LoadedModel::new(load_backend(&config)?)?, options))
    })
    .await
    .context("the model loader panicked")??;
    let (model, options) = loaded;
    let id = model.backend.info().id.clone();
    let state = AppState::new(options).context("cannot set up metrics")?;
    state.set_model(model);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .context("cannot listen on a local port")?;
    let address = listener
        .local_addr()
        .context("cannot read the local address")?;
    tokio::spawn(fulcrum_server::serve(
        listener,
        state,
        std::future::pending(),
    ));
    Ok((format!("http://{address}/v1"), id))
}

/// How long one answer may take, its wait for a slot included: the client's limit, and the
/// embedded server's at least. A score measures the model, not the machine: on 2 cores, with
/// an entry per slot at a time, checked answers (several generations each) ran past the
/// server's default 300 s and were scored wrong (3 of the tuning half's 100, 2026-12-03; each
/// right or wrong as before when run alone).
const ANSWER_TIME_LIMIT: Duration = Duration::from_secs(900);

/// Output cap per answer. BFCL's own Qwen handler caps at 4096; the longest correct answer in
/// these categories is far shorter, and a small model that loops would otherwise run to the end
/// of the context.
const MAX_TOKENS: u32 = 1024;

/// One request as BFCL's OpenAI handler sends it: the first turn, the converted tools, no
/// `tool_choice`, no system prompt of its own. Greedy decoding, for reproducible scores.
async fn ask(
    client: &reqwest::Client,
    url: &str,
    model: &str,
    entry: &Entry,
) -> Result<(ModelOutput, Value)> {
    let mut body = json!({
        "model": model,
        "messages": entry.messages,
        "temperature": 0.0,
        "max_tokens": MAX_TOKENS,
        "store": false,
    });
    if !entry.functions.is_empty() {
        body["tools"] = Value::Array(entry.functions.iter().map(to_tool).collect());
    }
    let response = client
        .post(format!("{url}/chat/completions"))
        .json(&body)
        .send()
        .await
        .context("request failed")?;
    let status = response.status();
    let reply: Value = response.json().await.context("the reply is not JSON")?;
    if !status.is_success() {
        bail!(
            "HTTP {status}: {}",
            reply["error"]["message"].as_str().unwrap_or("no message")
        );
    }
    let message = &reply["choices"][0]["message"];
    let output = match message["tool_calls"].as_array() {
        Some(calls) if !calls.is_empty() => ModelOutput::Calls(
            calls
                .iter()
                .map(|call| {
                    let function = &call["function"];
                    let arguments = match &function["arguments"] {
                        Value::String(text) => text.clone(),
                        other => other.to_string(),
                    };
                    (
                        function["name"].as_str().unwrap_or_default().to_string(),
                        arguments,
                    )
                })
                .collect(),
        ),
        _ => ModelOutput::Text(message["content"].as_str().unwrap_or_default().to_string()),
    };
    Ok((output, reply["usage"].clone()))
}
