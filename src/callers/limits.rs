//! Per-caller limits and budgets, enforced before any vendor call: requests and tokens per
//! minute, calls in flight, and spend per day or month. A budget is *reserved* up front with
//! the most the call can cost (estimated prompt plus its output cap, at the priciest
//! candidate), and settled with the real cost when the call ends, all under one lock, so
//! concurrent requests can never spend past it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::api::ids::unix_now;

use crate::api::error::{CallerLimit, GatewayError};
use crate::config::callers::{BudgetPeriod, CallerSettings};
use crate::token_bucket::Bucket;

/// All callers' counters; outlives config reloads (keyed by caller name).
#[derive(Default)]
pub struct CallerBook {
    states: Mutex<HashMap<String, Arc<CallerState>>>,
}

pub struct CallerState {
    inner: Mutex<Inner>,
}

struct Inner {
    limits: (Option<u32>, Option<u64>, Option<u32>),
    rpm: Option<Bucket>,
    tpm: Option<Bucket>,
    in_flight: u32,
    budget: Option<Budget>,
}

struct Budget {
    period: BudgetPeriod,
    /// Unix time the current period started.
    start: u64,
    spent: f64,
    reserved: f64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What a request took from its caller's limits; give it back with `settle` (or drop).
pub struct Admission {
    state: Arc<CallerState>,
    reserved: f64,
    settled: bool,
}

impl CallerBook {
    /// Admits one request of ~`tokens` that may cost up to `ceiling` USD (None: unknown).
    /// `spent_since` reads what the caller already spent since a time (from the ledger),
    /// called once per caller and budget period; when it cannot say (the ledger cannot be
    /// read), the budget fails closed: the request is refused with that reason.
    pub fn admit(
        &self,
        c: &CallerSettings,
        tokens: f64,
        ceiling: Option<f64>,
        spent_since: &dyn Fn(&str, u64) -> Result<f64, String>,
    ) -> Result<Admission, GatewayError> {
        let state = {
            let mut map = lock(&self.states);
            // (get first: `entry` would allocate the name on every request)
            match map.get(&c.name) {
                Some(s) => s.clone(),
                None => map
                    .entry(c.name.clone())
                    .or_insert_with(|| Arc::new(CallerState { inner: Mutex::new(Inner::new(c)) }))
                    .clone(),
            }
        };
        let now = Instant::now();
        let mut g = lock(&state.inner);
        g.refresh(c, now);
        if let Some(max) = c.max_concurrent
            && g.in_flight >= max
        {
            return Err(limited(
                c,
                format!("{max} requests in flight"),
                CallerLimit::Concurrency,
                Duration::from_secs(1),
            ));
        }
        let wait_r = g.rpm.as_mut().map_or(Duration::ZERO, |b| b.wait_for(1.0, now));
        if !wait_r.is_zero() {
            return Err(limited(
                c,
                format!("{} requests per minute", c.rpm.unwrap_or(0)),
                CallerLimit::Requests,
                wait_r,
            ));
        }
        let wait_t = g.tpm.as_mut().map_or(Duration::ZERO, |b| b.wait_for(tokens, now));
        if !wait_t.is_zero() {
            return Err(limited(c, format!("{} tokens per minute", c.tpm.unwrap_or(0)), CallerLimit::Tokens, wait_t));
        }
        let reserved = match c.budget {
            Some((usd, _)) => reserve(&mut g, c, usd, ceiling, spent_since)?,
            None => 0.0,
        };
        if let Some(b) = g.rpm.as_mut() {
            b.take(1.0, now);
        }
        if let Some(b) = g.tpm.as_mut() {
            b.take(tokens, now);
        }
        g.in_flight += 1;
        drop(g);
        Ok(Admission { state, reserved, settled: false })
    }
}

/// Reserves up to `ceiling` of the caller's budget of `usd` for one request: refused when
/// what is spent, reserved by requests in flight and this one's ceiling would exceed it.
fn reserve(
    g: &mut Inner,
    c: &CallerSettings,
    usd: f64,
    ceiling: Option<f64>,
    spent_since: &dyn Fn(&str, u64) -> Result<f64, String>,
) -> Result<f64, GatewayError> {
    let Some(ceiling) = ceiling else {
        return Err(GatewayError::Invalid {
            message: format!(
                "caller `{}` has a budget, and the price of this route's targets is unknown; set `price` on the model",
                c.name
            ),
            param: Some("model".into()),
            code: Some("price_unknown"),
        });
    };
    let now_s = unix_now();
    let b = g.budget.as_mut().ok_or_else(|| GatewayError::internal("budget state missing"))?;
    let start = period_start(b.period, now_s);
    if start != b.start || b.start == 0 {
        let spent = spent_since(&c.name, start).map_err(|why| {
            tracing::error!(caller = %c.name, error = %why, "budget check failed: the request is refused");
            GatewayError::internal(format!(
                "caller `{}` has a budget and what it spent cannot be read ({why}); refused rather than counted as nothing spent",
                c.name
            ))
        })?;
        *b = Budget { period: b.period, start, spent, reserved: b.reserved };
    }
    // (a nano-dollar of slack, so float rounding never refuses an exact fit)
    if b.spent + b.reserved + ceiling > usd + 1e-9 {
        let per = if b.period == BudgetPeriod::Day { "daily" } else { "monthly" };
        return Err(GatewayError::CallerLimited {
            limit: CallerLimit::Budget,
            message: format!(
                "caller `{}` is over its {per} budget of ${usd:.4}: spent ${:.4}, ${:.4} reserved by requests in flight, and this one may cost up to ${ceiling:.4}",
                c.name, b.spent, b.reserved
            ),
            retry_after: Duration::from_secs(period_end(b.period, start).saturating_sub(now_s).max(1)),
        });
    }
    b.reserved += ceiling;
    Ok(ceiling)
}

impl Inner {
    fn new(c: &CallerSettings) -> Self {
        let now = Instant::now();
        Inner {
            limits: (c.rpm, c.tpm, c.max_concurrent),
            rpm: c.rpm.map(|r| Bucket::per_minute(u64::from(r), now)),
            tpm: c.tpm.map(|t| Bucket::per_minute(t, now)),
            in_flight: 0,
            budget: c.budget.map(|(_, period)| Budget { period, start: 0, spent: 0.0, reserved: 0.0 }),
        }
    }

    /// A reload that changed this caller's limits gets fresh buckets; spend is kept.
    fn refresh(&mut self, c: &CallerSettings, now: Instant) {
        if self.limits != (c.rpm, c.tpm, c.max_concurrent) {
            self.limits = (c.rpm, c.tpm, c.max_concurrent);
            self.rpm = c.rpm.map(|r| Bucket::per_minute(u64::from(r), now));
            self.tpm = c.tpm.map(|t| Bucket::per_minute(t, now));
        }
        match (c.budget, self.budget.as_mut()) {
            (Some((_, period)), Some(b)) if b.period != period => b.period = period,
            (Some((_, period)), None) => self.budget = Some(Budget { period, start: 0, spent: 0.0, reserved: 0.0 }),
            (None, Some(_)) => self.budget = None,
            _ => {}
        }
    }
}

impl Admission {
    /// The request ended and cost `cost` (None: unknown price, nothing to count).
    pub fn settle(mut self, cost: Option<f64>) {
        self.finish(cost);
    }

    fn finish(&mut self, cost: Option<f64>) {
        if self.settled {
            return;
        }
        self.settled = true;
        let mut g = lock(&self.state.inner);
        g.in_flight = g.in_flight.saturating_sub(1);
        if let Some(b) = g.budget.as_mut() {
            b.reserved = (b.reserved - self.reserved).max(0.0);
            b.spent += cost.unwrap_or(0.0);
        }
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        // A request that ended without a cost (failed, cancelled before usage) spends nothing.
        self.finish(None);
    }
}

fn limited(c: &CallerSettings, what: String, limit: CallerLimit, retry: Duration) -> GatewayError {
    GatewayError::CallerLimited {
        limit,
        message: format!("caller `{}` is over its limit of {what}", c.name),
        retry_after: retry.max(Duration::from_millis(1)),
    }
}

/// Start (unix seconds, UTC) of the budget period containing `now`.
pub fn period_start(p: BudgetPeriod, now: u64) -> u64 {
    let day = now / 86_400;
    match p {
        BudgetPeriod::Day => day * 86_400,
        BudgetPeriod::Month => {
            let (y, m, _) = civil_from_days(day as i64);
            days_from_civil(y, m, 1) as u64 * 86_400
        }
    }
}

/// End (exclusive, unix seconds) of the budget period that starts at `start`.
pub fn period_end(p: BudgetPeriod, start: u64) -> u64 {
    match p {
        BudgetPeriod::Day => start + 86_400,
        BudgetPeriod::Month => {
            let (y, m, _) = civil_from_days((start / 86_400) as i64);
            let (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            days_from_civil(y, m, 1) as u64 * 86_400
        }
    }
}

/// Gregorian (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from(if m > 2 { m - 3 } else { m + 9 });
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(budget: Option<(f64, BudgetPeriod)>, max_concurrent: Option<u32>, rpm: Option<u32>) -> CallerSettings {
        CallerSettings {
            name: "c".into(),
            uid: Some(1),
            gid: None,
            unit: None,
            keys: vec![],
            routes: None,
            rpm,
            tpm: None,
            max_concurrent,
            budget,
        }
    }

    #[test]
    fn calendar_periods() {
        // 2026-11-25T12:00:00Z
        let t = 1_795_608_000;
        assert_eq!(period_start(BudgetPeriod::Day, t), 1_795_564_800);
        assert_eq!(period_start(BudgetPeriod::Month, t), 1_793_491_200); // 2026-11-01
        assert_eq!(period_end(BudgetPeriod::Month, 1_793_491_200), 1_796_083_200); // 2026-12-01
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
    }

    #[test]
    fn budget_reservations_never_overshoot() {
        let book = CallerBook::default();
        let c = caller(Some((1.0, BudgetPeriod::Day)), None, None);
        let mut held = Vec::new();
        for _ in 0..5 {
            held.push(book.admit(&c, 10.0, Some(0.2), &|_, _| Ok(0.0)).unwrap());
        }
        let e = book.admit(&c, 10.0, Some(0.2), &|_, _| Ok(0.0)).err().unwrap();
        assert_eq!(e.code().as_deref(), Some("budget_exceeded"));
        // settling for less frees room
        held.pop().unwrap().settle(Some(0.05));
        assert!(book.admit(&c, 10.0, Some(0.1), &|_, _| Ok(0.0)).is_ok());
    }

    #[test]
    fn spend_from_the_ledger_counts() {
        let book = CallerBook::default();
        let c = caller(Some((1.0, BudgetPeriod::Month)), None, None);
        assert!(book.admit(&c, 1.0, Some(0.5), &|_, _| Ok(0.9)).is_err());
        // a ledger that cannot be read is not "nothing spent"
        let fresh = CallerBook::default();
        let e = fresh.admit(&c, 1.0, Some(0.01), &|_, _| Err("disk I/O error".into())).err().unwrap();
        assert!(matches!(e, GatewayError::Internal(ref m) if m.contains("disk I/O error")), "{e:?}");
        assert!(fresh.admit(&c, 1.0, Some(0.01), &|_, _| Ok(0.0)).is_ok(), "the next read decides again");
    }

    #[test]
    fn unknown_price_with_a_budget_is_refused() {
        let book = CallerBook::default();
        let c = caller(Some((1.0, BudgetPeriod::Day)), None, None);
        let e = book.admit(&c, 1.0, None, &|_, _| Ok(0.0)).err().unwrap();
        assert_eq!(e.code().as_deref(), Some("price_unknown"));
    }

    #[test]
    fn concurrency_and_rpm() {
        let book = CallerBook::default();
        let c = caller(None, Some(1), Some(2));
        let a = book.admit(&c, 1.0, None, &|_, _| Ok(0.0)).unwrap();
        let e = book.admit(&c, 1.0, None, &|_, _| Ok(0.0)).err().unwrap();
        assert_eq!(e.code().as_deref(), Some("caller_concurrency_limited"));
        drop(a);
        let _b = book.admit(&c, 1.0, None, &|_, _| Ok(0.0)).unwrap();
        drop(_b);
        let e = book.admit(&c, 1.0, None, &|_, _| Ok(0.0)).err().unwrap();
        assert_eq!(e.code().as_deref(), Some("caller_rate_limited"));
        assert!(e.retry_after().unwrap() > Duration::from_secs(20));
    }
}
