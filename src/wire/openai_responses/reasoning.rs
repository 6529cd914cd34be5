//! Reasoning items, both directions: a `reasoning` output item (its summary text and
//! `encrypted_content`, verbatim) as a canonical reasoning detail and back as an input item,
//! so a stateless conversation (`store: false`) continues with its reasoning.

use serde_json::{Value, json};

use super::types::ReasoningItem;
use crate::api::Extra;
use crate::api::reasoning::{DetailKind, FORMAT_OPENAI, ReasoningDetail, open_envelope};

/// The summary text of a reasoning item, its parts joined.
pub fn summary_text(item: &ReasoningItem) -> String {
    let texts: Vec<&str> = item.summary.iter().filter_map(|s| s.get("text").and_then(Value::as_str)).collect();
    texts.join("\n\n")
}

/// A reasoning output item as a detail (`reasoning.encrypted` when it carries
/// `encrypted_content`, else `reasoning.summary`).
pub fn detail(item: &ReasoningItem, index: u32) -> ReasoningDetail {
    let data = item.extra.get("encrypted_content").and_then(Value::as_str).map(str::to_string);
    let kind = if data.is_some() { DetailKind::Encrypted } else { DetailKind::Summary };
    let mut d = ReasoningDetail::new(kind, FORMAT_OPENAI);
    let summary = summary_text(item);
    d.summary = (!summary.is_empty()).then_some(summary);
    d.data = data;
    d.id = (!item.id.is_empty()).then(|| item.id.clone());
    d.index = Some(index);
    d
}

/// An OpenAI detail as the reasoning input item it was; None for any other vendor's.
pub fn input_item(d: &ReasoningDetail) -> Option<ReasoningItem> {
    if d.format.as_deref() != Some(FORMAT_OPENAI) {
        return None;
    }
    let summary = d.summary.iter().map(|t| json!({"type": "summary_text", "text": t})).collect();
    let mut extra = Extra::new();
    if let Some(data) = &d.data {
        extra.insert("encrypted_content".into(), Value::String(data.clone()));
    }
    Some(ReasoningItem { id: d.id.clone().unwrap_or_default(), summary, extra })
}

/// A reasoning item a Responses caller sent back: OpenAI's own (untagged), or the detail of
/// another vendor's reasoning sidegate wrote in its `encrypted_content` envelope.
pub fn from_input(item: &ReasoningItem, index: u32) -> ReasoningDetail {
    item.extra
        .get("encrypted_content")
        .and_then(Value::as_str)
        .and_then(open_envelope)
        .unwrap_or_else(|| detail(item, index))
}

/// A detail as the reasoning output item a Responses caller is shown: OpenAI's own as it
/// was; another vendor's with its visible text as the summary and the detail in an
/// envelope as `encrypted_content` (the caller sends it back; no vendor is ever sent it).
pub fn output_item(d: &ReasoningDetail, id: String) -> ReasoningItem {
    if let Some(item) = input_item(d) {
        return ReasoningItem { id: item.id.clone().or_if_empty(id), ..item };
    }
    let summary = d.visible_text().map(|t| json!({"type": "summary_text", "text": t})).into_iter().collect();
    let mut extra = Extra::new();
    extra.insert("encrypted_content".into(), Value::String(crate::api::reasoning::envelope(d)));
    ReasoningItem { id, summary, extra }
}

/// A reasoning item of summary text no vendor signed (an OpenAI-compatible server's
/// `reasoning_content`).
pub fn summary_item(id: String, text: &str) -> ReasoningItem {
    let summary = (!text.is_empty()).then(|| json!({"type": "summary_text", "text": text})).into_iter().collect();
    ReasoningItem { id, summary, extra: Extra::new() }
}

trait OrIfEmpty {
    fn or_if_empty(self, other: String) -> String;
}

impl OrIfEmpty for String {
    fn or_if_empty(self, other: String) -> String {
        if self.is_empty() { other } else { self }
    }
}
