//! `[ledger]`: where usage is recorded (`<state_dir>/usage.sqlite3`) and for how long.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::context::ResolveCx;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerFile {
    /// Keep records this long (default "90d").
    pub retention: Option<String>,
    /// Record usage at all (default true; needs a state directory).
    pub enabled: Option<bool>,
}

#[derive(Debug, Clone)]
pub struct LedgerSettings {
    /// None: no ledger (disabled, or no state directory).
    pub path: Option<PathBuf>,
    pub retention: Duration,
}

impl Default for LedgerSettings {
    fn default() -> Self {
        LedgerSettings { path: None, retention: Duration::from_secs(90 * 86_400) }
    }
}

pub(super) fn resolve_ledger(cx: &mut ResolveCx<'_>, raw: &LedgerFile, state_dir: Option<&Path>) -> LedgerSettings {
    let d = LedgerSettings::default();
    let retention = cx.duration(&["ledger", "retention"], &raw.retention, d.retention);
    let path = if raw.enabled == Some(false) { None } else { state_dir.map(|s| s.join("usage.sqlite3")) };
    LedgerSettings { path, retention }
}
