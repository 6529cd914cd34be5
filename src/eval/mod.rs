//! `sidegate eval FILE`: one dataset run across several variants (routes, models, prompt
//! versions), each answer scored, every result kept in SQLite under the state directory, and
//! reported side by side (a terminal table, `--json`, a self-contained HTML page).
//!
//! Module by concern, in the order a run uses them:
//! - [`file`]: the eval file (TOML), checked with every error at `file:line:col`.
//! - [`dataset`]: the items (JSONL or CSV), errors at their dataset line.
//! - [`request`]: an item and a variant into the Chat Completions body sent.
//! - [`transport`]: HTTP over the daemon's socket, or the gateway built in-process; the answer
//!   streamed, its latency, time to first token, usage and cost measured.
//! - [`scorers`]: exact, contains, regex, json_schema, json_field, tool_call, numeric, judge.
//! - [`runner`]: the bounded, budget-capped, resumable run; [`progress`] its progress line.
//! - [`store`]: runs, items, answers and scores in `STATE/eval.sqlite`.
//! - [`report`]: per-variant statistics, the table, the JSON and the HTML; [`compare`] two runs.
//! - [`cli`]: the `sidegate eval` arguments and what each command prints.

pub mod cli;
pub mod compare;
pub mod dataset;
pub mod file;
pub mod progress;
pub mod report;
pub mod request;
pub mod runner;
pub mod scorers;
pub mod store;
pub mod transport;

/// Why an eval could not run or report (each variant's failed calls are not this: they are
/// recorded as the item's error and scored 0).
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The eval file or its dataset is wrong: each line one located error.
    #[error("{0}")]
    Invalid(String),
    #[error("the eval store {path}: {source}")]
    Store { path: String, source: rusqlite::Error },
    #[error("{0}")]
    Config(String),
    #[error("cannot reach the gateway: {0}")]
    Transport(String),
    #[error("no run {0} in the eval store")]
    NoRun(i64),
    #[error("cannot write {path}: {source}")]
    Write { path: String, source: std::io::Error },
}
