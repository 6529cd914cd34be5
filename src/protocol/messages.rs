//! JSON bodies of the control frames (HELLO, WELCOME, REQUEST, ERROR) and the meta object.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::api::error::{GatewayError, OpenAiError};

#[derive(Debug, Serialize, Deserialize)]
pub struct Hello {
    pub protocol: u32,
    #[serde(default)]
    pub client: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Welcome {
    pub protocol: u32,
    pub server: String,
    pub max_frame: usize,
}

/// A REQUEST body. `body` stays raw until the op is known.
#[derive(Debug, Deserialize)]
pub struct RequestEnvelope<'a> {
    pub op: String,
    #[serde(borrow, default)]
    pub body: Option<&'a RawValue>,
    #[serde(default)]
    pub options: RequestOptions,
}

/// Per-request options (docs/protocol.md §4). Unknown keys are ignored on purpose.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct RequestOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regions: Option<Vec<String>>,
    /// A prompt file to render first: `{"id": "greet@2", "variables": {...}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<serde_json::Value>,
    /// What a route experiment's variant sticks to instead of the caller (an episode,
    /// conversation or user id of the application's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub episode: Option<String>,
}

/// An ERROR frame body: `{"status", "error", "retry_after"?, "meta"?}`; `error` is OpenAI's
/// error object (with the attempt log when vendor calls were made). The native front's one
/// mapping of a `GatewayError`.
pub fn error_body(err: &GatewayError, meta: Option<&serde_json::Value>) -> Vec<u8> {
    #[derive(Serialize)]
    struct ErrorFrame<'a> {
        status: u16,
        error: OpenAiError<'a>,
        #[serde(skip_serializing_if = "Option::is_none")]
        retry_after: Option<f64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        meta: Option<&'a serde_json::Value>,
    }
    let frame = ErrorFrame {
        status: err.status(),
        error: err.openai_object(),
        retry_after: err.retry_after().map(|d| d.as_secs_f64()),
        meta,
    };
    serde_json::to_vec(&frame).unwrap_or_default()
}
