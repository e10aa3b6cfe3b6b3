//! One module per subcommand.

pub mod bench;
pub mod chat;
pub mod models;
pub mod serve;
