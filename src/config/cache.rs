//! The response cache's settings: `[cache]` sizes (process-wide, read at start) and each
//! route's `cache = { ttl, tiers }`, with the checks that tie them to `[shared] redis` and the
//! state directory.

use std::time::Duration;

use serde::Deserialize;

use super::context::ResolveCx;

/// Process-wide response-cache limits; they take effect at start.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheFile {
    /// Bytes the memory tier may hold, e.g. "64MiB".
    pub max_memory: Option<SizeFile>,
    /// Bytes of entries the disk tier may hold, e.g. "1GiB".
    pub max_disk: Option<SizeFile>,
}

/// A size: a number of bytes, or a string like "64MiB", "1GB", "512KiB".
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum SizeFile {
    Bytes(u64),
    Text(String),
}

/// `routes.NAME.cache = { ttl = "10m", tiers = ["memory", "disk", "redis"] }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteCacheFile {
    pub ttl: Option<String>,
    pub tiers: Option<Vec<String>>,
}

/// Process-wide cache limits; read once at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheSettings {
    /// Bytes the memory tier holds at most (entries weighed by their encoded size).
    pub max_memory: u64,
    /// Bytes of entries the disk tier holds at most.
    pub max_disk: u64,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings { max_memory: 64 << 20, max_disk: 1 << 30 }
    }
}

/// A route's response cache (`routes.NAME.cache`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteCache {
    /// How long a stored answer may be served (by this route).
    pub ttl: Duration,
    pub tiers: CacheTiers,
}

/// Which cache tiers a route reads and fills, nearest first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheTiers {
    pub memory: bool,
    pub disk: bool,
    pub redis: bool,
}

pub(super) fn resolve_cache(cx: &mut ResolveCx<'_>, raw: &CacheFile) -> CacheSettings {
    let d = CacheSettings::default();
    let max_memory = size(cx, &["cache", "max_memory"], &raw.max_memory, d.max_memory);
    let max_disk = size(cx, &["cache", "max_disk"], &raw.max_disk, d.max_disk);
    if max_memory < 64 << 10 {
        cx.err(&["cache", "max_memory"], "must be at least 64KiB");
    }
    if max_disk < 1 << 20 {
        cx.err(&["cache", "max_disk"], "must be at least 1MiB");
    }
    CacheSettings { max_memory, max_disk }
}

/// What backs the tiers a route may name: `[shared] redis` for the redis tier, a state
/// directory for the disk tier.
#[derive(Debug, Clone, Copy)]
pub(super) struct TierBacking {
    pub redis: bool,
    pub state_dir: bool,
}

pub(super) fn resolve_route_cache(
    cx: &mut ResolveCx<'_>,
    name: &str,
    rc: Option<&RouteCacheFile>,
    backing: TierBacking,
) -> Option<RouteCache> {
    let rc = rc?;
    let ttl = cx.duration(&["routes", name, "cache", "ttl"], &rc.ttl, Duration::from_secs(3600));
    if ttl.is_zero() {
        cx.err(&["routes", name, "cache", "ttl"], "must be above 0; omit `cache` to turn caching off");
    }
    let Some(list) = &rc.tiers else {
        // The default tiers name the disk; the cache skips it while there is no state directory.
        return Some(RouteCache { ttl, tiers: CacheTiers { memory: true, disk: true, redis: backing.redis } });
    };
    if list.is_empty() {
        cx.err(&["routes", name, "cache", "tiers"], "an empty list caches nothing; omit `cache` instead");
    }
    let mut tiers = CacheTiers::default();
    for (i, t) in list.iter().enumerate() {
        let idx = i.to_string();
        let path = ["routes", name, "cache", "tiers", idx.as_str()];
        let slot = match t.as_str() {
            "memory" => &mut tiers.memory,
            "disk" => &mut tiers.disk,
            "redis" => &mut tiers.redis,
            other => {
                cx.err(&path, format!("unknown tier `{other}` (known: memory, disk, redis)"));
                continue;
            }
        };
        if *slot {
            cx.err(&path, format!("tier `{t}` is listed twice"));
        }
        *slot = true;
        if t == "redis" && !backing.redis {
            cx.err(&path, "the redis tier needs `[shared] redis = \"redis://...\"`");
        }
        if t == "disk" && !backing.state_dir {
            cx.err(
                &path,
                "the disk tier needs a state directory: set server.state_dir (no $STATE_DIRECTORY, $XDG_STATE_HOME or $HOME)",
            );
        }
    }
    Some(RouteCache { ttl, tiers })
}

/// A byte size: a number, or a string like "64MiB", "1GB", "512 KiB" (KB/MB/GB are powers of
/// 1000, KiB/MiB/GiB of 1024).
pub(super) fn size(cx: &mut ResolveCx<'_>, path: &[&str], raw: &Option<SizeFile>, default: u64) -> u64 {
    match raw {
        None => default,
        Some(SizeFile::Bytes(n)) => *n,
        Some(SizeFile::Text(t)) => match parse_size(t) {
            Some(n) => n,
            None => {
                cx.err(path, format!("`{t}` is not a size; write e.g. \"64MiB\", \"1GB\" or a number of bytes"));
                default
            }
        },
    }
}

fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mult)
}
