//! The ledger's `feedback` table (one outcome per request id, the latest kept) and the reads
//! experiments need from the `requests` table: a shadow's spend for its daily cap.

use rusqlite::params;

use super::{Ledger, LedgerReadError};
use crate::usage::feedback::Feedback;

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS feedback (
    request_id TEXT PRIMARY KEY,
    ts_ms INTEGER NOT NULL,
    caller TEXT NOT NULL,
    score REAL,
    label TEXT,
    comment TEXT
);
";

/// Feedback could not be stored.
#[derive(Debug, thiserror::Error)]
#[error("the usage ledger {path} cannot store feedback: {source}")]
pub struct FeedbackWriteError {
    path: String,
    source: rusqlite::Error,
}

impl Ledger {
    /// Stores `f` from `caller`; true when it replaced an earlier feedback for its request.
    /// Blocking (one small SQLite write): call it off the async workers.
    pub fn record_feedback(&self, f: &Feedback, caller: &str) -> Result<bool, FeedbackWriteError> {
        let err = |source| FeedbackWriteError { path: self.path.display().to_string(), source };
        let c = self.reader.lock().unwrap_or_else(|p| p.into_inner());
        let had: bool = c
            .query_row("SELECT COUNT(*) FROM feedback WHERE request_id = ?1", params![f.request_id], |r| {
                r.get::<_, i64>(0).map(|n| n > 0)
            })
            .map_err(err)?;
        c.execute(
            "INSERT OR REPLACE INTO feedback (request_id, ts_ms, caller, score, label, comment) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![f.request_id, crate::api::ids::unix_ms() as i64, caller, f.score, f.label, f.comment],
        )
        .map_err(err)?;
        Ok(had)
    }

    /// USD the shadow `variant` of `route` spent since `since` (unix seconds), from its
    /// written rows.
    pub fn shadow_spent_since(&self, route: &str, variant: &str, since: u64) -> Result<f64, LedgerReadError> {
        let c = self.reader.lock().unwrap_or_else(|p| p.into_inner());
        c.query_row(
            "SELECT COALESCE(SUM(cost_usd), 0) FROM requests WHERE shadow = 1 AND route = ?1 AND variant = ?2 AND ts_ms >= ?3",
            params![route, variant, (since as i64).saturating_mul(1000)],
            |row| row.get::<_, f64>(0),
        )
        .map_err(|source| LedgerReadError { path: self.path.display().to_string(), source })
    }
}
