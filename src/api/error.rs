//! The error every front returns: OpenAI's error object plus the HTTP status and, for
//! failures after vendor calls, what each attempt did. Both fronts serialize this one type.

use std::time::Duration;

use serde::Serialize;

/// An error as the caller sees it.
#[derive(Debug, Clone, Serialize, thiserror::Error)]
#[error("{status} {kind}: {message}")]
pub struct ApiError {
    #[serde(skip)]
    pub status: u16,
    pub message: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub code: Option<String>,
    pub param: Option<String>,
    #[serde(skip)]
    pub retry_after: Option<Duration>,
    /// One record per vendor call made, when any were.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<AttemptRecord>,
}

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

impl ApiError {
    pub fn new(status: u16, kind: &'static str, code: Option<&str>, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            kind,
            code: code.map(str::to_string),
            param: None,
            retry_after: None,
            attempts: Vec::new(),
        }
    }

    pub fn invalid(message: impl Into<String>, param: Option<&str>) -> Self {
        let mut e = Self::new(400, "invalid_request_error", None, message);
        e.param = param.map(str::to_string);
        e
    }

    pub fn with_code(mut self, code: &str) -> Self {
        self.code = Some(code.to_string());
        self
    }

    pub fn with_param(mut self, param: &str) -> Self {
        self.param = Some(param.to_string());
        self
    }

    pub fn too_large(limit: usize) -> Self {
        Self::new(
            413,
            "invalid_request_error",
            Some("request_too_large"),
            format!("request body is over the {limit}-byte limit"),
        )
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "invalid_request_error", Some("not_found"), message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "internal_error", Some("internal_error"), message)
    }

    /// The OpenAI error body, `{"error": {...}}`, as JSON bytes (fields in OpenAI's order).
    pub fn body(&self) -> Vec<u8> {
        #[derive(Serialize)]
        struct Envelope<'a> {
            error: &'a ApiError,
        }
        serde_json::to_vec(&Envelope { error: self }).unwrap_or_default()
    }

    /// `retry-after` in whole seconds, rounded up, as the HTTP header wants it.
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.retry_after.map(|d| d.as_millis().div_ceil(1000) as u64)
    }

    /// Low-cardinality label for logs and metrics.
    pub fn label(&self) -> &str {
        self.code.as_deref().unwrap_or(self.kind)
    }
}

/// Turns a serde_json error on a request body into a 400 that names the problem.
pub fn from_json_error(e: &serde_json::Error) -> ApiError {
    let msg = format!("invalid request body: {e}");
    let mut err = ApiError::invalid(msg, None);
    // serde says "missing field `messages`": surface the field as `param`.
    let text = e.to_string();
    if let Some(rest) = text.strip_prefix("missing field `")
        && let Some(end) = rest.find('`')
    {
        err.param = Some(rest[..end].to_string());
    }
    err
}
