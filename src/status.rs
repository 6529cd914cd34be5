//! What the daemon reports about itself, typed: built by the router and the cache, served as
//! JSON by `GET /status` and the native `status` op, read back by `sidegate status`, and the
//! source of the gauges `/metrics` mirrors. One model, so the three never drift apart.

use serde::{Deserialize, Serialize};

use crate::control::ReloadRecord;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Status {
    pub version: String,
    pub pid: u32,
    pub uptime_s: u64,
    pub rss_bytes: Option<u64>,
    pub config: ConfigStatus,
    pub requests: RequestCounts,
    pub providers: Vec<ProviderStatus>,
    pub deployments: Vec<DeploymentStatus>,
    pub cache: CacheStatus,
    pub models: Vec<String>,
    pub routes: Vec<String>,
    /// Where stored Responses answers are kept (`memory`: lost at restart).
    #[serde(default)]
    pub responses: crate::response_store::StoreReport,
    /// The usage ledger's writes: written, waiting after failures, dropped (None: no ledger).
    #[serde(default)]
    pub ledger: Option<crate::usage::ledger::LedgerReport>,
    /// This host in its fleet (None: no `[shared] redis`).
    #[serde(default)]
    pub fleet: Option<FleetMember>,
}

/// This host as a member of a fleet sharing one Redis.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FleetMember {
    pub host: String,
    /// Live hosts as last counted (heartbeats); a shared limit's share while Redis is down.
    pub hosts: u32,
    /// `up` after the last heartbeat answered, `down` after it failed, `idle` before.
    pub redis: String,
    /// Breaker openings this host told the fleet, and openings it learned from other hosts.
    pub signals_sent: u64,
    pub signals_received: u64,
    /// Probes this host was named to send for a fleet opening.
    pub probes: u64,
    pub usage_stream: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConfigStatus {
    pub source: String,
    pub version: String,
    /// When the running config was loaded (Unix seconds).
    pub loaded_at: u64,
    pub last_reload: Option<ReloadRecord>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct RequestCounts {
    pub total: u64,
    pub failed: u64,
    pub in_flight: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProviderStatus {
    pub name: String,
    pub kind: String,
    pub region: Option<String>,
    pub base_url: Option<String>,
    /// Why the provider cannot be called (a secret the config could not read), if it cannot.
    pub unavailable: Option<String>,
}

/// One deployment's health since the daemon started.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeploymentStatus {
    pub name: String,
    pub provider: String,
    /// `closed`, `open` or `half_open`.
    pub breaker: String,
    pub open_for_ms: Option<u64>,
    pub latency_ms: Option<f64>,
    pub ttft_ms: Option<f64>,
    pub error_rate: f64,
    pub in_flight: u32,
    pub requests: u64,
    pub failures: u64,
    /// The host whose breaker opened this one, when the fleet (not this host) opened it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opened_by: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CacheStatus {
    pub hits: u64,
    pub misses: u64,
    pub bypass: u64,
    pub coalesced: u64,
    pub hit_ratio: f64,
    pub in_flight: usize,
    pub waiting: usize,
    pub memory: MemoryTier,
    pub disk: DiskTier,
    pub redis: RedisTier,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MemoryTier {
    pub entries: u64,
    pub bytes: u64,
    pub max_bytes: u64,
    pub hits: u64,
    pub stores: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum DiskTier {
    /// Not opened yet (no route used it so far).
    Closed,
    Opening,
    Unavailable {
        error: String,
    },
    Open {
        path: String,
        entries: u64,
        bytes: u64,
        max_bytes: u64,
        hits: u64,
        writes: u64,
        dropped_writes: u64,
        write_errors: u64,
        read_errors: u64,
        evicted: u64,
        expired: u64,
        damaged: u64,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RedisTier {
    /// Configured: `state` is `idle` (no command yet), `up` or `down`.
    Used {
        state: String,
        url: String,
        hits: u64,
        misses: u64,
        writes: u64,
        errors: u64,
        timeouts: u64,
        skipped: u64,
        last_error: Option<String>,
    },
    /// No `[shared] redis`: `{"state": "unused"}`.
    Unused { state: String },
}

/// One cache tier's counts, where the tier knows them (what `/metrics` mirrors).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TierCounts {
    pub tier: &'static str,
    pub entries: Option<u64>,
    pub bytes: Option<u64>,
    pub hits: Option<u64>,
}

impl CacheStatus {
    pub fn tiers(&self) -> [TierCounts; 3] {
        let m = &self.memory;
        let memory = TierCounts { tier: "memory", entries: Some(m.entries), bytes: Some(m.bytes), hits: Some(m.hits) };
        let disk = match &self.disk {
            DiskTier::Open { entries, bytes, hits, .. } => {
                TierCounts { tier: "disk", entries: Some(*entries), bytes: Some(*bytes), hits: Some(*hits) }
            }
            _ => TierCounts { tier: "disk", ..TierCounts::default() },
        };
        let redis = match &self.redis {
            RedisTier::Used { hits, .. } => TierCounts { tier: "redis", hits: Some(*hits), ..TierCounts::default() },
            RedisTier::Unused { .. } => TierCounts { tier: "redis", ..TierCounts::default() },
        };
        [memory, disk, redis]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_keep_their_json_shape() {
        let d: DiskTier = serde_json::from_value(serde_json::json!({"state": "unavailable", "error": "x"}))
            .unwrap_or(DiskTier::Closed);
        assert!(matches!(d, DiskTier::Unavailable { .. }));
        assert_eq!(serde_json::to_value(DiskTier::Closed).ok(), Some(serde_json::json!({"state": "closed"})));
        let r = RedisTier::Unused { state: "unused".into() };
        let v = serde_json::to_value(&r).unwrap_or_default();
        assert_eq!(v, serde_json::json!({"state": "unused"}));
        let back: Option<RedisTier> = serde_json::from_value(v).ok();
        assert!(matches!(back, Some(RedisTier::Unused { .. })));
    }
}
