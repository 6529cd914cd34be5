//! [`WireError`], the one error every dialect's conversions return, in both directions: what
//! kind of problem it is, where in the request it sits (`at`, for the `param` of an answer),
//! and an error the vendor reported in-band kept in the vendor's own shape. The calling side
//! classifies it for failover (`providers::convert`); the serving side answers it
//! ([`WireError::to_gateway_error`]).

use crate::api::error::GatewayError;

/// Why a conversion failed. `Display` is the message a caller may see: `at: ` (when the
/// location is known) and what went wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WireError {
    /// The request is valid but this dialect has no way to say it (a field, content type or
    /// value it lacks). Another vendor might serve it.
    #[error("{}{what} (not supported by {dialect})", Loc(at))]
    Unsupported { dialect: &'static str, at: String, what: String },
    /// The request is malformed for any dialect (bad JSON arguments, a dangling tool id).
    #[error("{}{message}", Loc(at))]
    Invalid { at: String, message: String },
    /// A body or stream that is not the shape the dialect documents: a vendor's, or a
    /// canonical stream that breaks an ordering rule the dialect's events rely on.
    #[error("{0}")]
    Malformed(String),
    /// A stream that ended before the dialect's terminal event.
    #[error("{0}")]
    Truncated(String),
    /// The vendor refused the prompt itself (Gemini's `promptFeedback.blockReason`).
    #[error("{dialect} blocked the prompt (blockReason {reason})")]
    Blocked { dialect: &'static str, reason: String },
    /// The vendor reported an error inside a 2xx body or a stream event.
    #[error("{0}")]
    Reported(VendorReport),
}

/// `at: ` before a message, or nothing when the location is unknown.
struct Loc<'a>(&'a str);

impl std::fmt::Display for Loc<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() { Ok(()) } else { write!(f, "{}: ", self.0) }
    }
}

/// An error object as the vendor sent it, in its own dialect, for the adapter to classify.
#[derive(Debug, Clone, PartialEq)]
pub enum VendorReport {
    Anthropic(crate::wire::anthropic::types::ErrorObject),
    Gemini(crate::wire::gemini::types::Status),
    /// OpenAI-style `{"code"|"type", "message"}`: a Chat Completions error event, or a
    /// Responses `error` event or failed response.
    OpenAi {
        code: Option<String>,
        message: Option<String>,
    },
}

impl std::fmt::Display for VendorReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VendorReport::Anthropic(e) => write!(f, "Anthropic error `{}`: {}", e.kind, e.message),
            VendorReport::Gemini(s) => write!(f, "Gemini error {} {}: {}", s.code, s.status, s.message),
            VendorReport::OpenAi { message, .. } => {
                f.write_str(message.as_deref().unwrap_or("vendor sent an error event"))
            }
        }
    }
}

impl WireError {
    /// Unsupported, the location (if any) already in `what`.
    pub fn unsupported(dialect: &'static str, what: impl std::fmt::Display) -> Self {
        WireError::Unsupported { dialect, at: String::new(), what: what.to_string() }
    }

    /// Unsupported at the request path `at` (`tools[2]`, `input[0].content[1]`).
    pub fn unsupported_at(dialect: &'static str, at: impl Into<String>, what: impl Into<String>) -> Self {
        WireError::Unsupported { dialect, at: at.into(), what: what.into() }
    }

    /// Invalid, the location (if any) already in the message.
    pub fn invalid(message: impl Into<String>) -> Self {
        WireError::Invalid { at: String::new(), message: message.into() }
    }

    /// Invalid at the request path `at`.
    pub fn invalid_at(at: impl Into<String>, message: impl Into<String>) -> Self {
        WireError::Invalid { at: at.into(), message: message.into() }
    }

    /// The top-level request field the error is about (`tools[2]` -> `tools`).
    pub fn param(&self) -> Option<&str> {
        let at = match self {
            WireError::Unsupported { at, .. } | WireError::Invalid { at, .. } => at.as_str(),
            _ => return None,
        };
        at.split(['[', '.']).next().filter(|p| !p.is_empty())
    }

    /// The error as a caller of a dialect-shaped front sees it: a 400 for the request-side
    /// kinds (a refused prompt included), a 502 for what the upstream sent.
    pub fn to_gateway_error(&self) -> GatewayError {
        let message = self.to_string();
        let param = self.param().map(str::to_string);
        let code = match self {
            WireError::Unsupported { .. } => "unsupported_parameter",
            WireError::Invalid { .. } => "invalid_value",
            WireError::Blocked { .. } => "content_policy_violation",
            WireError::Malformed(_) | WireError::Truncated(_) | WireError::Reported(_) => {
                return GatewayError::Upstream {
                    status: 502,
                    code: "upstream_error".into(),
                    message,
                    retry_after: None,
                    attempts: Vec::new(),
                };
            }
        };
        GatewayError::Invalid { message, param, code: Some(code) }
    }
}
