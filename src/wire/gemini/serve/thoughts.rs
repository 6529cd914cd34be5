//! Reasoning, serving a Gemini caller: an answer's reasoning as thought parts (`thought:
//! true`, its `thoughtSignature`: Gemini's own verbatim; another vendor's detail in an
//! envelope, which no vendor is ever sent), and a replayed model turn's thought parts and
//! text-part signatures read back as reasoning details.

use super::super::types::RespPart;
use crate::api::reasoning::{DetailKind, FORMAT_GEMINI, ReasoningDetail, envelope, open_envelope};

/// The `thoughtSignature` a part for `d` carries.
fn signature_of(d: &ReasoningDetail) -> String {
    match (&d.signature, d.format.as_deref()) {
        (Some(s), Some(FORMAT_GEMINI)) => s.clone(),
        _ => envelope(d),
    }
}

/// A reasoning detail as a part; `with_text`: its visible text too (not when it was streamed
/// before as `reasoning_content`).
pub fn part(d: &ReasoningDetail, with_text: bool) -> RespPart {
    let thought = d.kind != DetailKind::Encrypted || d.visible_text().is_some();
    let text = if with_text { d.visible_text().map(str::to_string) } else { None };
    RespPart {
        text: text.or_else(|| Some(String::new())),
        thought: thought.then_some(true),
        thought_signature: Some(signature_of(d)),
        ..RespPart::default()
    }
}

/// An answer's reasoning as parts (before its text and calls).
pub fn parts(details: Option<&[ReasoningDetail]>, text: Option<&str>) -> Vec<RespPart> {
    match details.filter(|d| !d.is_empty()) {
        Some(ds) => ds.iter().map(|d| part(d, true)).collect(),
        None => text
            .filter(|t| !t.is_empty())
            .map(|t| RespPart { text: Some(t.to_string()), thought: Some(true), ..RespPart::default() })
            .into_iter()
            .collect(),
    }
}

/// A replayed part's reasoning, if it carries any: a thought (its signature with it), or the
/// signature of a text part. A function call's signature rides in its tool-call id instead.
pub fn replayed(text: Option<&str>, thought: bool, signature: Option<&str>, index: u32) -> Option<ReasoningDetail> {
    if let Some(d) = signature.and_then(open_envelope) {
        return Some(d);
    }
    let kind = if thought { DetailKind::Text } else { DetailKind::Encrypted };
    if !thought && signature.is_none() {
        return None;
    }
    let mut d = ReasoningDetail::new(kind, FORMAT_GEMINI);
    d.text = text.filter(|_| thought).map(str::to_string);
    d.signature = signature.map(str::to_string);
    d.index = Some(index);
    Some(d)
}

/// A text signature (an empty part with only a `thoughtSignature`) moved onto the answer's
/// text part, where Gemini put it and where it must come back (Gemini takes no empty part).
pub fn sign_text(parts: &mut Vec<RespPart>) {
    let bare = |p: &RespPart| p.thought.is_none() && p.text.as_deref() == Some("") && p.thought_signature.is_some();
    let Some(at) = parts.iter().position(bare) else { return };
    let Some(to) = parts.iter().position(|p| p.thought.is_none() && !p.text.as_deref().unwrap_or("").is_empty()) else {
        return;
    };
    if parts[to].thought_signature.is_none() {
        let sig = parts[at].thought_signature.take();
        parts[to].thought_signature = sig;
        parts.remove(at);
    }
}
