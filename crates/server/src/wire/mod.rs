//! The JSON of Fulcrum's public API, and only here: OpenAI's chat completions (`openai`) and
//! Fulcrum's own routes (`agent`, `actions`, `audit`, `reports`). Core types never go to a
//! client as they are: each route converts them into these structs with an explicit `From`, so
//! renaming a field in a core crate cannot change what clients read (rust-analyzer keeps its
//! `to_proto` at the edge the same way).

pub mod actions;
pub mod agent;
pub mod audit;
mod openai;
pub mod reports;

pub use openai::*;
