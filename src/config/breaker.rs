//! `[breaker]`: circuit-breaker tuning shared by every deployment (see `router::breaker`).

use std::time::Duration;

use serde::Deserialize;

use super::context::ResolveCx;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakerFile {
    /// Failures in a row that open a breaker.
    pub consecutive_failures: Option<u32>,
    /// Failure fraction over `window` that opens a breaker (with at least `min_requests`).
    pub failure_rate: Option<f64>,
    pub min_requests: Option<u32>,
    pub window: Option<String>,
    /// First open period; doubles while probes fail, up to `max_open`.
    pub open_for: Option<String>,
    pub max_open: Option<String>,
    /// Open period after 401/403/quota/unknown-model failures.
    pub account_open_for: Option<String>,
}

/// Circuit-breaker tuning (see `router::breaker`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerSettings {
    pub consecutive: u32,
    pub failure_rate: f64,
    pub min_requests: u32,
    /// Rolling window for the failure rate.
    pub window: Duration,
    pub open_base: Duration,
    pub open_max: Duration,
    /// Open time after an account-level failure (401, 403, quota, unknown model).
    pub account_open: Duration,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        BreakerSettings {
            consecutive: 5,
            failure_rate: 0.5,
            min_requests: 20,
            window: Duration::from_secs(30),
            open_base: Duration::from_secs(2),
            open_max: Duration::from_secs(60),
            account_open: Duration::from_secs(60),
        }
    }
}

pub(super) fn resolve_breaker(cx: &mut ResolveCx<'_>, b: &BreakerFile) -> BreakerSettings {
    let d = BreakerSettings::default();
    let out = BreakerSettings {
        consecutive: b.consecutive_failures.unwrap_or(d.consecutive),
        failure_rate: b.failure_rate.unwrap_or(d.failure_rate),
        min_requests: b.min_requests.unwrap_or(d.min_requests),
        window: cx.duration(&["breaker", "window"], &b.window, d.window),
        open_base: cx.duration(&["breaker", "open_for"], &b.open_for, d.open_base),
        open_max: cx.duration(&["breaker", "max_open"], &b.max_open, d.open_max),
        account_open: cx.duration(&["breaker", "account_open_for"], &b.account_open_for, d.account_open),
    };
    if out.consecutive == 0 {
        cx.err(&["breaker", "consecutive_failures"], "must be at least 1");
    }
    if out.failure_rate.is_nan() || out.failure_rate <= 0.0 {
        cx.err(&["breaker", "failure_rate"], "must be above 0 (above 1 turns the rate trigger off)");
    }
    if out.window < Duration::from_millis(100) {
        cx.err(&["breaker", "window"], "must be at least 100ms");
    }
    if out.open_max < out.open_base {
        cx.err(&["breaker", "max_open"], "must not be shorter than `open_for`");
    }
    out
}
