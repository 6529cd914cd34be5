//! The memory tier: a concurrent S3-FIFO cache (quick_cache) bounded in bytes, each entry
//! weighed by its encoded size plus a fixed per-entry overhead. Expiry is checked on read; an
//! expired entry is dropped then, and until then it counts against the byte bound like any
//! other, so the bound always holds.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use quick_cache::Weighter;
use quick_cache::sync::Cache;

use super::entry::Entry;
use super::key::CacheKey;

/// Bookkeeping per entry beyond its encoded bytes (key, Arc, parsed structure).
const OVERHEAD: u64 = 256;

#[derive(Clone)]
struct Bytes;

impl Weighter<CacheKey, Arc<Entry>> for Bytes {
    fn weight(&self, _key: &CacheKey, val: &Arc<Entry>) -> u64 {
        val.size as u64 + OVERHEAD
    }
}

pub struct Memory {
    cache: Cache<CacheKey, Arc<Entry>, Bytes>,
    pub max_bytes: u64,
    pub hits: AtomicU64,
    pub stores: AtomicU64,
}

impl Memory {
    pub fn new(max_bytes: u64) -> Self {
        // Each shard holds an equal part of the bound, and an entry heavier than its shard's
        // part is not kept: few shards for small bounds, more (less contention) for large ones.
        let shards = (max_bytes / (4 << 20)).clamp(1, 16).next_power_of_two() as usize;
        let items = (max_bytes / 4096).clamp(64, 1 << 20) as usize;
        let options = quick_cache::OptionsBuilder::new()
            .estimated_items_capacity(items)
            .weight_capacity(max_bytes)
            .shards(shards)
            .build();
        let cache = match options {
            Ok(o) => Cache::with_options(o, Bytes, Default::default(), Default::default()),
            Err(_) => Cache::with_weighter(items, max_bytes, Bytes),
        };
        Memory { cache, max_bytes, hits: AtomicU64::new(0), stores: AtomicU64::new(0) }
    }

    /// A fresh entry for `key`, if held.
    pub fn get(&self, key: &CacheKey, now_ms: u64, ttl_ms: u64) -> Option<Arc<Entry>> {
        let e = self.cache.get(key)?;
        if e.fresh(now_ms, ttl_ms) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Some(e);
        }
        if now_ms >= e.expires_ms {
            self.cache.remove(key);
        }
        None
    }

    pub fn put(&self, key: CacheKey, entry: Arc<Entry>) {
        self.stores.fetch_add(1, Ordering::Relaxed);
        self.cache.insert(key, entry);
    }

    pub fn entries(&self) -> u64 {
        self.cache.len() as u64
    }

    /// Weight held now (encoded bytes plus per-entry overhead); never above `max_bytes`.
    pub fn bytes(&self) -> u64 {
        self.cache.weight()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::entry::{Body, Origin};

    fn entry(len: usize, ttl_ms: u64) -> Arc<Entry> {
        let origin = Origin { provider: "p".into(), deployment: "d".into(), vendor_model: "m".into() };
        Arc::new(Entry::new(origin, Body::Embeddings(serde_json::json!("x".repeat(len))), ttl_ms).0)
    }

    #[test]
    fn byte_bound_holds_under_a_flood_of_large_entries() {
        let m = Memory::new(1 << 20);
        for i in 0..500u32 {
            let mut k = [0u8; 32];
            k[..4].copy_from_slice(&i.to_le_bytes());
            m.put(CacheKey(k), entry(50_000, 60_000));
            assert!(m.bytes() <= m.max_bytes, "{} > {} after {i} inserts", m.bytes(), m.max_bytes);
        }
        assert!(m.entries() >= 10, "the tier still holds entries: {}", m.entries());
    }

    #[test]
    fn expired_entries_are_not_served() {
        let m = Memory::new(1 << 20);
        let e = entry(10, 1_000);
        let created = e.created_ms;
        m.put(CacheKey([1; 32]), e);
        assert!(m.get(&CacheKey([1; 32]), created + 10, 60_000).is_some());
        assert!(m.get(&CacheKey([1; 32]), created + 1_000, 60_000).is_none());
        assert_eq!(m.entries(), 0);
    }
}
