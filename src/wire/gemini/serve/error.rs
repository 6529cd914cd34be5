//! A failure -> google.rpc.Status, the error body of a Gemini-shaped front:
//! `{"error": {"code": <HTTP status>, "message", "status": <canonical code name>, "details"}}`.
//! The status name follows Google's HTTP mapping; `details` carries a `RetryInfo` when the
//! caller may retry after a delay, and an `ErrorInfo` naming sidegate's error code (and the
//! field at fault), so a client can tell the causes apart.

use std::time::Duration;

use serde_json::{Value, json};

use super::super::types::{ErrorBody, Status};
use crate::api::error::GatewayError;

/// The google.rpc.Code name Google's APIs answer with an HTTP status.
pub fn status_name(http: u16) -> &'static str {
    match http {
        400 | 413 | 422 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        405 | 501 => "UNIMPLEMENTED",
        409 => "ABORTED",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        502 | 503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        500..=599 => "INTERNAL",
        _ => "FAILED_PRECONDITION",
    }
}

/// The Status for a failure answered with HTTP status `code`.
pub fn status(code: u16, message: impl Into<String>) -> Status {
    Status { code, message: message.into(), status: status_name(code).into(), details: Vec::new() }
}

/// The Status for a gateway failure: its HTTP status and message, with `RetryInfo` and
/// `ErrorInfo` details.
pub fn gateway_status(e: &GatewayError) -> Status {
    let mut s = status(e.status(), e.to_string());
    if let Some(after) = e.retry_after() {
        s.details.push(json!({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": duration(after)}));
    }
    let mut metadata = serde_json::Map::new();
    if let Some(param) = e.param() {
        metadata.insert("param".into(), Value::String(param.into()));
    }
    s.details.push(json!({"@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": e.label().to_ascii_uppercase(), "domain": "sidegate", "metadata": metadata}));
    s
}

/// `{"error": Status}` for a gateway failure.
pub fn error_body(e: &GatewayError) -> ErrorBody {
    ErrorBody { error: gateway_status(e) }
}

/// google.protobuf.Duration in JSON: seconds with a fraction when needed (`"1.500s"`).
fn duration(d: Duration) -> String {
    match d.subsec_millis() {
        0 => format!("{}s", d.as_secs()),
        ms => format!("{}.{ms:03}s", d.as_secs()),
    }
}
