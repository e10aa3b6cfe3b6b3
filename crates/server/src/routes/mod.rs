//! The HTTP routes, one file per group.

pub mod chat;
pub mod health;
pub mod models;
