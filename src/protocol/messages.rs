//! JSON bodies of the control frames (HELLO, WELCOME, REQUEST, ERROR) and the meta object.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::api::ApiError;

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
}

/// An ERROR frame body.
pub fn error_body(err: &ApiError, meta: Option<&serde_json::Value>) -> Vec<u8> {
    let mut v = serde_json::json!({ "status": err.status, "error": err });
    if let Some(secs) = err.retry_after {
        v["retry_after"] = serde_json::json!(secs.as_secs_f64());
    }
    if let Some(m) = meta {
        v["meta"] = m.clone();
    }
    serde_json::to_vec(&v).unwrap_or_default()
}
