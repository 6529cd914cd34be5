//! The response cache: exact-match answers in three tiers, nearest first, and coalescing of
//! identical requests in flight.
//!
//! - [`key`]: the key, a blake3 hash of the deployments that may answer and of the request's
//!   answer-changing fields in canonical JSON.
//! - [`memory`] (byte-bounded, per process), [`disk`] (redb under the state directory,
//!   survives restarts and crashes), [`redis`] (shared by a fleet; soft-failing).
//! - [`flight`]: one producer per key at a time; every identical request waits on it.
//! - [`entry`]: the stored form; [`replay`]: streams <-> whole answers.
//!
//! The router decides when to look up and store (after planning, before the attempt loop:
//! see `router::cache_step`); this module knows nothing of vendors or fronts. A lookup reads the
//! memory tier, then (inside the flight, once per key) disk and Redis, filling the nearer
//! tiers on the way back. A store writes memory at once and disk and Redis in the
//! background. Nothing here can fail a request: a tier that errs is a miss.

pub mod disk;
pub mod entry;
pub mod flight;
pub mod key;
pub mod memory;
pub mod redis;
pub mod replay;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::config::{CacheSettings, RouteCache, SharedSettings, Snapshot};
use crate::status::{CacheStatus, DiskTier, MemoryTier, RedisTier};
pub use entry::{Body, Entry, Origin};
pub use key::CacheKey;

/// A request's cache directive: `cache-control` on HTTP, `options.cache` natively.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Directive {
    /// Look up, and store a new answer.
    #[default]
    Default,
    /// Skip the lookup (and coalescing); store the new answer.
    NoCache,
    /// Neither look up nor store.
    NoStore,
}

/// How a request was served, for `meta.cache` / `x-sidegate-cache` and the counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Hit,
    Miss,
    #[default]
    Bypass,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Hit => "hit",
            Outcome::Miss => "miss",
            Outcome::Bypass => "bypass",
        }
    }
}

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    bypass: AtomicU64,
    /// Requests answered by another identical request's vendor call.
    coalesced: AtomicU64,
}

enum DiskState {
    /// Not opened yet (no route used it so far).
    Closed,
    Opening,
    Open(Arc<disk::Disk>),
    Failed(String),
}

/// The process-wide cache: outlives config snapshots (like breaker state).
pub struct Cache {
    memory: memory::Memory,
    disk: Arc<Mutex<DiskState>>,
    redis: Mutex<Option<Arc<redis::RedisTier>>>,
    pub flights: Arc<flight::Flights>,
    state_dir: Option<PathBuf>,
    max_disk: u64,
    counters: Counters,
}

impl Cache {
    /// Sizes and the state directory come from the first config (`[cache]` and
    /// `server.state_dir` take effect at start). The disk tier is opened now when a route uses
    /// it, else on first use.
    pub fn new(snap: &Snapshot) -> Self {
        let CacheSettings { max_memory, max_disk } = snap.cache;
        let cache = Cache {
            memory: memory::Memory::new(max_memory),
            disk: Arc::new(Mutex::new(DiskState::Closed)),
            redis: Mutex::new(None),
            flights: Arc::default(),
            state_dir: snap.server.state_dir.clone(),
            max_disk,
            counters: Counters::default(),
        };
        if snap.routes.values().any(|r| r.cache.is_some_and(|c| c.tiers.disk)) {
            *lock(&cache.disk) = open_disk(cache.state_dir.as_deref(), max_disk);
        }
        cache
    }

    /// The disk tier if open; on first need (a reload added a route that uses it), starts
    /// opening it in the background and goes on without it meanwhile.
    fn disk(&self) -> Option<Arc<disk::Disk>> {
        let mut g = lock(&self.disk);
        match &*g {
            DiskState::Open(d) => Some(d.clone()),
            DiskState::Opening | DiskState::Failed(_) => None,
            DiskState::Closed => {
                if let Ok(rt) = tokio::runtime::Handle::try_current() {
                    *g = DiskState::Opening;
                    let (slot, dir, max) = (self.disk.clone(), self.state_dir.clone(), self.max_disk);
                    rt.spawn_blocking(move || {
                        let opened = open_disk(dir.as_deref(), max);
                        *lock(&slot) = opened;
                    });
                }
                None
            }
        }
    }

    /// Commits the disk tier's queued writes (blocking, up to `within`): call it once requests
    /// have drained at shutdown, so answers stored in the last moments survive the restart.
    pub fn flush(&self, within: std::time::Duration) -> bool {
        let disk = match &*lock(&self.disk) {
            DiskState::Open(d) => d.clone(),
            _ => return true,
        };
        disk.flush(within)
    }

    /// The memory tier's answer for `key`, if fresh for this route.
    pub fn get_memory(&self, key: &CacheKey, rc: &RouteCache) -> Option<Arc<Entry>> {
        if !rc.tiers.memory {
            return None;
        }
        self.memory.get(key, entry::now_ms(), rc.ttl.as_millis() as u64)
    }

    /// Disk, then Redis (as the route allows); a hit is copied into the nearer tiers.
    pub async fn get_far(
        &self,
        key: &CacheKey,
        rc: &RouteCache,
        shared: &SharedSettings,
    ) -> Option<(Arc<Entry>, &'static str)> {
        let ttl_ms = rc.ttl.as_millis() as u64;
        if rc.tiers.disk
            && let Some(d) = self.disk()
        {
            let k = *key;
            let dd = d.clone();
            let found = tokio::task::spawn_blocking(move || dd.get(&k)).await.ok().flatten();
            if let Some(e) = found.filter(|e| e.fresh(entry::now_ms(), ttl_ms)) {
                d.stats.hits.fetch_add(1, Ordering::Relaxed);
                let e = Arc::new(e);
                if rc.tiers.memory {
                    self.memory.put(*key, e.clone());
                }
                return Some((e, "disk"));
            }
        }
        if rc.tiers.redis
            && let Some(r) = self.redis(shared)
            && let Some(e) = r.get(key).await.filter(|e| e.fresh(entry::now_ms(), ttl_ms))
        {
            let e = Arc::new(e);
            if rc.tiers.memory {
                self.memory.put(*key, e.clone());
            }
            if rc.tiers.disk
                && let Some(d) = self.disk()
            {
                d.put(key, e.encode(), e.expires_ms);
            }
            return Some((e, "redis"));
        }
        None
    }

    /// Stores a new answer in the route's tiers: memory now, disk and Redis in the background.
    pub fn store(&self, key: &CacheKey, rc: &RouteCache, shared: &SharedSettings, entry: &Arc<Entry>, bytes: Vec<u8>) {
        if rc.tiers.memory {
            self.memory.put(*key, entry.clone());
        }
        if rc.tiers.redis
            && let Some(r) = self.redis(shared)
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            let (k, b) = (*key, bytes.clone());
            let ttl_ms = entry.expires_ms.saturating_sub(entry::now_ms());
            rt.spawn(async move { r.put(&k, b, ttl_ms).await });
        }
        if rc.tiers.disk
            && let Some(d) = self.disk()
        {
            d.put(key, bytes, entry.expires_ms);
        }
    }

    /// The Redis tier for the current `[shared]` settings (rebuilt when a reload changed them).
    fn redis(&self, shared: &SharedSettings) -> Option<Arc<redis::RedisTier>> {
        let settings = shared.redis.as_ref()?;
        let mut g = lock(&self.redis);
        match &*g {
            Some(t) if t.serves(settings) => Some(t.clone()),
            _ => {
                let t = Arc::new(redis::RedisTier::new(settings));
                *g = Some(t.clone());
                Some(t)
            }
        }
    }

    pub fn record(&self, outcome: Outcome, coalesced: bool) {
        let c = &self.counters;
        match outcome {
            Outcome::Hit => c.hits.fetch_add(1, Ordering::Relaxed),
            Outcome::Miss => c.misses.fetch_add(1, Ordering::Relaxed),
            Outcome::Bypass => c.bypass.fetch_add(1, Ordering::Relaxed),
        };
        if coalesced {
            c.coalesced.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The `cache` object of `sidegate status`.
    pub fn report(&self) -> CacheStatus {
        let c = &self.counters;
        let (hits, misses) = (c.hits.load(Ordering::Relaxed), c.misses.load(Ordering::Relaxed));
        let ratio = if hits + misses == 0 { 0.0 } else { hits as f64 / (hits + misses) as f64 };
        let m = &self.memory;
        let (in_flight, waiting) = self.flights.in_flight();
        CacheStatus {
            hits,
            misses,
            bypass: c.bypass.load(Ordering::Relaxed),
            coalesced: c.coalesced.load(Ordering::Relaxed),
            hit_ratio: (ratio * 1e4).round() / 1e4,
            in_flight,
            waiting,
            memory: MemoryTier {
                entries: m.entries(),
                bytes: m.bytes(),
                max_bytes: m.max_bytes,
                hits: m.hits.load(Ordering::Relaxed),
                stores: m.stores.load(Ordering::Relaxed),
            },
            disk: self.disk_report(),
            redis: self.redis_report(),
        }
    }

    fn disk_report(&self) -> DiskTier {
        match &*lock(&self.disk) {
            DiskState::Closed => DiskTier::Closed,
            DiskState::Opening => DiskTier::Opening,
            DiskState::Failed(e) => DiskTier::Unavailable { error: e.clone() },
            DiskState::Open(d) => {
                let s = &d.stats;
                let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
                DiskTier::Open {
                    path: d.path.display().to_string(),
                    entries: n(&s.entries),
                    bytes: n(&s.bytes),
                    max_bytes: d.max_bytes,
                    hits: n(&s.hits),
                    writes: n(&s.writes),
                    dropped_writes: n(&s.dropped),
                    write_errors: n(&s.write_errors),
                    read_errors: n(&s.read_errors),
                    evicted: n(&s.evicted),
                    expired: n(&s.expired),
                    damaged: n(&s.damaged),
                }
            }
        }
    }

    fn redis_report(&self) -> RedisTier {
        match &*lock(&self.redis) {
            None => RedisTier::Unused { state: "unused".into() },
            Some(r) => {
                let s = &r.stats;
                let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
                RedisTier::Used {
                    state: r.state().into(),
                    url: r.shown.clone(),
                    hits: n(&s.hits),
                    misses: n(&s.misses),
                    writes: n(&s.writes),
                    errors: n(&s.errors),
                    timeouts: n(&s.timeouts),
                    skipped: n(&s.skipped),
                    last_error: r.last_error(),
                }
            }
        }
    }
}

fn open_disk(dir: Option<&std::path::Path>, max_bytes: u64) -> DiskState {
    let Some(dir) = dir else {
        return DiskState::Failed("no state directory (set server.state_dir)".into());
    };
    match disk::Disk::open(dir, max_bytes) {
        Ok(d) => {
            tracing::info!(path = %d.path.display(), entries = d.stats.entries.load(Ordering::Relaxed), "disk cache open");
            DiskState::Open(Arc::new(d))
        }
        Err(e) => {
            tracing::warn!(error = %e, "disk cache unavailable; caching without it");
            DiskState::Failed(e)
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod config_tests;
