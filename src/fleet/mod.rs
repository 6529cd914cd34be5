//! The fleet: hosts sharing one Redis (`[shared] redis`) act as one. This module owns what they
//! tell each other, all in the background, never on a request's path:
//!
//! - heartbeats ([`heartbeat`]): each host says it is alive (its version and config version)
//!   and counts the live hosts, which is what a shared limit is divided by while Redis is down;
//!   a heartbeat that answers again also adds what the host counted meanwhile
//!   (`callers::shared::SharedLimits::reconcile`);
//! - the outage signal ([`outage`]): a breaker that opens here is published (pub/sub plus a
//!   key with the opening's TTL), the others keep a local copy and skip the deployment, and one
//!   host at a time (a lock with a TTL) sends the probe when the opening ends;
//! - the usage stream ([`usage_stream`], off by default): ledger rows appended to a Redis
//!   stream for one collector;
//! - [`report`]: what `sidegate status --fleet` and `sidegate usage --fleet` read.
//!
//! [`connect`] is the one connection (one server, Sentinel or Cluster; TLS, ACL) for all of it
//! and the cache; [`endpoint`] reads the URL.

pub mod cli;
pub mod connect;
pub mod endpoint;
mod heartbeat;
mod outage;
pub mod report;
pub mod usage_stream;

pub use heartbeat::HostRecord;
pub use outage::BreakerNews;

use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::callers::shared::SharedLimits;
use crate::config::{FleetSettings, RedisSettings};
use crate::router::health::{BreakerSignal, Health};
use crate::status::FleetMember;
use connect::Link;

/// Redis key prefixes, shared with the report.
/// The hosts set and the host records share a hash tag: the heartbeat script touches both, and
/// on a cluster a script's keys must live on one node.
pub(crate) const HOSTS: &str = "sidegate:fleet:{hosts}";
pub(crate) const HOST_PREFIX: &str = "sidegate:fleet:{hosts}:";
pub(crate) const BREAKER_PREFIX: &str = "sidegate:fleet:breaker:";
pub(crate) const PROBE_PREFIX: &str = "sidegate:fleet:probe:";
pub(crate) const BREAKER_CHANNEL: &str = "sidegate:fleet:breakers";
pub(crate) const USAGE_STREAM: &str = "sidegate:usage";

#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    received: AtomicU64,
    probes: AtomicU64,
    /// 0 idle, 1 up, 2 down (the last heartbeat).
    redis: AtomicU8,
}

/// One host's side of the fleet.
pub struct Fleet {
    pub host: String,
    link: Arc<Link>,
    settings: FleetSettings,
    hosts: Arc<AtomicU32>,
    pub limits: Arc<SharedLimits>,
    pub usage: Option<usage_stream::UsageStream>,
    events: mpsc::UnboundedSender<outage::Event>,
    events_rx: Mutex<Option<mpsc::UnboundedReceiver<outage::Event>>>,
    config_version: Mutex<String>,
    started_ms: u64,
    counters: Counters,
}

impl Fleet {
    pub fn new(redis: &RedisSettings, settings: &FleetSettings) -> Arc<Fleet> {
        let link = Arc::new(Link::new(redis));
        let hosts = Arc::new(AtomicU32::new(1));
        let (events, rx) = mpsc::unbounded_channel();
        Arc::new(Fleet {
            host: settings.host.clone(),
            limits: Arc::new(SharedLimits::new(link.clone(), settings.reservation_ttl, hosts.clone())),
            usage: settings.usage_stream.then(|| usage_stream::UsageStream::new(&settings.host)),
            link,
            settings: settings.clone(),
            hosts,
            events,
            events_rx: Mutex::new(Some(rx)),
            config_version: Mutex::new(String::new()),
            started_ms: crate::api::ids::unix_ms(),
            counters: Counters::default(),
        })
    }

    /// What the breakers tell the fleet (None when `share_breakers = false`).
    pub fn signal(self: &Arc<Self>) -> Option<Arc<dyn BreakerSignal>> {
        self.settings.share_breakers.then(|| Arc::new(outage::Signal(self.events.clone())) as Arc<dyn BreakerSignal>)
    }

    /// The running config's version, told in heartbeats (a fleet with mixed configs shows).
    pub fn note_config(&self, version: &str) {
        version.clone_into(&mut lock(&self.config_version));
    }

    /// Starts the background tasks (once; needs a tokio runtime).
    pub fn start(self: &Arc<Self>, health: Arc<Health>) {
        let Some(rx) = lock(&self.events_rx).take() else { return };
        tokio::spawn(heartbeat::run(self.clone()));
        if self.settings.share_breakers {
            tokio::spawn(outage::publish(self.clone(), health.clone(), rx));
            tokio::spawn(outage::subscribe(self.clone(), health));
        }
        if let Some(u) = &self.usage {
            u.start(self.link.clone(), self.settings.usage_stream_max);
        }
    }

    pub fn report(&self) -> FleetMember {
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        FleetMember {
            host: self.host.clone(),
            hosts: self.limits.hosts(),
            redis: match self.counters.redis.load(Ordering::Relaxed) {
                1 => "up",
                2 => "down",
                _ => "idle",
            }
            .to_string(),
            signals_sent: n(&self.counters.sent),
            signals_received: n(&self.counters.received),
            probes: n(&self.counters.probes),
            usage_stream: self.usage.is_some(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
