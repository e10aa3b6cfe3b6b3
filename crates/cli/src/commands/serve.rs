//! `fulcrum serve`: listen at once, load the model in the background, become ready.

use std::sync::Arc;

use anyhow::{Context, Result};
use fulcrum_agent::LoadedModel;
use fulcrum_report::summary::{SummarizeFunction, SummaryOptions, SUMMARIZE_DOCUMENT};
use fulcrum_report::{MonthlyReportFunction, MONTHLY_REPORT};
use fulcrum_retrieval::{KnowledgePassages, KnowledgeSearchFunction, SEARCH_KNOWLEDGE};
use fulcrum_server::AppState;

use crate::config::{Config, ModelFlags, PolicyFlags, ServeFlags};
use crate::model_source::{load_backend, load_embedder};

/// `fulcrum serve`: the model, the policy and where to listen.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub model: ModelFlags,
    #[command(flatten)]
    pub policy: PolicyFlags,
    #[command(flatten)]
    pub serve: ServeFlags,
    /// Serve the demo enterprise on a non-loopback address anyway. Its API keys are public
    /// (they are in the README): anyone who can reach the port is its administrator
    #[arg(long)]
    pub allow_demo_keys: bool,
    /// Shut down when standard input closes: for a program that starts this server as its
    /// child, so that the server ends with it however it ends (even killed outright)
    #[arg(long, hide = true)]
    pub exit_with_stdin: bool,
}

impl ServeArgs {
    /// The configuration flags given to this command.
    pub fn flag_layers(&self) -> Vec<serde_json::Value> {
        vec![
            crate::config::layer(&self.model),
            crate::config::layer(&self.policy),
            crate::config::layer(&self.serve),
        ]
    }
}

pub fn run(config: Config, args: &ServeArgs) -> Result<()> {
    check_demo_exposure(&config, args.allow_demo_keys)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(config, args.exit_with_stdin))
}

/// The demo policy's keys are public: it is served on loopback only, unless the operator says
/// otherwise, and then with a warning nobody can miss.
fn check_demo_exposure(config: &Config, allow_demo_keys: bool) -> Result<()> {
    if config.policy.is_some() || loopback_only(&config.host) {
        return Ok(());
    }
    if !allow_demo_keys {
        anyhow::bail!(
            "refusing to serve the demo enterprise on {}: its API keys are public (demo-admin-key is in the README). Pass --policy with your own policy file, listen on 127.0.0.1, or add --allow-demo-keys to expose it anyway",
            config.host
        );
    }
    let banner = format!(
        "WARNING: the demo enterprise is served on {} with its PUBLIC keys: anyone who can reach this port is its administrator (demo-admin-key). Never do this on a network with real users or data.",
        config.host
    );
    eprintln!("{banner}");
    tracing::warn!("{banner}");
    Ok(())
}

/// Whether `host` names only loopback addresses (an IP, `localhost`, or a name resolving so).
fn loopback_only(host: &str) -> bool {
    use std::net::ToSocketAddrs;
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return ip.is_loopback();
    }
    match (host, 0).to_socket_addrs() {
        Ok(addresses) => {
            let addresses: Vec<_> = addresses.collect();
            !addresses.is_empty() && addresses.iter().all(|a| a.ip().is_loopback())
        }
        Err(_) => false,
    }
}

async fn serve(config: Config, exit_with_stdin: bool) -> Result<()> {
    let listener = tokio::net::TcpListener::bind((config.host.as_str(), config.port))
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}:{} (is another server using the port? set --port)",
                config.host, config.port
            )
        })?;
    let address = listener
        .local_addr()
        .context("cannot read the listening address")?;
    let mut governance = crate::governance::load(&config)?;
    let state = AppState::new(config.server_options()).context("cannot set up metrics")?;
    let searches = governance.policy.runs_host_function(SEARCH_KNOWLEDGE);
    let knowledge = config.home_dir().join("knowledge.db");
    // Loaded in the background with the model (see below); searches rank by words until then.
    // The same model answers /v1/embeddings.
    let embedder = state.embedder.clone();
    let wants_embedder =
        config.serve_embeddings || searches || !config.context_collections.is_empty();
    if !config.context_collections.is_empty() {
        governance = governance.with_passages(Arc::new(KnowledgePassages::new(
            knowledge.clone(),
            config.context_collections.clone(),
            embedder.clone(),
        )));
    }
    if governance.policy.runs_host_function(MONTHLY_REPORT) {
        let reports = MonthlyReportFunction::new(
            &governance.policy,
            Arc::clone(&state.model),
            config.home_dir().join("reports"),
            governance.passages.clone(),
        );
        governance
            .policy
            .provide(MONTHLY_REPORT, Arc::new(reports))?;
    }
    if governance.policy.runs_host_function(SUMMARIZE_DOCUMENT) {
        let summaries = SummarizeFunction::new(
            Arc::clone(&state.model),
            knowledge.clone(),
            SummaryOptions {
                max_prompt_tokens: config.context_max_tokens,
                ..SummaryOptions::default()
            },
        );
        governance
            .policy
            .provide(SUMMARIZE_DOCUMENT, Arc::new(summaries))?;
    }
    if searches {
        let search = KnowledgeSearchFunction::new(knowledge.clone(), embedder.clone());
        governance
            .policy
            .provide(SEARCH_KNOWLEDGE, Arc::new(search))?;
    }
    // A wrong MCP server or tool name, or a host function this program lacks, stops
    // start-up here, not at the first call.
    governance.policy.connect().await.context(
        "cannot start the policy's tools (see `mcp_servers` and `executor` in the policy file)",
    )?;
    let state = state.with_governance(governance.with_knowledge(knowledge));

    // The model loads (and is fetched if needed) off the runtime; the server already answers
    // /healthz, and 503 elsewhere, meanwhile. A model that cannot load stops the server.
    let loader_state = state.clone();
    let loader = tokio::task::spawn_blocking(move || -> Result<()> {
        // The model first: a model that cannot load stops the server before anything is
        // fetched for the embeddings.
        let loaded = LoadedModel::new(load_backend(&config)?)?;
        if wants_embedder {
            // Without the embedding model (no network to fetch it) searches are BM25 only,
            // and /v1/embeddings answers 503.
            match load_embedder(&config) {
                Ok(loaded) => embedder.set(loaded),
                Err(err) => {
                    tracing::warn!(%err, "the embedding model is not available: document search ranks by words only, /v1/embeddings answers 503")
                }
            }
        }
        let id = loaded.backend.info().id.clone();
        loader_state.set_model(loaded);
        tracing::info!(model = %id, "ready: serving at http://{address}/v1");
        Ok(())
    });

    tracing::info!(
        "listening on http://{address} (GET /readyz answers 200 once the model is loaded)"
    );
    let server = fulcrum_server::serve(listener, state, shutdown_signal(exit_with_stdin));
    tokio::pin!(server);
    tokio::select! {
        result = &mut server => return result.context("the HTTP server failed"),
        loaded = loader => {
            loaded.context("the model loader panicked")??;
        }
    }
    server.await.context("the HTTP server failed")
}

/// Resolves when standard input reaches its end (or fails).
async fn stdin_closed() {
    let (closed, wait) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
        let _ = closed.send(());
    });
    let _ = wait.await;
}

async fn shutdown_signal(exit_with_stdin: bool) {
    let parent_gone = async {
        if exit_with_stdin {
            stdin_closed().await;
            tracing::info!("standard input closed: the process that started this server is gone");
        } else {
            std::future::pending::<()>().await;
        }
    };
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
        () = parent_gone => {},
    }
    tracing::info!("shutting down");
}
