//! The HTTP routes, one file per group.

pub mod chat;
mod chat_stream;
pub mod health;
pub mod models;
