//! The eval store: `STATE/eval.sqlite` (SQLite, WAL). `runs` (one per `sidegate eval`), their
//! `items`, the `answers` (keyed by request, so a later run can reuse one), `results` (which
//! answer an item got on a variant, and its overall score) and `scores` (each scorer's
//! verdict). A result and its scores are written in one transaction: after a crash a run has
//! whole items or none, and resuming skips exactly the whole ones.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use super::EvalError;
use super::dataset::Item;
use super::scorers::{Score, ToolCall};
use super::transport::Answer;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY, file TEXT NOT NULL, digest TEXT NOT NULL, started_at INTEGER NOT NULL,
  finished_at INTEGER, status TEXT NOT NULL, variants TEXT NOT NULL, scorers TEXT NOT NULL,
  budget_usd REAL, skipped INTEGER NOT NULL DEFAULT 0, via TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS items (
  run_id INTEGER NOT NULL, idx INTEGER NOT NULL, line INTEGER NOT NULL, key TEXT NOT NULL,
  input TEXT NOT NULL, expect TEXT NOT NULL, PRIMARY KEY (run_id, idx));
CREATE TABLE IF NOT EXISTS answers (
  id INTEGER PRIMARY KEY, request_key TEXT NOT NULL, text TEXT NOT NULL, tool_calls TEXT NOT NULL,
  latency_ms REAL NOT NULL, ttft_ms REAL, prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL,
  cost_usd REAL, model TEXT NOT NULL, error TEXT, at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS answers_by_key ON answers (request_key);
CREATE TABLE IF NOT EXISTS results (
  run_id INTEGER NOT NULL, idx INTEGER NOT NULL, variant TEXT NOT NULL, answer_id INTEGER NOT NULL,
  cached INTEGER NOT NULL, score REAL NOT NULL, pass INTEGER NOT NULL, PRIMARY KEY (run_id, idx, variant));
CREATE TABLE IF NOT EXISTS scores (
  run_id INTEGER NOT NULL, idx INTEGER NOT NULL, variant TEXT NOT NULL, scorer TEXT NOT NULL,
  score REAL NOT NULL, pass INTEGER NOT NULL, reason TEXT NOT NULL, cost_usd REAL NOT NULL DEFAULT 0,
  PRIMARY KEY (run_id, idx, variant, scorer));
";

pub struct Store {
    conn: Mutex<Connection>,
    path: PathBuf,
}

/// A run as stored.
#[derive(Debug, Clone)]
pub struct Run {
    pub id: i64,
    pub file: String,
    pub digest: String,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub status: String,
    /// `[{"name", "target", "prompt"}]`.
    pub variants: Value,
    pub scorers: Vec<String>,
    pub budget_usd: Option<f64>,
    pub skipped: i64,
    pub via: String,
}

/// One item's result on one variant, with its answer and each scorer's verdict.
#[derive(Debug, Clone)]
pub struct ResultRow {
    pub idx: usize,
    pub variant: String,
    pub answer: Answer,
    pub cached: bool,
    pub score: f64,
    pub pass: bool,
    pub scores: Vec<(String, Score)>,
    /// What the judge calls for it cost.
    pub judge_cost_usd: f64,
}

/// An item as stored with its run.
#[derive(Debug, Clone)]
pub struct StoredItem {
    pub idx: usize,
    pub line: usize,
    /// Identifies the item's content across runs.
    pub key: String,
    pub input: Value,
    pub expect: Value,
}

/// A scorer's verdict and what it cost (a judge's call).
pub type Verdict = (String, Score, f64);

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

impl Store {
    pub fn open(path: &Path) -> Result<Store, EvalError> {
        let err = |source| EvalError::Store { path: path.display().to_string(), source };
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let conn = Connection::open(path).map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(err)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        Ok(Store { conn: Mutex::new(conn), path: path.to_path_buf() })
    }

    /// Opens an existing store for reading only (the dashboard): never creates the file or
    /// its tables, never writes.
    pub fn open_read_only(path: &Path) -> Result<Store, EvalError> {
        let err = |source| EvalError::Store { path: path.display().to_string(), source };
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(1)).map_err(err)?;
        Ok(Store { conn: Mutex::new(conn), path: path.to_path_buf() })
    }

    /// The ids of the `n` newest runs, newest first.
    pub fn recent_runs(&self, n: usize) -> Result<Vec<i64>, EvalError> {
        self.with(|c| {
            let mut q = c.prepare("SELECT id FROM runs ORDER BY id DESC LIMIT ?1")?;
            let ids = q.query_map(params![n as i64], |r| r.get(0))?.collect::<rusqlite::Result<Vec<i64>>>()?;
            Ok(ids)
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> Result<T, EvalError> {
        let mut c = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut c).map_err(|source| EvalError::Store { path: self.path.display().to_string(), source })
    }

    pub fn create_run(
        &self,
        file: &str,
        digest: &str,
        variants: &Value,
        scorers: &[String],
        budget: Option<f64>,
        via: &str,
    ) -> Result<i64, EvalError> {
        let scorers = serde_json::to_string(scorers).unwrap_or_default();
        self.with(|c| {
            c.execute(
                "INSERT INTO runs (file, digest, started_at, status, variants, scorers, budget_usd, via) VALUES (?1, ?2, ?3, 'running', ?4, ?5, ?6, ?7)",
                params![file, digest, now(), variants.to_string(), scorers, budget, via],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    /// The newest run of `file` with `digest` that never finished.
    pub fn unfinished(&self, file: &str, digest: &str) -> Result<Option<i64>, EvalError> {
        self.with(|c| {
            c.query_row(
                "SELECT id FROM runs WHERE file = ?1 AND digest = ?2 AND finished_at IS NULL ORDER BY id DESC LIMIT 1",
                params![file, digest],
                |r| r.get(0),
            )
            .optional()
        })
    }

    pub fn run(&self, id: i64) -> Result<Run, EvalError> {
        let run = self.with(|c| {
            c.query_row("SELECT id, file, digest, started_at, finished_at, status, variants, scorers, budget_usd, skipped, via FROM runs WHERE id = ?1", [id], |r| {
                Ok(Run {
                    id: r.get(0)?,
                    file: r.get(1)?,
                    digest: r.get(2)?,
                    started_at: r.get(3)?,
                    finished_at: r.get(4)?,
                    status: r.get(5)?,
                    variants: serde_json::from_str(&r.get::<_, String>(6)?).unwrap_or(Value::Null),
                    scorers: serde_json::from_str(&r.get::<_, String>(7)?).unwrap_or_default(),
                    budget_usd: r.get(8)?,
                    skipped: r.get(9)?,
                    via: r.get(10)?,
                })
            })
            .optional()
        })?;
        run.ok_or(EvalError::NoRun(id))
    }

    pub fn put_items(&self, run: i64, items: &[Item]) -> Result<(), EvalError> {
        self.with(|c| {
            let tx = c.transaction()?;
            {
                let mut st = tx.prepare("INSERT OR IGNORE INTO items (run_id, idx, line, key, input, expect) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?;
                for it in items {
                    let input = serde_json::json!({"vars": it.vars, "messages": it.messages});
                    let key = blake3::hash(format!("{input}\n{}", it.expect).as_bytes()).to_hex()[..16].to_string();
                    st.execute(params![run, it.index as i64, it.line as i64, key, input.to_string(), it.expect.to_string()])?;
                }
            }
            tx.commit()
        })
    }

    pub fn items(&self, run: i64) -> Result<Vec<StoredItem>, EvalError> {
        self.with(|c| {
            let mut st = c.prepare("SELECT idx, line, key, input, expect FROM items WHERE run_id = ?1 ORDER BY idx")?;
            let rows = st.query_map([run], |r| {
                Ok(StoredItem {
                    idx: r.get::<_, i64>(0)? as usize,
                    line: r.get::<_, i64>(1)? as usize,
                    key: r.get(2)?,
                    input: serde_json::from_str(&r.get::<_, String>(3)?).unwrap_or(Value::Null),
                    expect: serde_json::from_str(&r.get::<_, String>(4)?).unwrap_or(Value::Null),
                })
            })?;
            rows.collect()
        })
    }

    /// The (item, variant) pairs the run has a result for.
    pub fn done(&self, run: i64) -> Result<HashSet<(usize, String)>, EvalError> {
        self.with(|c| {
            let mut st = c.prepare("SELECT idx, variant FROM results WHERE run_id = ?1")?;
            let rows = st.query_map([run], |r| Ok((r.get::<_, i64>(0)? as usize, r.get::<_, String>(1)?)))?;
            rows.collect()
        })
    }

    /// What the run's own calls cost so far (reused answers are free), judges included.
    pub fn spent(&self, run: i64) -> Result<f64, EvalError> {
        self.with(|c| {
            let answers: f64 = c.query_row(
                "SELECT COALESCE(SUM(a.cost_usd), 0) FROM results r JOIN answers a ON a.id = r.answer_id WHERE r.run_id = ?1 AND r.cached = 0",
                [run],
                |r| r.get(0),
            )?;
            let judges: f64 = c.query_row("SELECT COALESCE(SUM(cost_usd), 0) FROM scores WHERE run_id = ?1", [run], |r| r.get(0))?;
            Ok(answers + judges)
        })
    }

    /// The dearest answered item the run paid for (answer and judges): what a resumed run
    /// reserves per item from the start.
    pub fn dearest(&self, run: i64) -> Result<Option<f64>, EvalError> {
        self.with(|c| {
            c.query_row(
                "SELECT MAX(COALESCE(a.cost_usd, 0) + COALESCE((SELECT SUM(s.cost_usd) FROM scores s WHERE s.run_id = r.run_id AND s.idx = r.idx AND s.variant = r.variant), 0))
                 FROM results r JOIN answers a ON a.id = r.answer_id WHERE r.run_id = ?1 AND r.cached = 0 AND a.error IS NULL",
                [run],
                |r| r.get(0),
            )
        })
    }

    /// The newest good answer to the request `key`.
    pub fn cached(&self, key: &str) -> Result<Option<(i64, Answer)>, EvalError> {
        self.with(|c| {
            c.query_row(
                "SELECT id, text, tool_calls, latency_ms, ttft_ms, prompt_tokens, completion_tokens, cost_usd, model, error FROM answers WHERE request_key = ?1 AND error IS NULL ORDER BY id DESC LIMIT 1",
                [key],
                |r| Ok((r.get(0)?, answer_of(r, 1)?)),
            )
            .optional()
        })
    }

    /// One item's result on one variant: its answer (new, or the stored `reused` one), its
    /// overall score and each verdict, in one transaction.
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &self,
        run: i64,
        idx: usize,
        variant: &str,
        key: &str,
        answer: &Answer,
        reused: Option<i64>,
        verdicts: &[Verdict],
    ) -> Result<(), EvalError> {
        let (score, pass) = overall(verdicts.iter().map(|(_, s, _)| s));
        self.with(|c| {
            let tx = c.transaction()?;
            let answer_id = match reused {
                Some(id) => id,
                None => {
                    let calls: Vec<Value> = answer.tool_calls.iter().map(|t| serde_json::json!({"name": t.name, "arguments": t.arguments})).collect();
                    tx.execute(
                        "INSERT INTO answers (request_key, text, tool_calls, latency_ms, ttft_ms, prompt_tokens, completion_tokens, cost_usd, model, error, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                        params![key, answer.text, Value::Array(calls).to_string(), answer.latency_ms, answer.ttft_ms, answer.prompt_tokens as i64, answer.completion_tokens as i64, answer.cost_usd, answer.model, answer.error, now()],
                    )?;
                    tx.last_insert_rowid()
                }
            };
            tx.execute(
                "INSERT OR REPLACE INTO results (run_id, idx, variant, answer_id, cached, score, pass) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![run, idx as i64, variant, answer_id, reused.is_some(), score, pass],
            )?;
            for (name, s, cost) in verdicts {
                tx.execute(
                    "INSERT OR REPLACE INTO scores (run_id, idx, variant, scorer, score, pass, reason, cost_usd) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![run, idx as i64, variant, name, s.score, s.pass, s.reason, cost],
                )?;
            }
            tx.commit()
        })
    }

    pub fn finish(&self, run: i64, status: &str, skipped: usize) -> Result<(), EvalError> {
        self.with(|c| {
            c.execute(
                "UPDATE runs SET finished_at = ?2, status = ?3, skipped = ?4 WHERE id = ?1",
                params![run, now(), status, skipped as i64],
            )
            .map(|_| ())
        })
    }

    /// Every result of the run with its answer and verdicts, by item then variant.
    pub fn results(&self, run: i64) -> Result<Vec<ResultRow>, EvalError> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT r.idx, r.variant, r.cached, r.score, r.pass, a.text, a.tool_calls, a.latency_ms, a.ttft_ms, a.prompt_tokens, a.completion_tokens, a.cost_usd, a.model, a.error
                 FROM results r JOIN answers a ON a.id = r.answer_id WHERE r.run_id = ?1 ORDER BY r.idx, r.variant",
            )?;
            let mut rows: Vec<ResultRow> = st
                .query_map([run], |r| {
                    Ok(ResultRow {
                        idx: r.get::<_, i64>(0)? as usize,
                        variant: r.get(1)?,
                        cached: r.get(2)?,
                        score: r.get(3)?,
                        pass: r.get(4)?,
                        answer: answer_of(r, 5)?,
                        scores: Vec::new(),
                        judge_cost_usd: 0.0,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            let mut st = c.prepare("SELECT idx, variant, scorer, score, pass, reason, cost_usd FROM scores WHERE run_id = ?1 ORDER BY rowid")?;
            let verdicts = st.query_map([run], |r| {
                let s = Score { score: r.get(3)?, pass: r.get(4)?, reason: r.get(5)? };
                Ok((r.get::<_, i64>(0)? as usize, r.get::<_, String>(1)?, r.get::<_, String>(2)?, s, r.get::<_, f64>(6)?))
            })?;
            for v in verdicts {
                let (idx, variant, name, s, cost) = v?;
                if let Some(row) = rows.iter_mut().find(|r| r.idx == idx && r.variant == variant) {
                    row.scores.push((name, s));
                    row.judge_cost_usd += cost;
                }
            }
            Ok(rows)
        })
    }
}

/// An item's overall score: the mean of its verdicts; it passes when every verdict does.
pub fn overall<'a>(scores: impl Iterator<Item = &'a Score>) -> (f64, bool) {
    let (mut sum, mut n, mut pass) = (0.0, 0usize, true);
    for s in scores {
        sum += s.score;
        n += 1;
        pass &= s.pass;
    }
    if n == 0 { (0.0, false) } else { (sum / n as f64, pass) }
}

fn answer_of(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Answer> {
    let calls: Vec<Value> = serde_json::from_str(&r.get::<_, String>(at + 1)?).unwrap_or_default();
    Ok(Answer {
        text: r.get(at)?,
        tool_calls: calls
            .into_iter()
            .map(|c| ToolCall { name: c["name"].as_str().unwrap_or("").to_string(), arguments: c["arguments"].clone() })
            .collect(),
        latency_ms: r.get(at + 2)?,
        ttft_ms: r.get(at + 3)?,
        prompt_tokens: r.get::<_, i64>(at + 4)? as u64,
        completion_tokens: r.get::<_, i64>(at + 5)? as u64,
        cost_usd: r.get(at + 6)?,
        model: r.get(at + 7)?,
        error: r.get(at + 8)?,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    #[test]
    fn results_survive_a_reopen_and_answers_are_found_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/eval.sqlite");
        let s = Store::open(&path).unwrap();
        let run = s
            .create_run("/e/x.toml", "d1", &json!([{"name": "a"}]), &["contains".into()], Some(1.0), "in-process")
            .unwrap();
        assert_eq!(s.unfinished("/e/x.toml", "d1").unwrap(), Some(run));
        assert_eq!(s.unfinished("/e/x.toml", "d2").unwrap(), None);
        let a =
            Answer { text: "hi".into(), latency_ms: 3.0, cost_usd: Some(0.25), model: "m".into(), ..Answer::default() };
        let ok = Score { score: 1.0, pass: true, reason: "contains".into() };
        s.record(run, 0, "a", "k1", &a, None, &[("contains".into(), ok.clone(), 0.0)]).unwrap();
        let (id, again) = s.cached("k1").unwrap().unwrap();
        assert_eq!(again, a);
        s.record(run, 1, "a", "k1", &again, Some(id), &[("contains".into(), ok, 0.1)]).unwrap();
        drop(s);
        let s = Store::open(&path).unwrap();
        assert_eq!(s.done(run).unwrap().len(), 2);
        assert!((s.spent(run).unwrap() - 0.35).abs() < 1e-9, "reused answers cost nothing; the judge does");
        assert_eq!(s.dearest(run).unwrap(), Some(0.25), "the reused answer is not what this run paid");
        let rows = s.results(run).unwrap();
        assert_eq!((rows[0].cached, rows[1].cached, rows[1].judge_cost_usd), (false, true, 0.1));
        s.finish(run, "done", 0).unwrap();
        assert_eq!(s.unfinished("/e/x.toml", "d1").unwrap(), None);
        assert_eq!(s.run(run).unwrap().status, "done");
        assert!(matches!(s.run(99), Err(EvalError::NoRun(99))));
    }

    #[test]
    fn overall_is_the_mean_and_passes_when_all_pass() {
        let s = |score, pass| Score { score, pass, reason: String::new() };
        assert_eq!(overall([s(1.0, true), s(0.5, false)].iter()), (0.75, false));
        assert_eq!(overall([s(1.0, true)].iter()), (1.0, true));
        assert_eq!(overall([].iter()), (0.0, false));
    }
}
