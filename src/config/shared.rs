//! `[shared]`: what the hosts of a fleet share, the Redis server behind the shared cache tier
//! and the fleet-wide caller limits. A Redis URL named by a variable or file that cannot be
//! read leaves the shared tier off (a warning), as a Redis that is down would.

use std::time::Duration;

use serde::Deserialize;

use super::context::ResolveCx;
use super::secrets::{SecretSource, resolve_secret};
use crate::secret::Secret;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharedFile {
    /// `redis://[:password@]host:port[/db]`, or `{ env = "VAR" }` / `{ file = "..." }`.
    pub redis: Option<SecretSource>,
    /// Longest wait for one Redis command before the cache goes on without it.
    pub redis_timeout: Option<String>,
}

/// `[shared]`: what hosts of a fleet share.
#[derive(Debug, Clone, Default)]
pub struct SharedSettings {
    pub redis: Option<RedisSettings>,
}

#[derive(Debug, Clone)]
pub struct RedisSettings {
    /// The connection URL; may hold a password, so it is a secret.
    pub url: Secret,
    /// Longest wait for one command; slower counts as "Redis is down".
    pub timeout: Duration,
}

pub(super) fn resolve_shared(cx: &mut ResolveCx<'_>, raw: &SharedFile) -> SharedSettings {
    let timeout = cx.duration(&["shared", "redis_timeout"], &raw.redis_timeout, Duration::from_millis(100));
    if timeout.is_zero() || timeout > Duration::from_secs(10) {
        cx.err(&["shared", "redis_timeout"], "must be above 0 and at most 10s");
    }
    let redis = raw.redis.as_ref().and_then(|src| {
        let url = resolve_secret(cx, &["shared", "redis"], src, "the shared Redis tier is off").ok()?;
        check_redis_url(cx, &url).then_some(RedisSettings { url, timeout })
    });
    SharedSettings { redis }
}

fn check_redis_url(cx: &mut ResolveCx<'_>, url: &Secret) -> bool {
    let scheme = url.expose().split("://").next().unwrap_or("");
    if !matches!(scheme, "redis" | "unix" | "redis+unix") {
        cx.err(
            &["shared", "redis"],
            format!("unsupported scheme `{scheme}`; write redis://[:password@]host[:port][/db] or unix:///path"),
        );
        return false;
    }
    if let Err(e) = redis::Client::open(url.expose()) {
        cx.err(&["shared", "redis"], format!("not a valid Redis URL: {}", url.redact(&e.to_string())));
        return false;
    }
    true
}
