//! The disk tier: one redb file, `<state_dir>/cache.redb`, which survives restarts.
//!
//! redb commits are atomic and copy-on-write: after a crash (even `kill -9` in the middle of a
//! commit) the file opens at the last committed state, so a torn entry is never visible; each
//! value also carries its own checksum (`entry.rs`), so a damaged one is a miss.
//!
//! Reads run on the blocking pool. Writes never wait for the disk: they go through a bounded
//! queue to one writer thread, which batches them into a transaction, drops expired entries,
//! evicts (soonest expiry first) while the stored bytes exceed the cap, and commits. Tables:
//! `entries` key -> encoded entry; `expiry` (expires_ms, key) -> () for sweeps and eviction;
//! `meta` holds the byte and entry counts, updated in the same transaction.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::Duration;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::entry::{Entry, now_ms};
use super::key::CacheKey;

const ENTRIES: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("entries");
const EXPIRY: TableDefinition<(u64, [u8; 32]), ()> = TableDefinition::new("expiry");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// Writes waiting for the writer thread; more are dropped (it is a cache).
const QUEUE: usize = 1024;
/// Most writes in one transaction.
const BATCH: usize = 256;
/// How often an idle writer drops expired entries.
const SWEEP_EVERY: Duration = Duration::from_secs(30);

pub const FILE_NAME: &str = "cache.redb";

#[derive(Default)]
pub struct DiskStats {
    pub entries: AtomicU64,
    pub bytes: AtomicU64,
    pub hits: AtomicU64,
    pub writes: AtomicU64,
    pub write_errors: AtomicU64,
    pub read_errors: AtomicU64,
    /// Writes not queued because the writer was behind.
    pub dropped: AtomicU64,
    pub evicted: AtomicU64,
    pub expired: AtomicU64,
    /// Values that failed their checksum (never served).
    pub damaged: AtomicU64,
}

enum Op {
    Put {
        key: [u8; 32],
        bytes: Vec<u8>,
        expires_ms: u64,
    },
    Remove([u8; 32]),
    /// Answered once everything queued before it is committed.
    Flush(std::sync::mpsc::Sender<()>),
}

pub struct Disk {
    db: Arc<Database>,
    tx: SyncSender<Op>,
    pub path: PathBuf,
    pub max_bytes: u64,
    pub stats: Arc<DiskStats>,
}

impl Disk {
    /// Opens (or creates) the cache file in `dir`. A file redb cannot read (damaged, or from
    /// an incompatible version) is moved aside and a fresh one is started; a file another
    /// process holds open is an error (that tier stays off).
    pub fn open(dir: &Path, max_bytes: u64) -> Result<Disk, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let path = dir.join(FILE_NAME);
        let db = match open_db(&path) {
            Ok(db) => db,
            Err(OpenError::Busy(e)) => return Err(e),
            Err(OpenError::Unreadable(e)) => {
                let aside = dir.join(format!("{FILE_NAME}.unreadable-{}", now_ms()));
                tracing::warn!(path = %path.display(), error = %e, moved_to = %aside.display(), "disk cache unreadable; starting a new one");
                std::fs::rename(&path, &aside).map_err(|e| format!("cannot move {} aside: {e}", path.display()))?;
                open_db(&path).map_err(|e| match e {
                    OpenError::Busy(e) | OpenError::Unreadable(e) => e,
                })?
            }
        };
        let db = Arc::new(db);
        let stats = Arc::new(DiskStats::default());
        init(&db, &stats).map_err(|e| format!("cannot prepare {}: {e}", path.display()))?;
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
        let (wdb, wstats) = (db.clone(), stats.clone());
        std::thread::Builder::new()
            .name("sidegate-disk-cache".into())
            .spawn(move || writer(&wdb, &rx, max_bytes, &wstats))
            .map_err(|e| format!("cannot start the disk cache writer: {e}"))?;
        Ok(Disk { db, tx, path, max_bytes, stats })
    }

    /// The stored bytes of `key` if present and its checksum holds (blocking: call it from
    /// the blocking pool). Freshness is the caller's business.
    pub fn get(&self, key: &CacheKey) -> Option<Entry> {
        let read = || -> Result<Option<Vec<u8>>, redb::Error> {
            let txn = self.db.begin_read()?;
            let table = txn.open_table(ENTRIES)?;
            Ok(table.get(&key.0)?.map(|v| v.value().to_vec()))
        };
        let bytes = match read() {
            Ok(b) => b?,
            Err(e) => {
                self.stats.read_errors.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(error = %e, "disk cache read failed");
                return None;
            }
        };
        match Entry::decode(&bytes) {
            Ok(e) => Some(e),
            Err(e) => {
                self.stats.damaged.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(key = ?key, error = %e, "disk cache entry damaged; dropping it");
                let _ = self.tx.try_send(Op::Remove(key.0));
                None
            }
        }
    }

    /// Waits (blocking, up to `within`) until the writes queued so far are committed: for a
    /// clean shutdown. Returns whether they were.
    pub fn flush(&self, within: Duration) -> bool {
        let (ack, done) = std::sync::mpsc::channel();
        let until = std::time::Instant::now() + within;
        let mut op = Op::Flush(ack);
        loop {
            match self.tx.try_send(op) {
                Ok(()) => break,
                Err(TrySendError::Disconnected(_)) => return false,
                Err(TrySendError::Full(back)) => {
                    if std::time::Instant::now() >= until {
                        return false;
                    }
                    op = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
        done.recv_timeout(until.saturating_duration_since(std::time::Instant::now())).is_ok()
    }

    /// Queues a write; never blocks. Entries larger than a quarter of the cap are not kept.
    pub fn put(&self, key: &CacheKey, bytes: Vec<u8>, expires_ms: u64) {
        if bytes.len() as u64 > self.max_bytes / 4 {
            return;
        }
        match self.tx.try_send(Op::Put { key: key.0, bytes, expires_ms }) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

enum OpenError {
    Busy(String),
    Unreadable(String),
}

fn open_db(path: &Path) -> Result<Database, OpenError> {
    // redb may panic on a file it did not write itself; treat that like any unreadable file.
    let attempt = std::panic::catch_unwind(|| Database::builder().set_cache_size(16 << 20).create(path));
    match attempt {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(redb::DatabaseError::DatabaseAlreadyOpen | redb::DatabaseError::LockProtocolMismatch)) => {
            Err(OpenError::Busy(format!(
                "{} is in use by another process (one daemon per state directory)",
                path.display()
            )))
        }
        // redb reports a foreign file as InvalidData; anything else (permissions, a full
        // disk) is not fixed by starting over.
        Ok(Err(redb::DatabaseError::Storage(redb::StorageError::Io(e))))
            if e.kind() != std::io::ErrorKind::InvalidData =>
        {
            Err(OpenError::Busy(format!("cannot open {}: {e}", path.display())))
        }
        Ok(Err(e)) => Err(OpenError::Unreadable(e.to_string())),
        Err(_) => Err(OpenError::Unreadable("redb panicked while opening it".into())),
    }
}

/// Creates the tables on a new file and loads the counters.
fn init(db: &Database, stats: &DiskStats) -> Result<(), redb::Error> {
    let txn = db.begin_write()?;
    {
        txn.open_table(ENTRIES)?;
        txn.open_table(EXPIRY)?;
        let meta = txn.open_table(META)?;
        let get = |k: &str| -> Result<u64, redb::Error> { Ok(meta.get(k)?.map_or(0, |v| v.value())) };
        stats.bytes.store(get("bytes")?, Ordering::Relaxed);
        stats.entries.store(get("entries")?, Ordering::Relaxed);
    }
    txn.commit()?;
    Ok(())
}

fn writer(db: &Database, rx: &Receiver<Op>, max_bytes: u64, stats: &DiskStats) {
    let mut last_warning: Option<std::time::Instant> = None;
    loop {
        let mut batch = Vec::new();
        match rx.recv_timeout(SWEEP_EVERY) {
            Ok(op) => batch.push(op),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        let puts = batch.iter().filter(|op| matches!(op, Op::Put { .. })).count() as u64;
        let mut acks = Vec::new();
        batch.retain_mut(|op| match op {
            Op::Flush(ack) => {
                acks.push(ack.clone());
                false
            }
            _ => true,
        });
        let result = apply(db, batch, max_bytes, stats);
        match result {
            Ok(()) => {
                stats.writes.fetch_add(puts, Ordering::Relaxed);
            }
            Err(e) => {
                stats.write_errors.fetch_add(1, Ordering::Relaxed);
                if last_warning.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                    last_warning = Some(std::time::Instant::now());
                    tracing::warn!(error = %e, "disk cache write failed (entries dropped; warning at most once a minute)");
                }
            }
        }
        // Acknowledge flushes only once the batch and its counters are settled.
        for ack in acks {
            let _ = ack.send(());
        }
    }
}

fn apply(db: &Database, batch: Vec<Op>, max_bytes: u64, stats: &DiskStats) -> Result<(), redb::Error> {
    let mut txn = db.begin_write()?;
    // Keeps allocator state in each commit, so opening after a crash needs no full scan.
    txn.set_quick_repair(true);
    let (mut evicted, mut expired) = (0u64, 0u64);
    let (bytes, count) = {
        let mut entries = txn.open_table(ENTRIES)?;
        let mut expiry = txn.open_table(EXPIRY)?;
        let mut meta = txn.open_table(META)?;
        let mut bytes = meta.get("bytes")?.map_or(0, |v| v.value());
        let mut count = meta.get("entries")?.map_or(0, |v| v.value());
        for op in batch {
            let key = match &op {
                Op::Put { key, .. } | Op::Remove(key) => *key,
                Op::Flush(_) => continue,
            };
            if let Some(len) = remove_entry(&mut entries, &mut expiry, key)? {
                bytes = bytes.saturating_sub(len);
                count = count.saturating_sub(1);
            }
            if let Op::Put { key, bytes: value, expires_ms } = op {
                entries.insert(&key, value.as_slice())?;
                expiry.insert(&(expires_ms, key), ())?;
                bytes += value.len() as u64;
                count += 1;
            }
        }
        // Expired entries first, then the soonest to expire while over the cap.
        let now = now_ms();
        loop {
            let head = expiry.first()?.map(|(k, _)| k.value());
            let Some((exp, key)) = head else { break };
            if exp > now && bytes <= max_bytes {
                break;
            }
            expiry.remove(&(exp, key))?;
            if let Some(len) = remove_entry(&mut entries, &mut expiry, key)? {
                bytes = bytes.saturating_sub(len);
                count = count.saturating_sub(1);
                if exp <= now {
                    expired += 1;
                } else {
                    evicted += 1;
                }
            }
        }
        meta.insert("bytes", bytes)?;
        meta.insert("entries", count)?;
        (bytes, count)
    };
    txn.commit()?;
    stats.bytes.store(bytes, Ordering::Relaxed);
    stats.entries.store(count, Ordering::Relaxed);
    stats.evicted.fetch_add(evicted, Ordering::Relaxed);
    stats.expired.fetch_add(expired, Ordering::Relaxed);
    Ok(())
}

/// Removes `key` and its expiry index entry; returns the removed value's length.
fn remove_entry(
    entries: &mut redb::Table<[u8; 32], &[u8]>,
    expiry: &mut redb::Table<(u64, [u8; 32]), ()>,
    key: [u8; 32],
) -> Result<Option<u64>, redb::Error> {
    let old = entries.remove(&key)?.map(|v| {
        let v = v.value();
        (v.len() as u64, Entry::peek_expiry(v))
    });
    let Some((len, exp)) = old else { return Ok(None) };
    if let Some(exp) = exp {
        expiry.remove(&(exp, key))?;
    }
    Ok(Some(len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::entry::{Body, Origin};

    fn entry(len: usize, ttl_ms: u64) -> (Entry, Vec<u8>) {
        let origin = Origin { provider: "p".into(), deployment: "d".into(), vendor_model: "m".into() };
        Entry::new(origin, Body::Embeddings(serde_json::json!("x".repeat(len))), ttl_ms)
    }

    fn key(i: u32) -> CacheKey {
        let mut k = [0u8; 32];
        k[..4].copy_from_slice(&i.to_le_bytes());
        CacheKey(k)
    }

    fn wait_for(what: &str, f: impl Fn() -> bool) {
        for _ in 0..600 {
            if f() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("timed out waiting for {what}");
    }

    #[test]
    fn entries_survive_reopen_and_the_cap_holds() {
        let dir = tempfile::tempdir().unwrap();
        {
            let d = Disk::open(dir.path(), 1 << 20).unwrap();
            let (e, bytes) = entry(100, 60_000);
            d.put(&key(1), bytes, e.expires_ms);
            assert!(d.flush(Duration::from_secs(30)));
            assert_eq!(d.stats.writes.load(Ordering::Relaxed), 1);
            for i in 2..200 {
                let (e, bytes) = entry(20_000, 60_000 + u64::from(i));
                d.put(&key(i), bytes, e.expires_ms);
            }
            wait_for("the flood", || {
                d.stats.writes.load(Ordering::Relaxed) + d.stats.dropped.load(Ordering::Relaxed) >= 199
            });
            assert!(d.stats.bytes.load(Ordering::Relaxed) <= 1 << 20);
            assert!(d.stats.evicted.load(Ordering::Relaxed) > 0);
            // The soonest to expire went first: key 1 (the oldest, shortest TTL) is gone.
            assert!(d.get(&key(1)).is_none());
            assert!(d.get(&key(199)).is_some());
        }
        // The writer thread owns a handle too; wait until the file lock is free.
        let mut reopened = None;
        for _ in 0..200 {
            match Disk::open(dir.path(), 1 << 20) {
                Ok(d) => {
                    reopened = Some(d);
                    break;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        let d = reopened.expect("reopen");
        assert!(d.get(&key(199)).is_some());
        assert!(d.stats.entries.load(Ordering::Relaxed) > 0);
    }

    #[test]
    fn expired_entries_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        let d = Disk::open(dir.path(), 1 << 20).unwrap();
        let (e, bytes) = entry(10, 1);
        d.put(&key(1), bytes, e.expires_ms);
        std::thread::sleep(Duration::from_millis(5));
        let (e2, bytes2) = entry(10, 60_000);
        d.put(&key(2), bytes2, e2.expires_ms);
        wait_for("the sweep", || {
            d.stats.expired.load(Ordering::Relaxed) >= 1 && d.stats.writes.load(Ordering::Relaxed) >= 2
        });
        assert!(d.get(&key(1)).is_none());
        assert_eq!(d.stats.entries.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_file_that_is_not_redb_is_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), b"this is not a database, just some bytes").unwrap();
        let d = Disk::open(dir.path(), 1 << 20).unwrap();
        assert!(d.get(&key(1)).is_none());
        let aside = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .any(|e| e.file_name().to_string_lossy().contains("unreadable"));
        assert!(aside);
    }

    #[test]
    fn a_second_opener_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let _d = Disk::open(dir.path(), 1 << 20).unwrap();
        let err = Disk::open(dir.path(), 1 << 20).err().expect("second open must fail");
        assert!(err.contains("in use"), "{err}");
    }
}
