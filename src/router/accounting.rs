//! The caller side of a request: who is asking (identity), whether they may (routes), whether
//! they can afford it (limits, budget reservation) — all before any vendor call — and, when
//! the request ends, what it cost: the budget settled with the real usage, one ledger row, and
//! the metrics.

use std::sync::Arc;
use std::time::Duration;

use super::stream::RequestLog;
use crate::api::ApiError;
use crate::callers::prices::{Price, price_of};
use crate::callers::{Admission, CallerBook, Credential, identify};
use crate::config::Snapshot;
use crate::usage::{Ledger, Metrics, Record, metrics};

/// Output tokens assumed for a budget reservation when the caller sets no `max_tokens`.
const DEFAULT_OUTPUT_CAP: u64 = 4096;

/// Process-wide accounting: caller counters, the ledger, metrics. Outlives config reloads.
#[derive(Default)]
pub struct Accounting {
    pub book: CallerBook,
    pub ledger: Option<Ledger>,
    pub metrics: Metrics,
    /// Limits and budgets shared by every host (`[shared] redis`), on top of the local ones.
    pub shared: Option<crate::callers::shared::SharedLimits>,
}

/// Per-request accounting state, carried by the request's log until it ends.
#[derive(Default)]
pub struct Account {
    pub caller: String,
    /// The configured caller's name, for metrics labels (None: unknown caller).
    configured: bool,
    admission: Option<Admission>,
    /// Price of the deployment that answered (None: unknown, or nothing answered).
    pub price: Option<Price>,
    pub provider: String,
    pub attempt_outcomes: Vec<(String, &'static str)>,
    pub ttft: Option<Duration>,
    sink: Option<Arc<Accounting>>,
    /// The budget reservation's ceiling (what the priciest candidate could cost).
    ceiling: Option<f64>,
    /// A reservation held in Redis: (caller, period start), settled when the request ends.
    shared_reservation: Option<(String, u64)>,
}

impl Accounting {
    /// Identifies the caller and checks it may use `name`, before anything is planned.
    pub fn authorize(
        self: &Arc<Self>,
        snap: &Snapshot,
        cred: &Credential,
        name: &str,
        log: &mut RequestLog,
    ) -> Result<(), ApiError> {
        log.account.sink = Some(self.clone());
        let caller = identify(cred, &snap.callers)
            .map_err(|m| ApiError::new(403, "permission_error", Some("unknown_caller"), m))?;
        log.account.caller = caller.name().to_string();
        log.account.configured = caller.settings.is_some();
        if let Some(s) = &caller.settings
            && !s.allows(name)
        {
            let allowed = s.routes.as_ref().map(|r| r.join(", ")).unwrap_or_default();
            return Err(ApiError::new(
                403,
                "permission_error",
                Some("route_not_allowed"),
                format!("caller `{}` may not use `{name}` (allowed: {allowed})", s.name),
            )
            .with_param("model"));
        }
        Ok(())
    }

    /// Takes the request from its caller's limits and budget. `candidates` are the plan's
    /// deployments: the budget reserves what the priciest of them could cost.
    pub fn admit(
        &self,
        snap: &Snapshot,
        candidates: &[Arc<crate::config::ModelSettings>],
        tokens: f64,
        prompt_tokens: u64,
        max_output: Option<u64>,
        log: &mut RequestLog,
    ) -> Result<(), ApiError> {
        let Some(settings) = snap.callers.by_name.get(&log.account.caller).filter(|_| log.account.configured) else {
            return Ok(());
        };
        let ceiling = candidates
            .iter()
            .map(|m| price_of(m).map(|p| p.ceiling(prompt_tokens, max_output.unwrap_or(DEFAULT_OUTPUT_CAP))))
            .try_fold(0.0f64, |acc, c| c.map(|c| acc.max(c)));
        let ledger = self.ledger.as_ref();
        let spent = |caller: &str, since: u64| ledger.map_or(0.0, |l| l.spent_since(caller, since));
        log.account.admission = Some(self.book.admit(settings, tokens, ceiling, &spent)?);
        log.account.ceiling = ceiling;
        Ok(())
    }

    /// The same limits and budget, counted across every host in Redis. Runs after the local
    /// admission (which already refused what one host alone is over).
    pub async fn admit_shared(&self, snap: &Snapshot, tokens: f64, log: &mut RequestLog) -> Result<(), ApiError> {
        use crate::callers::limits::{period_start, unix_now};
        use crate::callers::shared::Verdict;
        let (Some(shared), Some(settings)) =
            (&self.shared, snap.callers.by_name.get(&log.account.caller).filter(|_| log.account.configured))
        else {
            return Ok(());
        };
        let now = unix_now();
        let rate = |kind: &str, limit: f64, wait: f64| {
            let mut e = ApiError::new(
                429,
                "rate_limit_error",
                Some("caller_rate_limited"),
                format!("caller `{}` is over its limit of {limit} {kind} (counted across hosts)", settings.name),
            );
            e.retry_after = Some(Duration::from_secs_f64(wait.max(1.0)));
            e
        };
        if let Some(rpm) = settings.rpm
            && let Verdict::Over(wait) = shared.take(&settings.name, "rpm", 1.0, f64::from(rpm), now).await
        {
            return Err(rate("requests per minute", f64::from(rpm), wait));
        }
        if let Some(tpm) = settings.tpm
            && let Verdict::Over(wait) = shared.take(&settings.name, "tpm", tokens, tpm as f64, now).await
        {
            return Err(rate("tokens per minute", tpm as f64, wait));
        }
        if let (Some((usd, period)), Some(ceiling)) = (settings.budget, log.account.ceiling) {
            let start = period_start(period, now);
            let end = crate::callers::limits::period_end(period, start);
            match shared.reserve(&settings.name, start, end, ceiling, usd).await {
                Verdict::Ok => log.account.shared_reservation = Some((settings.name.clone(), start)),
                Verdict::Over(spent) => {
                    let mut e = ApiError::new(
                        429,
                        "rate_limit_error",
                        Some("budget_exceeded"),
                        format!(
                            "caller `{}` is over its budget of ${usd:.4} across hosts: ${spent:.4} spent or reserved, and this request may cost up to ${ceiling:.4}",
                            settings.name
                        ),
                    );
                    e.retry_after = Some(Duration::from_secs(end.saturating_sub(now).max(1)));
                    return Err(e);
                }
                Verdict::Unavailable => {}
            }
        }
        Ok(())
    }
}

impl Account {
    /// The cost of `usage` at the answering deployment's price (None: price unknown).
    pub fn cost_of(&self, usage: Option<&crate::api::Usage>) -> Option<f64> {
        let u = usage?;
        let cached = u.prompt_tokens_details.map_or(0, |d| d.cached_tokens);
        self.price.map(|p| p.cost(u, cached))
    }
}

/// A metrics label for a route or deployment name: configured names (which cannot contain
/// `/`) as they are; an ad-hoc `provider/model` as `provider/*`, so label values stay bounded.
fn label(name: &str) -> std::borrow::Cow<'_, str> {
    match name.split_once('/') {
        Some((p, _)) => format!("{p}/*").into(),
        None => name.into(),
    }
}

/// Called once when a request's log is dropped (the request ended, however it ended).
pub fn finish(log: &mut RequestLog, status: u16, outcome: &str) {
    let acct = &mut log.account;
    let Some(sink) = acct.sink.take() else { return };
    let usage = log.usage.unwrap_or_default();
    let cached = usage.prompt_tokens_details.map_or(0, |d| d.cached_tokens);
    let cost = match (log.cache, log.usage.is_some(), acct.price) {
        ("hit", _, _) => Some(0.0),
        (_, false, _) => Some(0.0).filter(|_| status >= 400),
        (_, true, Some(p)) => Some(p.cost(&usage, cached)),
        (_, true, None) => None,
    };
    if let Some(a) = acct.admission.take() {
        a.settle(cost);
    }
    if let (Some((caller, start)), Some(ceiling)) = (acct.shared_reservation.take(), acct.ceiling)
        && let Ok(rt) = tokio::runtime::Handle::try_current()
    {
        let delta = cost.unwrap_or(0.0) - ceiling;
        let sink2 = sink.clone();
        rt.spawn(async move {
            if let Some(shared) = &sink2.shared {
                shared.settle(&caller, start, delta).await;
            }
        });
    }
    let latency = log.started.elapsed();
    let caller_label = if acct.configured { acct.caller.as_str() } else { "unknown" };
    let m = &sink.metrics;
    let route = label(&log.route);
    let deployment = label(&log.deployment);
    let h = m.handles(&route, &deployment, caller_label, status, log.cache);
    h.requests.inc();
    if !route.is_empty() {
        h.cache.inc();
    }
    if !deployment.is_empty() {
        h.duration.observe(latency.as_secs_f64());
        if let Some(t) = acct.ttft {
            h.ttft.observe(t.as_secs_f64());
        }
        if acct.attempt_outcomes.len() > 1 && acct.attempt_outcomes.last().is_some_and(|(_, o)| *o == "ok") {
            h.failovers.inc();
        }
    }
    for (i, (dep, outcome)) in acct.attempt_outcomes.iter().enumerate() {
        // the answering call (the common, single-attempt case) through its handle
        if *outcome == "ok" && i + 1 == acct.attempt_outcomes.len() && label(dep) == deployment {
            h.attempt_ok.inc();
        } else {
            m.attempts
                .get_or_create(&metrics::Attempt {
                    deployment: label(dep).into_owned(),
                    outcome: (*outcome).to_string(),
                })
                .inc();
        }
    }
    if log.usage.is_some() {
        for (counter, n) in h.tokens.iter().zip([usage.prompt_tokens, usage.completion_tokens, cached]) {
            counter.inc_by(n);
        }
    }
    if let Some(c) = cost.filter(|c| *c > 0.0) {
        h.cost.inc_by(c);
    }
    if let Some(ledger) = &sink.ledger {
        ledger.record(Record {
            ts_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64),
            // the log ends here: its strings move into the row instead of being copied
            request_id: std::mem::take(&mut log.request_id),
            caller: std::mem::take(&mut acct.caller),
            app: log.label.take(),
            route: std::mem::take(&mut log.route),
            deployment: std::mem::take(&mut log.deployment),
            provider: std::mem::take(&mut acct.provider),
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            cached_tokens: cached,
            cost_usd: cost,
            latency_ms: (latency.as_secs_f64() * 1e6).round() / 1000.0,
            status,
            outcome: outcome.to_string(),
            attempts: log.attempts,
            stream: log.stream,
            cache: log.cache.to_string(),
        });
    }
}
