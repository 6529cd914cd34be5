//! A stored answer and its byte form (the same on disk and in Redis):
//!
//! ```text
//! "SGC1" | checksum: blake3(rest)[..8] | rest: expires_ms (u64 LE) | json {created_ms, expires_ms,
//!                                                  provider, deployment, vendor_model, kind, body}
//! ```
//!
//! The checksum makes a damaged or foreign value a miss, never an answer; the expiry up front
//! lets the disk tier sweep without parsing bodies.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::ChatResponse;

const MAGIC: &[u8; 4] = b"SGC1";
/// Magic, checksum, expiry.
const HEADER: usize = 20;

/// Who answered, for the response metadata of later hits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    pub provider: String,
    pub deployment: String,
    pub vendor_model: String,
}

#[derive(Debug, Clone)]
pub enum Body {
    Chat(Box<ChatResponse>),
    Embeddings(Value),
}

#[derive(Debug, Clone)]
pub struct Entry {
    /// Unix time in ms (wall clock: entries travel between hosts through Redis).
    pub created_ms: u64,
    pub expires_ms: u64,
    pub origin: Origin,
    pub body: Body,
    /// Length of the encoded form: the entry's weight in every tier.
    pub size: usize,
}

#[derive(Serialize, Deserialize)]
struct Wire {
    created_ms: u64,
    expires_ms: u64,
    #[serde(flatten)]
    origin: Origin,
    kind: String,
    body: Value,
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("not a sidegate cache entry")]
    Magic,
    #[error("checksum mismatch (damaged entry)")]
    Checksum,
    #[error("invalid entry: {0}")]
    Invalid(String),
}

pub fn now_ms() -> u64 {
    crate::api::ids::unix_ms()
}

impl Entry {
    /// A new entry and its encoded bytes. A stored chat answer keeps no vendor bytes (in
    /// memory either): a hit is encoded from its fields.
    pub fn new(origin: Origin, mut body: Body, ttl_ms: u64) -> (Entry, Vec<u8>) {
        if let Body::Chat(r) = &mut body {
            r.touch();
        }
        let created_ms = now_ms();
        let mut e = Entry { created_ms, expires_ms: created_ms.saturating_add(ttl_ms), origin, body, size: 0 };
        let bytes = e.encode();
        e.size = bytes.len();
        (e, bytes)
    }

    /// Servable now by a route whose TTL is `ttl_ms` (an entry stored by a route with a longer
    /// TTL is not served past this route's own).
    pub fn fresh(&self, now_ms: u64, ttl_ms: u64) -> bool {
        now_ms < self.expires_ms && now_ms.saturating_sub(self.created_ms) < ttl_ms
    }

    pub fn encode(&self) -> Vec<u8> {
        let (kind, body) = match &self.body {
            Body::Chat(r) => ("chat", serde_json::to_value(r).unwrap_or(Value::Null)),
            Body::Embeddings(v) => ("embeddings", v.clone()),
        };
        let wire = Wire {
            created_ms: self.created_ms,
            expires_ms: self.expires_ms,
            origin: self.origin.clone(),
            kind: kind.into(),
            body,
        };
        let json = serde_json::to_vec(&wire).unwrap_or_default();
        let mut out = Vec::with_capacity(HEADER + json.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(&self.expires_ms.to_le_bytes());
        out.extend_from_slice(&json);
        let sum = blake3::hash(&out[12..]);
        out[4..12].copy_from_slice(&sum.as_bytes()[..8]);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Entry, DecodeError> {
        if bytes.len() < HEADER || &bytes[..4] != MAGIC {
            return Err(DecodeError::Magic);
        }
        if blake3::hash(&bytes[12..]).as_bytes()[..8] != bytes[4..12] {
            return Err(DecodeError::Checksum);
        }
        let json = &bytes[HEADER..];
        let wire: Wire = serde_json::from_slice(json).map_err(|e| DecodeError::Invalid(e.to_string()))?;
        let body = match wire.kind.as_str() {
            "chat" => Body::Chat(serde_json::from_value(wire.body).map_err(|e| DecodeError::Invalid(e.to_string()))?),
            "embeddings" => Body::Embeddings(wire.body),
            other => return Err(DecodeError::Invalid(format!("unknown kind `{other}`"))),
        };
        Ok(Entry {
            created_ms: wire.created_ms,
            expires_ms: wire.expires_ms,
            origin: wire.origin,
            body,
            size: bytes.len(),
        })
    }

    /// Expiry from the encoded header, without checking or parsing the rest (disk sweeps).
    pub fn peek_expiry(bytes: &[u8]) -> Option<u64> {
        let raw: [u8; 8] = bytes.get(12..HEADER)?.try_into().ok()?;
        Some(u64::from_le_bytes(raw))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Origin {
        Origin { provider: "p".into(), deployment: "d".into(), vendor_model: "m".into() }
    }

    #[test]
    fn round_trip_and_damage_is_a_miss() {
        let (e, bytes) = Entry::new(origin(), Body::Embeddings(serde_json::json!({"data": [1, 2]})), 60_000);
        let back = Entry::decode(&bytes).unwrap();
        assert_eq!(back.origin, e.origin);
        assert_eq!(back.expires_ms, e.expires_ms);
        assert_eq!(back.size, bytes.len());
        assert_eq!(Entry::peek_expiry(&bytes), Some(e.expires_ms));
        for cut in [0, 5, 12, 20, bytes.len() / 2, bytes.len() - 1] {
            assert!(Entry::decode(&bytes[..cut]).is_err(), "torn at {cut} must not decode");
        }
        let mut flipped = bytes.clone();
        let last = flipped.len() - 2;
        flipped[last] ^= 0x01;
        assert!(matches!(Entry::decode(&flipped), Err(DecodeError::Checksum)));
    }

    #[test]
    fn a_stored_chat_answer_keeps_no_vendor_bytes() {
        let mut answer: crate::api::ChatResponse =
            serde_json::from_value(serde_json::json!({"id": "c", "choices": []})).unwrap();
        answer.verbatim = Some(bytes::Bytes::from_static(b"{\"vendor\":1}"));
        let (e, bytes) = Entry::new(origin(), Body::Chat(Box::new(answer)), 60_000);
        let Body::Chat(kept) = &e.body else { panic!("chat body") };
        assert!(kept.verbatim.is_none(), "a memory hit is encoded from its fields");
        let Body::Chat(back) = Entry::decode(&bytes).unwrap().body else { panic!("chat body") };
        assert!(back.verbatim.is_none());
    }

    #[test]
    fn freshness_uses_the_shorter_of_both_ttls() {
        let (e, _) = Entry::new(origin(), Body::Embeddings(Value::Null), 10_000);
        assert!(e.fresh(e.created_ms + 5_000, 60_000));
        assert!(!e.fresh(e.created_ms + 10_000, 60_000));
        assert!(!e.fresh(e.created_ms + 2_000, 1_000));
    }
}
