//! Function-calling evaluation in the format of the Berkeley Function Calling Leaderboard.
//!
//! [`data`] reads BFCL's JSON-lines files, [`convert`] turns BFCL function docs into OpenAI
//! tools exactly as BFCL's OpenAI handler does, and [`checker`] scores a model's output with the
//! rules of BFCL's AST checker (`eval/bfcl/CHECKER.md`). [`tickets`] grades the answers of the
//! customer-service ticket set (`eval/tickets`), [`summaries`] the summaries of the generated
//! annual reports (`eval/summaries`). Talking to a model is the
//! caller's business: this crate knows nothing of HTTP.

pub mod checker;
pub mod convert;
pub mod data;
pub mod summaries;
pub mod tickets;

pub use checker::{check_entry, ModelOutput, Verdict};
pub use data::{load_category, Category, Entry, EvalError};
