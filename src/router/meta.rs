//! What happened to a request: sent back as HTTP headers (`x-sidegate-*`) and as the `meta`
//! object of native frames.

use serde::Serialize;

use crate::api::error::AttemptRecord;
use crate::cache::Outcome;

#[derive(Debug, Clone, Serialize, Default)]
pub struct Meta {
    pub request_id: String,
    pub route: String,
    pub provider: String,
    /// The deployment (configured model) that answered.
    pub model: String,
    pub vendor_model: String,
    /// `hit`, `miss` or `bypass`.
    pub cache: Outcome,
    /// Vendor calls made.
    pub attempts: u32,
    pub latency_ms: f64,
    /// Every vendor call made for this request, in order: deployment, outcome, latency.
    pub attempt_log: Vec<AttemptRecord>,
    /// The caller the request was accounted to (`unknown` when none matched).
    pub caller: String,
    /// The experiment variant that answered (`x-sidegate-variant`), when the route has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// What the answer cost, when it is known by the time the meta is sent (whole answers:
    /// yes, with a known price; streams: not yet, the ledger has it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
}

impl Meta {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// `deployment;outcome;latency_ms` per call, comma-separated: the `x-sidegate-attempt-log`
    /// header.
    pub fn attempt_header(&self) -> String {
        attempt_header(&self.attempt_log)
    }
}

/// `deployment;outcome;latency_ms` per call, comma-separated.
pub fn attempt_header(calls: &[AttemptRecord]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(calls.iter().map(|a| a.deployment.len() + 24).sum());
    for (i, a) in calls.iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        // Writing into a String cannot fail.
        let _ = write!(out, "{sep}{};{};{}", a.deployment, a.outcome, a.latency_ms);
    }
    out
}

/// A short unique request id (`sg-` + 16 hex digits) for logs and correlation.
pub fn request_id() -> String {
    format!("sg-{:016x}", rand::random::<u64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(deployment: &str, outcome: &'static str, latency_ms: f64) -> AttemptRecord {
        AttemptRecord {
            deployment: deployment.into(),
            provider: "p".into(),
            outcome,
            status: None,
            message: None,
            latency_ms,
        }
    }

    #[test]
    fn the_attempt_log_header_lists_each_call_in_order() {
        assert_eq!(attempt_header(&[]), "");
        assert_eq!(attempt_header(&[call("a", "ok", 12.5)]), "a;ok;12.5");
        let calls = [call("down", "connect", 0.25), call("slow", "timeout", 100.0), call("good", "ok", 3.0)];
        assert_eq!(attempt_header(&calls), "down;connect;0.25, slow;timeout;100, good;ok;3");
    }
}
