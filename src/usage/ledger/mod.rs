//! The usage ledger: one row per request in SQLite (WAL) under the state directory, written
//! in batches by a dedicated thread off the request path (`writer`). Readable while the
//! daemon writes, by `sidegate usage` and by `sqlite3`. A committed batch survives `kill -9`.
//!
//! A failed write is retried: its rows wait in a bounded buffer, and every priced row's cost
//! counts as unsettled spend (`spent_since` adds it) until its row is committed, so a budget
//! holds while the disk is full. Drops and write errors show in `status` and `/metrics`. A
//! read that fails is an error, never "nothing spent": budgets fail closed on it.

mod feedback;
mod writer;

pub use feedback::FeedbackWriteError;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, params};
use serde::{Deserialize, Serialize};

/// Rows queued before new ones are dropped (and counted): the request path never waits.
const QUEUE: usize = 65_536;
/// Rows per transaction at most.
const BATCH: usize = 4096;
/// Rows kept for another try after failed writes, at most (the oldest go first).
pub const RETRY_BUFFER: usize = 65_536;

#[derive(Debug, Clone)]
pub struct Record {
    /// Unix time in milliseconds.
    pub ts_ms: i64,
    pub request_id: String,
    pub caller: String,
    pub app: Option<String>,
    pub route: String,
    pub deployment: String,
    pub provider: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cached_tokens: u64,
    /// Prompt tokens written to the vendor's prompt cache (both TTLs), and the 1-hour part.
    pub cache_write_tokens: u64,
    pub cache_write_1h_tokens: u64,
    /// Completion tokens spent reasoning (a part of `completion_tokens`).
    pub reasoning_tokens: u64,
    /// None: the price is unknown (never recorded as zero).
    pub cost_usd: Option<f64>,
    pub latency_ms: f64,
    pub status: u16,
    pub outcome: String,
    pub attempts: u32,
    pub stream: bool,
    pub cache: String,
    /// The API the request came in as (`chat`, `messages`, `responses`, `gemini`, ...).
    pub dialect: &'static str,
    /// The prompt file version the request was rendered from (`name@version`), if any.
    pub prompt: Option<String>,
    /// The experiment variant (or shadow) the request ran as, if its route has an experiment.
    pub variant: Option<String>,
    /// A shadow call: its cost is its experiment's, never its caller's budget.
    pub shadow: bool,
}

pub struct Ledger {
    /// Taken (set to None) by `close`; read-locked, uncontended, on every record.
    tx: RwLock<Option<std::sync::mpsc::Sender<Queued>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    reader: Mutex<Connection>,
    pub path: PathBuf,
    shared: Arc<Shared>,
}

/// A row on its way to the writer; `seq` names its entry in `Shared::unsettled` (priced
/// rows only).
struct Queued {
    seq: Option<u64>,
    record: Record,
}

/// A priced row's cost not yet committed.
struct Unsettled {
    caller: String,
    ts_ms: i64,
    cost_usd: f64,
}

/// What the request path, the reader and the writer thread share.
struct Shared {
    unsettled: Mutex<HashMap<u64, Unsettled>>,
    /// Held by the writer while it commits and settles, by a reader while it sums: a row is
    /// counted once, in the table or as unsettled, never both or neither.
    gate: RwLock<()>,
    next_seq: AtomicU64,
    written: AtomicU64,
    /// Rows never written: the queue was full, the retry buffer overflowed, or the ledger
    /// closed while writes failed.
    dropped: AtomicU64,
    write_errors: AtomicU64,
    /// Rows in the writer's buffer waiting for a (re)try.
    pending: AtomicU64,
    last_error: Mutex<Option<String>>,
    closing: AtomicBool,
    /// Bound of the retry buffer.
    buffer: usize,
    /// Rows sent and not yet received by the writer: the queue's bound is kept by this count,
    /// so the queue itself (a list channel) holds memory only for rows in it. A channel
    /// bounded at 65,536 preallocates all its slots: 20 MB of resident memory at idle.
    queued: std::sync::atomic::AtomicUsize,
}

impl Shared {
    fn lock_unsettled(&self) -> MutexGuard<'_, HashMap<u64, Unsettled>> {
        self.unsettled.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The ledger's health, for `status` and `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LedgerReport {
    pub path: String,
    pub written: u64,
    /// Rows waiting to be written (again).
    pub pending: u64,
    pub dropped: u64,
    pub write_errors: u64,
    /// The last write's error, while writes fail.
    pub last_error: Option<String>,
    /// Cost of priced rows not written yet (or dropped): still counted by budgets.
    pub unsettled_usd: f64,
}

/// The ledger could not be read: what a budget check gets instead of a number.
#[derive(Debug, thiserror::Error)]
#[error("the usage ledger {path} cannot be read: {source}")]
pub struct LedgerReadError {
    path: String,
    source: rusqlite::Error,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS requests (
    ts_ms INTEGER NOT NULL,
    request_id TEXT NOT NULL,
    caller TEXT NOT NULL,
    app TEXT,
    route TEXT NOT NULL,
    deployment TEXT NOT NULL,
    provider TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cached_tokens INTEGER NOT NULL,
    cost_usd REAL,
    latency_ms REAL NOT NULL,
    status INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    stream INTEGER NOT NULL,
    cache TEXT NOT NULL,
    dialect TEXT NOT NULL DEFAULT 'chat'
);
CREATE INDEX IF NOT EXISTS requests_ts ON requests (ts_ms);
";

fn open_rw(path: &Path) -> rusqlite::Result<Connection> {
    let c = Connection::open(path)?;
    c.busy_timeout(Duration::from_secs(5))?;
    c.pragma_update(None, "journal_mode", "WAL")?;
    c.pragma_update(None, "synchronous", "NORMAL")?;
    c.execute_batch(SCHEMA)?;
    c.execute_batch(feedback::SCHEMA)?;
    for (name, decl) in ADDED_COLUMNS {
        add_column(&c, name, decl)?;
    }
    Ok(c)
}

/// Columns added after the first schema, in order; a ledger written before one existed gains
/// it with its default. `dialect`: its old rows were all chat (no other ingress existed).
/// The cache-write and reasoning counts: 0 for old rows (they were not kept); `prompt`: NULL.
/// `variant`: NULL, `shadow`: 0 (no experiment existed).
const ADDED_COLUMNS: [(&str, &str); 7] = [
    ("dialect", "TEXT NOT NULL DEFAULT 'chat'"),
    ("cache_write_tokens", "INTEGER NOT NULL DEFAULT 0"),
    ("cache_write_1h_tokens", "INTEGER NOT NULL DEFAULT 0"),
    ("reasoning_tokens", "INTEGER NOT NULL DEFAULT 0"),
    ("prompt", "TEXT"),
    ("variant", "TEXT"),
    ("shadow", "INTEGER NOT NULL DEFAULT 0"),
];

fn add_column(c: &Connection, name: &str, decl: &str) -> rusqlite::Result<()> {
    let has: bool = c.query_row(
        "SELECT COUNT(*) FROM pragma_table_info('requests') WHERE name = ?1",
        rusqlite::params![name],
        |r| r.get::<_, i64>(0).map(|n| n > 0),
    )?;
    if !has {
        c.execute_batch(&format!("ALTER TABLE requests ADD COLUMN {name} {decl}"))?;
    }
    Ok(())
}

/// Opens the ledger read-only (for `sidegate usage`).
pub fn open_read_only(path: &Path) -> rusqlite::Result<Connection> {
    let c = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    c.busy_timeout(Duration::from_secs(5))?;
    Ok(c)
}

impl Ledger {
    pub fn open(path: &Path, retention: Duration) -> Result<Ledger, String> {
        Self::open_with_buffer(path, retention, RETRY_BUFFER)
    }

    /// [`open`](Self::open) with a retry buffer of `buffer` rows.
    pub fn open_with_buffer(path: &Path, retention: Duration, buffer: usize) -> Result<Ledger, String> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let err = |e: rusqlite::Error| format!("usage ledger {}: {e}", path.display());
        let writer_conn = open_rw(path).map_err(err)?;
        let reader = open_rw(path).map_err(err)?;
        let (tx, rx) = std::sync::mpsc::channel();
        let shared = Arc::new(Shared {
            unsettled: Mutex::default(),
            gate: RwLock::new(()),
            next_seq: AtomicU64::new(0),
            written: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            write_errors: AtomicU64::new(0),
            pending: AtomicU64::new(0),
            last_error: Mutex::new(None),
            closing: AtomicBool::new(false),
            buffer: buffer.max(1),
            queued: std::sync::atomic::AtomicUsize::new(0),
        });
        let w = writer::Writer {
            conn: writer_conn,
            rx,
            retention,
            shared: shared.clone(),
            pending: std::collections::VecDeque::new(),
            last_failure: None,
        };
        let writer = std::thread::Builder::new()
            .name("sidegate-ledger".into())
            .spawn(move || w.run())
            .map_err(|e| format!("cannot start the ledger writer: {e}"))?;
        Ok(Ledger {
            tx: RwLock::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
            reader: Mutex::new(reader),
            path: path.to_path_buf(),
            shared,
        })
    }

    /// Queues a row; never blocks. A full queue drops the row and counts it; a priced row's
    /// cost counts as unsettled until the row is written, dropped or not.
    pub fn record(&self, r: Record) {
        // A shadow's cost is not its caller's spend: only live rows wait as unsettled.
        let seq = r.cost_usd.filter(|c| *c > 0.0 && !r.shadow).map(|cost_usd| {
            let seq = self.shared.next_seq.fetch_add(1, Ordering::Relaxed);
            let entry = Unsettled { caller: r.caller.clone(), ts_ms: r.ts_ms, cost_usd };
            self.shared.lock_unsettled().insert(seq, entry);
            seq
        });
        let tx = self.tx.read().unwrap_or_else(|p| p.into_inner());
        let room = self.shared.queued.fetch_add(1, Ordering::Relaxed) < QUEUE;
        let sent = room && tx.as_ref().is_some_and(|tx| tx.send(Queued { seq, record: r }).is_ok());
        if !sent {
            self.shared.queued.fetch_sub(1, Ordering::Relaxed);
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Rows never written (queue full, retry buffer overflowed, closed while failing).
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// The ledger's health now.
    pub fn report(&self) -> LedgerReport {
        let s = &self.shared;
        LedgerReport {
            path: self.path.display().to_string(),
            written: s.written.load(Ordering::Relaxed),
            pending: s.pending.load(Ordering::Relaxed),
            dropped: s.dropped.load(Ordering::Relaxed),
            write_errors: s.write_errors.load(Ordering::Relaxed),
            last_error: s.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            unsettled_usd: s.lock_unsettled().values().map(|u| u.cost_usd).sum(),
        }
    }

    /// USD `caller` spent since `since` (unix seconds), counting known costs: the rows
    /// written and the priced rows not written yet. An error when the ledger cannot be read.
    pub fn spent_since(&self, caller: &str, since: u64) -> Result<f64, LedgerReadError> {
        let _reading = self.shared.gate.read().unwrap_or_else(|p| p.into_inner());
        let since_ms = (since as i64).saturating_mul(1000);
        let written = {
            let c = self.reader.lock().unwrap_or_else(|p| p.into_inner());
            c.query_row(
                "SELECT COALESCE(SUM(cost_usd), 0) FROM requests WHERE caller = ?1 AND ts_ms >= ?2 AND shadow = 0",
                params![caller, since_ms],
                |row| row.get::<_, f64>(0),
            )
            .map_err(|source| LedgerReadError { path: self.path.display().to_string(), source })?
        };
        let unsettled: f64 = self
            .shared
            .lock_unsettled()
            .values()
            .filter(|u| u.caller == caller && u.ts_ms >= since_ms)
            .map(|u| u.cost_usd)
            .sum();
        Ok(written + unsettled)
    }

    /// Writes what is queued (one last try for rows kept after failures) and stops the
    /// writer (at shutdown).
    pub fn close(&self) {
        self.shared.closing.store(true, Ordering::Relaxed);
        self.tx.write().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(h) = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests;
