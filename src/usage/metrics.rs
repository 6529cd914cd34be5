//! `GET /metrics`: Prometheus / OpenMetrics text from a prometheus-client registry. Label
//! values are bounded: configured routes, deployments and callers, and fixed outcome names;
//! an ad-hoc `provider/model` is labelled `provider/*`, never with what the caller typed.

use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Request {
    pub route: String,
    pub deployment: String,
    pub caller: String,
    pub status: String,
    /// The API the request came in as (`chat`, `messages`, `responses`, `gemini`, ...).
    pub dialect: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteDeployment {
    pub route: String,
    pub deployment: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Tokens {
    pub route: String,
    pub deployment: String,
    pub caller: String,
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Cost {
    pub route: String,
    pub deployment: String,
    pub caller: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Attempt {
    pub deployment: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheResult {
    pub route: String,
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Deployment {
    pub deployment: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Caller {
    pub caller: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Tier {
    pub tier: &'static str,
}

/// A shadow copy's outcome (ran, failed, budget, full, unpriced, pinned).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Shadow {
    pub route: String,
    pub variant: String,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReloadResult {
    pub result: &'static str,
}

fn latency_histogram() -> Histogram {
    // 100 µs .. ~105 s
    Histogram::new(exponential_buckets(0.0001, 2.0, 21))
}

/// The metrics one request touches, resolved once per label combination: the hot path then
/// increments them with no label-set allocation and no family lookup.
pub struct Handles {
    pub requests: Counter,
    pub duration: Histogram,
    pub ttft: Histogram,
    pub failovers: Counter,
    /// Per kind: prompt, completion, cached (cache reads), cache_write, cache_write_1h, reasoning.
    pub tokens: [Counter; 6],
    pub cost: Counter<f64, AtomicU64>,
    pub cache: Counter,
    /// `sidegate_attempts_total{deployment, outcome="ok"}` of the answering deployment.
    pub attempt_ok: Counter,
    /// The same request's per-minute counts for the `/ui` dashboard.
    pub series: std::sync::Arc<super::history::Series>,
}

type HandleKey = (String, String, String, u16, &'static str, &'static str);
/// Handles by the hash of their labels; each entry keeps its labels to settle collisions.
type HandleMap = std::collections::HashMap<u64, Vec<(HandleKey, std::sync::Arc<Handles>)>>;

pub struct Metrics {
    registry: Mutex<Registry>,
    /// Handles by the hash of their labels; the stored key settles (rare) hash collisions.
    handles: Mutex<HandleMap>,
    pub requests: Family<Request, Counter>,
    pub duration: Family<RouteDeployment, Histogram, fn() -> Histogram>,
    pub ttft: Family<RouteDeployment, Histogram, fn() -> Histogram>,
    pub tokens: Family<Tokens, Counter>,
    pub cost: Family<Cost, Counter<f64, AtomicU64>>,
    pub attempts: Family<Attempt, Counter>,
    pub failovers: Family<RouteDeployment, Counter>,
    pub cache: Family<CacheResult, Counter>,
    pub in_flight: Gauge,
    pub breaker_open: Family<Deployment, Gauge>,
    pub deployment_in_flight: Family<Deployment, Gauge>,
    pub reloads: Family<ReloadResult, Counter>,
    /// Shadow copies of live requests, by route, shadow and outcome.
    pub shadows: Family<Shadow, Counter>,
    pub cache_entries: Family<Tier, Gauge>,
    pub cache_bytes: Family<Tier, Gauge>,
    pub cache_tier_hits: Family<Tier, Counter>,
    pub budget_usd: Family<Caller, Gauge<f64, AtomicU64>>,
    pub budget_spent_usd: Family<Caller, Gauge<f64, AtomicU64>>,
    pub ledger_pending: Gauge,
    pub ledger_dropped: Counter,
    pub ledger_write_errors: Counter,
    pub ledger_unsettled_usd: Gauge<f64, AtomicU64>,
    /// The ledger's (dropped, write errors) at the last scrape, for the counters' increments.
    last_ledger: Mutex<(u64, u64)>,
    /// Tier hit totals at the last scrape, so the counters advance by the difference.
    last_tier_hits: Mutex<std::collections::HashMap<&'static str, u64>>,
    /// The last hour per minute, one series per handle set (`/ui/data`).
    pub history: super::history::History,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let m = Metrics {
            registry: Mutex::new(Registry::default()),
            handles: Mutex::default(),
            requests: Family::default(),
            duration: Family::new_with_constructor(latency_histogram),
            ttft: Family::new_with_constructor(latency_histogram),
            tokens: Family::default(),
            cost: Family::default(),
            attempts: Family::default(),
            failovers: Family::default(),
            cache: Family::default(),
            in_flight: Gauge::default(),
            breaker_open: Family::default(),
            deployment_in_flight: Family::default(),
            reloads: Family::default(),
            shadows: Family::default(),
            cache_entries: Family::default(),
            cache_bytes: Family::default(),
            cache_tier_hits: Family::default(),
            budget_usd: Family::default(),
            budget_spent_usd: Family::default(),
            ledger_pending: Gauge::default(),
            ledger_dropped: Counter::default(),
            ledger_write_errors: Counter::default(),
            ledger_unsettled_usd: Gauge::default(),
            last_ledger: Mutex::default(),
            last_tier_hits: Mutex::default(),
            history: super::history::History::default(),
        };
        {
            let mut r = m.registry.lock().unwrap_or_else(|p| p.into_inner());
            r.register(
                "sidegate_requests",
                "Requests answered, by route, deployment, caller, status and dialect (the API the caller spoke)",
                m.requests.clone(),
            );
            r.register("sidegate_request_duration_seconds", "Whole-request latency", m.duration.clone());
            r.register("sidegate_time_to_first_token_seconds", "Time to the first streamed chunk", m.ttft.clone());
            r.register("sidegate_tokens", "Tokens used, by kind (prompt, completion; cached, cache_write, cache_write_1h: parts of prompt; reasoning: part of completion)", m.tokens.clone());
            r.register("sidegate_cost_usd", "Cost of answered requests with a known price, USD", m.cost.clone());
            r.register("sidegate_attempts", "Vendor calls, by deployment and outcome", m.attempts.clone());
            r.register(
                "sidegate_failovers",
                "Requests answered by another target than the first tried",
                m.failovers.clone(),
            );
            r.register("sidegate_cache", "Cache lookups, by route and result (hit, miss, bypass)", m.cache.clone());
            r.register("sidegate_in_flight_requests", "Requests in flight", m.in_flight.clone());
            r.register(
                "sidegate_breaker_open",
                "1 when the deployment's circuit breaker is open or half-open",
                m.breaker_open.clone(),
            );
            r.register(
                "sidegate_deployment_in_flight",
                "Vendor calls in flight per deployment",
                m.deployment_in_flight.clone(),
            );
            r.register(
                "sidegate_shadow_requests",
                "Shadow copies of live requests, by route, shadow and outcome (ran, failed, budget, full, unpriced, pinned)",
                m.shadows.clone(),
            );
            r.register("sidegate_config_reloads", "Config reloads, by result (applied, failed)", m.reloads.clone());
            r.register("sidegate_cache_entries", "Entries held by each cache tier", m.cache_entries.clone());
            r.register("sidegate_cache_bytes", "Bytes held by each cache tier", m.cache_bytes.clone());
            r.register("sidegate_cache_tier_hits", "Hits served by each cache tier", m.cache_tier_hits.clone());
            r.register("sidegate_caller_budget_usd", "A caller's budget for its period, USD", m.budget_usd.clone());
            r.register(
                "sidegate_caller_budget_spent_usd",
                "What a caller with a budget spent in the current period (from the usage ledger), USD",
                m.budget_spent_usd.clone(),
            );
            r.register(
                "sidegate_ledger_pending_rows",
                "Usage rows waiting to be written to the ledger (again, after failed writes)",
                m.ledger_pending.clone(),
            );
            r.register(
                "sidegate_ledger_dropped_rows",
                "Usage rows never written to the ledger (queue or retry buffer full)",
                m.ledger_dropped.clone(),
            );
            r.register("sidegate_ledger_write_errors", "Failed ledger writes", m.ledger_write_errors.clone());
            r.register(
                "sidegate_ledger_unsettled_usd",
                "Cost of priced rows not written to the ledger yet, still counted by budgets",
                m.ledger_unsettled_usd.clone(),
            );
        }
        m
    }

    /// The handles for one request's labels (created on first use).
    pub fn handles(
        &self,
        route: &str,
        deployment: &str,
        caller: &str,
        status: u16,
        cache: &'static str,
        dialect: &'static str,
    ) -> std::sync::Arc<Handles> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (route, deployment, caller, status, cache, dialect).hash(&mut h);
        let hash = h.finish();
        let mut map = self.handles.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = map.entry(hash).or_default();
        if let Some((_, hs)) = bucket.iter().find(|(k, _)| {
            k.0 == route && k.1 == deployment && k.2 == caller && k.3 == status && k.4 == cache && k.5 == dialect
        }) {
            return hs.clone();
        }
        let (r, d, c) = (route.to_string(), deployment.to_string(), caller.to_string());
        let rd = RouteDeployment { route: r.clone(), deployment: d.clone() };
        let tokens = |kind| {
            self.tokens.get_or_create_owned(&Tokens {
                route: r.clone(),
                deployment: d.clone(),
                caller: c.clone(),
                kind,
            })
        };
        let hs = std::sync::Arc::new(Handles {
            requests: self.requests.get_or_create_owned(&Request {
                route: r.clone(),
                deployment: d.clone(),
                caller: c.clone(),
                status: status.to_string(),
                dialect,
            }),
            duration: self.duration.get_or_create_owned(&rd),
            ttft: self.ttft.get_or_create_owned(&rd),
            failovers: self.failovers.get_or_create_owned(&rd),
            tokens: [
                tokens("prompt"),
                tokens("completion"),
                tokens("cached"),
                tokens("cache_write"),
                tokens("cache_write_1h"),
                tokens("reasoning"),
            ],
            cost: self.cost.get_or_create_owned(&Cost { route: r.clone(), deployment: d.clone(), caller: c.clone() }),
            cache: self.cache.get_or_create_owned(&CacheResult { route: r.clone(), result: cache }),
            attempt_ok: self.attempts.get_or_create_owned(&Attempt { deployment: d.clone(), outcome: "ok".into() }),
            series: self.history.series(super::history::Labels {
                route: r.clone(),
                deployment: d.clone(),
                caller: c.clone(),
                status,
                cache,
            }),
        });
        bucket.push(((r, d, c, status, cache, dialect), hs.clone()));
        hs
    }

    /// Mirrors a cache tier's state (from the cache's own counters) at scrape time.
    pub fn set_cache_tier(&self, tier: &'static str, entries: Option<u64>, bytes: Option<u64>, hits: Option<u64>) {
        let t = Tier { tier };
        if let Some(e) = entries {
            self.cache_entries.get_or_create(&t).set(e as i64);
        }
        if let Some(b) = bytes {
            self.cache_bytes.get_or_create(&t).set(b as i64);
        }
        if let Some(h) = hits {
            let mut last = self.last_tier_hits.lock().unwrap_or_else(|p| p.into_inner());
            let before = last.insert(tier, h).unwrap_or(0);
            self.cache_tier_hits.get_or_create(&t).inc_by(h.saturating_sub(before));
        }
    }

    /// Mirrors each budgeted caller's budget and what it spent this period (the ledger's sum:
    /// rows still queued for the ledger's writer are not in it yet) at scrape time.
    pub fn set_budgets(&self, callers: &crate::config::callers::Callers, ledger: Option<&super::Ledger>) {
        let now = crate::api::ids::unix_now();
        for c in callers.by_name.values() {
            let Some((usd, period)) = c.budget else { continue };
            let label = Caller { caller: c.name.clone() };
            self.budget_usd.get_or_create(&label).set(usd);
            let start = crate::callers::limits::period_start(period, now);
            // A ledger that cannot be read leaves the gauge as it was (the budget check fails closed).
            let Ok(spent) = ledger.map_or(Ok(0.0), |l| l.spent_since(&c.name, start)) else { continue };
            self.budget_spent_usd.get_or_create(&label).set(spent);
        }
    }

    /// Mirrors the ledger's health at scrape time.
    pub fn set_ledger(&self, r: &crate::usage::ledger::LedgerReport) {
        self.ledger_pending.set(r.pending as i64);
        self.ledger_unsettled_usd.set(r.unsettled_usd);
        let mut last = self.last_ledger.lock().unwrap_or_else(|p| p.into_inner());
        self.ledger_dropped.inc_by(r.dropped.saturating_sub(last.0));
        self.ledger_write_errors.inc_by(r.write_errors.saturating_sub(last.1));
        *last = (r.dropped.max(last.0), r.write_errors.max(last.1));
    }

    /// The exposition text (OpenMetrics, which Prometheus scrapes natively).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let r = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &r) {
            tracing::warn!(error = %e, "cannot encode metrics");
        }
        out
    }
}

/// The content type of `encode`'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
