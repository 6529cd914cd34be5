//! What can go wrong converting between the Responses dialect and the canonical types, and
//! the three shapes an error takes on the Responses wire: the HTTP error body, the `error`
//! stream event and the `error` field of a failed `Response`.

use serde_json::{Value, json};

use super::output::ResponseError;
use crate::api::error::GatewayError;

/// A conversion that cannot keep the request's or answer's meaning.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConversionError {
    /// A built-in (hosted) tool: sidegate runs no web search, file search, code interpreter...
    #[error("{at}: built-in tool `{tool}` is not supported; only function tools are")]
    BuiltInTool { at: String, tool: String },
    /// A field or item with no equivalent on the other side.
    #[error("{at}: {what} is not supported")]
    Unsupported { at: String, what: String },
    /// Malformed for any vendor (a dangling call id, a missing name).
    #[error("{at}: {message}")]
    Invalid { at: String, message: String },
    /// A Responses upstream reported a failed response (`response.failed`, `error` event).
    #[error("upstream response failed ({code}): {message}")]
    UpstreamFailed { code: String, message: String },
    /// The canonical chunk stream broke an ordering rule the Responses events rely on.
    #[error("stream: {0}")]
    Stream(String),
}

impl ConversionError {
    pub(crate) fn unsupported(at: impl Into<String>, what: impl Into<String>) -> Self {
        ConversionError::Unsupported { at: at.into(), what: what.into() }
    }

    pub(crate) fn invalid(at: impl Into<String>, message: impl Into<String>) -> Self {
        ConversionError::Invalid { at: at.into(), message: message.into() }
    }

    /// The top-level request field the error is about (`tools[2]` -> `tools`).
    pub fn param(&self) -> Option<&str> {
        let at = match self {
            ConversionError::BuiltInTool { at, .. }
            | ConversionError::Unsupported { at, .. }
            | ConversionError::Invalid { at, .. } => at.as_str(),
            _ => return None,
        };
        at.split(['[', '.']).next().filter(|p| !p.is_empty())
    }

    /// The error as the caller sees it: a 400 for the request-side kinds, a 502 otherwise.
    pub fn to_gateway_error(&self) -> GatewayError {
        let message = self.to_string();
        let param = self.param().map(str::to_string);
        match self {
            ConversionError::BuiltInTool { .. } | ConversionError::Unsupported { .. } => {
                GatewayError::Invalid { message, param, code: Some("unsupported_parameter") }
            }
            ConversionError::Invalid { .. } => GatewayError::Invalid { message, param, code: Some("invalid_value") },
            ConversionError::UpstreamFailed { .. } | ConversionError::Stream(_) => GatewayError::Upstream {
                status: 502,
                code: "upstream_error".into(),
                message,
                retry_after: None,
                attempts: Vec::new(),
            },
        }
    }
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
