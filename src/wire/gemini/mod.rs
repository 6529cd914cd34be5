//! The Gemini generateContent dialect (`:generateContent`, `:streamGenerateContent?alt=sse`,
//! `:batchEmbedContents`): its wire types ([`types`]), the JSON Schema subset it accepts
//! ([`schema`]), the calling side ([`call`]) and the serving side ([`serve`]: generateContent
//! request -> canonical, canonical answer, chunks and errors -> Gemini shapes). Tool-call ids
//! are shared by both directions: Gemini ids calls by name and position, the canonical types
//! by id. docs/providers.md lists every field's fate in both directions.

pub mod call;
pub mod schema;
pub mod serve;
pub mod types;

use crate::wire::canonical::fnv64;

/// The dialect's name in error messages.
pub const DIALECT: &str = "Gemini";
/// Separates a synthesized tool-call id from the `thoughtSignature` it carries, so the
/// signature comes back on the replayed call without any state in the gateway.
pub const SIG_SEP: &str = "__thought__";
/// A tool-call id: Gemini's own when it sent one, else stable for (response, candidate,
/// call); the part's `thoughtSignature`, if any, rides along after `SIG_SEP`.
pub fn tool_call_id(given: Option<&str>, seed: &str, cand: u32, k: u32, name: &str, sig: Option<&str>) -> String {
    let base = match given {
        Some(id) if !id.is_empty() => id.to_string(),
        _ => {
            let h = fnv64(&[seed.as_bytes(), &cand.to_le_bytes(), &k.to_le_bytes(), name.as_bytes()]);
            format!("call_{h:016x}")
        }
    };
    match sig {
        Some(s) if !s.is_empty() => format!("{base}{SIG_SEP}{s}"),
        _ => base,
    }
}

/// The signature carried by a tool-call id, if any.
pub fn signature_of(id: &str) -> Option<&str> {
    id.split_once(SIG_SEP).map(|(_, s)| s).filter(|s| !s.is_empty())
}
