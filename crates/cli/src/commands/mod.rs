//! One module per subcommand; `bench` and `eval` group theirs. Each command's arguments carry
//! the configuration flag groups it uses (`ModelFlags`, `PolicyFlags`, `ServeFlags`), and no
//! others, so its `--help` offers only what it reads.

pub mod audit;
pub mod bench;
pub mod chat;
pub mod eval;
pub mod keys;
pub mod knowledge;
pub mod models;
pub mod report;
pub mod serve;
pub mod summarize;
