//! What happened to a request: sent back as HTTP headers (`x-sidegate-*`) and as the `meta`
//! object of native frames.

use serde::Serialize;

#[derive(Debug, Clone, Serialize, Default)]
pub struct Meta {
    pub request_id: String,
    pub route: String,
    pub provider: String,
    /// The deployment (configured model) that answered.
    pub model: String,
    pub vendor_model: String,
    /// `hit`, `miss` or `bypass`.
    pub cache: &'static str,
    /// Vendor calls made.
    pub attempts: u32,
    pub latency_ms: f64,
}

impl Meta {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// A short unique request id (`sg-` + 16 hex digits) for logs and correlation.
pub fn request_id() -> String {
    format!("sg-{:016x}", rand::random::<u64>())
}
