//! The dashboard's evaluation reports: the newest runs of `sidegate eval` from the eval store
//! (`STATE/eval.sqlite`, opened read-only, never created), summarized per variant for
//! `/ui/data`, and one run's whole HTML report for `/ui/eval/RUN`. The summary is read again
//! only when the store's files change, so the page's poll costs a `stat` otherwise.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use serde_json::{Value, json};

use crate::eval::report;
use crate::eval::store::Store;

/// How many runs the panel lists.
const RUNS_SHOWN: usize = 8;

/// What the store's files looked like when the summary was read: any change reads it again.
type Stamp = (PathBuf, Vec<(Option<SystemTime>, u64)>);

static LAST: Mutex<Option<(Stamp, Value)>> = Mutex::new(None);

fn store_path(state_dir: &Path) -> PathBuf {
    state_dir.join("eval.sqlite")
}

fn stamp(path: &Path) -> Stamp {
    let files = ["", "-wal"].iter().map(|suffix| {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        std::fs::metadata(PathBuf::from(p)).map_or((None, 0), |m| (m.modified().ok(), m.len()))
    });
    (path.to_path_buf(), files.collect())
}

/// `{"runs": [...]}` for `/ui/data`: the newest runs, each with its variants' score, pass
/// rate, latency and cost (the keys of `sidegate eval --json`). No store yet: no runs; a store
/// that cannot be read: no runs and the `error`.
pub fn recent(state_dir: Option<&Path>) -> Value {
    let Some(dir) = state_dir else {
        return json!({"runs": [], "store": null});
    };
    let path = store_path(dir);
    if !path.exists() {
        return json!({"runs": [], "store": path.display().to_string()});
    }
    let now = stamp(&path);
    let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((seen, value)) = last.as_ref()
        && *seen == now
    {
        return value.clone();
    }
    let value = match read(&path) {
        Ok(runs) => json!({"runs": runs, "store": path.display().to_string()}),
        Err(e) => json!({"runs": [], "store": path.display().to_string(), "error": e.to_string()}),
    };
    *last = Some((now, value.clone()));
    value
}

fn read(path: &Path) -> Result<Vec<Value>, crate::eval::EvalError> {
    let store = Store::open_read_only(path)?;
    let mut runs = Vec::new();
    for id in store.recent_runs(RUNS_SHOWN)? {
        let r = report::load(&store, id)?;
        let mut v = report::json(&r);
        v["started_at"] = json!(r.run.started_at);
        v["finished_at"] = json!(r.run.finished_at);
        runs.push(v);
    }
    Ok(runs)
}

/// Run `id`'s HTML report, its inline style and script carrying `nonce`.
pub fn page(state_dir: Option<&Path>, id: i64, nonce: &str) -> Result<String, String> {
    let dir = state_dir.ok_or("this daemon has no state directory, so no eval store")?;
    let path = store_path(dir);
    if !path.exists() {
        return Err(format!("no eval store at {} (no `sidegate eval` has run)", path.display()));
    }
    let store = Store::open_read_only(&path).map_err(|e| e.to_string())?;
    let r = report::load(&store, id).map_err(|e| e.to_string())?;
    Ok(report::html::page(&r, Some(nonce)))
}
