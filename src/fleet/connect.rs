//! The one way sidegate connects to the shared Redis, for the cache tier, the shared limits and
//! the fleet: the URL (`redis://`, `rediss://`, `unix://`, or `redis+sentinel://` naming the
//! sentinels and the master), TLS files for `rediss://`, an ACL user and password given apart
//! from the URL. [`Link`] holds a connection that reconnects by itself: nothing about a first
//! failure is kept, so a Redis that was down at start is used as soon as it answers.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::config::RedisSettings;

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("not a valid Redis URL: {0}")]
    BadUrl(String),
    #[error("cannot read {path}: {source}")]
    ReadFile { path: String, source: std::io::Error },
    #[error("redis+sentinel:// needs host:port[,host:port...]/master, got `{0}`")]
    BadSentinel(String),
    #[error("the sentinels did not name a master: {0}")]
    Sentinel(String),
    #[error("no answer within {0} ms")]
    Timeout(u128),
    #[error("not connecting again yet: the last attempt failed under a second ago")]
    Backoff,
}

/// A Sentinel endpoint: the sentinels' addresses and the master's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentinelTarget {
    pub nodes: Vec<String>,
    pub master: String,
    /// Whether the master is reached over TLS (`redis+sentinels://` is not a thing; the
    /// sentinel URL's query `?tls=true`).
    pub tls: bool,
}

/// `redis+sentinel://[user:pass@]h1:26379,h2:26379/mymaster[?tls=true]`.
pub fn parse_sentinel(url: &str) -> Result<SentinelTarget, ConnectError> {
    let bad = || ConnectError::BadSentinel(crate::secret::redact_url(url));
    let rest = url.strip_prefix("redis+sentinel://").ok_or_else(bad)?;
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (hosts, master) = rest.split_once('/').ok_or_else(bad)?;
    let nodes: Vec<String> = hosts.split(',').filter(|h| !h.is_empty()).map(str::to_string).collect();
    if nodes.is_empty() || master.is_empty() || master.contains('/') || nodes.iter().any(|n| !n.contains(':')) {
        return Err(bad());
    }
    Ok(SentinelTarget { nodes, master: master.to_string(), tls: query.split('&').any(|kv| kv == "tls=true") })
}

fn read(path: &std::path::Path) -> Result<Vec<u8>, ConnectError> {
    std::fs::read(path).map_err(|source| ConnectError::ReadFile { path: path.display().to_string(), source })
}

/// The URL's connection info with the settings' ACL user and password over it.
fn connection_info(url: &str, s: &RedisSettings) -> Result<redis::ConnectionInfo, ConnectError> {
    use redis::IntoConnectionInfo;
    let info =
        url.into_connection_info().map_err(|e| ConnectError::BadUrl(crate::secret::redact_url(&e.to_string())))?;
    let mut redis = info.redis_settings().clone();
    if let Some(u) = &s.username {
        redis = redis.set_username(u);
    }
    if let Some(p) = &s.password {
        redis = redis.set_password(p.expose());
    }
    Ok(info.set_redis_settings(redis))
}

/// A client for a direct URL (not Sentinel), with the TLS files when there are any.
fn direct_client(url: &str, s: &RedisSettings) -> Result<redis::Client, ConnectError> {
    let info = connection_info(url, s)?;
    let bad = |e: redis::RedisError| ConnectError::BadUrl(crate::secret::redact_url(&e.to_string()));
    if s.tls.ca.is_none() && s.tls.cert.is_none() {
        return redis::Client::open(info).map_err(bad);
    }
    let client_tls = match (&s.tls.cert, &s.tls.key) {
        (Some(c), Some(k)) => Some(redis::ClientTlsConfig { client_cert: read(c)?, client_key: read(k)? }),
        _ => None,
    };
    let root_cert = s.tls.ca.as_deref().map(read).transpose()?;
    redis::Client::build_with_tls(info, redis::TlsCertificates { client_tls, root_cert }).map_err(bad)
}

/// Asks the sentinels where the master is now, and returns a client for it.
async fn sentinel_client(target: &SentinelTarget, s: &RedisSettings) -> Result<redis::Client, ConnectError> {
    use redis::sentinel::{SentinelClientBuilder, SentinelServerType};
    let fail = |e: redis::RedisError| ConnectError::Sentinel(e.to_string());
    let addrs = target
        .nodes
        .iter()
        .map(|n| {
            let (h, p) = n.rsplit_once(':').unwrap_or((n, "26379"));
            redis::ConnectionAddr::Tcp(h.to_string(), p.parse().unwrap_or(26379))
        })
        .collect::<Vec<_>>();
    let mut b = SentinelClientBuilder::new(addrs, target.master.clone(), SentinelServerType::Master).map_err(fail)?;
    if let Some(u) = &s.username {
        b = b.set_client_to_redis_username(u);
    }
    if let Some(p) = &s.password {
        b = b.set_client_to_redis_password(p.expose());
    }
    if target.tls {
        b = b.set_client_to_redis_tls_mode(redis::TlsMode::Secure);
    }
    let mut client = b.build().map_err(fail)?;
    tokio::time::timeout(s.timeout * 10, client.async_get_client())
        .await
        .map_err(|_| ConnectError::Timeout((s.timeout * 10).as_millis()))?
        .map_err(fail)
}

/// A client for `s`: direct, or the master the sentinels name now.
pub async fn client(s: &RedisSettings) -> Result<redis::Client, ConnectError> {
    let url = s.url.expose();
    if url.starts_with("redis+sentinel://") {
        sentinel_client(&parse_sentinel(url)?, s).await
    } else {
        direct_client(url, s)
    }
}

/// A connection to the shared Redis that reconnects by itself. Built on first use; if building
/// fails (a bad file, sentinels that do not answer), the next use tries again, at most once a
/// second. Behind Sentinel, a connection that keeps failing is rebuilt, asking the sentinels
/// again (the master may have moved).
pub struct Link {
    settings: RedisSettings,
    conn: tokio::sync::Mutex<Option<ConnectionManager>>,
    last_attempt: Mutex<Option<Instant>>,
    failures: std::sync::atomic::AtomicU32,
}

impl Link {
    pub fn new(settings: &RedisSettings) -> Self {
        Link {
            settings: settings.clone(),
            conn: tokio::sync::Mutex::new(None),
            last_attempt: Mutex::new(None),
            failures: std::sync::atomic::AtomicU32::new(0),
        }
    }

    pub fn settings(&self) -> &RedisSettings {
        &self.settings
    }

    pub fn timeout(&self) -> Duration {
        self.settings.timeout
    }

    /// The connection, or why there is none right now.
    pub async fn get(&self) -> Result<ConnectionManager, ConnectError> {
        let mut slot = self.conn.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        {
            let mut last = self.last_attempt.lock().unwrap_or_else(|p| p.into_inner());
            if last.is_some_and(|t| t.elapsed() < Duration::from_secs(1)) {
                return Err(ConnectError::Backoff);
            }
            *last = Some(Instant::now());
        }
        let client = client(&self.settings).await?;
        let t = self.settings.timeout;
        // Few, fast reconnect attempts: callers pace their own retries.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(t.max(Duration::from_millis(200))))
            .set_response_timeout(Some(t))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200));
        let m = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| ConnectError::BadUrl(crate::secret::redact_url(&e.to_string())))?;
        *slot = Some(m.clone());
        Ok(m)
    }

    /// A command failed or timed out. Behind Sentinel, the fifth failure in a row drops the
    /// connection so the next use asks the sentinels again.
    pub async fn failed(&self) {
        use std::sync::atomic::Ordering;
        let n = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if n >= 5 && self.settings.url.expose().starts_with("redis+sentinel://") {
            self.failures.store(0, Ordering::Relaxed);
            *self.conn.lock().await = None;
        }
    }

    pub fn answered(&self) {
        self.failures.store(0, std::sync::atomic::Ordering::Relaxed);
    }

    /// Runs `cmd` within the timeout; a failure is noted (see [`Link::failed`]).
    pub async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, QueryError> {
        let mut conn = self.get().await.map_err(QueryError::Connect)?;
        let answer = tokio::time::timeout(self.settings.timeout, cmd.query_async::<T>(&mut conn)).await;
        self.outcome(answer).await
    }

    /// Runs a pipeline within the timeout (one round trip), as [`Link::query`].
    pub async fn query_pipe<T: redis::FromRedisValue>(&self, pipe: &redis::Pipeline) -> Result<T, QueryError> {
        let mut conn = self.get().await.map_err(QueryError::Connect)?;
        let answer = tokio::time::timeout(self.settings.timeout, pipe.query_async::<T>(&mut conn)).await;
        self.outcome(answer).await
    }

    /// A timed query's answer, noted as answered or failed.
    async fn outcome<T>(
        &self,
        answer: Result<redis::RedisResult<T>, tokio::time::error::Elapsed>,
    ) -> Result<T, QueryError> {
        match answer {
            Ok(Ok(v)) => {
                self.answered();
                Ok(v)
            }
            Ok(Err(e)) => {
                self.failed().await;
                Err(QueryError::Redis(e))
            }
            Err(_) => {
                self.failed().await;
                Err(QueryError::Timeout(self.settings.timeout.as_millis()))
            }
        }
    }
}

/// Why one command got no answer.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error(transparent)]
    Connect(ConnectError),
    #[error("{0}")]
    Redis(redis::RedisError),
    #[error("no answer within {0} ms")]
    Timeout(u128),
}

impl QueryError {
    pub fn timed_out(&self) -> bool {
        matches!(self, QueryError::Timeout(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentinel_urls_name_nodes_and_master() {
        let t = parse_sentinel("redis+sentinel://:pw@10.0.0.1:26379,10.0.0.2:26379/mymaster").unwrap();
        assert_eq!(t.nodes, ["10.0.0.1:26379", "10.0.0.2:26379"]);
        assert_eq!((t.master.as_str(), t.tls), ("mymaster", false));
        assert!(parse_sentinel("redis+sentinel://h:1/m?tls=true").unwrap().tls);
        for bad in ["redis+sentinel://h:1", "redis+sentinel:///m", "redis+sentinel://h/m", "redis://h:1/m"] {
            assert!(parse_sentinel(bad).is_err(), "{bad}");
        }
        let e = parse_sentinel("redis+sentinel://:hunter2@h").unwrap_err().to_string();
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[tokio::test]
    async fn a_missing_ca_file_is_a_typed_error() {
        let mut s = RedisSettings::plain("rediss://127.0.0.1:9/0", Duration::from_millis(100));
        s.tls.ca = Some("/nonexistent/ca.pem".into());
        assert!(matches!(client(&s).await, Err(ConnectError::ReadFile { .. })));
    }
}
