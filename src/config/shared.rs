//! `[shared]`: what the hosts of a fleet share, the Redis server behind the shared cache tier,
//! the fleet-wide caller limits, the outage signal and the optional usage stream, and how to
//! reach it (TLS files, an ACL user and password, a Sentinel master or a Cluster). A Redis URL or password
//! named by a variable or file that cannot be read leaves the shared tier off (a warning), as
//! a Redis that is down would.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::context::ResolveCx;
use super::secrets::{SecretSource, resolve_secret};
use crate::secret::Secret;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharedFile {
    /// `redis://`, `rediss://`, `redis+sentinel://`, `redis+cluster://` or `unix://` URL, or `{ env = "VAR" }` /
    /// `{ file = "..." }`.
    pub redis: Option<SecretSource>,
    /// Longest wait for one Redis command before the cache goes on without it.
    pub redis_timeout: Option<String>,
    /// ACL user and password (instead of, or over, the URL's).
    pub redis_username: Option<String>,
    pub redis_password: Option<SecretSource>,
    /// PEM files for `rediss://`: the CA that signed the server's certificate (else the
    /// system's roots), and a client certificate and key for mutual TLS.
    pub redis_ca_file: Option<String>,
    pub redis_cert_file: Option<String>,
    pub redis_key_file: Option<String>,
    /// This host's name in the fleet (default: the hostname and the process id).
    pub host: Option<String>,
    /// How often this host says it is alive; it counts as gone after three missed beats.
    pub heartbeat: Option<String>,
    /// How long an unsettled budget reservation holds its amount (a host that died mid-call).
    pub reservation_ttl: Option<String>,
    /// Tell the other hosts when a breaker opens, and learn from theirs (default true).
    pub share_breakers: Option<bool>,
    /// Also append ledger rows to the Redis stream `sidegate:usage` (default false).
    pub usage_stream: Option<bool>,
    /// The stream's approximate length bound.
    pub usage_stream_max: Option<u64>,
}

/// `[shared]`: what hosts of a fleet share.
#[derive(Debug, Clone, Default)]
pub struct SharedSettings {
    pub redis: Option<RedisSettings>,
    pub fleet: FleetSettings,
}

/// How to reach the shared Redis.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    /// The connection URL; may hold a password, so it is a secret.
    pub url: Secret,
    /// Longest wait for one command; slower counts as "Redis is down".
    pub timeout: Duration,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub tls: TlsFiles,
}

/// PEM files for a `rediss://` connection (all optional).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

/// The fleet side of `[shared]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetSettings {
    pub host: String,
    pub heartbeat: Duration,
    pub reservation_ttl: Duration,
    pub share_breakers: bool,
    pub usage_stream: bool,
    pub usage_stream_max: u64,
}

impl Default for FleetSettings {
    fn default() -> Self {
        FleetSettings {
            host: default_host(),
            heartbeat: Duration::from_secs(1),
            reservation_ttl: Duration::from_secs(600),
            share_breakers: true,
            usage_stream: false,
            usage_stream_max: 1_000_000,
        }
    }
}

impl SharedSettings {
    /// The `[shared]` keys whose new values in `new` wait for a restart: the fleet (heartbeats,
    /// the outage signal, the usage stream) and the shared limits keep the connection and the
    /// settings they started with; the cache tier follows a reload.
    pub fn restart_only_changes(&self, new: &SharedSettings) -> Vec<&'static str> {
        let mut out = Vec::new();
        match (&self.redis, &new.redis) {
            (None, None) => return out,
            (Some(a), Some(b)) if a.same_as(b) => {}
            _ => out.push("shared.redis"),
        }
        let (a, b) = (&self.fleet, &new.fleet);
        for (key, changed) in [
            ("shared.host", a.host != b.host),
            ("shared.heartbeat", a.heartbeat != b.heartbeat),
            ("shared.reservation_ttl", a.reservation_ttl != b.reservation_ttl),
            ("shared.share_breakers", a.share_breakers != b.share_breakers),
            ("shared.usage_stream", a.usage_stream != b.usage_stream),
            ("shared.usage_stream_max", a.usage_stream_max != b.usage_stream_max),
        ] {
            if changed {
                out.push(key);
            }
        }
        out
    }
}

impl RedisSettings {
    /// Settings for `url` alone (no TLS files, no separate ACL user).
    pub fn plain(url: &str, timeout: Duration) -> Self {
        RedisSettings { url: Secret::new(url), timeout, username: None, password: None, tls: TlsFiles::default() }
    }

    /// Whether `other` names the same server the same way (a reload may change either).
    pub fn same_as(&self, other: &RedisSettings) -> bool {
        self.url.expose() == other.url.expose()
            && self.timeout == other.timeout
            && self.username == other.username
            && self.password.as_ref().map(Secret::expose) == other.password.as_ref().map(Secret::expose)
            && self.tls == other.tls
    }
}

/// `hostname:pid`: distinct for every daemon, even several on one machine.
fn default_host() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let name = name.trim();
    format!("{}:{}", if name.is_empty() { "host" } else { name }, std::process::id())
}

pub(super) fn resolve_shared(cx: &mut ResolveCx<'_>, raw: &SharedFile) -> SharedSettings {
    let timeout = cx.duration(&["shared", "redis_timeout"], &raw.redis_timeout, Duration::from_millis(100));
    if timeout.is_zero() || timeout > Duration::from_secs(10) {
        cx.err(&["shared", "redis_timeout"], "must be above 0 and at most 10s");
    }
    let fleet = resolve_fleet(cx, raw);
    let redis = raw.redis.as_ref().and_then(|src| {
        let url = resolve_secret(cx, &["shared", "redis"], src, "the shared Redis tier is off").ok()?;
        let password = match &raw.redis_password {
            Some(p) => Some(resolve_secret(cx, &["shared", "redis_password"], p, "the shared Redis tier is off").ok()?),
            None => None,
        };
        let tls = resolve_tls(cx, raw, url.expose());
        check_redis_url(cx, &url).then_some(RedisSettings {
            url,
            timeout,
            username: raw.redis_username.clone(),
            password,
            tls,
        })
    });
    SharedSettings { redis, fleet }
}

fn resolve_fleet(cx: &mut ResolveCx<'_>, raw: &SharedFile) -> FleetSettings {
    let d = FleetSettings::default();
    let heartbeat = cx.duration(&["shared", "heartbeat"], &raw.heartbeat, d.heartbeat);
    if heartbeat < Duration::from_millis(100) || heartbeat > Duration::from_secs(60) {
        cx.err(&["shared", "heartbeat"], "must be between 100ms and 60s");
    }
    let reservation_ttl = cx.duration(&["shared", "reservation_ttl"], &raw.reservation_ttl, d.reservation_ttl);
    if reservation_ttl < Duration::from_secs(1) {
        cx.err(&["shared", "reservation_ttl"], "must be at least 1s");
    }
    let host = raw.host.clone().unwrap_or(d.host);
    if host.is_empty() || host.len() > 128 || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        cx.err(&["shared", "host"], "must be 1-128 characters without spaces");
    }
    FleetSettings {
        host,
        heartbeat,
        reservation_ttl,
        share_breakers: raw.share_breakers.unwrap_or(d.share_breakers),
        usage_stream: raw.usage_stream.unwrap_or(d.usage_stream),
        usage_stream_max: raw.usage_stream_max.unwrap_or(d.usage_stream_max).max(1000),
    }
}

/// The TLS files, relative to the config file's directory; naming them without `rediss://`
/// or `redis+cluster://` (whose nodes they put on TLS) is an error (they would be ignored).
fn resolve_tls(cx: &mut ResolveCx<'_>, raw: &SharedFile, url: &str) -> TlsFiles {
    let base = cx.file().parent().map(Path::to_path_buf).unwrap_or_default();
    let at = |p: &Option<String>| p.as_ref().map(|p| base.join(p));
    let tls = TlsFiles { ca: at(&raw.redis_ca_file), cert: at(&raw.redis_cert_file), key: at(&raw.redis_key_file) };
    let any = tls.ca.is_some() || tls.cert.is_some() || tls.key.is_some();
    if any && !url.starts_with("rediss://") && !url.starts_with("redis+cluster://") {
        cx.err(&["shared", "redis_ca_file"], "TLS files need a rediss:// or redis+cluster:// URL");
    }
    if tls.cert.is_some() != tls.key.is_some() {
        cx.err(
            &["shared", "redis_cert_file"],
            "a client certificate needs its key (redis_key_file), and a key its certificate",
        );
    }
    for (key, p) in [("redis_ca_file", &tls.ca), ("redis_cert_file", &tls.cert), ("redis_key_file", &tls.key)] {
        if let Some(p) = p
            && !p.is_file()
        {
            cx.err(&["shared", key], format!("{} is not a readable file", p.display()));
        }
    }
    tls
}

fn check_redis_url(cx: &mut ResolveCx<'_>, url: &Secret) -> bool {
    let scheme = url.expose().split("://").next().unwrap_or("");
    if matches!(scheme, "redis+sentinel" | "redis+cluster") {
        return match crate::fleet::endpoint::Endpoint::parse(url.expose()) {
            Ok(_) => true,
            Err(e) => {
                cx.err(&["shared", "redis"], url.redact(&e.to_string()));
                false
            }
        };
    }
    if !matches!(scheme, "redis" | "rediss" | "unix" | "redis+unix") {
        cx.err(
            &["shared", "redis"],
            format!(
                "unsupported scheme `{scheme}`; write redis://, rediss:// (TLS), redis+sentinel://host:port[,host:port]/master, redis+cluster://host:port[,host:port] or unix:///path"
            ),
        );
        return false;
    }
    if let Err(e) = redis::Client::open(url.expose()) {
        cx.err(&["shared", "redis"], format!("not a valid Redis URL: {}", url.redact(&e.to_string())));
        return false;
    }
    true
}
