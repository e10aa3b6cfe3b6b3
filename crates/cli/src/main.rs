//! `fulcrum`: the command-line entry point. Parses arguments, resolves configuration, and hands
//! off to one command module; every failure ends as a one-line reason and exit code 1.

mod commands;
mod config;
mod governance;
mod model_source;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::GlobalFlags;

#[derive(Debug, Parser)]
#[command(
    name = "fulcrum",
    version,
    about = "A private, OpenAI-compatible LLM server with controlled tool use"
)]
struct Cli {
    #[command(flatten)]
    flags: GlobalFlags,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the OpenAI-compatible API (fetches the model first when needed)
    Serve(commands::serve::ServeArgs),
    /// List or fetch catalogue models
    #[command(subcommand)]
    Models(commands::models::ModelsCommand),
    /// Chat with the model in the terminal (/reset, /exit)
    Chat(commands::chat::ChatArgs),
    /// Measure the engine
    #[command(subcommand)]
    Bench(commands::bench::BenchCommand),
    /// Evaluate function calling
    #[command(subcommand)]
    Eval(commands::eval::EvalCommand),
    /// Make API keys for the users of the policy file
    #[command(subcommand)]
    Keys(commands::keys::KeysCommand),
    /// Add documents to a collection of the knowledge database (for retrieval)
    Ingest(commands::knowledge::IngestArgs),
    /// Search a collection of the knowledge database (hybrid: BM25 and embeddings)
    Search(commands::knowledge::SearchArgs),
    /// Generate reports (Markdown, DOCX, PDF) from the sales data
    #[command(subcommand)]
    Report(commands::report::ReportCommand),
    /// Summarize a long document: key figures, trends and risks, every number checked against it
    Summarize(commands::summarize::SummarizeArgs),
    /// Verify or export the audit log
    #[command(subcommand)]
    Audit(commands::audit::AuditCommand),
    /// Print the resolved configuration as TOML
    Config(commands::serve::ServeArgs),
}

impl Command {
    /// The configuration flag groups this command was given, lowest precedence first.
    fn flag_layers(&self) -> Vec<serde_json::Value> {
        match self {
            Command::Serve(args) | Command::Config(args) => args.flag_layers(),
            Command::Chat(args) => vec![config::layer(&args.model)],
            Command::Bench(command) => command.flag_layers(),
            Command::Eval(command) => command.flag_layers(),
            Command::Keys(command) => command.flag_layers(),
            Command::Report(command) => command.flag_layers(),
            Command::Summarize(args) => args.flag_layers(),
            Command::Models(_) | Command::Ingest(_) | Command::Search(_) | Command::Audit(_) => {
                Vec::new()
            }
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    fulcrum_tools::install_tls_provider();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One line: the error and its causes, outermost first.
            let causes: Vec<String> = err.chain().map(ToString::to_string).collect();
            eprintln!("error: {}", causes.join(": "));
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let config = config::Config::load(&cli.flags, &cli.command.flag_layers())?;
    init_logging(&config.log);
    match cli.command {
        Command::Serve(args) => commands::serve::run(config, &args),
        Command::Models(command) => commands::models::run(&config, command),
        Command::Chat(args) => commands::chat::run(&config, &args),
        Command::Bench(command) => commands::bench::run(&config, command),
        Command::Eval(command) => commands::eval::run(&config, command),
        Command::Keys(command) => commands::keys::run(&config, command),
        Command::Audit(command) => commands::audit::run(&config, command),
        Command::Report(command) => commands::report::run(&config, command),
        Command::Summarize(args) => commands::summarize::run(&config, &args),
        Command::Ingest(args) => commands::knowledge::run(&config, &args),
        Command::Search(args) => commands::knowledge::search(&config, &args),
        Command::Config(_) => {
            print!("{}", toml::to_string(&config)?);
            Ok(())
        }
    }
}

fn init_logging(filter: &str) {
    // llama.cpp reports every tensor at info level; keep it to warnings unless asked for.
    let filter = if filter.contains("llama") {
        filter.to_string()
    } else {
        format!("{filter},llama_cpp_2=warn,llama-cpp-2=warn")
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
