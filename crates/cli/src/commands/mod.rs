//! One module per subcommand.

pub mod audit;
pub mod bench;
mod bench_agent;
mod bench_serve;
pub mod chat;
pub mod eval;
pub mod eval_retrieval;
pub mod ingest;
pub mod keys;
pub mod models;
pub mod report;
pub mod serve;
