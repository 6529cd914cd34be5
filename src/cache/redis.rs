//! The Redis tier: entries shared by every host of a fleet, under `sidegate:cache:v1:<key>`
//! with the same bytes as the disk tier and Redis's own expiry (`PX`).
//!
//! Redis must never fail or stall a request: every command has a short timeout, and after a
//! failure the tier is skipped for a second (so a dead or hung Redis costs at most one timeout
//! per second, not one per request). The connection (`fleet::connect::Link`, the builder the
//! shared limits and the fleet use too: TLS, ACL, Sentinel) reconnects by itself. Failures are
//! logged at most once a minute.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::entry::Entry;
use super::key::CacheKey;
use crate::config::RedisSettings;
use crate::fleet::connect::{Conn, Link};

/// How long the tier is skipped after a failure.
const BACKOFF: Duration = Duration::from_secs(1);
const WARN_EVERY: Duration = Duration::from_secs(60);
const PREFIX: &str = "sidegate:cache:v1:";

#[derive(Default)]
pub struct RedisStats {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub writes: AtomicU64,
    pub errors: AtomicU64,
    pub timeouts: AtomicU64,
    /// Lookups and writes skipped while the tier backs off after a failure.
    pub skipped: AtomicU64,
}

pub struct RedisTier {
    /// The URL as configured (may hold a password; never logged).
    url: String,
    /// The URL with any password replaced, for status and logs.
    pub shown: String,
    timeout: Duration,
    link: Link,
    down_until: Mutex<Option<Instant>>,
    last_warning: Mutex<Option<Instant>>,
    last_error: Mutex<Option<String>>,
    /// The last command's outcome: 0 none yet, 1 answered, 2 failed.
    last_outcome: AtomicU8,
    pub stats: RedisStats,
}

impl RedisTier {
    pub fn new(settings: &RedisSettings) -> Self {
        let url = settings.url.expose().to_string();
        RedisTier {
            shown: redact_url(&url),
            url,
            timeout: settings.timeout,
            link: Link::new(settings),
            down_until: Mutex::new(None),
            last_warning: Mutex::new(None),
            last_error: Mutex::new(None),
            last_outcome: AtomicU8::new(0),
            stats: RedisStats::default(),
        }
    }

    /// Whether this tier was built for `settings` (a reload may point at another server).
    pub fn serves(&self, settings: &RedisSettings) -> bool {
        self.link.settings().same_as(settings)
    }

    /// `up` or `down` after the last command, `idle` before the first.
    pub fn state(&self) -> &'static str {
        match self.last_outcome.load(Ordering::Relaxed) {
            1 => "up",
            2 => "down",
            _ => "idle",
        }
    }

    pub fn last_error(&self) -> Option<String> {
        lock(&self.last_error).clone()
    }

    pub async fn get(&self, key: &CacheKey) -> Option<Entry> {
        let mut conn = self.usable().await?;
        let mut cmd = redis::cmd("GET");
        cmd.arg(redis_key(key));
        let got = tokio::time::timeout(self.timeout, cmd.query_async::<Option<Vec<u8>>>(&mut conn)).await;
        if matches!(got, Ok(Ok(_))) {
            self.last_outcome.store(1, Ordering::Relaxed);
        }
        match got {
            Ok(Ok(Some(bytes))) => match Entry::decode(&bytes) {
                Ok(e) => {
                    self.stats.hits.fetch_add(1, Ordering::Relaxed);
                    Some(e)
                }
                Err(e) => {
                    self.stats.misses.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(error = %e, "redis cache value is not a valid entry; ignored");
                    None
                }
            },
            Ok(Ok(None)) => {
                self.stats.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
            Ok(Err(e)) => {
                self.failed(&e.to_string(), false);
                None
            }
            Err(_) => {
                self.failed(&format!("no answer within {} ms", self.timeout.as_millis()), true);
                None
            }
        }
    }

    pub async fn put(&self, key: &CacheKey, bytes: Vec<u8>, ttl_ms: u64) {
        let Some(mut conn) = self.usable().await else { return };
        let mut cmd = redis::cmd("SET");
        cmd.arg(redis_key(key)).arg(bytes).arg("PX").arg(ttl_ms.max(1));
        match tokio::time::timeout(self.timeout, cmd.query_async::<()>(&mut conn)).await {
            Ok(Ok(())) => {
                self.last_outcome.store(1, Ordering::Relaxed);
                self.stats.writes.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Err(e)) => self.failed(&e.to_string(), false),
            Err(_) => self.failed(&format!("no answer within {} ms", self.timeout.as_millis()), true),
        }
    }

    /// The connection, unless the tier is backing off after a failure.
    async fn usable(&self) -> Option<Conn> {
        if self.backing_off() {
            self.stats.skipped.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        match self.link.get().await {
            Ok(c) => Some(c),
            Err(e) => {
                self.failed(&e.to_string(), false);
                None
            }
        }
    }

    fn backing_off(&self) -> bool {
        lock(&self.down_until).is_some_and(|t| Instant::now() < t)
    }

    fn failed(&self, error: &str, timed_out: bool) {
        if timed_out {
            self.stats.timeouts.fetch_add(1, Ordering::Relaxed);
        } else {
            self.stats.errors.fetch_add(1, Ordering::Relaxed);
        }
        self.last_outcome.store(2, Ordering::Relaxed);
        *lock(&self.down_until) = Some(Instant::now() + BACKOFF);
        let error = redact(error, &self.url);
        *lock(&self.last_error) = Some(error.clone());
        let mut last = lock(&self.last_warning);
        if last.is_none_or(|t| t.elapsed() >= WARN_EVERY) {
            *last = Some(Instant::now());
            tracing::warn!(redis = %self.shown, error = %error, "redis cache tier unavailable; serving without it (next warning in a minute at most)");
        }
    }
}

fn redis_key(key: &CacheKey) -> String {
    format!("{PREFIX}{}", key.hex())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// `redis://user:secret@host:6379/0` -> `redis://***@host:6379/0`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}***{}", &url[..s + 3], &url[at..]),
        _ => url.to_string(),
    }
}

/// Removes the URL's password from an error message, should a library quote it.
fn redact(text: &str, url: &str) -> String {
    let mut out = text.replace(url, &redact_url(url));
    if let (Some(s), Some(at)) = (url.find("://"), url.rfind('@'))
        && at > s + 3
    {
        let userinfo = &url[s + 3..at];
        let secret = userinfo.rsplit(':').next().unwrap_or(userinfo);
        if !secret.is_empty() {
            out = out.replace(secret, "***");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        assert_eq!(redact_url("redis://:hunter2@10.0.0.1:6379/0"), "redis://***@10.0.0.1:6379/0");
        assert_eq!(redact_url("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        let msg = redact("failed to connect to redis://u:hunter2@h:1 (hunter2)", "redis://u:hunter2@h:1");
        assert!(!msg.contains("hunter2"), "{msg}");
    }

    /// Nothing listens on port 9: a lookup is a quick miss, and the tier then backs off.
    #[tokio::test]
    async fn an_unreachable_redis_is_a_quick_miss() {
        let settings = RedisSettings::plain("redis://127.0.0.1:9/0", Duration::from_millis(200));
        let t = RedisTier::new(&settings);
        let started = Instant::now();
        assert!(t.get(&CacheKey([7; 32])).await.is_none());
        assert!(t.get(&CacheKey([7; 32])).await.is_none());
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(t.state(), "down");
        assert!(t.stats.skipped.load(Ordering::Relaxed) >= 1);
    }
}
