//! The outage signal. A breaker that opens on this host is published on
//! `sidegate:fleet:breakers` and kept as `sidegate:fleet:breaker:<key>` for as long as it is
//! open (a host that subscribes later reads the keys); the other hosts keep a local copy
//! (`router::health`), so their request path never asks Redis. When the opening ends, each host
//! that has traffic for the deployment asks for the probe lock (`SET NX PX`): one gets it and
//! probes, the others wait for its result (published: opened again, or closed). Redis
//! unreachable: the asking host probes itself, as a lone host would.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::{BREAKER_CHANNEL, BREAKER_PREFIX, Fleet, PROBE_PREFIX};
use crate::router::health::{BreakerSignal, Health};

/// How long a probe lock holds: the longest a prober may take before another host may probe.
const PROBE_LOCK: Duration = Duration::from_secs(10);

/// Takes the probe lock, or keeps it if this host holds it: 1, or the holder's time left (ms,
/// as a negative number). KEYS: lock; ARGV: host, ttl ms.
const TAKE_LOCK: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] or redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return -math.max(redis.call('PTTL', KEYS[1]), 1)";

/// Deletes the probe lock only if this host holds it. KEYS: lock; ARGV: host.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0";

pub(super) enum Event {
    Opened { key: String, name: String, open_for: Duration, account: bool },
    Closed { key: String, name: String },
    WantsProbe { key: String },
}

/// The breakers' side: sends on a channel, returns at once.
pub(super) struct Signal(pub mpsc::UnboundedSender<Event>);

impl BreakerSignal for Signal {
    fn opened(&self, key: &str, name: &str, open_for: Duration, account: bool) {
        let _ = self.0.send(Event::Opened { key: key.into(), name: name.into(), open_for, account });
    }
    fn closed(&self, key: &str, name: &str) {
        let _ = self.0.send(Event::Closed { key: key.into(), name: name.into() });
    }
    fn wants_probe(&self, key: &str) {
        let _ = self.0.send(Event::WantsProbe { key: key.into() });
    }
}

/// One message on the channel (and, for `opened`, the key's value).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BreakerNews {
    /// `opened` or `closed`.
    pub kind: String,
    pub key: String,
    pub name: String,
    pub by: String,
    #[serde(default)]
    pub open_ms: u64,
    #[serde(default)]
    pub account: bool,
    /// When it was sent (Unix ms), for the propagation numbers.
    #[serde(default)]
    pub at_ms: u64,
}

/// Publishes this host's breaker changes and answers its probe requests.
pub(super) async fn publish(fleet: Arc<Fleet>, health: Arc<Health>, mut rx: mpsc::UnboundedReceiver<Event>) {
    while let Some(ev) = rx.recv().await {
        match ev {
            Event::Opened { key, name, open_for, account } => {
                let ms = (open_for.as_millis() as u64).max(1);
                let news = news(&fleet, "opened", &key, &name, ms, account);
                let mut set = redis::cmd("SET");
                set.arg(format!("{BREAKER_PREFIX}{key}")).arg(&news).arg("PX").arg(ms);
                let _ = fleet.link.query::<redis::Value>(&set).await;
                announce(&fleet, &news).await;
                release(&fleet, &key).await;
            }
            Event::Closed { key, name } => {
                let news = news(&fleet, "closed", &key, &name, 0, false);
                let _ = fleet.link.query::<redis::Value>(redis::cmd("DEL").arg(format!("{BREAKER_PREFIX}{key}"))).await;
                announce(&fleet, &news).await;
                release(&fleet, &key).await;
            }
            Event::WantsProbe { key } => {
                let (granted, retry_in) = take_lock(&fleet, &key).await;
                if granted {
                    fleet.counters.probes.fetch_add(1, Ordering::Relaxed);
                }
                health.fleet_probe(&key, granted, retry_in);
            }
        }
    }
}

fn news(fleet: &Fleet, kind: &str, key: &str, name: &str, open_ms: u64, account: bool) -> String {
    let n = BreakerNews {
        kind: kind.into(),
        key: key.into(),
        name: name.into(),
        by: fleet.host.clone(),
        open_ms,
        account,
        at_ms: crate::api::ids::unix_ms(),
    };
    serde_json::to_string(&n).unwrap_or_default()
}

async fn announce(fleet: &Fleet, news: &str) {
    let mut cmd = redis::cmd("PUBLISH");
    cmd.arg(BREAKER_CHANNEL).arg(news);
    if fleet.link.query::<redis::Value>(&cmd).await.is_ok() {
        fleet.counters.sent.fetch_add(1, Ordering::Relaxed);
    }
}

async fn release(fleet: &Fleet, key: &str) {
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(RELEASE).arg(1).arg(format!("{PROBE_PREFIX}{key}")).arg(&fleet.host);
    let _ = fleet.link.query::<redis::Value>(&cmd).await;
}

/// (this host probes, else when to ask again). Redis unreachable: probe here.
async fn take_lock(fleet: &Fleet, key: &str) -> (bool, Duration) {
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(TAKE_LOCK).arg(1).arg(format!("{PROBE_PREFIX}{key}")).arg(&fleet.host).arg(PROBE_LOCK.as_millis() as u64);
    match fleet.link.query::<i64>(&cmd).await {
        Ok(1) => (true, Duration::ZERO),
        Ok(left) => (false, Duration::from_millis(left.unsigned_abs().clamp(100, PROBE_LOCK.as_millis() as u64))),
        Err(_) => (true, Duration::ZERO),
    }
}

/// Learns the other hosts' breaker changes: the keys of openings still in force, then the
/// channel; a dropped subscription is made again (after a second), reading the keys again.
pub(super) async fn subscribe(fleet: Arc<Fleet>, health: Arc<Health>) {
    loop {
        if let Err(e) = listen(&fleet, &health).await {
            tracing::debug!(error = %e, "fleet: breaker subscription lost; subscribing again");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn listen(fleet: &Fleet, health: &Health) -> Result<(), String> {
    let mut pubsub = fleet.link.pubsub().await.map_err(|e| e.to_string())?;
    pubsub.subscribe(BREAKER_CHANNEL).await.map_err(|e| e.to_string())?;
    read_open_keys(fleet, health).await;
    let mut messages = pubsub.on_message();
    while let Some(msg) = messages.next().await {
        let Ok(payload) = msg.get_payload::<String>() else { continue };
        let Ok(news) = serde_json::from_str::<BreakerNews>(&payload) else { continue };
        apply(fleet, health, &news, Duration::from_millis(news.open_ms));
    }
    Err("the subscription ended".into())
}

fn apply(fleet: &Fleet, health: &Health, news: &BreakerNews, open_for: Duration) {
    if news.by == fleet.host {
        return;
    }
    fleet.counters.received.fetch_add(1, Ordering::Relaxed);
    match news.kind.as_str() {
        "opened" => health.fleet_opened(&news.key, &news.by, open_for),
        "closed" => health.fleet_closed(&news.key),
        _ => {}
    }
}

/// Openings published before this host subscribed: each key's value and what is left of it.
async fn read_open_keys(fleet: &Fleet, health: &Health) {
    let Ok(keys) = fleet.link.scan(&format!("{BREAKER_PREFIX}*")).await else { return };
    for key in keys {
        let Ok(Some(v)) = fleet.link.query::<Option<String>>(redis::cmd("GET").arg(&key)).await else { continue };
        let left = fleet.link.query::<i64>(redis::cmd("PTTL").arg(&key)).await.unwrap_or(0);
        if let (Ok(news), true) = (serde_json::from_str::<BreakerNews>(&v), left > 0) {
            apply(fleet, health, &news, Duration::from_millis(left as u64));
        }
    }
}
