//! The usage ledger: one row per request in SQLite (WAL) under the state directory, written
//! in batches by a dedicated thread off the request path. Readable while the daemon writes,
//! by `sidegate usage` and by `sqlite3`. A committed batch survives `kill -9`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, params};
use tokio::sync::mpsc;

/// Rows queued before new ones are dropped (and counted): the request path never waits.
const QUEUE: usize = 65_536;
/// Rows per transaction at most.
const BATCH: usize = 4096;

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
}

pub struct Ledger {
    /// Taken (set to None) by `close`; read-locked, uncontended, on every record.
    tx: std::sync::RwLock<Option<mpsc::Sender<Record>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    reader: Mutex<Connection>,
    pub path: PathBuf,
    dropped: std::sync::atomic::AtomicU64,
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
    for (name, decl) in ADDED_COLUMNS {
        add_column(&c, name, decl)?;
    }
    Ok(c)
}

/// Columns added after the first schema, in order; a ledger written before one existed gains
/// it with its default. `dialect`: its old rows were all chat (no other ingress existed).
/// The cache-write and reasoning counts: 0 for old rows (they were not kept).
const ADDED_COLUMNS: [(&str, &str); 4] = [
    ("dialect", "TEXT NOT NULL DEFAULT 'chat'"),
    ("cache_write_tokens", "INTEGER NOT NULL DEFAULT 0"),
    ("cache_write_1h_tokens", "INTEGER NOT NULL DEFAULT 0"),
    ("reasoning_tokens", "INTEGER NOT NULL DEFAULT 0"),
];

fn add_column(c: &Connection, name: &str, decl: &str) -> rusqlite::Result<()> {
    let has: bool =
        c.query_row("SELECT COUNT(*) FROM pragma_table_info('requests') WHERE name = ?1", params![name], |r| {
            r.get::<_, i64>(0).map(|n| n > 0)
        })?;
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
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let err = |e: rusqlite::Error| format!("usage ledger {}: {e}", path.display());
        let writer_conn = open_rw(path).map_err(err)?;
        let reader = open_rw(path).map_err(err)?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let writer = std::thread::Builder::new()
            .name("sidegate-ledger".into())
            .spawn(move || write_loop(writer_conn, rx, retention))
            .map_err(|e| format!("cannot start the ledger writer: {e}"))?;
        Ok(Ledger {
            tx: std::sync::RwLock::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
            reader: Mutex::new(reader),
            path: path.to_path_buf(),
            dropped: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Queues a row; never blocks. A full queue drops the row and counts it.
    pub fn record(&self, r: Record) {
        let tx = self.tx.read().unwrap_or_else(|p| p.into_inner());
        let sent = tx.as_ref().is_some_and(|tx| tx.try_send(r).is_ok());
        if !sent {
            self.dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// USD `caller` spent since `since` (unix seconds), counting known costs.
    pub fn spent_since(&self, caller: &str, since: u64) -> f64 {
        let c = self.reader.lock().unwrap_or_else(|p| p.into_inner());
        c.query_row(
            "SELECT COALESCE(SUM(cost_usd), 0) FROM requests WHERE caller = ?1 AND ts_ms >= ?2",
            params![caller, (since as i64) * 1000],
            |row| row.get::<_, f64>(0),
        )
        .unwrap_or(0.0)
    }

    /// Writes what is queued and stops the writer (at shutdown).
    pub fn close(&self) {
        self.tx.write().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(h) = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = h.join();
        }
    }
}

/// How long the writer lets rows gather between batches. While it sleeps it is not waiting
/// on the channel, so requests queue rows without waking it: one wake-up per batch, not per
/// row, is what keeps the ledger cheap at tens of thousands of requests per second.
const GATHER: Duration = Duration::from_millis(20);

fn write_loop(mut conn: Connection, mut rx: mpsc::Receiver<Record>, retention: Duration) {
    let mut last_prune = Instant::now() - Duration::from_secs(3600);
    while let Some(first) = rx.blocking_recv() {
        if !rx.is_closed() {
            std::thread::sleep(GATHER);
        }
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        if let Err(e) = insert(&mut conn, &batch) {
            tracing::error!(error = %e, rows = batch.len(), "usage ledger write failed");
        }
        if last_prune.elapsed() > Duration::from_secs(3600) {
            last_prune = Instant::now();
            let cutoff = crate::api::ids::unix_now().saturating_sub(retention.as_secs()) as i64 * 1000;
            if let Err(e) = conn.execute("DELETE FROM requests WHERE ts_ms < ?1", params![cutoff]) {
                tracing::warn!(error = %e, "usage ledger retention failed");
            }
        }
    }
}

/// Rows per INSERT statement: one statement for many rows costs far less per row than one
/// per row (fewer VM runs and journal writes).
const ROWS_PER_INSERT: usize = 32;
const COLUMNS: usize = 21;

/// The INSERT for `rows` rows (built once per size: the writer uses two sizes).
fn insert_sql(rows: usize) -> String {
    let row = format!("({})", vec!["?"; COLUMNS].join(","));
    format!(
        "INSERT INTO requests (ts_ms, request_id, caller, app, route, deployment, provider, prompt_tokens, completion_tokens, \
         cached_tokens, cost_usd, latency_ms, status, outcome, attempts, stream, cache, dialect, cache_write_tokens, \
         cache_write_1h_tokens, reasoning_tokens) VALUES {}",
        vec![row.as_str(); rows].join(",")
    )
}

fn insert(conn: &mut Connection, batch: &[Record]) -> rusqlite::Result<()> {
    static FULL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    static ONE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let tx = conn.transaction()?;
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
            ]);
        }
        st.execute(values.as_slice())?;
    }
    tx.commit()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn row(i: u64) -> Record {
        Record {
            ts_ms: i as i64,
            request_id: format!("sg-{i}"),
            caller: "c".into(),
            app: None,
            route: "r".into(),
            deployment: "d".into(),
            provider: "p".into(),
            prompt_tokens: i,
            completion_tokens: 1,
            cached_tokens: 0,
            cache_write_tokens: 0,
            cache_write_1h_tokens: 0,
            reasoning_tokens: 0,
            cost_usd: Some(0.5),
            latency_ms: 1.0,
            status: 200,
            outcome: "ok".into(),
            attempts: 1,
            stream: false,
            cache: "bypass".into(),
            dialect: "chat",
        }
    }

    #[test]
    fn a_ledger_from_before_the_dialect_column_gains_it_and_keeps_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.db");
        let old_schema = SCHEMA.replace(",\n    dialect TEXT NOT NULL DEFAULT 'chat'", "");
        assert!(!old_schema.contains("dialect"));
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch(&old_schema).unwrap();
            c.execute(
                "INSERT INTO requests VALUES (1, 'sg-old', 'c', NULL, 'r', 'd', 'p', 1, 1, 0, NULL, 1.0, 200, 'ok', 1, 0, 'bypass')",
                [],
            )
            .unwrap();
        }
        let mut conn = open_rw(&path).unwrap();
        let mut r = row(2);
        r.dialect = "messages";
        insert(&mut conn, &[r]).unwrap();
        let got: Vec<(String, String)> = conn
            .prepare("SELECT request_id, dialect FROM requests ORDER BY ts_ms")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(got, [("sg-old".to_string(), "chat".to_string()), ("sg-2".to_string(), "messages".to_string())]);
        open_rw(&path).unwrap(); // a second open finds the column and adds nothing
    }

    #[test]
    fn a_ledger_from_before_the_cache_write_and_reasoning_columns_gains_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.db");
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch(SCHEMA).unwrap(); // the schema of the dialect change: no new columns
            c.execute(
                "INSERT INTO requests VALUES (1, 'sg-old', 'c', NULL, 'r', 'd', 'p', 1, 1, 0, NULL, 1.0, 200, 'ok', 1, 0, 'bypass', 'chat')",
                [],
            )
            .unwrap();
        }
        let mut conn = open_rw(&path).unwrap();
        let mut r = row(2);
        (r.cache_write_tokens, r.cache_write_1h_tokens, r.reasoning_tokens) = (300, 100, 42);
        insert(&mut conn, &[r]).unwrap();
        let got: Vec<(String, i64, i64, i64)> = conn
            .prepare("SELECT request_id, cache_write_tokens, cache_write_1h_tokens, reasoning_tokens FROM requests ORDER BY ts_ms")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(got, [("sg-old".to_string(), 0, 0, 0), ("sg-2".to_string(), 300, 100, 42)]);
        open_rw(&path).unwrap(); // a second open finds the columns and adds nothing
    }

    #[test]
    fn batches_of_any_size_insert_every_row_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open_rw(&dir.path().join("ledger.db")).unwrap();
        let mut next = 0;
        for size in [1, 31, 32, 33, 70, 5] {
            let batch: Vec<Record> = (next..next + size).map(row).collect();
            insert(&mut conn, &batch).unwrap();
            next += size;
        }
        let (n, sum): (i64, i64) = conn
            .query_row("SELECT COUNT(*), SUM(prompt_tokens) FROM requests", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
        assert_eq!(n as u64, next);
        assert_eq!(sum as u64, (0..next).sum::<u64>());
        let distinct: i64 =
            conn.query_row("SELECT COUNT(DISTINCT request_id) FROM requests", [], |r| r.get(0)).unwrap();
        assert_eq!(distinct as u64, next);
    }
}
