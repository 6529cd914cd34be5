//! The ledger's writer thread: gathers queued rows into batches, writes each in one
//! transaction, and keeps a batch that failed (a full disk, a locked or damaged file) in a
//! bounded buffer to write again, oldest rows dropped (and counted) past the bound. A row's
//! cost stays counted as unsettled spend until its row is committed (`Shared::unsettled`).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use rusqlite::{Connection, params};

use super::{BATCH, Queued, Record, Shared};

/// How long the writer lets rows gather between batches. While it sleeps it is not waiting
/// on the channel, so requests queue rows without waking it: one wake-up per batch, not per
/// row, is what keeps the ledger cheap at tens of thousands of requests per second.
const GATHER: Duration = Duration::from_millis(20);
/// How long after a failed write the writer tries again.
pub(super) const RETRY_EVERY: Duration = Duration::from_secs(1);

pub(super) struct Writer {
    pub conn: Connection,
    pub rx: Receiver<Queued>,
    pub retention: Duration,
    pub shared: Arc<Shared>,
    /// Rows received and not yet written, oldest first; at most `shared.buffer` of them.
    pub pending: VecDeque<Queued>,
    pub last_failure: Option<Instant>,
}

impl Writer {
    pub fn run(mut self) {
        let mut last_prune = Instant::now() - Duration::from_secs(3600);
        loop {
            let open = self.receive();
            self.write_pending(!open);
            if !open {
                self.give_up_on_pending();
                return;
            }
            if last_prune.elapsed() > Duration::from_secs(3600) && self.last_failure.is_none() {
                last_prune = Instant::now();
                let cutoff = crate::api::ids::unix_now().saturating_sub(self.retention.as_secs()) as i64 * 1000;
                if let Err(e) = self.conn.execute("DELETE FROM requests WHERE ts_ms < ?1", params![cutoff]) {
                    tracing::warn!(error = %e, "usage ledger retention failed");
                }
            }
        }
    }

    /// Waits for rows (or, with rows pending after a failure, for the next retry) and moves
    /// what came into `pending`. False once the ledger is closed and the queue drained.
    fn receive(&mut self) -> bool {
        let first = if self.pending.is_empty() {
            self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
        } else {
            let due = self.last_failure.map_or(Duration::ZERO, |t| RETRY_EVERY.saturating_sub(t.elapsed()));
            self.rx.recv_timeout(due)
        };
        match first {
            Ok(q) => {
                if !self.shared.closing.load(Ordering::Relaxed) {
                    std::thread::sleep(GATHER);
                }
                self.shared.queued.fetch_sub(1, Ordering::Relaxed);
                self.pending.push_back(q);
                while let Ok(q) = self.rx.try_recv() {
                    self.shared.queued.fetch_sub(1, Ordering::Relaxed);
                    self.pending.push_back(q);
                    if self.pending.len() >= BATCH && self.last_failure.is_none() {
                        break;
                    }
                }
                self.trim();
                true
            }
            Err(RecvTimeoutError::Timeout) => true,
            Err(RecvTimeoutError::Disconnected) => false,
        }
    }

    /// Writes pending rows, a batch at a time, unless the last failure is too recent (or
    /// `now`: the last chance, at close). Stops at the first failure.
    fn write_pending(&mut self, now: bool) {
        let due = now || self.last_failure.is_none_or(|t| t.elapsed() >= RETRY_EVERY);
        while due && !self.pending.is_empty() {
            let n = self.pending.len().min(BATCH);
            let batch: Vec<&Record> = self.pending.iter().take(n).map(|q| &q.record).collect();
            let result = {
                let _writing = self.shared.gate.write().unwrap_or_else(|p| p.into_inner());
                let r = insert(&self.conn, &batch);
                if r.is_ok() {
                    let mut unsettled = self.shared.lock_unsettled();
                    for q in self.pending.drain(..n) {
                        if let Some(seq) = q.seq {
                            unsettled.remove(&seq);
                        }
                    }
                }
                r
            };
            match result {
                Ok(()) => {
                    self.shared.written.fetch_add(n as u64, Ordering::Relaxed);
                    if self.last_failure.take().is_some() {
                        tracing::info!("usage ledger writes again; the rows kept while it failed are written");
                        *self.shared.last_error.lock().unwrap_or_else(|p| p.into_inner()) = None;
                    }
                }
                Err(e) => {
                    self.shared.write_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(error = %e, pending = self.pending.len(), "usage ledger write failed; the rows are kept and written again");
                    *self.shared.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
                    self.last_failure = Some(Instant::now());
                    break;
                }
            }
        }
        self.shared.pending.store(self.pending.len() as u64, Ordering::Relaxed);
    }

    /// Past the bound, the oldest rows are dropped (their cost stays counted as unsettled).
    fn trim(&mut self) {
        let over = self.pending.len().saturating_sub(self.shared.buffer);
        if over > 0 {
            self.pending.drain(..over);
            self.shared.dropped.fetch_add(over as u64, Ordering::Relaxed);
            tracing::error!(dropped = over, kept = self.pending.len(), "usage ledger buffer full: oldest rows dropped");
        }
        self.shared.pending.store(self.pending.len() as u64, Ordering::Relaxed);
    }

    /// At close, rows that could still not be written are lost: said once, with their cost.
    fn give_up_on_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let usd: f64 = self.pending.iter().filter_map(|q| q.record.cost_usd).sum();
        self.shared.dropped.fetch_add(self.pending.len() as u64, Ordering::Relaxed);
        tracing::error!(
            rows = self.pending.len(),
            cost_usd = usd,
            "usage ledger closed with rows it could not write; they are lost"
        );
        self.pending.clear();
    }
}

/// Rows per INSERT statement: one statement for many rows costs far less per row than one
/// per row (fewer VM runs and journal writes).
const ROWS_PER_INSERT: usize = 32;
const COLUMNS: usize = 24;

/// The INSERT for `rows` rows (built once per size: the writer uses two sizes).
fn insert_sql(rows: usize) -> String {
    let row = format!("({})", vec!["?"; COLUMNS].join(","));
    format!(
        "INSERT INTO requests (ts_ms, request_id, caller, app, route, deployment, provider, prompt_tokens, completion_tokens, \
         cached_tokens, cost_usd, latency_ms, status, outcome, attempts, stream, cache, dialect, cache_write_tokens, \
         cache_write_1h_tokens, reasoning_tokens, prompt, variant, shadow) VALUES {}",
        vec![row.as_str(); rows].join(",")
    )
}

pub(super) fn insert(conn: &Connection, batch: &[&Record]) -> rusqlite::Result<()> {
    in_transaction(conn, |c| insert_rows(c, batch))
}

/// Runs `f` in one transaction. BEGIN and COMMIT go through the prepared-statement cache;
/// rusqlite's `Transaction` parses both again for every batch, which counts when a quiet
/// daemon writes one row per batch (issue 16; not visible in the callgrind rows, whose
/// batches hold several rows). A failed `f` or COMMIT rolls back.
fn in_transaction(conn: &Connection, f: impl FnOnce(&Connection) -> rusqlite::Result<()>) -> rusqlite::Result<()> {
    conn.prepare_cached("BEGIN")?.execute([])?;
    let done = f(conn).and_then(|()| conn.prepare_cached("COMMIT")?.execute([]).map(drop));
    if done.is_err() && !conn.is_autocommit() {
        let _ = conn.prepare_cached("ROLLBACK").and_then(|mut st| st.execute([]));
    }
    done
}

fn insert_rows(tx: &Connection, batch: &[&Record]) -> rusqlite::Result<()> {
    static FULL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    static ONE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    // Full chunks through the many-row statement, the rest row by row: two statements in
    // the prepared-statement cache, so no batch size makes SQLite parse SQL again.
    let full = batch.len() - batch.len() % ROWS_PER_INSERT;
    let (many, rest) = batch.split_at(full);
    let chunks = many.chunks(ROWS_PER_INSERT).chain(rest.chunks(1));
    for chunk in chunks {
        let sql = if chunk.len() == ROWS_PER_INSERT {
            FULL.get_or_init(|| insert_sql(ROWS_PER_INSERT))
        } else {
            ONE.get_or_init(|| insert_sql(1))
        };
        let mut st = tx.prepare_cached(sql)?;
        let mut values: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(chunk.len() * COLUMNS);
        let numbers: Vec<[i64; 7]> = chunk
            .iter()
            .map(|r| {
                [
                    r.prompt_tokens as i64,
                    r.completion_tokens as i64,
                    r.cached_tokens as i64,
                    i64::from(r.status),
                    r.cache_write_tokens as i64,
                    r.cache_write_1h_tokens as i64,
                    r.reasoning_tokens as i64,
                ]
            })
            .collect();
        for (r, n) in chunk.iter().zip(&numbers) {
            values.extend_from_slice(&[
                &r.ts_ms,
                &r.request_id,
                &r.caller,
                &r.app,
                &r.route,
                &r.deployment,
                &r.provider,
                &n[0],
                &n[1],
                &n[2],
                &r.cost_usd,
                &r.latency_ms,
                &n[3],
                &r.outcome,
                &r.attempts,
                &r.stream,
                &r.cache,
                &r.dialect,
                &n[4],
                &n[5],
                &n[6],
                &r.prompt,
                &r.variant,
                &r.shadow,
            ]);
        }
        st.execute(values.as_slice())?;
    }
    Ok(())
}
