//! Reasoning, serving a Messages caller: `thinking` and `output_config.effort` read as the
//! canonical ask; replayed `thinking` / `redacted_thinking` blocks read as reasoning details
//! (an Anthropic signature as it is, untagged; an envelope sidegate wrote back as the detail
//! it holds); an answer's reasoning written as thinking blocks: Anthropic's own verbatim,
//! another vendor's (a Gemini thought, an OpenAI summary) as a thinking block whose signature
//! is an envelope, which no vendor is ever sent.

use super::super::types::{OutputConfig, RespBlock, Thinking};
use crate::api::reasoning::{
    DetailKind, Effort, FORMAT_ANTHROPIC, ReasoningAsk, ReasoningDetail, envelope, open_envelope,
};

/// The canonical ask of `thinking` and `output_config`; None when neither asks anything.
pub fn ask(thinking: Option<&Thinking>, config: Option<&OutputConfig>) -> Option<ReasoningAsk> {
    let mut ask = ReasoningAsk::default();
    match thinking {
        Some(Thinking::Enabled { budget_tokens }) => ask.budget_tokens = Some(*budget_tokens),
        Some(Thinking::Adaptive {}) => ask.adaptive = true,
        Some(Thinking::Disabled {}) => ask.effort = Some(Effort::None),
        None => {}
    }
    if let Some(e) = config.and_then(|c| c.effort.as_deref()).and_then(Effort::parse)
        && ask.effort != Some(Effort::None)
    {
        ask.effort = Some(e);
    }
    (!ask.is_empty()).then_some(ask)
}

/// A replayed `thinking` block.
pub fn replayed(text: &str, signature: &str, index: u32) -> ReasoningDetail {
    if let Some(d) = open_envelope(signature) {
        return d;
    }
    let mut d = ReasoningDetail::new(DetailKind::Text, FORMAT_ANTHROPIC);
    d.text = Some(text.to_string());
    d.signature = (!signature.is_empty()).then(|| signature.to_string());
    d.index = Some(index);
    d
}

/// A replayed `redacted_thinking` block.
pub fn redacted(data: &str, index: u32) -> ReasoningDetail {
    let mut d = ReasoningDetail::new(DetailKind::Encrypted, FORMAT_ANTHROPIC);
    d.data = Some(data.to_string());
    d.index = Some(index);
    d
}

/// The signature a thinking block for `d` carries: Anthropic's own, else an envelope.
pub fn signature_of(d: &ReasoningDetail) -> String {
    match (&d.signature, d.format.as_deref()) {
        (Some(s), Some(FORMAT_ANTHROPIC)) => s.clone(),
        _ => envelope(d),
    }
}

/// The signature of thinking text no vendor signed (an OpenAI-compatible server's
/// `reasoning_content`): an envelope of a detail no vendor accepts, so it is never replayed.
pub fn unsigned() -> String {
    envelope(&ReasoningDetail { format: None, ..ReasoningDetail::new(DetailKind::Text, FORMAT_ANTHROPIC) })
}

/// Whether `d` is an Anthropic `redacted_thinking` block.
pub fn is_redacted(d: &ReasoningDetail) -> bool {
    d.kind == DetailKind::Encrypted && d.format.as_deref() == Some(FORMAT_ANTHROPIC) && d.data.is_some()
}

/// An answer's reasoning as Messages blocks (before its text and tool calls).
pub fn blocks(details: Option<&[ReasoningDetail]>, text: Option<&str>) -> Vec<RespBlock> {
    let Some(details) = details.filter(|d| !d.is_empty()) else {
        return text
            .filter(|t| !t.is_empty())
            .map(|t| RespBlock::Thinking { thinking: t.to_string(), signature: unsigned() })
            .into_iter()
            .collect();
    };
    details
        .iter()
        .map(|d| match d {
            d if is_redacted(d) => RespBlock::RedactedThinking { data: d.data.clone().unwrap_or_default() },
            d => RespBlock::Thinking {
                thinking: d.visible_text().unwrap_or_default().to_string(),
                signature: signature_of(d),
            },
        })
        .collect()
}
