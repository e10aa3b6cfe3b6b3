//! `fulcrum bench serve`: a load generator for OpenAI-compatible servers. It starts Fulcrum
//! (or drives a given URL), optionally starts llama.cpp's `llama-server` on the same GGUF,
//! threads and slots, runs the same closed-loop load against each at every concurrency level
//! asked for, and prints throughput, time to first token, latency, 429s and peak memory,
//! with the ratios between the servers and between levels.

mod load;
mod servers;

use std::time::Duration;

use anyhow::{bail, Context, Result};

use self::load::{LoadSpec, RunReport};
use self::servers::{llama_server_binary, ChildServer, ServerShape};
use crate::config::{Config, ModelFlags};
use crate::model_source::ensure_model;

#[derive(Debug, clap::Args)]
pub struct ServeBenchArgs {
    /// The model, threads and slots of the servers started here
    #[command(flatten)]
    pub model: ModelFlags,
    /// Drive this OpenAI-compatible server (its `/v1` URL) instead of starting Fulcrum
    #[arg(long)]
    url: Option<String>,
    /// Also start llama.cpp's llama-server on the same model, threads and slots and run the
    /// same load against it: the path of its binary, or `build` to build it from the
    /// llama-cpp-python sdist (scripts/llama-cpp-reference)
    #[arg(long)]
    llama_server: Option<String>,
    /// Run Fulcrum in front of that llama-server (`engine = "remote"`) instead of on its
    /// embedded engine: what Fulcrum's own layer costs over the engine it drives
    #[arg(long, requires = "llama_server")]
    over_llama_server: bool,
    /// Concurrent clients; several values run one after another
    #[arg(long, value_delimiter = ',', default_value = "1,8")]
    clients: Vec<usize>,
    /// Requests per run [default: 4 per client]
    #[arg(long)]
    requests: Option<usize>,
    /// Words in each request's own user message (about a token each)
    #[arg(long, default_value_t = 128)]
    prompt_tokens: usize,
    /// Tokens generated per request (exactly: `ignore_eos`)
    #[arg(long, default_value_t = 128)]
    max_tokens: u32,
    /// Send no `max_tokens`, as LangChain and the Agents SDK do: each request stops at the
    /// model's end of text (the server's own limit aside)
    #[arg(long, conflicts_with = "max_tokens")]
    no_max_tokens: bool,
    /// Words of a system message all requests share, like a system prompt with tools (0: none)
    #[arg(long, default_value_t = 0)]
    shared_prefix_tokens: usize,
    /// Words of the user message of one client's requests, a long document among the others'
    /// short ones, to see whether it stalls them (0: none)
    #[arg(long, default_value_t = 0)]
    long_prompt_tokens: usize,
    /// Seconds a request may take, 429 waits included, before it counts as hung
    #[arg(long, default_value_t = 600)]
    request_limit_secs: u64,
    /// Bearer key sent to every server (a key of the policy's users; llama-server ignores it)
    #[arg(long, default_value = "demo-employee-key")]
    api_key: String,
    /// Print JSON instead of tables
    #[arg(long)]
    json: bool,
}

/// A server under load: started here, or reached at a URL.
struct Target {
    name: String,
    base_url: String,
    model: String,
    process: Option<ChildServer>,
}

pub fn run(config: &Config, args: ServeBenchArgs) -> Result<()> {
    if args.clients.is_empty() || args.clients.contains(&0) {
        bail!("--clients takes one or more counts of at least 1, e.g. --clients 1,8");
    }
    if args.max_tokens == 0 || args.requests == Some(0) {
        bail!("--max-tokens and --requests must be at least 1");
    }
    // One thread for the clients: the servers measured get the rest of the machine, alike.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(bench(config, args))
}

async fn bench(config: &Config, args: ServeBenchArgs) -> Result<()> {
    let mut headers = reqwest::header::HeaderMap::new();
    let bearer = reqwest::header::HeaderValue::from_str(&format!("Bearer {}", args.api_key))
        .context("--api-key holds characters a header cannot carry")?;
    headers.insert(reqwest::header::AUTHORIZATION, bearer);
    let http = reqwest::Client::builder()
        .default_headers(headers)
        // A fresh connection per request: llama-server closes idle keep-alive connections,
        // and a request sent on one just closed fails without having reached the server.
        .pool_max_idle_per_host(0)
        .build()
        .context("cannot build the HTTP client")?;
    let mut targets = start_targets(config, &args, &http).await?;

    for target in &targets {
        eprintln!("bench: warming up {}", target.name);
        let warm_up = LoadSpec {
            clients: 1,
            requests: 1,
            prompt_words: 16,
            max_tokens: Some(4),
            shared_prefix: None,
            long_prompt_words: None,
            request_limit: Duration::from_secs(args.request_limit_secs),
            first_index: 0,
        };
        let report = load::run(
            &http,
            &target.name,
            &target.base_url,
            &target.model,
            &warm_up,
        )
        .await;
        if report.succeeded != 1 {
            bail!(
                "{} cannot answer a streamed chat completion: {}",
                target.name,
                report.failures.join("; ")
            );
        }
    }

    let shared_prefix = (args.shared_prefix_tokens > 0).then(|| {
        format!(
            "You are the assistant of the sales team. Reference notes:{}",
            load::filler(u64::MAX, args.shared_prefix_tokens)
        )
    });
    let mut reports = Vec::new();
    for (level, &clients) in args.clients.iter().enumerate() {
        let spec = LoadSpec {
            clients,
            requests: args.requests.unwrap_or(clients * 4),
            prompt_words: args.prompt_tokens,
            max_tokens: (!args.no_max_tokens).then_some(args.max_tokens),
            shared_prefix: shared_prefix.clone(),
            long_prompt_words: (args.long_prompt_tokens > 0).then_some(args.long_prompt_tokens),
            request_limit: Duration::from_secs(args.request_limit_secs),
            first_index: 0,
        };
        // Alternate which server goes first, so drift in the machine's speed favours neither.
        let order: Vec<usize> = if level % 2 == 0 {
            (0..targets.len()).collect()
        } else {
            (0..targets.len()).rev().collect()
        };
        for index in order {
            let target = &mut targets[index];
            eprintln!(
                "bench: {} with {clients} clients, {} requests",
                target.name, spec.requests
            );
            // Numbers of one width for every target and level: prompts of equal length.
            let spec = LoadSpec {
                first_index: (index + 1) * 1_000_000 + level * 10_000,
                ..spec.clone()
            };
            let mut report =
                load::run(&http, &target.name, &target.base_url, &target.model, &spec).await;
            report.peak_rss_mib = target.process.as_ref().and_then(ChildServer::peak_rss_mib);
            for failure in &report.failures {
                eprintln!("bench: {}: a request failed: {failure}", target.name);
            }
            reports.push(report);
        }
    }

    if args.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    } else {
        print_tables(&args, &reports);
        // A Fulcrum target says how often its engine preempted a sequence over all runs.
        for target in &targets {
            let root = target.base_url.trim_end_matches("/v1");
            let Ok(response) = http.get(format!("{root}/metrics")).send().await else {
                continue;
            };
            let text = response.text().await.unwrap_or_default();
            if let Some(line) = text
                .lines()
                .find(|line| line.starts_with("fulcrum_engine_preemptions_total "))
            {
                println!("{}: {line}", target.name);
            }
        }
    }
    let lost: usize = reports.iter().map(|r| r.failed + r.hung).sum();
    if lost > 0 {
        bail!("{lost} requests failed or hung (see above)");
    }
    Ok(())
}

async fn start_targets(
    config: &Config,
    args: &ServeBenchArgs,
    http: &reqwest::Client,
) -> Result<Vec<Target>> {
    let needs_model = args.url.is_none() || args.llama_server.is_some();
    let shape = if needs_model {
        let (model_path, _) = ensure_model(config)?;
        Some(ServerShape {
            model_path,
            threads: config
                .threads
                .unwrap_or_else(fulcrum_engine::physical_cores),
            slots: config.slots,
            context_size: config
                .context_size
                .unwrap_or(fulcrum_engine::llama::MAX_DEFAULT_CONTEXT),
        })
    } else {
        None
    };
    let mut processes = Vec::new();
    let mut targets = Vec::new();
    match &args.url {
        Some(url) => targets.push(Target {
            name: "server".into(),
            base_url: url.trim_end_matches('/').to_string(),
            model: first_model(http, url).await?,
            process: None,
        }),
        None if args.over_llama_server => {}
        None => processes.push(ChildServer::fulcrum(shape.as_ref().context("no model")?)?),
    }
    if let Some(given) = &args.llama_server {
        let binary = llama_server_binary(given)?;
        let shape = shape.as_ref().context("no model")?;
        let mut engine = ChildServer::llama_server(&binary, shape)?;
        if args.over_llama_server {
            // Fulcrum checks its upstream at start-up: the engine must be up first.
            eprintln!("bench: starting {}", engine.name);
            engine.ready(http, Duration::from_secs(600)).await?;
            let root = engine.base_url.trim_end_matches("/v1").to_string();
            processes.push(ChildServer::fulcrum_over(shape, &root)?);
        }
        processes.push(engine);
    }
    if let Some(shape) = &shape {
        eprintln!(
            "bench: {} with {} threads, {} slots, context {}",
            shape.model_path.display(),
            shape.threads,
            shape.slots,
            shape.context_size
        );
    }
    for mut process in processes {
        eprintln!("bench: starting {}", process.name);
        process.ready(http, Duration::from_secs(600)).await?;
        targets.push(Target {
            name: process.name.clone(),
            base_url: process.base_url.clone(),
            model: first_model(http, &process.base_url).await?,
            process: Some(process),
        });
    }
    Ok(targets)
}

async fn first_model(http: &reqwest::Client, base_url: &str) -> Result<String> {
    let url = format!("{}/models", base_url.trim_end_matches('/'));
    let models: serde_json::Value = http
        .get(&url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .with_context(|| format!("cannot list the models at {url}"))?
        .json()
        .await
        .with_context(|| format!("{url} did not answer JSON"))?;
    models["data"][0]["id"]
        .as_str()
        .map(str::to_string)
        .with_context(|| format!("{url} lists no model"))
}

fn print_tables(args: &ServeBenchArgs, reports: &[RunReport]) {
    let ms = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.0}"));
    let prompt = reports.iter().find_map(|r| r.mean_prompt_tokens);
    println!(
        "{}, user message of {} words{}{}{}\n",
        if args.no_max_tokens {
            "no max_tokens (each request ends at the model's end of text)".to_string()
        } else {
            format!(
                "{} generated tokens per request (ignore_eos)",
                args.max_tokens
            )
        },
        args.prompt_tokens,
        if args.shared_prefix_tokens > 0 {
            format!(
                ", shared system message of {} words",
                args.shared_prefix_tokens
            )
        } else {
            String::new()
        },
        if args.long_prompt_tokens > 0 {
            format!(
                ", one client's user messages of {} words",
                args.long_prompt_tokens
            )
        } else {
            String::new()
        },
        prompt.map_or(String::new(), |p| format!(
            " (prompt: {p:.0} tokens on average)"
        ))
    );
    println!("| server | clients | requests | ok | 429 then ok | failed | hung | tokens/s | TTFT p50 ms | TTFT p95 ms | latency p50 ms | latency p95 ms | ITL p50 / p95 / max ms | peak RSS MiB |");
    println!(
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    for r in reports {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {:.1} | {} | {} | {} | {} | {} / {} / {} | {} |",
            r.server,
            r.clients,
            r.requests,
            r.succeeded,
            r.retried_after_busy,
            r.failed,
            r.hung,
            r.tokens_per_second,
            ms(r.ttft_p50_ms),
            ms(r.ttft_p95_ms),
            ms(r.latency_p50_ms),
            ms(r.latency_p95_ms),
            ms(r.itl_p50_ms),
            ms(r.itl_p95_ms),
            ms(r.itl_max_ms),
            r.peak_rss_mib.map_or("-".into(), |v| format!("{v:.0}")),
        );
    }
    println!();
    let find = |server: &str, clients: usize| {
        reports
            .iter()
            .find(|r| r.server == server && r.clients == clients)
    };
    let lowest = args.clients.iter().copied().min().unwrap_or(1);
    for &clients in &args.clients {
        let ours = find("fulcrum", clients).or_else(|| find("server", clients));
        if let (Some(ours), Some(peer)) = (ours, find("llama-server", clients)) {
            println!(
                "- {clients} client{}: {} / llama-server throughput {:.2}×",
                if clients == 1 { "" } else { "s" },
                ours.server,
                ours.tokens_per_second / peer.tokens_per_second.max(1e-9)
            );
        }
        if clients != lowest {
            for server in ["fulcrum", "server", "llama-server"] {
                if let (Some(high), Some(low)) = (find(server, clients), find(server, lowest)) {
                    println!(
                        "- {server}: {clients} clients / {lowest} client{} throughput {:.2}×",
                        if lowest == 1 { "" } else { "s" },
                        high.tokens_per_second / low.tokens_per_second.max(1e-9)
                    );
                }
            }
        }
    }
}
