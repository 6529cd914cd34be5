//! The one way sidegate connects to the shared Redis, for the cache tier, the shared limits and
//! the fleet. [`Link`] holds a connection that reconnects by itself: nothing about a first
//! failure is kept, so a Redis that was down at start is used as soon as it answers. Behind one
//! server or a Sentinel master it is a [`ConnectionManager`]; behind a Redis Cluster, a cluster
//! connection that routes each command to the node owning its key. [`Conn`] is either, and
//! every command in sidegate goes through it (the fleet's keys carry hash tags, so a script or
//! a pipeline never spans nodes). What the URL means is [`super::endpoint`].

use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, Pipeline, RedisFuture, Value};

use super::endpoint::{self, Endpoint};
use crate::config::RedisSettings;

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("not a valid Redis URL: {0}")]
    BadUrl(String),
    #[error("cannot read {path}: {source}")]
    ReadFile { path: String, source: std::io::Error },
    #[error("{0}")]
    BadNodes(String),
    #[error("the sentinels did not name a master: {0}")]
    Sentinel(String),
    #[error("the cluster did not answer: {0}")]
    Cluster(String),
    #[error("no answer within {0} ms")]
    Timeout(u128),
    #[error("not connecting again yet: the last attempt failed under a second ago")]
    Backoff,
    #[error("a connection is still being made; this command goes on without Redis")]
    Connecting,
    #[error("Redis did not take the connection: {0}")]
    Refused(String),
}

/// One connection to the shared Redis: a single server (or the Sentinel master), or a cluster.
#[derive(Clone)]
pub enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// A client for `s` (one server, or the master the sentinels name now); a cluster has no one
/// client, so its URL is refused here.
pub async fn client(s: &RedisSettings) -> Result<redis::Client, ConnectError> {
    let url = s.url.expose();
    match Endpoint::parse(url)? {
        Endpoint::Direct => endpoint::direct_client(url, s),
        Endpoint::Sentinel(t) => endpoint::sentinel_client(&t, s).await,
        Endpoint::Cluster(_) => Err(ConnectError::BadNodes("a cluster has no single client".into())),
    }
}

/// A connection to the shared Redis that reconnects by itself. Built on first use; if building
/// fails (a bad file, sentinels or cluster nodes that do not answer), the next use tries again,
/// at most once a second; while one use builds it, the others wait for it at most the
/// timeout, as for any answer. Behind Sentinel or a cluster, a connection that keeps failing is rebuilt, asking again
/// where the servers are.
pub struct Link {
    settings: RedisSettings,
    endpoint: Result<Endpoint, String>,
    conn: Mutex<Option<Conn>>,
    building: tokio::sync::Mutex<()>,
    last_attempt: Mutex<Option<Instant>>,
    failures: std::sync::atomic::AtomicU32,
}

impl Link {
    pub fn new(settings: &RedisSettings) -> Self {
        Link {
            settings: settings.clone(),
            endpoint: Endpoint::parse(settings.url.expose()).map_err(|e| e.to_string()),
            conn: Mutex::new(None),
            building: tokio::sync::Mutex::new(()),
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
    pub async fn get(&self) -> Result<Conn, ConnectError> {
        if let Some(c) = lock(&self.conn).as_ref() {
            return Ok(c.clone());
        }
        let _building = match self.building.try_lock() {
            Ok(g) => g,
            Err(_) => {
                // Another use is building it: wait for that as for any answer, at most the
                // timeout, rather than count a failure that did not happen.
                let _ = tokio::time::timeout(self.settings.timeout, self.building.lock()).await;
                return lock(&self.conn).clone().ok_or(ConnectError::Connecting);
            }
        };
        if let Some(c) = lock(&self.conn).as_ref() {
            return Ok(c.clone());
        }
        {
            let mut last = lock(&self.last_attempt);
            if last.is_some_and(|t| t.elapsed() < Duration::from_secs(1)) {
                return Err(ConnectError::Backoff);
            }
            *last = Some(Instant::now());
        }
        // Boxed and type-erased: building is rare, and its future (the cluster's handshake)
        // would otherwise be inlined into every command's.
        let build: std::pin::Pin<Box<dyn std::future::Future<Output = Result<Conn, ConnectError>> + Send + '_>> =
            Box::pin(self.build());
        let conn = build.await?;
        *lock(&self.conn) = Some(conn.clone());
        Ok(conn)
    }

    async fn build(&self) -> Result<Conn, ConnectError> {
        let endpoint = self.endpoint.clone().map_err(ConnectError::BadNodes)?;
        if let Endpoint::Cluster(t) = &endpoint {
            return Ok(Conn::Cluster(endpoint::cluster_connection(t, &self.settings).await?));
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
        Ok(Conn::Single(m))
    }

    /// A command failed or timed out. Behind Sentinel or a cluster, the fifth failure in a row
    /// drops the connection so the next use asks again where the servers are.
    pub fn failed(&self) {
        use std::sync::atomic::Ordering;
        let n = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if n >= 5 && self.endpoint.as_ref().is_ok_and(Endpoint::is_multi_node) {
            self.failures.store(0, Ordering::Relaxed);
            *lock(&self.conn) = None;
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

    /// Every key matching `pattern`, at most about 100,000: SCAN, so a big keyspace is never
    /// blocked; on a cluster, on each primary in turn (a SCAN sees one node's keys).
    pub async fn scan(&self, pattern: &str) -> Result<Vec<String>, QueryError> {
        let nodes = match self.get().await.map_err(QueryError::Connect)? {
            Conn::Single(_) => vec![None],
            Conn::Cluster(_) => self.primaries().await?.into_iter().map(Some).collect(),
        };
        let mut out = Vec::new();
        for node in nodes {
            let mut cursor = 0u64;
            loop {
                let mut cmd = redis::cmd("SCAN");
                cmd.arg(cursor).arg("MATCH").arg(pattern).arg("COUNT").arg(500);
                let (next, keys): (u64, Vec<String>) = self.query_at(node.as_ref(), &cmd).await?;
                out.extend(keys);
                if out.len() > 100_000 {
                    return Ok(out);
                }
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        Ok(out)
    }

    /// `cmd` on one node of the cluster (`None`, or not a cluster: as [`Link::query`]).
    async fn query_at<T: redis::FromRedisValue>(
        &self,
        node: Option<&(String, u16)>,
        cmd: &Cmd,
    ) -> Result<T, QueryError> {
        let (Some((host, port)), Conn::Cluster(mut c)) = (node, self.get().await.map_err(QueryError::Connect)?) else {
            return self.query(cmd).await;
        };
        let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress { host: host.clone(), port: *port });
        let answer = tokio::time::timeout(self.settings.timeout, c.route_command(cmd.clone(), route)).await;
        let value = self.outcome(answer).await?;
        redis::from_redis_value(value).map_err(|e| QueryError::Redis(e.into()))
    }

    /// The cluster's primaries (host, port), from `CLUSTER SLOTS`.
    async fn primaries(&self) -> Result<Vec<(String, u16)>, QueryError> {
        let ranges: Vec<Value> = self.query(redis::cmd("CLUSTER").arg("SLOTS")).await?;
        let mut out: Vec<(String, u16)> = Vec::new();
        for range in ranges {
            let Value::Array(items) = range else { continue };
            let Some(Value::Array(primary)) = items.get(2) else { continue };
            let host = match primary.first() {
                Some(Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
                Some(Value::SimpleString(s)) => s.clone(),
                _ => continue,
            };
            let Some(Value::Int(port)) = primary.get(1) else { continue };
            let node = (host, u16::try_from(*port).unwrap_or(0));
            if node.1 != 0 && !out.contains(&node) {
                out.push(node);
            }
        }
        Ok(out)
    }

    /// A pub/sub connection: to the server, or to the first seed node of a cluster that takes
    /// it (a cluster passes every PUBLISH on to all its nodes).
    pub async fn pubsub(&self) -> Result<redis::aio::PubSub, ConnectError> {
        let clients = match self.endpoint.clone().map_err(ConnectError::BadNodes)? {
            Endpoint::Cluster(t) => t
                .nodes
                .iter()
                .map(|n| endpoint::cluster_node_client(&t, n, &self.settings))
                .collect::<Result<Vec<_>, _>>()?,
            _ => vec![client(&self.settings).await?],
        };
        let wait = endpoint::connect_wait(&self.settings);
        let mut last = ConnectError::Refused("no node to connect to".into());
        for c in clients {
            match tokio::time::timeout(wait, c.get_async_pubsub()).await {
                Ok(Ok(p)) => return Ok(p),
                Ok(Err(e)) => last = ConnectError::Refused(crate::secret::redact_url(&e.to_string())),
                Err(_) => last = ConnectError::Timeout(wait.as_millis()),
            }
        }
        Err(last)
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
                self.failed();
                Err(QueryError::Redis(e))
            }
            Err(_) => {
                self.failed();
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

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nothing listens on ports 9 and 10: a typed error, then no new attempt for a second.
    #[tokio::test]
    async fn a_cluster_nobody_answers_is_a_typed_error_then_a_backoff() {
        let s = RedisSettings::plain("redis+cluster://127.0.0.1:9,127.0.0.1:10", Duration::from_millis(100));
        let link = Link::new(&s);
        let first = link.get().await.err();
        assert!(matches!(first, Some(ConnectError::Cluster(_) | ConnectError::Timeout(_))), "{first:?}");
        assert!(matches!(link.get().await, Err(ConnectError::Backoff)));
        let q = link.query::<String>(&redis::cmd("PING")).await;
        assert!(matches!(q, Err(QueryError::Connect(ConnectError::Backoff))));
    }

    #[tokio::test]
    async fn a_cluster_url_has_no_single_client() {
        let s = RedisSettings::plain("redis+cluster://127.0.0.1:9", Duration::from_millis(100));
        assert!(matches!(client(&s).await, Err(ConnectError::BadNodes(_))));
    }
}
