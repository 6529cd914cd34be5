//! Ids and timestamps the canonical answers carry: `created` (Unix seconds) and a
//! `chatcmpl-…` id for answers whose vendor sent none. Shared by every adapter (the mock
//! included) and by the wire conversions that must invent an id.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// A fresh OpenAI-style completion id, `chatcmpl-` and 16 hex digits.
pub fn completion_id() -> String {
    format!("chatcmpl-{}", nonce())
}

/// 16 random hex digits: a seed for ids that must differ between answers.
pub fn nonce() -> String {
    format!("{:016x}", rand::random::<u64>())
}
