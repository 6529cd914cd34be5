//! The one error type of a request: what went wrong, said as a typed variant, carrying what a
//! caller's retry decision needs (`retry_after`) and, after vendor calls, what each attempt did.
//!
//! The router returns it; each front maps it once: the HTTP front to a status and an error body
//! in its dialect's shape, the native front to an ERROR frame. Status, OpenAI error `type` and
//! `code` are derived here, in one table per question, so every front says the same thing.

use std::borrow::Cow;
use std::time::Duration;

use serde::Serialize;

/// What one vendor call did.
#[derive(Debug, Clone, Serialize)]
pub struct AttemptRecord {
    pub deployment: String,
    pub provider: String,
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub latency_ms: f64,
}

/// Why a caller was refused before anything was planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No `[callers.*]` entry matched and unknown callers are denied.
    UnknownCaller,
    /// The caller may not use the route or model it named.
    RouteNotAllowed,
}

/// Which of a caller's limits a request is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerLimit {
    Requests,
    Tokens,
    Concurrency,
    Budget,
}

/// How a request ran out of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeout {
    /// The route's (or the caller's) deadline passed before an answer.
    Deadline,
    /// A committed stream went silent for longer than `stream_idle_timeout`.
    StreamIdle,
}

/// Everything that can end a request without an answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GatewayError {
    /// The request is malformed: bad JSON, a bad field, a bad option.
    #[error("{message}")]
    Invalid { message: String, param: Option<String>, code: Option<&'static str> },
    /// The request body is over `server.max_body_bytes`.
    #[error("request body is over the {limit}-byte limit")]
    TooLarge { limit: usize },
    /// `model` names no route, configured model or provider.
    #[error("{message}")]
    UnknownModel { message: String },
    /// An HTTP path sidegate does not serve.
    #[error("no such endpoint: {method} {path}")]
    NoSuchEndpoint { method: String, path: String },
    /// A served path, with a method it does not take.
    #[error("{method} is not allowed on {path}")]
    MethodNotAllowed { method: String, path: String },
    /// Filters left no candidate (capabilities, context window, regions, endpoint).
    #[error("{message}")]
    NoEligibleTarget { message: String, code: &'static str },
    /// Every candidate's provider is unavailable (a missing secret, say): the operator's problem.
    #[error("{message}")]
    ProviderUnavailable { message: String },
    /// The caller may not make this request.
    #[error("{message}")]
    CallerRefused { refusal: Refusal, message: String },
    /// The caller is over one of its limits (on this host or across hosts).
    #[error("{message}")]
    CallerLimited { limit: CallerLimit, message: String, retry_after: Duration },
    /// No vendor call was possible: every target was at its client-side limits.
    #[error("{message}")]
    TargetsBusy { message: String, retry_after: Duration, attempts: Vec<AttemptRecord> },
    /// No vendor call was possible: every target is cooling down after failures.
    #[error("{message}")]
    TargetsCoolingDown { message: String, retry_after: Duration, attempts: Vec<AttemptRecord> },
    /// A vendor refused the request (returned as it is), or every attempt failed.
    #[error("{message}")]
    Upstream { status: u16, code: String, message: String, retry_after: Option<Duration>, attempts: Vec<AttemptRecord> },
    /// Out of time.
    #[error("{message}")]
    TimedOut { timeout: Timeout, message: String, attempts: Vec<AttemptRecord> },
    /// A committed stream broke: the caller already has part of the answer.
    #[error("{message}")]
    StreamBroken { message: String },
    /// A native-protocol violation (the connection closes after the ERROR frame).
    #[error("{message}")]
    Protocol { code: &'static str, message: String },
    /// The front's memory budget for bodies and frames in flight is spent: retry shortly.
    #[error("{message}")]
    Overloaded { message: String, retry_after: Duration },
    /// The client stopped sending its request body (a gap longer than `header_timeout`).
    #[error("{message}")]
    ClientTimedOut { message: String },
    /// The daemon is draining: retry on the restarted one.
    #[error("{message}")]
    ShuttingDown { message: &'static str },
    /// A bug or a broken invariant in sidegate.
    #[error("{0}")]
    Internal(String),
}

impl GatewayError {
    pub fn invalid(message: impl Into<String>, param: Option<&str>) -> Self {
        GatewayError::Invalid { message: message.into(), param: param.map(str::to_string), code: None }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        GatewayError::Internal(message.into())
    }

    /// The HTTP status (also the `status` of an ERROR frame).
    pub fn status(&self) -> u16 {
        use GatewayError as E;
        match self {
            E::Invalid { .. } | E::NoEligibleTarget { .. } | E::Protocol { .. } => 400,
            E::CallerRefused { .. } => 403,
            E::UnknownModel { .. } | E::NoSuchEndpoint { .. } => 404,
            E::MethodNotAllowed { .. } => 405,
            E::ClientTimedOut { .. } => 408,
            E::TooLarge { .. } => 413,
            E::CallerLimited { .. } | E::TargetsBusy { .. } => 429,
            E::Internal(_) => 500,
            E::StreamBroken { .. } => 502,
            E::TargetsCoolingDown { .. }
            | E::ProviderUnavailable { .. }
            | E::ShuttingDown { .. }
            | E::Overloaded { .. } => 503,
            E::TimedOut { .. } => 504,
            E::Upstream { status, .. } => *status,
        }
    }

    /// OpenAI's error `type`.
    pub fn error_type(&self) -> &'static str {
        use GatewayError as E;
        match self {
            E::CallerRefused { .. } => "permission_error",
            E::CallerLimited { .. } | E::TargetsBusy { .. } => "rate_limit_error",
            E::TimedOut { .. } => "timeout_error",
            E::StreamBroken { .. } | E::TargetsCoolingDown { .. } => "upstream_error",
            E::ProviderUnavailable { .. } | E::ShuttingDown { .. } | E::Overloaded { .. } => "server_error",
            E::Internal(_) => "internal_error",
            E::Upstream { status, .. } => type_of_status(*status),
            E::Invalid { .. }
            | E::TooLarge { .. }
            | E::UnknownModel { .. }
            | E::NoSuchEndpoint { .. }
            | E::MethodNotAllowed { .. }
            | E::NoEligibleTarget { .. }
            | E::ClientTimedOut { .. }
            | E::Protocol { .. } => "invalid_request_error",
        }
    }

    /// OpenAI's error `code`: a stable, low-cardinality name (also the log and metrics label).
    pub fn code(&self) -> Option<Cow<'_, str>> {
        use GatewayError as E;
        let c: &str = match self {
            E::Invalid { code, .. } => return code.map(Cow::Borrowed),
            E::TooLarge { .. } => "request_too_large",
            E::UnknownModel { .. } => "model_not_found",
            E::NoSuchEndpoint { .. } => "not_found",
            E::MethodNotAllowed { .. } => "method_not_allowed",
            E::NoEligibleTarget { code, .. } | E::Protocol { code, .. } => code,
            E::ProviderUnavailable { .. } => "provider_unavailable",
            E::CallerRefused { refusal: Refusal::UnknownCaller, .. } => "unknown_caller",
            E::CallerRefused { refusal: Refusal::RouteNotAllowed, .. } => "route_not_allowed",
            E::CallerLimited { limit: CallerLimit::Budget, .. } => "budget_exceeded",
            E::CallerLimited { limit: CallerLimit::Concurrency, .. } => "caller_concurrency_limited",
            E::CallerLimited { .. } => "caller_rate_limited",
            E::TargetsBusy { .. } => "target_limits_reached",
            E::TargetsCoolingDown { .. } => "targets_unavailable",
            E::Upstream { code, .. } => code,
            E::TimedOut { timeout: Timeout::Deadline, .. } => "timeout",
            E::TimedOut { timeout: Timeout::StreamIdle, .. } => "stream_idle_timeout",
            E::StreamBroken { .. } => "stream_broken",
            E::ShuttingDown { .. } => "shutting_down",
            E::Overloaded { .. } => "overloaded",
            E::ClientTimedOut { .. } => "request_timeout",
            E::Internal(_) => "internal_error",
        };
        Some(Cow::Borrowed(c))
    }

    /// The request field at fault, when there is one.
    pub fn param(&self) -> Option<&str> {
        match self {
            GatewayError::Invalid { param, .. } => param.as_deref(),
            GatewayError::UnknownModel { .. } | GatewayError::NoEligibleTarget { .. } => Some("model"),
            GatewayError::CallerRefused { refusal: Refusal::RouteNotAllowed, .. } => Some("model"),
            _ => None,
        }
    }

    /// When the caller may try again (the `retry-after` header).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            GatewayError::CallerLimited { retry_after, .. }
            | GatewayError::TargetsBusy { retry_after, .. }
            | GatewayError::TargetsCoolingDown { retry_after, .. }
            | GatewayError::Overloaded { retry_after, .. } => Some(*retry_after),
            GatewayError::Upstream { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// `retry-after` in whole seconds, rounded up, as the HTTP header wants it.
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.retry_after().map(|d| d.as_millis().div_ceil(1000) as u64)
    }

    /// Every vendor call made before the request failed.
    pub fn attempts(&self) -> &[AttemptRecord] {
        match self {
            GatewayError::TargetsBusy { attempts, .. }
            | GatewayError::TargetsCoolingDown { attempts, .. }
            | GatewayError::Upstream { attempts, .. }
            | GatewayError::TimedOut { attempts, .. } => attempts,
            _ => &[],
        }
    }

    /// Low-cardinality label for logs and metrics.
    pub fn label(&self) -> Cow<'_, str> {
        self.code().unwrap_or(Cow::Borrowed(self.error_type()))
    }

    /// OpenAI's error object, `{"message", "type", "code", "param", "attempts"?}`.
    pub fn openai_object(&self) -> OpenAiError<'_> {
        OpenAiError {
            message: self.to_string(),
            kind: self.error_type(),
            code: self.code(),
            param: self.param(),
            attempts: self.attempts(),
        }
    }

    /// The OpenAI error body, `{"error": {...}}`, as JSON bytes.
    pub fn openai_body(&self) -> Vec<u8> {
        #[derive(Serialize)]
        struct Envelope<'a> {
            error: OpenAiError<'a>,
        }
        serde_json::to_vec(&Envelope { error: self.openai_object() }).unwrap_or_default()
    }
}

/// OpenAI's `type` for a vendor status returned to the caller.
fn type_of_status(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        403 => "permission_error",
        429 => "rate_limit_error",
        504 => "timeout_error",
        s if s >= 500 => "upstream_error",
        _ => "invalid_request_error",
    }
}

/// The serialized error object (fields in OpenAI's order).
#[derive(Debug, Serialize)]
pub struct OpenAiError<'a> {
    pub message: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub code: Option<Cow<'a, str>>,
    pub param: Option<&'a str>,
    /// One record per vendor call made, when any were.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub attempts: &'a [AttemptRecord],
}

/// Turns a serde_json error on a request body into a 400 that names the problem.
pub fn from_json_error(e: &serde_json::Error) -> GatewayError {
    let message = format!("invalid request body: {e}");
    // serde says "missing field `messages`": surface the field as `param`.
    let text = e.to_string();
    let param = text.strip_prefix("missing field `").and_then(|rest| rest.find('`').map(|end| rest[..end].to_string()));
    GatewayError::Invalid { message, param, code: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_openai_shape() {
        let e = GatewayError::UnknownModel { message: "unknown model `x`".into() };
        let v: serde_json::Value = serde_json::from_slice(&e.openai_body()).unwrap_or_default();
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert_eq!(v["error"]["code"], "model_not_found");
        assert_eq!(v["error"]["param"], "model");
        assert!(v["error"].get("attempts").is_none());
        assert_eq!(e.status(), 404);
    }

    #[test]
    fn missing_field_becomes_param() {
        // (`model` and `messages` may be absent, a prompt file can give them: `role` may not)
        let err =
            serde_json::from_str::<crate::api::ChatRequest>("{\"model\":\"m\",\"messages\":[{\"content\":\"x\"}]}")
                .err();
        let e = err.map(|e| from_json_error(&e));
        assert_eq!(e.as_ref().and_then(GatewayError::param), Some("role"));
    }

    #[test]
    fn upstream_status_sets_type() {
        let e = GatewayError::Upstream {
            status: 429,
            code: "rate_limited".into(),
            message: "slow down".into(),
            retry_after: Some(Duration::from_millis(1500)),
            attempts: Vec::new(),
        };
        assert_eq!(e.error_type(), "rate_limit_error");
        assert_eq!(e.retry_after_secs(), Some(2));
    }
}
