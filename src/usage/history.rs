//! The last hour of traffic in memory, per minute, for the `/ui` dashboard's charts: requests,
//! errors, cost, latency and time to first token, by caller, route, model (deployment) and
//! cache result. Bounded: one [`Series`] per metrics label combination (the same bounded set
//! `/metrics` has), each a ring of [`MINUTES`] buckets.
//!
//! Cheap on the request path: a request's series is resolved with its metrics handles (once per
//! label combination), so recording is one clock read and a few relaxed atomic adds, with no
//! lock and no allocation. A bucket is reused when its minute comes round again; a request
//! recorded by another thread in the instant that bucket is being cleared may be lost to the
//! chart (never to `/metrics` or the ledger, which count on their own).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

/// How many per-minute buckets each series keeps.
pub const MINUTES: usize = 60;

/// Cost is kept in nano-dollars, so it adds as an integer.
const NANO: f64 = 1e9;

#[derive(Default)]
struct Bucket {
    /// The minute (Unix seconds / 60) this bucket counts; another minute's counts are stale.
    minute: AtomicU64,
    requests: AtomicU64,
    cost_nano_usd: AtomicU64,
    /// Requests with a latency (those that reached a deployment) and its sum.
    timed: AtomicU64,
    latency_us: AtomicU64,
    ttft_n: AtomicU64,
    ttft_us: AtomicU64,
}

impl Bucket {
    fn clear(&self) {
        for c in [&self.requests, &self.cost_nano_usd, &self.timed, &self.latency_us, &self.ttft_n, &self.ttft_us] {
            c.store(0, Relaxed);
        }
    }
}

/// The labels of one series: what the dashboard groups by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labels {
    pub route: String,
    pub deployment: String,
    pub caller: String,
    pub status: u16,
    pub cache: &'static str,
}

/// One label combination's last hour.
pub struct Series {
    pub labels: Labels,
    buckets: [Bucket; MINUTES],
}

/// What one finished request adds to its series.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    pub latency: Option<Duration>,
    pub ttft: Option<Duration>,
    pub cost_usd: Option<f64>,
}

impl Series {
    fn new(labels: Labels) -> Self {
        Series { labels, buckets: std::array::from_fn(|_| Bucket::default()) }
    }

    /// Counts one request in the current minute.
    pub fn record(&self, s: Sample) {
        self.record_at(current_minute(), s);
    }

    fn record_at(&self, minute: u64, s: Sample) {
        let b = &self.buckets[(minute % MINUTES as u64) as usize];
        let seen = b.minute.load(Relaxed);
        if seen != minute && b.minute.compare_exchange(seen, minute, Relaxed, Relaxed).is_ok() {
            b.clear();
        }
        b.requests.fetch_add(1, Relaxed);
        if let Some(c) = s.cost_usd.filter(|c| *c > 0.0) {
            b.cost_nano_usd.fetch_add((c * NANO).round() as u64, Relaxed);
        }
        if let Some(l) = s.latency {
            b.timed.fetch_add(1, Relaxed);
            b.latency_us.fetch_add(l.as_micros() as u64, Relaxed);
        }
        if let Some(t) = s.ttft {
            b.ttft_n.fetch_add(1, Relaxed);
            b.ttft_us.fetch_add(t.as_micros() as u64, Relaxed);
        }
    }

    /// The bucket of `minute`, if it still counts that minute.
    fn at(&self, minute: u64) -> Option<&Bucket> {
        let b = &self.buckets[(minute % MINUTES as u64) as usize];
        (b.minute.load(Relaxed) == minute).then_some(b)
    }
}

/// The minute now, as Unix seconds / 60.
pub fn current_minute() -> u64 {
    crate::api::ids::unix_now() / 60
}

/// Every series the daemon has; a new one is added (under the lock) on a label combination's
/// first request, never on the request path after that.
#[derive(Default)]
pub struct History {
    series: Mutex<Vec<Arc<Series>>>,
}

impl History {
    /// A new series for `labels` (the caller, `Metrics::handles`, makes one per combination).
    pub fn series(&self, labels: Labels) -> Arc<Series> {
        let s = Arc::new(Series::new(labels));
        self.series.lock().unwrap_or_else(|p| p.into_inner()).push(s.clone());
        s
    }

    /// The last [`MINUTES`] minutes up to `now` (a minute number), oldest first.
    pub fn view(&self, now: u64) -> HistoryView {
        let series: Vec<Arc<Series>> = self.series.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let first = now.saturating_sub(MINUTES as u64 - 1);
        let mut v = HistoryView { first_minute: first, minutes: MINUTES, ..HistoryView::default() };
        for s in &series {
            v.add(s, first);
        }
        v.finish();
        v
    }
}

/// Per-minute totals of one group (a caller, a route or a model), oldest minute first.
#[derive(Debug, Clone, Serialize, Default, PartialEq)]
pub struct Totals {
    pub requests: Vec<u64>,
    pub errors: Vec<u64>,
    pub cost_usd: Vec<f64>,
}

/// A deployment's per-minute health: traffic, errors and mean latency / TTFT (None: no
/// request that minute).
#[derive(Debug, Clone, Serialize, Default, PartialEq)]
pub struct DeploymentSeries {
    pub requests: Vec<u64>,
    pub errors: Vec<u64>,
    pub latency_ms: Vec<Option<f64>>,
    pub ttft_ms: Vec<Option<f64>>,
    #[serde(skip)]
    sums: Vec<[u64; 4]>,
}

/// The dashboard's history: what `GET /ui/data` serves under `history`.
#[derive(Debug, Clone, Serialize, Default)]
pub struct HistoryView {
    /// The first minute (Unix seconds / 60) of every array.
    pub first_minute: u64,
    pub minutes: usize,
    pub callers: BTreeMap<String, Totals>,
    pub routes: BTreeMap<String, Totals>,
    pub models: BTreeMap<String, Totals>,
    pub deployments: BTreeMap<String, DeploymentSeries>,
    /// Requests per minute by cache result (`hit`, `miss`, `bypass`).
    pub cache: BTreeMap<String, Vec<u64>>,
}

/// How a request with no route or deployment (refused before planning) is grouped.
const NONE: &str = "(none)";

fn key(name: &str) -> String {
    if name.is_empty() { NONE.to_string() } else { name.to_string() }
}

fn totals<'a>(m: &'a mut BTreeMap<String, Totals>, name: &str, n: usize) -> &'a mut Totals {
    m.entry(key(name)).or_insert_with(|| Totals { requests: vec![0; n], errors: vec![0; n], cost_usd: vec![0.0; n] })
}

impl HistoryView {
    fn add(&mut self, s: &Series, first: u64) {
        let (l, n) = (&s.labels, self.minutes);
        let failed = l.status >= 400;
        // the minutes this series counted: (index, requests, cost, the bucket)
        let counted: Vec<(usize, u64, f64, &Bucket)> = (0..n)
            .filter_map(|i| s.at(first + i as u64).map(|b| (i, b)))
            .map(|(i, b)| (i, b.requests.load(Relaxed), b.cost_nano_usd.load(Relaxed) as f64 / NANO, b))
            .collect();
        for t in [
            totals(&mut self.callers, &l.caller, n),
            totals(&mut self.routes, &l.route, n),
            totals(&mut self.models, &l.deployment, n),
        ] {
            for &(i, req, cost, _) in &counted {
                t.requests[i] += req;
                t.cost_usd[i] += cost;
                t.errors[i] += if failed { req } else { 0 };
            }
        }
        let cache = self.cache.entry(l.cache.to_string()).or_insert_with(|| vec![0; n]);
        for &(i, req, _, _) in &counted {
            cache[i] += req;
        }
        if l.deployment.is_empty() {
            return;
        }
        let d = self.deployments.entry(l.deployment.clone()).or_insert_with(|| DeploymentSeries {
            requests: vec![0; n],
            errors: vec![0; n],
            sums: vec![[0; 4]; n],
            ..DeploymentSeries::default()
        });
        for &(i, req, _, b) in &counted {
            d.requests[i] += req;
            d.errors[i] += if failed { req } else { 0 };
            let sum = &mut d.sums[i];
            sum[0] += b.timed.load(Relaxed);
            sum[1] += b.latency_us.load(Relaxed);
            sum[2] += b.ttft_n.load(Relaxed);
            sum[3] += b.ttft_us.load(Relaxed);
        }
    }

    /// Means from the sums, once every series is in (milliseconds, to the microsecond).
    fn finish(&mut self) {
        let mean = |n: u64, us: u64| (n > 0).then(|| (us as f64 / n as f64).round() / 1000.0);
        for d in self.deployments.values_mut() {
            d.latency_ms = d.sums.iter().map(|s| mean(s[0], s[1])).collect();
            d.ttft_ms = d.sums.iter().map(|s| mean(s[2], s[3])).collect();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(caller: &str, deployment: &str, status: u16, cache: &'static str) -> Labels {
        Labels { route: "fast".into(), deployment: deployment.into(), caller: caller.into(), status, cache }
    }

    fn ms(n: u64) -> Option<Duration> {
        Some(Duration::from_millis(n))
    }

    #[test]
    fn minutes_are_summed_by_caller_route_model_and_cache() {
        let h = History::default();
        let a = h.series(labels("alice", "m1", 200, "miss"));
        let b = h.series(labels("bob", "m1", 502, "bypass"));
        let now = 1_000_000;
        a.record_at(now - 2, Sample { latency: ms(10), ttft: ms(4), cost_usd: Some(0.25) });
        a.record_at(now, Sample { latency: ms(30), ttft: None, cost_usd: Some(0.5) });
        a.record_at(now, Sample { latency: ms(50), ttft: ms(6), cost_usd: None });
        b.record_at(now, Sample { latency: ms(20), ttft: None, cost_usd: None });
        let v = h.view(now);
        let last = MINUTES - 1;
        assert_eq!(v.first_minute, now - 59);
        assert_eq!(v.callers["alice"].requests[last], 2);
        assert_eq!(v.callers["alice"].requests[last - 2], 1);
        assert_eq!(v.callers["alice"].cost_usd[last], 0.5);
        assert_eq!(v.callers["bob"].errors[last], 1);
        assert_eq!(v.routes["fast"].requests.iter().sum::<u64>(), 4);
        assert_eq!(v.models["m1"].errors.iter().sum::<u64>(), 1);
        assert_eq!(v.cache["miss"][last], 2);
        assert_eq!(v.cache["bypass"][last], 1);
        let d = &v.deployments["m1"];
        assert_eq!(d.requests[last], 3);
        assert_eq!(d.latency_ms[last], Some(100.0 / 3.0 * 1000.0).map(|x: f64| x.round() / 1000.0));
        assert_eq!(d.ttft_ms[last], Some(6.0));
        assert_eq!(d.latency_ms[last - 1], None);
    }

    #[test]
    fn a_bucket_from_an_hour_ago_is_cleared_not_added_to() {
        let h = History::default();
        let s = h.series(labels("alice", "", 403, "bypass"));
        let now = 5_000_000;
        s.record_at(now - MINUTES as u64, Sample::default());
        s.record_at(now - MINUTES as u64, Sample::default());
        assert_eq!(h.view(now).callers["alice"].requests.iter().sum::<u64>(), 0, "an hour old: out of the view");
        s.record_at(now, Sample::default());
        let v = h.view(now);
        assert_eq!(v.callers["alice"].requests[MINUTES - 1], 1);
        assert_eq!(v.routes["fast"].errors[MINUTES - 1], 1);
        assert_eq!(v.models[NONE].requests[MINUTES - 1], 1);
        assert!(v.deployments.is_empty(), "no deployment answered");
    }
}
