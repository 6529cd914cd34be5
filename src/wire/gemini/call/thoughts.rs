//! Thinking, calling Gemini: the resolved reasoning ask as `thinkingConfig` (a
//! `thinkingLevel` on Gemini 3, a `thinkingBudget` on 2.5, -1 for a dynamic budget) with
//! `includeThoughts`, so thought summaries come back; thought parts and the thought
//! signatures of text parts read as reasoning details, verbatim; a model turn's Gemini
//! signatures put back on the part they came with (function calls carry theirs in the
//! tool-call id, `gemini::tool_call_id`).

use std::borrow::Cow;

use serde_json::{Value, json};

use super::super::types::GenerateRequest;
use crate::api::Message;
use crate::api::reasoning::{DetailKind, Effort, FORMAT_GEMINI, ReasoningDetail, Resolved};

/// Gemini's level names (it has no `none` or `xhigh`).
fn level_name(e: Effort) -> &'static str {
    match e {
        Effort::None | Effort::Minimal => "minimal",
        Effort::Low => "low",
        Effort::Medium => "medium",
        Effort::High | Effort::Xhigh => "high",
    }
}

/// Writes the ask into the request; a caller's own `thinkingConfig` (a Gemini caller's,
/// passed through) stands when nothing was resolved. `include` is the caller's
/// `includeThoughts` (default: shown).
pub fn apply(out: &mut GenerateRequest<'_>, sent: Resolved, include: Option<bool>) {
    let mut config = match sent {
        Resolved::Unasked => return,
        Resolved::Off => json!({"thinkingBudget": 0}),
        Resolved::Adaptive => json!({"thinkingBudget": -1}),
        Resolved::Budget(b) => json!({"thinkingBudget": b}),
        Resolved::Level(e) => json!({"thinkingLevel": level_name(e)}),
    };
    if sent != Resolved::Off {
        config["includeThoughts"] = Value::Bool(include.unwrap_or(true));
    }
    out.generation_config.thinking_config = Some(Cow::Owned(config));
}

/// A thought part (`thought: true`) read from an answer.
pub fn thought(text: &str, signature: Option<&str>, index: u32) -> ReasoningDetail {
    let mut d = ReasoningDetail::new(DetailKind::Text, FORMAT_GEMINI);
    d.text = Some(text.to_string());
    d.signature = signature.map(str::to_string);
    d.index = Some(index);
    d
}

/// The thought signature of an answer's text part (Gemini 3 signs the last one).
pub fn text_signature(signature: &str, index: u32) -> ReasoningDetail {
    let mut d = ReasoningDetail::new(DetailKind::Encrypted, FORMAT_GEMINI);
    d.signature = Some(signature.to_string());
    d.index = Some(index);
    d
}

/// Puts a model turn's text-part signatures back on its text parts, in order (Gemini takes
/// them there; a turn with no text part left has nowhere for them: dropped, logged).
pub fn replay<'a>(m: &'a Message, parts: &mut Vec<super::parts::Tagged<'a>>) {
    let sigs = m
        .reasoning_details
        .iter()
        .flatten()
        .filter(|d| d.format.as_deref() == Some(FORMAT_GEMINI) && d.kind == DetailKind::Encrypted)
        .filter_map(|d| d.signature.as_deref());
    for sig in sigs {
        match parts.iter_mut().find(|p| p.part.text.is_some() && p.part.thought_signature.is_none()) {
            Some(p) => p.part.thought_signature = Some(sig),
            None => tracing::debug!("a Gemini text signature with no text part to go back on was dropped"),
        }
    }
}
