//! What a failed attempt loop tells the caller: a vendor's refusal as it is, or one error that
//! says why every candidate failed or could not be called.

use std::time::Duration;

use super::health::NotNow;
use super::plan::Plan;
use crate::api::error::{AttemptRecord, GatewayError, Timeout};
use crate::providers::{Failure, ProviderError};

/// A vendor error returned to the caller as it is (a request the vendor refused).
pub fn caller_error(err: &ProviderError, attempts: Vec<AttemptRecord>) -> GatewayError {
    GatewayError::Upstream {
        status: err.caller_status(),
        code: err.code.clone().unwrap_or_else(|| err.failure.label().to_string()),
        message: err.message.clone(),
        retry_after: err.retry_after,
        attempts,
    }
}

/// Every candidate failed, was skipped, or the deadline passed: one error saying why.
pub fn all_failed(
    plan: &Plan,
    errors: &[ProviderError],
    attempts: Vec<AttemptRecord>,
    skipped: &[(usize, NotNow)],
    out_of_time: bool,
) -> GatewayError {
    let skipped_reasons: Vec<String> = skipped
        .iter()
        .map(|(i, nn)| format!("{}: skipped ({})", plan.candidates[*i].name, nn.reason.as_str()))
        .collect();
    if errors.is_empty() && !out_of_time {
        return none_callable(plan, skipped, &skipped_reasons, attempts);
    }
    if errors.is_empty() {
        return GatewayError::TimedOut {
            timeout: Timeout::Deadline,
            message: format!("`{}` ran out of time before any target answered", plan.route),
            attempts,
        };
    }
    if errors.len() == 1 && !out_of_time && skipped.is_empty() {
        return caller_error(&errors[0], attempts);
    }
    let mut reasons: Vec<String> =
        attempts.iter().map(|a| format!("{}: {}", a.deployment, a.message.as_deref().unwrap_or(a.outcome))).collect();
    reasons.extend(skipped_reasons);
    let message = format!("all {} attempt(s) for `{}` failed: {}", attempts.len(), plan.route, reasons.join("; "));
    // Every call failed the same way (e.g. one target throttling): keep the vendor's code.
    let shared_code = errors[0].code.as_deref().filter(|c| errors.iter().all(|e| e.code.as_deref() == Some(*c)));
    let code = match (out_of_time, shared_code) {
        (true, _) => "timeout",
        (false, Some(c)) if skipped.is_empty() => c,
        _ => "all_targets_failed",
    };
    GatewayError::Upstream {
        status: shared_status(errors, out_of_time),
        code: code.to_string(),
        message,
        retry_after: errors.iter().filter_map(|e| e.retry_after).min(),
        attempts,
    }
}

/// One status when every failure maps to it (all throttled: 429, all overloaded: 503, all
/// timed out: 504); a mix is a 502.
fn shared_status(errors: &[ProviderError], out_of_time: bool) -> u16 {
    let first = errors.first().map_or(502, ProviderError::caller_status);
    if out_of_time && errors.iter().all(|e| e.failure == Failure::Timeout) {
        504
    } else if errors.iter().all(|e| e.caller_status() == first) {
        first
    } else {
        502
    }
}

/// No vendor call was possible: every target was at its client-side limits or cooling down.
fn none_callable(
    plan: &Plan,
    skipped: &[(usize, NotNow)],
    reasons: &[String],
    attempts: Vec<AttemptRecord>,
) -> GatewayError {
    let now = std::time::Instant::now();
    let earliest = skipped.iter().filter_map(|(_, nn)| nn.until).min().map(|t| t.saturating_duration_since(now));
    let retry_after = earliest.unwrap_or(Duration::from_secs(1)).max(Duration::from_millis(1));
    if skipped.iter().any(|(_, nn)| nn.reason.is_limit()) {
        let message = format!("`{}`: every target is at its client-side limits: {}", plan.route, reasons.join("; "));
        GatewayError::TargetsBusy { message, retry_after, attempts }
    } else {
        let message = format!("`{}`: every target is cooling down after failures: {}", plan.route, reasons.join("; "));
        GatewayError::TargetsCoolingDown { message, retry_after, attempts }
    }
}
