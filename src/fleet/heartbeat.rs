//! Heartbeats: every `[shared] heartbeat` this host writes its record (a key that expires after
//! three missed beats) and its last-seen time in the hosts set, drops hosts not seen for three
//! beats, and counts the rest, in one script. A beat that answers after failures also adds
//! what the shared limits counted on this host meanwhile.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde::{Deserialize, Serialize};

use super::{Fleet, HOST_PREFIX, HOSTS};

/// KEYS: the hosts set, this host's record. ARGV: now ms, host, record, ttl ms.
const BEAT: &str = r"
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[4]))
return redis.call('ZCARD', KEYS[1])";

/// What a host says about itself in a heartbeat (read back by `status --fleet`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HostRecord {
    pub host: String,
    pub version: String,
    /// The running config's version (its digest): differing values mean mixed configs.
    pub config: String,
    pub pid: u32,
    pub started_ms: u64,
    pub seen_ms: u64,
}

pub(super) async fn run(fleet: Arc<Fleet>) {
    let every = fleet.settings.heartbeat;
    let ttl = every * 3;
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = crate::api::ids::unix_ms();
        let record = HostRecord {
            host: fleet.host.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            config: super::lock(&fleet.config_version).clone(),
            pid: std::process::id(),
            started_ms: fleet.started_ms,
            seen_ms: now,
        };
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(BEAT)
            .arg(2)
            .arg(HOSTS)
            .arg(format!("{HOST_PREFIX}{}", fleet.host))
            .arg(now)
            .arg(&fleet.host)
            .arg(serde_json::to_string(&record).unwrap_or_default())
            .arg(ttl.as_millis() as u64);
        match fleet.link.query::<u32>(&cmd).await {
            Ok(n) => {
                fleet.hosts.store(n.max(1), Ordering::Relaxed);
                if fleet.counters.redis.swap(1, Ordering::Relaxed) == 2 {
                    tracing::info!(hosts = n, "fleet: Redis answers again");
                }
                fleet.limits.reconcile().await;
            }
            Err(e) => {
                if fleet.counters.redis.swap(2, Ordering::Relaxed) != 2 {
                    tracing::warn!(error = %e, hosts = fleet.limits.hosts(), "fleet: heartbeat failed; shared limits fall back to this host's share");
                }
            }
        }
    }
}
