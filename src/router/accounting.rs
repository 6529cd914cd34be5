//! The caller side of a request: who is asking (identity), whether they may (routes), whether
//! they can afford it (limits, budget reservation) — all before any vendor call — and, when
//! the request ends, what it cost: the budget settled with the real usage, one ledger row, and
//! the metrics.

use std::sync::Arc;
use std::time::Duration;

use super::request::{End, Tracked};
use crate::api::error::AttemptRecord;
use crate::api::error::{CallerLimit, GatewayError, Refusal};
use crate::cache::Outcome;
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
    pub shared: Option<Arc<crate::callers::shared::SharedLimits>>,
    /// This host's side of the fleet (status, the usage stream).
    pub fleet: Option<Arc<crate::fleet::Fleet>>,
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
    /// A reservation held in Redis (or this host's share), settled when the request ends.
    shared_reservation: Option<crate::callers::shared::Reservation>,
}

impl Accounting {
    /// Identifies the caller and checks it may use `name`, before anything is planned.
    pub fn authorize(
        self: &Arc<Self>,
        snap: &Snapshot,
        cred: &Credential,
        name: &str,
        log: &mut Tracked,
    ) -> Result<(), GatewayError> {
        log.account.sink = Some(self.clone());
        let caller = identify(cred, &snap.callers)
            .map_err(|message| GatewayError::CallerRefused { refusal: Refusal::UnknownCaller, message })?;
        log.account.caller = caller.name().to_string();
        log.account.configured = caller.settings.is_some();
        if let Some(s) = &caller.settings
            && !s.allows(name)
        {
            let allowed = s.routes.as_ref().map(|r| r.join(", ")).unwrap_or_default();
            return Err(GatewayError::CallerRefused {
                refusal: Refusal::RouteNotAllowed,
                message: format!("caller `{}` may not use `{name}` (allowed: {allowed})", s.name),
            });
        }
        Ok(())
    }

    /// Takes the request from its caller's limits and budget. `candidates` are the plan's
    /// deployments: the budget reserves what the priciest of them could cost (with cache-write
    /// and reasoning prices where the request may incur them), settled at the real cost.
    pub fn admit(
        &self,
        snap: &Snapshot,
        candidates: &[Arc<crate::config::ModelSettings>],
        tokens: f64,
        needs: &super::plan::Needs,
        log: &mut Tracked,
    ) -> Result<(), GatewayError> {
        let Some(settings) = snap.callers.by_name.get(&log.account.caller).filter(|_| log.account.configured) else {
            return Ok(());
        };
        let ceiling = candidates
            .iter()
            .map(|m| {
                let output = needs.max_output.unwrap_or(DEFAULT_OUTPUT_CAP);
                price_of(m).map(|p| p.ceiling(needs.prompt_tokens, output, needs.cache_writes))
            })
            .try_fold(0.0f64, |acc, c| c.map(|c| acc.max(c)));
        // A configured ledger that could not be opened knows nothing: budgets fail closed.
        let missing = snap.ledger.path.as_ref().filter(|_| self.ledger.is_none());
        let spent = |caller: &str, since: u64| match (&self.ledger, missing) {
            (Some(l), _) => l.spent_since(caller, since).map_err(|e| e.to_string()),
            (None, Some(p)) => Err(format!("the usage ledger {} could not be opened", p.display())),
            (None, None) => Ok(0.0),
        };
        log.account.admission = Some(self.book.admit(settings, tokens, ceiling, &spent)?);
        log.account.ceiling = ceiling;
        Ok(())
    }

    /// The same limits and budget, counted across every host in Redis. Runs after the local
    /// admission (which already refused what one host alone is over).
    pub async fn admit_shared(&self, snap: &Snapshot, tokens: f64, log: &mut Tracked) -> Result<(), GatewayError> {
        use crate::api::ids::unix_now;
        use crate::callers::limits::period_start;
        use crate::callers::shared::{Ask, Refusal};
        let (Some(shared), Some(settings)) =
            (&self.shared, snap.callers.by_name.get(&log.account.caller).filter(|_| log.account.configured))
        else {
            return Ok(());
        };
        let now = unix_now();
        let budget = settings.budget.zip(log.account.ceiling).map(|((usd, period), ceiling)| {
            let start = period_start(period, now);
            ((start, crate::callers::limits::period_end(period, start)), ceiling, usd)
        });
        let ask = Ask {
            caller: &settings.name,
            now_ms: crate::api::ids::unix_ms(),
            rpm: settings.rpm.map(f64::from),
            tpm: settings.tpm.map(|t| (tokens, t as f64)),
            budget,
        };
        let rate = |kind: &str, which: CallerLimit, limit: f64, wait: f64| GatewayError::CallerLimited {
            limit: which,
            message: format!("caller `{}` is over its limit of {limit} {kind} (counted across hosts)", settings.name),
            retry_after: Duration::from_secs_f64(wait.max(1.0)),
        };
        match shared.admit(&ask).await {
            Ok(reservation) => log.account.shared_reservation = reservation,
            Err(Refusal::Rpm(wait)) => {
                return Err(rate("requests per minute", CallerLimit::Requests, ask.rpm.unwrap_or(0.0), wait));
            }
            Err(Refusal::Tpm(wait)) => {
                let tpm = ask.tpm.map_or(0.0, |t| t.1);
                return Err(rate("tokens per minute", CallerLimit::Tokens, tpm, wait));
            }
            Err(Refusal::Budget(spent)) => {
                let ((_, end), ceiling, usd) = budget.unwrap_or(((0, 0), 0.0, 0.0));
                return Err(GatewayError::CallerLimited {
                    limit: CallerLimit::Budget,
                    message: format!(
                        "caller `{}` is over its budget of ${usd:.4} across hosts: ${spent:.4} spent or reserved, and this request may cost up to ${ceiling:.4}",
                        settings.name
                    ),
                    retry_after: Duration::from_secs(end.saturating_sub(now).max(1)),
                });
            }
        }
        Ok(())
    }
}

impl Account {
    /// A shadow call's account: recorded (ledger row, metrics) under the live request's
    /// caller, never admitted against that caller's limits or budget.
    pub fn for_shadow(sink: Arc<Accounting>, caller: String) -> Account {
        Account { configured: caller != "unknown", caller, sink: Some(sink), ..Account::default() }
    }

    /// The cost of `usage` at the answering deployment's price (None: price unknown).
    pub fn cost_of(&self, usage: Option<&crate::api::Usage>) -> Option<f64> {
        let u = usage?;
        self.price.map(|p| p.cost(u))
    }

    /// Notes who answered (its price and provider) and what each vendor call did.
    pub fn note_answerer(&mut self, dep: &crate::config::ModelSettings, calls: &[AttemptRecord]) {
        self.price = price_of(dep);
        self.provider.clone_from(&dep.provider.name);
        self.attempt_outcomes = calls.iter().map(|a| (a.deployment.clone(), a.outcome)).collect();
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

/// What the request cost: nothing for a hit or a failure before usage; None when the price
/// is unknown.
fn cost(req: &Tracked, end: &End) -> Option<f64> {
    match (req.cache, &req.usage) {
        (Outcome::Hit, _) => Some(0.0),
        (_, None) => Some(0.0).filter(|_| end.status() >= 400),
        (_, usage) => req.account.cost_of(usage.as_ref()),
    }
}

/// Called once when a request ends (`Tracked::finish`): the budget settled with the real
/// cost (here and across hosts), the metrics, and the ledger row.
pub fn settle(req: &mut Tracked, end: &End) {
    let Some(sink) = req.account.sink.take() else { return };
    let cost = cost(req, end);
    if let Some(a) = req.account.admission.take() {
        a.settle(cost);
    }
    settle_shared(&sink, &mut req.account, cost);
    count(&sink.metrics, req, end.status(), cost);
    let stream = sink.fleet.as_ref().and_then(|f| f.usage.as_ref());
    if sink.ledger.is_some() || stream.is_some() {
        let row = ledger_row(req, end, cost);
        if let Some(s) = stream {
            s.push(&row);
        }
        if let Some(ledger) = &sink.ledger {
            ledger.record(row);
        }
    }
}

/// Settles the budget reserved in Redis at the real cost (in the background: the answer does
/// not wait for Redis).
fn settle_shared(sink: &Arc<Accounting>, acct: &mut Account, cost: Option<f64>) {
    if let (Some(reservation), Some(shared)) = (acct.shared_reservation.take(), sink.shared.clone())
        && let Ok(rt) = tokio::runtime::Handle::try_current()
    {
        rt.spawn(async move { shared.settle(reservation, cost.unwrap_or(0.0)).await });
    }
}

fn count(m: &Metrics, req: &Tracked, status: u16, cost: Option<f64>) {
    let acct = &req.account;
    let caller_label = if acct.configured { acct.caller.as_str() } else { "unknown" };
    let route = label(&req.route);
    let deployment = label(&req.deployment);
    let h = m.handles(&route, &deployment, caller_label, status, req.cache.as_str(), req.dialect.as_str());
    let elapsed = req.started.elapsed();
    h.requests.inc();
    if !route.is_empty() {
        h.cache.inc();
    }
    if !deployment.is_empty() {
        h.duration.observe(elapsed.as_secs_f64());
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
            let key = metrics::Attempt { deployment: label(dep).into_owned(), outcome: (*outcome).to_string() };
            m.attempts.get_or_create(&key).inc();
        }
    }
    if let Some(usage) = req.usage {
        let kinds = [
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.cached_tokens(),
            usage.cache_write_tokens(),
            usage.cache_write_1h_tokens(),
            usage.reasoning_tokens(),
        ];
        for (counter, n) in h.tokens.iter().zip(kinds) {
            counter.inc_by(n);
        }
    }
    if let Some(c) = cost.filter(|c| *c > 0.0) {
        h.cost.inc_by(c);
    }
    let latency = (!deployment.is_empty()).then_some(elapsed);
    h.series.record(crate::usage::history::Sample { latency, ttft: acct.ttft, cost_usd: cost });
}

/// The request's ledger row; the request ends here, so its strings move into the row.
fn ledger_row(req: &mut Tracked, end: &End, cost: Option<f64>) -> Record {
    let usage = req.usage.unwrap_or_default();
    Record {
        ts_ms: crate::api::ids::unix_ms() as i64,
        request_id: std::mem::take(&mut req.request_id),
        caller: std::mem::take(&mut req.account.caller),
        app: req.label.take(),
        route: std::mem::take(&mut req.route),
        deployment: std::mem::take(&mut req.deployment),
        provider: std::mem::take(&mut req.account.provider),
        prompt_tokens: usage.prompt_tokens,
        completion_tokens: usage.completion_tokens,
        cached_tokens: usage.cached_tokens(),
        cache_write_tokens: usage.cache_write_tokens(),
        cache_write_1h_tokens: usage.cache_write_1h_tokens(),
        reasoning_tokens: usage.reasoning_tokens(),
        cost_usd: cost,
        latency_ms: super::request::round_ms(req.started.elapsed()),
        status: end.status(),
        outcome: end.label().to_string(),
        attempts: req.attempts,
        stream: req.stream,
        cache: req.cache.as_str().to_string(),
        dialect: req.dialect.as_str(),
        prompt: req.prompt.take(),
        variant: req.variant.take(),
        shadow: req.shadow,
    }
}
