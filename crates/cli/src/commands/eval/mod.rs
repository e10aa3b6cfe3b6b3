//! `fulcrum eval`: function calling on BFCL data, retrieval quality, the ticket set, and
//! summaries of long documents.

mod bfcl;
mod retrieval;
mod summaries;
mod tickets;

use anyhow::Result;

use crate::config::Config;

#[derive(Debug, clap::Subcommand)]
pub enum EvalCommand {
    /// Function-calling accuracy on BFCL data (simple_python, multiple, parallel,
    /// parallel_multiple, irrelevance), scored with BFCL's AST-checker rules
    Bfcl(bfcl::BfclArgs),
    /// Retrieval quality: recall@k of BM25, dense and hybrid search over a labeled query set
    Retrieval(retrieval::RetrievalArgs),
    /// The customer-service experiment: the ticket set asked with tools on (the agent, as the
    /// ticket's user) and off (the plain model), graded per kind
    Tickets(tickets::TicketArgs),
    /// Long-document summaries: generated annual reports with planted facts, summarized
    /// (map-reduce, whole, or a peer server given the whole document) and graded
    Summaries(summaries::SummaryEvalArgs),
}

impl EvalCommand {
    /// The configuration flags given to this command.
    pub fn flag_layers(&self) -> Vec<serde_json::Value> {
        match self {
            EvalCommand::Bfcl(args) => vec![crate::config::layer(&args.model)],
            EvalCommand::Retrieval(_) => Vec::new(),
            EvalCommand::Tickets(args) => vec![crate::config::layer(&args.model)],
            EvalCommand::Summaries(args) => vec![crate::config::layer(&args.model)],
        }
    }
}

pub fn run(config: &Config, command: EvalCommand) -> Result<()> {
    match command {
        EvalCommand::Bfcl(args) => bfcl::run(config, args),
        EvalCommand::Retrieval(args) => retrieval::run(config, &args),
        EvalCommand::Tickets(args) => tickets::run(config, args),
        EvalCommand::Summaries(args) => summaries::run(config, &args),
    }
}
