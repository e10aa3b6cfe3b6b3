//! `fulcrum eval`: function calling on BFCL data, and retrieval quality.

mod bfcl;
mod retrieval;

use anyhow::Result;

use crate::config::Config;

#[derive(Debug, clap::Subcommand)]
pub enum EvalCommand {
    /// Function-calling accuracy on BFCL data (simple_python, multiple, parallel,
    /// parallel_multiple, irrelevance), scored with BFCL's AST-checker rules
    Bfcl(bfcl::BfclArgs),
    /// Retrieval quality: recall@k of BM25, dense and hybrid search over a labeled query set
    Retrieval(retrieval::RetrievalArgs),
}

impl EvalCommand {
    /// The configuration flags given to this command.
    pub fn flag_layers(&self) -> Vec<serde_json::Value> {
        match self {
            EvalCommand::Bfcl(args) => vec![crate::config::layer(&args.model)],
            EvalCommand::Retrieval(_) => Vec::new(),
        }
    }
}

pub fn run(config: &Config, command: EvalCommand) -> Result<()> {
    match command {
        EvalCommand::Bfcl(args) => bfcl::run(config, args),
        EvalCommand::Retrieval(args) => retrieval::run(config, &args),
    }
}
