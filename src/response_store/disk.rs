//! The store on disk: one SQLite table (WAL) under the state directory, written in batches by
//! a thread of its own; reads run on the blocking pool. After each batch the writer removes
//! what expired and, oldest first, what is over the entry and byte bounds, and notes what the
//! table then holds ([`Held`], for `status`).

use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use super::Stored;
use super::memory::Memory;

/// Writes queued before new ones are dropped (logged): the request path never waits. The
/// bound is kept by a count ([`Disk::queued`]) over a list channel, which holds memory only
/// for the ops in it: a channel bounded at 16,384 preallocates every slot, 0.64 MB resident
/// from the start (docs/benchmarks.md, "Memory (issue 16)").
const QUEUE: usize = 16_384;
const BATCH: usize = 512;

pub enum Op {
    Put(u64, Arc<Stored>),
    Delete(u64, String),
    /// Answered once everything queued before it is committed.
    Flush(SyncSender<()>),
}

pub struct Disk {
    tx: Sender<Op>,
    /// Ops sent and not yet received by the writer.
    queued: Arc<AtomicUsize>,
    reader: Arc<Mutex<Connection>>,
    held: Arc<Held>,
}

/// What the table held after the writer's last batch (or at open).
#[derive(Default)]
pub struct Held {
    entries: AtomicU64,
    bytes: AtomicU64,
}

impl Held {
    fn set(&self, (entries, bytes): (u64, u64)) {
        self.entries.store(entries, Ordering::Relaxed);
        self.bytes.store(bytes, Ordering::Relaxed);
    }

    /// Entries and their bytes.
    pub fn get(&self) -> (u64, u64) {
        (self.entries.load(Ordering::Relaxed), self.bytes.load(Ordering::Relaxed))
    }
}

/// Rows and their bytes.
fn count(conn: &Connection) -> rusqlite::Result<(u64, u64)> {
    conn.query_row("SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM responses", [], |r| {
        Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64))
    })
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS responses (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    created INTEGER NOT NULL,
    expires INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    input TEXT NOT NULL,
    output TEXT NOT NULL,
    response TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS responses_created ON responses (created);
CREATE INDEX IF NOT EXISTS responses_expires ON responses (expires);
";

fn open_rw(path: &Path) -> rusqlite::Result<Connection> {
    let c = Connection::open(path)?;
    c.busy_timeout(Duration::from_secs(5))?;
    c.pragma_update(None, "journal_mode", "WAL")?;
    c.pragma_update(None, "synchronous", "NORMAL")?;
    c.execute_batch(SCHEMA)?;
    Ok(c)
}

impl Disk {
    /// Opens (or creates) the file and starts the writer, which tells `memory` what it committed.
    pub fn open(path: &Path, max_entries: u64, max_bytes: u64, memory: Arc<Mutex<Memory>>) -> Result<Disk, String> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let err = |e: rusqlite::Error| format!("responses store {}: {e}", path.display());
        let writer = open_rw(path).map_err(err)?;
        let reader = open_rw(path).map_err(err)?;
        let held = Arc::new(Held::default());
        held.set(count(&reader).map_err(err)?);
        let (tx, rx) = std::sync::mpsc::channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let bounds = (max_entries, max_bytes);
        let (noted, received) = (held.clone(), Received(queued.clone()));
        std::thread::Builder::new()
            .name("sidegate-responses".into())
            .spawn(move || write_loop(writer, rx, &received, bounds, memory, &noted))
            .map_err(|e| format!("cannot start the responses store writer: {e}"))?;
        Ok(Disk { tx, queued, reader: Arc::new(Mutex::new(reader)), held })
    }

    /// Entries and bytes committed (as of the writer's last batch).
    pub fn held(&self) -> (u64, u64) {
        self.held.get()
    }

    pub fn queue(&self, op: Op) {
        if self.queued.fetch_add(1, Ordering::Relaxed) >= QUEUE {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            tracing::warn!("responses store queue full: a write was dropped");
        } else {
            self.send_counted(op);
        }
    }

    /// Ops sent and not yet taken by the writer.
    #[cfg(test)]
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Sends an op already added to `queued` (the writer takes every op it receives off it).
    fn send_counted(&self, op: Op) -> bool {
        if self.tx.send(op).is_ok() {
            return true;
        }
        self.queued.fetch_sub(1, Ordering::Relaxed);
        tracing::warn!("responses store writer stopped: a write was dropped");
        false
    }

    /// `owner`'s unexpired entry `id`, read on the blocking pool.
    pub async fn get(&self, id: String, owner: String, now: u64) -> Option<Stored> {
        let reader = self.reader.clone();
        let read = move || {
            let c = reader.lock().unwrap_or_else(|p| p.into_inner());
            read_one(&c, &id, &owner, now)
        };
        match tokio::task::spawn_blocking(read).await {
            Ok(Ok(found)) => found,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "responses store read failed");
                None
            }
            Err(_) => None,
        }
    }

    /// Blocks until what is queued now is committed.
    pub fn flush(&self) {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        // (past the bound: a flush must reach the writer)
        self.queued.fetch_add(1, Ordering::Relaxed);
        if self.send_counted(Op::Flush(tx)) {
            let _ = rx.recv_timeout(Duration::from_secs(5));
        }
    }
}

fn read_one(c: &Connection, id: &str, owner: &str, now: u64) -> rusqlite::Result<Option<Stored>> {
    let row = c
        .query_row(
            "SELECT created, expires, input, output, response FROM responses WHERE id = ?1 AND owner = ?2 AND expires > ?3",
            params![id, owner, now as i64],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?, r.get::<_, String>(4)?)),
        )
        .optional()?;
    let Some((created, expires, input, output, response)) = row else { return Ok(None) };
    let parse = |t: &str| serde_json::from_str::<serde_json::Value>(t).unwrap_or_default();
    let items = |t: &str| match parse(t) {
        serde_json::Value::Array(v) => v,
        _ => Vec::new(),
    };
    Ok(Some(Stored {
        id: id.to_string(),
        owner: owner.to_string(),
        created: created as u64,
        expires: expires as u64,
        input: items(&input),
        output: items(&output),
        response: parse(&response),
    }))
}

/// The writer's side of [`Disk::queued`].
struct Received(Arc<AtomicUsize>);

impl Received {
    fn one(&self, op: Op) -> Op {
        self.0.fetch_sub(1, Ordering::Relaxed);
        op
    }
}

fn write_loop(
    mut conn: Connection,
    rx: Receiver<Op>,
    received: &Received,
    bounds: (u64, u64),
    memory: Arc<Mutex<Memory>>,
    held: &Held,
) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![received.one(first)];
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(op) => batch.push(received.one(op)),
                Err(_) => break,
            }
        }
        if let Err(e) = apply(&mut conn, &batch) {
            tracing::error!(error = %e, ops = batch.len(), "responses store write failed");
        }
        let now_held = prune(&conn, bounds).and_then(|()| count(&conn));
        if let Err(e) = &now_held {
            tracing::warn!(error = %e, "responses store pruning failed");
        }
        // Under the memory lock: a report sees a write either pending or committed, not both.
        let mut m = memory.lock().unwrap_or_else(|p| p.into_inner());
        if let Ok(n) = now_held {
            held.set(n);
        }
        for op in &batch {
            match op {
                Op::Put(seq, s) => m.committed(&s.id, *seq),
                Op::Delete(seq, id) => m.committed(id, *seq),
                Op::Flush(_) => {}
            }
        }
        drop(m);
        for op in batch {
            if let Op::Flush(done) = op {
                let _ = done.send(());
            }
        }
    }
}

fn apply(conn: &mut Connection, batch: &[Op]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    for op in batch {
        match op {
            Op::Put(_, s) => {
                let text = |v: &[serde_json::Value]| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
                tx.execute(
                    "INSERT OR REPLACE INTO responses (id, owner, created, expires, bytes, input, output, response) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![
                        s.id,
                        s.owner,
                        s.created as i64,
                        s.expires as i64,
                        s.size() as i64,
                        text(&s.input),
                        text(&s.output),
                        s.response.to_string()
                    ],
                )?;
            }
            Op::Delete(_, id) => {
                tx.execute("DELETE FROM responses WHERE id = ?1", params![id])?;
            }
            Op::Flush(_) => {}
        }
    }
    tx.commit()
}

/// Expired rows go; then the oldest until the table is within both bounds.
fn prune(conn: &Connection, (max_entries, max_bytes): (u64, u64)) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM responses WHERE expires <= ?1", params![crate::api::ids::unix_now() as i64])?;
    let (rows, bytes) = count(conn)?;
    let over_count = rows.saturating_sub(max_entries);
    if over_count > 0 {
        conn.execute(
            "DELETE FROM responses WHERE id IN (SELECT id FROM responses ORDER BY created, rowid LIMIT ?1)",
            params![over_count as i64],
        )?;
    }
    if bytes > max_bytes {
        // Oldest first until the total fits (a running sum over the rows in age order).
        conn.execute(
            "DELETE FROM responses WHERE id IN (SELECT id FROM (SELECT id, SUM(bytes) OVER (ORDER BY created DESC, rowid DESC) AS kept \
             FROM responses) WHERE kept > ?1)",
            params![max_bytes as i64],
        )?;
    }
    Ok(())
}
