//! Where the shared Redis is, read from `[shared] redis`: one server (`redis://`, `rediss://`,
//! `unix://`), a Sentinel group naming a master (`redis+sentinel://`), or a Redis Cluster
//! (`redis+cluster://`, any of its nodes; the others are learned from them). This module turns
//! the URL and the settings (TLS files, an ACL user and password) into a client or a cluster
//! connection; [`super::connect::Link`] owns when that happens.

use std::time::Duration;

use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;

use super::connect::ConnectError;
use crate::config::RedisSettings;

/// The kinds of `[shared] redis` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// One server: the URL is used as it is.
    Direct,
    /// Sentinels that name the master (`Nodes::master`).
    Sentinel(Nodes),
    /// Seed nodes of a Redis Cluster.
    Cluster(Nodes),
}

/// A multi-node URL: `redis+sentinel://[user[:pass]@]h1:26379,h2:26379/master[?tls=true]` or
/// `redis+cluster://[user[:pass]@]h1:6379,h2:6379[?tls=true]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nodes {
    pub nodes: Vec<String>,
    /// The master's name (Sentinel only).
    pub master: String,
    /// Whether the data nodes are reached over TLS (`?tls=true`).
    pub tls: bool,
    /// The URL's user and password; `redis_username` / `redis_password` take precedence.
    pub username: Option<String>,
    pub password: Option<String>,
}

const SENTINEL: &str = "redis+sentinel://";
const CLUSTER: &str = "redis+cluster://";

impl Endpoint {
    pub fn parse(url: &str) -> Result<Endpoint, ConnectError> {
        // (scheme, what follows the hosts, whether a master name is wanted)
        for (scheme, shape, wants_master) in [(SENTINEL, "/master", true), (CLUSTER, "", false)] {
            let Some(rest) = url.strip_prefix(scheme) else { continue };
            let bad = || {
                ConnectError::BadNodes(format!(
                    "{scheme} needs host:port[,host:port...]{shape}, got `{}`",
                    crate::secret::redact_url(url)
                ))
            };
            let n = parse_nodes(rest).ok_or_else(bad)?;
            let master_ok =
                if wants_master { !n.master.is_empty() && !n.master.contains('/') } else { n.master.is_empty() };
            if !master_ok {
                return Err(bad());
            }
            return Ok(if wants_master { Endpoint::Sentinel(n) } else { Endpoint::Cluster(n) });
        }
        Ok(Endpoint::Direct)
    }

    /// Whether the connection spans several servers (it is rebuilt after repeated failures,
    /// asking the sentinels or the cluster again where things are).
    pub fn is_multi_node(&self) -> bool {
        !matches!(self, Endpoint::Direct)
    }
}

/// `[user[:pass]@]h:p[,h:p...][/path][?query]` after the scheme; None when malformed.
fn parse_nodes(rest: &str) -> Option<Nodes> {
    let (userinfo, rest) = match rest.rsplit_once('@') {
        Some((u, r)) => (Some(u), r),
        None => (None, rest),
    };
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (hosts, master) = rest.split_once('/').unwrap_or((rest, ""));
    let nodes: Vec<String> = hosts.split(',').filter(|h| !h.is_empty()).map(str::to_string).collect();
    let port_ok = |n: &String| n.rsplit_once(':').is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
    if nodes.is_empty() || !nodes.iter().all(port_ok) {
        return None;
    }
    let (username, password) = match userinfo.map(|u| u.split_once(':').unwrap_or((u, ""))) {
        Some((u, p)) => (Some(decode(u)).filter(|u| !u.is_empty()), Some(decode(p)).filter(|p| !p.is_empty())),
        None => (None, None),
    };
    let tls = query.split('&').any(|kv| kv == "tls=true");
    Some(Nodes { nodes, master: master.to_string(), tls, username, password })
}

/// Percent-decoding of a URL's user or password (`%40` is `@`).
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = || std::str::from_utf8(b.get(i + 1..i + 3)?).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b[i], hex()) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Nodes {
    fn username<'a>(&'a self, s: &'a RedisSettings) -> Option<&'a str> {
        s.username.as_deref().or(self.username.as_deref())
    }

    fn password<'a>(&'a self, s: &'a RedisSettings) -> Option<&'a str> {
        s.password.as_ref().map(|p| p.expose()).or(self.password.as_deref())
    }

    /// The data nodes' scheme: TLS when the URL asks for it or TLS files are given.
    fn scheme(&self, s: &RedisSettings) -> &'static str {
        if self.tls || s.tls.ca.is_some() || s.tls.cert.is_some() { "rediss" } else { "redis" }
    }

    fn addr(node: &str) -> (String, u16) {
        let (h, p) = node.rsplit_once(':').unwrap_or((node, ""));
        (h.trim_matches(['[', ']']).to_string(), p.parse().unwrap_or(6379))
    }
}

fn read(path: &std::path::Path) -> Result<Vec<u8>, ConnectError> {
    std::fs::read(path).map_err(|source| ConnectError::ReadFile { path: path.display().to_string(), source })
}

/// The settings' TLS files, when there are any.
fn certificates(s: &RedisSettings) -> Result<Option<redis::TlsCertificates>, ConnectError> {
    if s.tls.ca.is_none() && s.tls.cert.is_none() {
        return Ok(None);
    }
    let client_tls = match (&s.tls.cert, &s.tls.key) {
        (Some(c), Some(k)) => Some(redis::ClientTlsConfig { client_cert: read(c)?, client_key: read(k)? }),
        _ => None,
    };
    let root_cert = s.tls.ca.as_deref().map(read).transpose()?;
    Ok(Some(redis::TlsCertificates { client_tls, root_cert }))
}

/// The URL's connection info with `user` and `password` over it.
fn connection_info(
    url: &str,
    user: Option<&str>,
    password: Option<&str>,
) -> Result<redis::ConnectionInfo, ConnectError> {
    use redis::IntoConnectionInfo;
    let info =
        url.into_connection_info().map_err(|e| ConnectError::BadUrl(crate::secret::redact_url(&e.to_string())))?;
    let mut redis = info.redis_settings().clone();
    if let Some(u) = user {
        redis = redis.set_username(u);
    }
    if let Some(p) = password {
        redis = redis.set_password(p);
    }
    Ok(info.set_redis_settings(redis))
}

/// A client for one server's URL, with the settings' user, password and TLS files.
pub(super) fn direct_client(url: &str, s: &RedisSettings) -> Result<redis::Client, ConnectError> {
    client_with(connection_info(url, s.username.as_deref(), s.password.as_ref().map(|p| p.expose()))?, s)
}

fn client_with(info: redis::ConnectionInfo, s: &RedisSettings) -> Result<redis::Client, ConnectError> {
    let bad = |e: redis::RedisError| ConnectError::BadUrl(crate::secret::redact_url(&e.to_string()));
    match certificates(s)? {
        None => redis::Client::open(info).map_err(bad),
        Some(certs) => redis::Client::build_with_tls(info, certs).map_err(bad),
    }
}

/// How long building a connection may take: a multi-node endpoint asks one server where the
/// others are, then connects to them.
pub(super) fn connect_wait(s: &RedisSettings) -> Duration {
    s.timeout.max(Duration::from_millis(200)) * 3
}

/// Asks the sentinels where the master is now, and returns a client for it.
pub(super) async fn sentinel_client(t: &Nodes, s: &RedisSettings) -> Result<redis::Client, ConnectError> {
    use redis::sentinel::{SentinelClientBuilder, SentinelServerType};
    let fail = |e: redis::RedisError| ConnectError::Sentinel(e.to_string());
    let addrs =
        t.nodes.iter().map(|n| Nodes::addr(n)).map(|(h, p)| redis::ConnectionAddr::Tcp(h, p)).collect::<Vec<_>>();
    let mut b = SentinelClientBuilder::new(addrs, t.master.clone(), SentinelServerType::Master).map_err(fail)?;
    if let Some(u) = t.username(s) {
        b = b.set_client_to_redis_username(u);
    }
    if let Some(p) = t.password(s) {
        b = b.set_client_to_redis_password(p);
    }
    if t.tls {
        b = b.set_client_to_redis_tls_mode(redis::TlsMode::Secure);
    }
    let mut client = b.build().map_err(fail)?;
    let wait = connect_wait(s);
    tokio::time::timeout(wait, client.async_get_client())
        .await
        .map_err(|_| ConnectError::Timeout(wait.as_millis()))?
        .map_err(fail)
}

/// A connection to the cluster the seed nodes belong to: it learns the slot map from them and
/// follows MOVED/ASK redirections and failovers by itself.
pub(super) async fn cluster_connection(t: &Nodes, s: &RedisSettings) -> Result<ClusterConnection, ConnectError> {
    let fail = |e: redis::RedisError| ConnectError::Cluster(crate::secret::redact_url(&e.to_string()));
    let scheme = t.scheme(s);
    let seeds = t
        .nodes
        .iter()
        .map(|n| connection_info(&format!("{scheme}://{n}"), t.username(s), t.password(s)))
        .collect::<Result<Vec<_>, _>>()?;
    let mut b = ClusterClientBuilder::new(seeds)
        .connection_timeout(s.timeout.max(Duration::from_millis(200)))
        .response_timeout(s.timeout)
        .retries(1)
        .max_retry_wait(200);
    if let Some(u) = t.username(s) {
        b = b.username(u);
    }
    if let Some(p) = t.password(s) {
        b = b.password(p);
    }
    if let Some(certs) = certificates(s)? {
        b = b.certs(certs);
    } else if scheme == "rediss" {
        b = b.tls(redis::TlsMode::Secure);
    }
    let client = b.build().map_err(fail)?;
    let wait = connect_wait(s);
    tokio::time::timeout(wait, client.get_async_connection())
        .await
        .map_err(|_| ConnectError::Timeout(wait.as_millis()))?
        .map_err(fail)
}

/// A client for one seed node of a cluster (for pub/sub: a cluster passes a PUBLISH on to
/// every node, so one subscription anywhere hears the whole fleet).
pub(super) fn cluster_node_client(t: &Nodes, node: &str, s: &RedisSettings) -> Result<redis::Client, ConnectError> {
    client_with(connection_info(&format!("{}://{node}", t.scheme(s)), t.username(s), t.password(s))?, s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentinel_urls_name_nodes_and_master() {
        let Endpoint::Sentinel(t) =
            Endpoint::parse("redis+sentinel://:pw@10.0.0.1:26379,10.0.0.2:26379/mymaster").unwrap()
        else {
            panic!("not a sentinel endpoint")
        };
        assert_eq!(t.nodes, ["10.0.0.1:26379", "10.0.0.2:26379"]);
        assert_eq!((t.master.as_str(), t.tls), ("mymaster", false));
        assert_eq!((t.username, t.password.as_deref()), (None, Some("pw")), "the URL's password is used");
        assert!(matches!(Endpoint::parse("redis+sentinel://h:1/m?tls=true"), Ok(Endpoint::Sentinel(n)) if n.tls));
        for bad in ["redis+sentinel://h:1", "redis+sentinel:///m", "redis+sentinel://h/m", "redis+sentinel://h:x/m"] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
        let e = Endpoint::parse("redis+sentinel://:hunter2@h").unwrap_err().to_string();
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn cluster_urls_name_seed_nodes() {
        let Endpoint::Cluster(t) =
            Endpoint::parse("redis+cluster://fleet:p%40ss@10.0.0.1:7000,10.0.0.2:7001?tls=true").unwrap()
        else {
            panic!("not a cluster endpoint")
        };
        assert_eq!(t.nodes, ["10.0.0.1:7000", "10.0.0.2:7001"]);
        assert_eq!((t.username.as_deref(), t.password.as_deref(), t.tls), (Some("fleet"), Some("p@ss"), true));
        assert!(matches!(Endpoint::parse("redis+cluster://h:1/"), Ok(Endpoint::Cluster(n)) if !n.tls));
        for bad in ["redis+cluster://", "redis+cluster://h", "redis+cluster://h:1/master", "redis+cluster://:1"] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
        let e = Endpoint::parse("redis+cluster://:hunter2@h").unwrap_err().to_string();
        assert!(!e.contains("hunter2"), "{e}");
        assert_eq!(Endpoint::parse("redis://h:1/0").unwrap(), Endpoint::Direct);
    }

    #[test]
    fn settings_credentials_take_precedence_over_the_urls() {
        let Endpoint::Cluster(t) = Endpoint::parse("redis+cluster://a:b@h:1").unwrap() else { panic!() };
        let mut s = RedisSettings::plain("redis+cluster://a:b@h:1", Duration::from_millis(100));
        assert_eq!((t.username(&s), t.password(&s)), (Some("a"), Some("b")));
        s.username = Some("c".into());
        assert_eq!(t.username(&s), Some("c"));
    }

    #[tokio::test]
    async fn a_missing_ca_file_is_a_typed_error() {
        let mut s = RedisSettings::plain("rediss://127.0.0.1:9/0", Duration::from_millis(100));
        s.tls.ca = Some("/nonexistent/ca.pem".into());
        assert!(matches!(direct_client("rediss://127.0.0.1:9/0", &s), Err(ConnectError::ReadFile { .. })));
    }
}
