//! What sidegate knows about each deployment's health: its circuit breaker, moving latency
//! estimates, client-side limits (concurrency, requests and tokens per minute), and counters
//! for `status`. Kept outside the config snapshot, keyed by the deployment's fingerprint, so a
//! reload that does not change a deployment keeps all of it.
//!
//! In a fleet (`crate::fleet`), a breaker that opens here is told to the other hosts through a
//! [`BreakerSignal`] (a channel send: no Redis round trip on the request path), and an opening
//! another host told us is kept beside the local breaker ([`FleetOpen`]): the deployment is
//! skipped until it ends, then one host of the fleet sends the probe.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::breaker::{Admit, Breaker, BreakerConfig, Outcome};
use crate::config::ModelSettings;
use crate::providers::ProviderError;
use crate::status::DeploymentStatus;
use crate::token_bucket::Bucket;
use fleet::fleet_key;
pub use fleet::{BreakerSignal, FleetOpen};

mod fleet;

/// Weight of the newest sample in the moving latency estimates.
const EWMA_ALPHA: f64 = 0.3;

#[derive(Default)]
pub struct Health {
    cfg: BreakerConfig,
    deployments: Mutex<HashMap<String, Arc<DeploymentState>>>,
    signal: Option<Arc<dyn BreakerSignal>>,
    /// Fleet openings of deployments this host has not used yet (by fleet key).
    pending_fleet: Mutex<HashMap<String, FleetOpen>>,
}

impl Health {
    pub fn new(cfg: BreakerConfig) -> Self {
        Health { cfg, ..Health::default() }
    }

    /// Health whose breakers tell `signal` when they open and close.
    pub fn with_signal(cfg: BreakerConfig, signal: Option<Arc<dyn BreakerSignal>>) -> Self {
        Health { cfg, signal, ..Health::default() }
    }

    /// The state of `m`, created on first use.
    pub fn get(&self, m: &ModelSettings) -> Arc<DeploymentState> {
        let key = m.fingerprint();
        let mut map = lock(&self.deployments);
        if let Some(s) = map.get(key) {
            return s.clone();
        }
        let s = Arc::new(DeploymentState::new(m, self.cfg, self.signal.clone()));
        if let Some(f) = lock(&self.pending_fleet).remove(&s.fleet_key) {
            lock(&s.inner).fleet = Some(f);
        }
        map.insert(key.to_owned(), s.clone());
        s
    }

    /// Drops the state of deployments no longer in the config (after a reload).
    pub fn retain(&self, keep: &dyn Fn(&str) -> bool) {
        lock(&self.deployments).retain(|k, _| keep(k));
    }

    /// One JSON object per known deployment, for `status`.
    pub fn report(&self) -> Vec<DeploymentStatus> {
        let now = Instant::now();
        let mut out: Vec<DeploymentStatus> = lock(&self.deployments).values().map(|d| d.report(now)).collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub struct DeploymentState {
    pub name: String,
    pub provider: String,
    /// The deployment's name in the fleet: a hash of its fingerprint (same config, same key).
    pub fleet_key: String,
    signal: Option<Arc<dyn BreakerSignal>>,
    max_concurrent: Option<u32>,
    inner: Mutex<Inner>,
    requests: AtomicU64,
    failures: AtomicU64,
}

struct Inner {
    breaker: Breaker,
    in_flight: u32,
    rpm: Option<Bucket>,
    tpm: Option<Bucket>,
    /// Whole-call latency (unary) and time to first chunk (streams), in ms.
    latency_ms: Option<f64>,
    ttft_ms: Option<f64>,
    /// The error of the last account failure (what a request held back by it is told).
    account_error: Option<ProviderError>,
    /// Opened by another host of the fleet.
    fleet: Option<FleetOpen>,
}

/// Why a deployment cannot take a call right now.
#[derive(Debug, Clone, PartialEq)]
pub struct NotNow {
    /// When it may be able to (None: unknown, e.g. a probe is out or a slot must free up).
    pub until: Option<Instant>,
    pub reason: NotNowReason,
}

/// The reasons a deployment is skipped for now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotNowReason {
    BreakerOpen,
    /// The breaker is open after an account failure (401/403, quota, model gone).
    AccountFailure,
    ConcurrencyLimit,
    RateLimit,
    /// Backing off after this request's own failed call to it.
    Backoff,
}

impl NotNowReason {
    pub fn as_str(self) -> &'static str {
        match self {
            NotNowReason::BreakerOpen => "breaker_open",
            NotNowReason::AccountFailure => "account_failure",
            NotNowReason::ConcurrencyLimit => "concurrency_limit",
            NotNowReason::RateLimit => "rate_limit",
            NotNowReason::Backoff => "backoff",
        }
    }

    /// Client-side limits (not failures): the request may wait for a free slot.
    pub fn is_limit(self) -> bool {
        matches!(self, NotNowReason::ConcurrencyLimit | NotNowReason::RateLimit)
    }
}

impl DeploymentState {
    fn new(m: &ModelSettings, cfg: BreakerConfig, signal: Option<Arc<dyn BreakerSignal>>) -> Self {
        let now = Instant::now();
        DeploymentState {
            name: m.name.clone(),
            provider: m.provider.name.clone(),
            fleet_key: fleet_key(m.fingerprint()),
            signal,
            max_concurrent: m.limits.max_concurrent,
            inner: Mutex::new(Inner {
                breaker: Breaker::new(cfg),
                in_flight: 0,
                rpm: m.limits.rpm.map(|r| Bucket::per_minute(u64::from(r), now)),
                tpm: m.limits.tpm.map(|t| Bucket::per_minute(t, now)),
                latency_ms: None,
                ttft_ms: None,
                account_error: None,
                fleet: None,
            }),
            requests: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        }
    }

    /// Admits one call estimated at `tokens`, or says why not and until when. Checks the
    /// breaker last, so a saturated deployment never burns its half-open probe.
    pub fn try_admit(self: &Arc<Self>, now: Instant, tokens: f64) -> Result<Ticket, NotNow> {
        let mut g = lock(&self.inner);
        if let Some(max) = self.max_concurrent
            && g.in_flight >= max
        {
            return Err(NotNow { until: None, reason: NotNowReason::ConcurrencyLimit });
        }
        let wait_r = g.rpm.as_mut().map_or(Duration::ZERO, |b| b.wait_for(1.0, now));
        let wait_t = g.tpm.as_mut().map_or(Duration::ZERO, |b| b.wait_for(tokens, now));
        let wait = wait_r.max(wait_t);
        if !wait.is_zero() {
            return Err(NotNow { until: Some(now + wait), reason: NotNowReason::RateLimit });
        }
        let fleet_probe = self.fleet_gate(&mut g, now)?;
        let admitted = if fleet_probe { g.breaker.begin_probe(now) } else { g.breaker.admit(now) };
        let probe = match admitted {
            Admit::Yes => false,
            Admit::Probe => true,
            Admit::No(until) => {
                let reason = if g.breaker.blocked_by_account(now) {
                    NotNowReason::AccountFailure
                } else {
                    NotNowReason::BreakerOpen
                };
                return Err(NotNow { until, reason });
            }
        };
        if let Some(b) = g.rpm.as_mut() {
            b.take(1.0, now);
        }
        if let Some(b) = g.tpm.as_mut() {
            b.take(tokens, now);
        }
        g.in_flight += 1;
        drop(g);
        self.requests.fetch_add(1, Ordering::Relaxed);
        Ok(Ticket { state: self.clone(), probe, settled: false })
    }

    /// The moving latency estimate used by `least-latency`: time to first chunk for streams,
    /// whole-call latency otherwise. None until a call finished.
    pub fn latency_estimate(&self, stream: bool) -> Option<f64> {
        let g = lock(&self.inner);
        if stream { g.ttft_ms.or(g.latency_ms) } else { g.latency_ms.or(g.ttft_ms) }
    }

    /// Keeps the error of an account failure, told to requests its breaker holds back.
    pub fn note_account_error(&self, err: &ProviderError) {
        lock(&self.inner).account_error = Some(err.clone());
    }

    /// The last account failure's error, while the breaker it opened is still open.
    pub fn account_block(&self, now: Instant) -> Option<ProviderError> {
        let g = lock(&self.inner);
        if g.breaker.blocked_by_account(now) { g.account_error.clone() } else { None }
    }

    /// Opens the breaker until `until` (a vendor asked us to back off). In a fleet, a cooldown
    /// that opens the breaker is told to the other hosts like any opening: they share the
    /// vendor account's limits, so they back off too, and one of them tries when it ends.
    pub fn cool_until(&self, until: Instant) {
        let mut g = lock(&self.inner);
        let (before, now) = (g.breaker.describe().0, Instant::now());
        g.breaker.cool_until(until);
        self.signal_change(&mut g, before, Outcome::Neutral, now);
    }

    fn report(&self, now: Instant) -> DeploymentStatus {
        let g = lock(&self.inner);
        let (mut state, mut until) = g.breaker.describe();
        let opened_by = g.fleet.as_ref().filter(|f| state == "closed" && !f.by.is_empty()).map(|f| {
            (state, until) = if now < f.until { ("open", Some(f.until)) } else { ("half_open", None) };
            f.by.clone()
        });
        let (ok, failed) = g.breaker.window(now);
        let total = ok + failed;
        DeploymentStatus {
            name: self.name.clone(),
            provider: self.provider.clone(),
            breaker: state.to_string(),
            open_for_ms: until.map(|u| u.saturating_duration_since(now).as_millis() as u64),
            latency_ms: g.latency_ms.map(round),
            ttft_ms: g.ttft_ms.map(round),
            error_rate: if total == 0 { 0.0 } else { round(f64::from(failed) / f64::from(total)) },
            in_flight: g.in_flight,
            requests: self.requests.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            opened_by,
        }
    }
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// One admitted call. `settle` reports how it went; dropping it frees the concurrency slot
/// (a committed stream keeps its ticket until the stream ends). A ticket dropped unsettled
/// (cancelled, or a hedge that lost) counts as neutral, and frees a half-open probe slot.
pub struct Ticket {
    state: Arc<DeploymentState>,
    probe: bool,
    settled: bool,
}

/// What kind of latency a successful call measured.
#[derive(Debug, Clone, Copy)]
pub enum Measured {
    Whole(Duration),
    FirstChunk(Duration),
}

impl Ticket {
    pub fn settle(&mut self, outcome: Outcome, measured: Option<Measured>) {
        if self.settled {
            // After a committed stream: a later break is still a failure of the deployment.
            if outcome == Outcome::Failure {
                self.state.failures.fetch_add(1, Ordering::Relaxed);
                let mut g = lock(&self.state.inner);
                let (before, now) = (g.breaker.describe().0, Instant::now());
                g.breaker.record(now, Outcome::Failure, false);
                self.state.signal_change(&mut g, before, outcome, now);
            }
            return;
        }
        self.settled = true;
        if matches!(outcome, Outcome::Failure | Outcome::AccountFailure) {
            self.state.failures.fetch_add(1, Ordering::Relaxed);
        }
        let mut g = lock(&self.state.inner);
        let (before, now) = (g.breaker.describe().0, Instant::now());
        g.breaker.record(now, outcome, self.probe);
        self.state.signal_change(&mut g, before, outcome, now);
        let ewma = |old: Option<f64>, new: f64| Some(old.map_or(new, |o| o + EWMA_ALPHA * (new - o)));
        match measured {
            Some(Measured::Whole(d)) => g.latency_ms = ewma(g.latency_ms, d.as_secs_f64() * 1000.0),
            Some(Measured::FirstChunk(d)) => g.ttft_ms = ewma(g.ttft_ms, d.as_secs_f64() * 1000.0),
            None => {}
        }
    }

    pub fn state(&self) -> &Arc<DeploymentState> {
        &self.state
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if !self.settled {
            self.settle(Outcome::Neutral, None);
        }
        let mut g = lock(&self.state.inner);
        g.in_flight = g.in_flight.saturating_sub(1);
    }
}
