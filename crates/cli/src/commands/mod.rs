//! One module per subcommand.

pub mod bench;
pub mod chat;
pub mod eval;
pub mod models;
pub mod serve;
