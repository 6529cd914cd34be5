//! Anthropic's usage object, for both directions: counts as Anthropic reports them (cache reads
//! and writes outside `input_tokens`, writes split by TTL in `cache_creation`).

use serde::{Deserialize, Serialize};

/// Usage as Anthropic counts it: `input_tokens` excludes cache reads and writes. In
/// `message_delta` every field is cumulative and any may be absent.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireUsage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_creation_input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<u64>,
    /// `cache_creation_input_tokens` split by TTL (5-minute and 1-hour writes are billed
    /// apart: 1.25x and 2x the input price).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_creation: Option<CacheCreation>,
}

/// `usage.cache_creation`: cache writes per TTL.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheCreation {
    #[serde(default)]
    pub ephemeral_5m_input_tokens: u64,
    #[serde(default)]
    pub ephemeral_1h_input_tokens: u64,
}

impl WireUsage {
    /// Later cumulative counts replace earlier ones; absent ones keep them.
    pub fn update(&mut self, o: &WireUsage) {
        let keep = |a: &mut Option<u64>, b: Option<u64>| {
            if b.is_some() {
                *a = b;
            }
        };
        keep(&mut self.input_tokens, o.input_tokens);
        keep(&mut self.output_tokens, o.output_tokens);
        keep(&mut self.cache_creation_input_tokens, o.cache_creation_input_tokens);
        keep(&mut self.cache_read_input_tokens, o.cache_read_input_tokens);
        if o.cache_creation.is_some() {
            self.cache_creation = o.cache_creation;
        }
    }
}
