//! `fulcrum bench`: measurements of the engine, the agent loop and a server under load.

mod agent;
mod engine;
mod serve;

use anyhow::Result;

use crate::config::Config;

#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Prompt processing (pp) and decode (tg) tokens per second
    Engine(engine::EngineBenchArgs),
    /// The agent loop's own cost per tool call: parse, validate, policy decision (audited,
    /// durable), dispatch to a no-op tool, result audited
    Agent {
        /// Tool calls measured (after 100 warm-up calls)
        #[arg(long, default_value_t = 2000)]
        calls: usize,
    },
    /// Load test of an OpenAI-compatible server (Fulcrum by default, optionally side by side
    /// with llama.cpp's llama-server): throughput, TTFT, latency, 429s, memory
    Serve(serve::ServeBenchArgs),
}

impl BenchCommand {
    /// The configuration flags given to this command.
    pub fn flag_layers(&self) -> Vec<serde_json::Value> {
        match self {
            BenchCommand::Engine(args) => vec![crate::config::layer(&args.model)],
            BenchCommand::Agent { .. } => Vec::new(),
            BenchCommand::Serve(args) => vec![crate::config::layer(&args.model)],
        }
    }
}

pub fn run(config: &Config, command: BenchCommand) -> Result<()> {
    match command {
        BenchCommand::Engine(args) => engine::run(config, &args),
        BenchCommand::Agent { calls } => agent::run(calls),
        BenchCommand::Serve(args) => serve::run(config, args),
    }
}
