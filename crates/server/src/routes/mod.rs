//! The HTTP routes, one file per group.

pub mod actions;
pub mod agent;
pub mod audit;
pub mod chat;
mod chat_audit;
mod chat_stream;
mod completion;
pub mod completions;
pub mod documents;
pub mod embeddings;
pub mod health;
mod host_tool;
pub mod knowledge;
pub mod me;
pub mod models;
mod pieces;
pub mod reports;
pub mod responses;
mod sse;
pub mod tokenizer;
