//! The shapes an error takes on the Responses wire: the HTTP error body, the `error` stream
//! event and the `error` field of a failed `Response`; and an upstream's failed response read
//! back as a [`WireError`] (conversions fail with the wire layer's one error type).

use serde_json::{Value, json};

use super::output::ResponseError;
use crate::api::error::GatewayError;
use crate::wire::{VendorReport, WireError};

/// A failed upstream response (`response.failed`, an `error` event): an error the vendor
/// reported, in the OpenAI shape.
pub(crate) fn upstream_failed(code: String, message: String) -> WireError {
    WireError::Reported(VendorReport::OpenAi { code: Some(code), message: Some(message) })
}

/// The HTTP error body of the Responses API: `{"error": {message, type, param, code}}` (the
/// same `ErrorResponse` envelope as Chat Completions, `param` and `code` always present).
pub fn error_body(err: &GatewayError) -> Value {
    json!({"error": {"message": err.to_string(), "type": err.error_type(), "param": err.param(), "code": err.code()}})
}

/// `response.error` of a failed response. The schema allows only `ResponseErrorCode` values,
/// so the code is chosen from the status: 429 -> `rate_limit_exceeded`, another 4xx ->
/// `invalid_prompt`, anything else -> `server_error`.
pub fn response_error(err: &GatewayError) -> ResponseError {
    let code = match err.status() {
        429 => "rate_limit_exceeded",
        400..=499 => "invalid_prompt",
        _ => "server_error",
    };
    ResponseError { code: code.into(), message: err.to_string() }
}
