//! What every request used and cost: the ledger (SQLite rows), metrics (Prometheus), and the
//! settling of the caller's budget, and the last hour per minute for the dashboard (history). Fed once per request when it ends, off the hot path where
//! it can be (the ledger writes on its own thread).

pub mod experiments;
pub mod feedback;
pub mod history;
pub mod ledger;
pub mod metrics;
pub mod report;

pub use ledger::{Ledger, Record};
pub use metrics::Metrics;
