//! Provider failures, and the one place that decides what each means for the attempt loop:
//! retry the same deployment, fail over to the next, or return to the caller
//! (DESIGN.md §7, PROVIDERS.md §5.2). Classification has no wildcard default that retries.

use std::time::Duration;

/// What went wrong, as far as routing cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Connection refused, reset, DNS or TLS failure before any response byte.
    Connect,
    /// No answer (or no first token) within the time budget.
    Timeout,
    /// 429 throttle: transient.
    RateLimited,
    /// 402 / 429 `insufficient_quota`: the account is out of money; not transient.
    Quota,
    /// 401 / 403: our key is bad or lacks access.
    Auth,
    /// 404: the vendor does not know the model.
    NotFound,
    /// 400 / 422: the request itself is wrong; another deployment would fail the same way.
    InvalidRequest,
    /// 400 context too long.
    ContextTooLong,
    /// This vendor cannot express the request (a field or content it lacks), found before any
    /// call: another vendor in the plan may serve it, so fail over; a 400 if none does.
    Unsupported,
    /// 413 request too large.
    TooLarge,
    /// 500, 502, 503, 504, 529 and other 5xx.
    Upstream,
    /// 200 with a body that is not what the vendor's format promises.
    BadResponse,
    /// A stream that broke after it started.
    StreamBroken,
}

/// What the attempt loop does next with the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Move on to the next candidate now; this deployment stays eligible for a later pass,
    /// after a jittered backoff (or the vendor's `retry-after`). When it is the only
    /// candidate, that later pass is a backoff retry of the same deployment.
    FailOver,
    /// Move on to the next candidate; this deployment is not called again for this request
    /// (our account, the model or the request's shape is the problem, not the moment).
    Retire,
    /// Give the vendor's answer to the caller: another deployment would fail the same way.
    Return,
}

/// What a failure says about the deployment's health (the breaker's input).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blame {
    /// The vendor is failing: counts toward opening the breaker.
    Vendor,
    /// Our account (key, quota, model access): opens the breaker for longer.
    Account,
    /// Not the deployment's fault (the request, throttling it told us how long to respect).
    None,
}

/// The classification, in one table: per failure, what the loop does and whom it blames.
pub const fn classify(f: Failure) -> (Action, Blame) {
    use Action::*;
    match f {
        Failure::Connect | Failure::Upstream | Failure::Timeout => (FailOver, Blame::Vendor),
        Failure::BadResponse | Failure::StreamBroken => (FailOver, Blame::Vendor),
        // Throttling is not a fault: the deployment is cooled for the vendor's retry-after
        // instead of tripping the breaker.
        Failure::RateLimited => (FailOver, Blame::None),
        Failure::Auth | Failure::Quota | Failure::NotFound => (Retire, Blame::Account),
        Failure::TooLarge | Failure::Unsupported => (Retire, Blame::None),
        Failure::InvalidRequest | Failure::ContextTooLong => (Return, Blame::None),
    }
}

impl Failure {
    pub const fn action(self) -> Action {
        classify(self).0
    }

    pub const fn blame(self) -> Blame {
        classify(self).1
    }

    pub fn label(self) -> &'static str {
        match self {
            Failure::Connect => "connect_error",
            Failure::Timeout => "timeout",
            Failure::RateLimited => "rate_limited",
            Failure::Quota => "quota_exhausted",
            Failure::Auth => "auth_error",
            Failure::NotFound => "model_not_found",
            Failure::InvalidRequest => "invalid_request",
            Failure::ContextTooLong => "context_length_exceeded",
            Failure::Unsupported => "unsupported_by_vendor",
            Failure::TooLarge => "request_too_large",
            Failure::Upstream => "upstream_error",
            Failure::BadResponse => "upstream_invalid_response",
            Failure::StreamBroken => "stream_broken",
        }
    }
}

/// A failed vendor call. `message` is safe to show: keys are redacted before it is built.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ProviderError {
    pub failure: Failure,
    /// The vendor's HTTP status, when it answered.
    pub status: Option<u16>,
    /// The vendor's error code (`error.code` / `error.type`), when it sent one.
    pub code: Option<String>,
    pub message: String,
    pub retry_after: Option<Duration>,
}

impl ProviderError {
    pub fn new(failure: Failure, message: impl Into<String>) -> Self {
        ProviderError { failure, status: None, code: None, message: message.into(), retry_after: None }
    }

    pub fn timeout(what: &str, after: Duration) -> Self {
        Self::new(Failure::Timeout, format!("{what} after {} ms", after.as_millis()))
    }

    /// Classifies a vendor's non-2xx answer from its status, error code and message.
    pub fn from_status(status: u16, code: Option<String>, message: String, retry_after: Option<Duration>) -> Self {
        let code_s = code.as_deref().unwrap_or("");
        let lower = message.to_ascii_lowercase();
        let failure = match status {
            400 if code_s == "context_length_exceeded"
                || lower.contains("maximum context length")
                || lower.contains("prompt is too long")
                || lower.contains("exceeds the maximum number of tokens") =>
            {
                Failure::ContextTooLong
            }
            400 | 422 => Failure::InvalidRequest,
            401 | 403 => Failure::Auth,
            402 => Failure::Quota,
            404 => Failure::NotFound,
            408 => Failure::Timeout,
            409 => Failure::Upstream,
            413 => Failure::TooLarge,
            429 if code_s == "insufficient_quota" || lower.contains("quota") => Failure::Quota,
            429 => Failure::RateLimited,
            500..=599 => Failure::Upstream,
            // Anything else (a 3xx we did not follow, an odd 4xx) is not something a retry fixes.
            _ => Failure::InvalidRequest,
        };
        ProviderError { failure, status: Some(status), code, message, retry_after }
    }

    /// The status the caller sees when this is the error returned.
    pub fn caller_status(&self) -> u16 {
        match self.failure {
            Failure::InvalidRequest | Failure::ContextTooLong | Failure::Unsupported => {
                self.status.filter(|s| matches!(s, 400 | 404 | 413 | 422)).unwrap_or(400)
            }
            Failure::NotFound => 404,
            Failure::TooLarge => 413,
            Failure::RateLimited | Failure::Quota => 429,
            Failure::Timeout => 504,
            Failure::Auth | Failure::Connect | Failure::BadResponse | Failure::StreamBroken => 502,
            Failure::Upstream => match self.status {
                Some(503) | Some(529) => 503,
                Some(504) => 504,
                _ => 502,
            },
        }
    }
}

/// Parses `retry-after-ms`, then `retry-after` (seconds, possibly fractional). HTTP-dates
/// are not honoured (rare from these vendors); the caller falls back to its own backoff.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).and_then(|s| s.trim().parse::<f64>().ok());
    if let Some(ms) = get("retry-after-ms").filter(|v| v.is_finite() && *v >= 0.0) {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    get("retry-after").filter(|v| v.is_finite() && *v >= 0.0 && *v < 86_400.0).map(Duration::from_secs_f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_table() {
        let c = |s, code: Option<&str>, msg: &str| {
            ProviderError::from_status(s, code.map(Into::into), msg.into(), None).failure
        };
        assert_eq!(c(400, None, "bad"), Failure::InvalidRequest);
        assert_eq!(c(400, Some("context_length_exceeded"), ""), Failure::ContextTooLong);
        assert_eq!(c(401, None, ""), Failure::Auth);
        assert_eq!(c(429, Some("rate_limit_exceeded"), ""), Failure::RateLimited);
        assert_eq!(c(429, Some("insufficient_quota"), ""), Failure::Quota);
        assert_eq!(c(500, None, ""), Failure::Upstream);
        assert_eq!(c(529, None, "overloaded"), Failure::Upstream);
        assert_eq!(c(302, None, ""), Failure::InvalidRequest);
        assert_eq!(Failure::InvalidRequest.action(), Action::Return);
        assert_eq!(Failure::RateLimited.action(), Action::FailOver);
        assert_eq!(Failure::RateLimited.blame(), Blame::None);
        assert_eq!(Failure::Upstream.action(), Action::FailOver);
        assert_eq!(Failure::Upstream.blame(), Blame::Vendor);
        assert_eq!(Failure::Auth.action(), Action::Retire);
        assert_eq!(Failure::Auth.blame(), Blame::Account);
        assert_eq!(Failure::Unsupported.action(), Action::Retire);
    }

    #[test]
    fn retry_after_prefers_ms() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("retry-after", "2".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after-ms", "150".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_millis(150)));
    }
}
