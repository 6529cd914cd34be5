//! Thinking, calling Anthropic: the resolved reasoning ask as `thinking` (adaptive with an
//! `output_config.effort`, or enabled with a `budget_tokens` and `max_tokens` raised to fit
//! it), the sampling fields thinking does not take dropped with a log line, and an assistant
//! turn's Anthropic reasoning blocks (from `reasoning_details`) replayed first in its turn,
//! signatures verbatim. Reading: `thinking` and `redacted_thinking` blocks as details.

use std::borrow::Cow;

use super::super::types::{Block, MessagesRequest, OutputConfig, Thinking, ToolChoice};
use super::Options;
use super::request::default_max_tokens;
use crate::api::Message;
use crate::api::reasoning::{DetailKind, Effort, FORMAT_ANTHROPIC, ReasoningDetail, Resolved};

/// Anthropic's effort names (`xhigh` is its `max`; it has no `minimal`).
fn effort_name(e: Effort) -> &'static str {
    match e {
        Effort::None | Effort::Minimal | Effort::Low => "low",
        Effort::Medium => "medium",
        Effort::High => "high",
        Effort::Xhigh => "max",
    }
}

/// Writes the reasoning ask into `out` (after tools, which may have forced a tool).
pub fn apply(out: &mut MessagesRequest<'_>, model: &str, opts: &Options) {
    let thinking = match opts.reasoning {
        Resolved::Unasked | Resolved::Off => return,
        Resolved::Adaptive => Thinking::Adaptive {},
        Resolved::Level(e) => {
            out.output_config = Some(OutputConfig { effort: Some(effort_name(e).into()), ..OutputConfig::default() });
            Thinking::Adaptive {}
        }
        Resolved::Budget(b) => Thinking::Enabled { budget_tokens: fit_budget(out, b, model, opts) },
    };
    // Thinking takes no forced tool choice, and a tool loop whose assistant turn has no
    // thinking of Anthropic's (another vendor made the call): the call goes without, said so.
    let unthinkable = if matches!(out.tool_choice, Some(ToolChoice::Any { .. } | ToolChoice::Tool { .. })) {
        Some("Anthropic takes no forced tool_choice with thinking")
    } else if tool_loop_without_thinking(out) {
        Some("the tool call being answered was made without Anthropic thinking (another vendor's turn)")
    } else {
        None
    };
    if let Some(why) = unthinkable {
        out.output_config = None;
        tracing::info!(model, why, "thinking not sent");
        return;
    }
    if out.temperature.take().is_some() | out.top_k.take().is_some() {
        tracing::debug!("temperature/top_k dropped: Anthropic thinking takes neither");
    }
    if out.top_p.is_some_and(|p| p < 0.95) {
        out.top_p = None;
        tracing::debug!("top_p dropped: Anthropic thinking takes top_p from 0.95 only");
    }
    out.thinking = Some(thinking);
}

/// The request answers tool calls (its last turn holds tool results) and the assistant turn
/// that made them does not open with a thinking block: Anthropic rejects thinking then.
fn tool_loop_without_thinking(out: &MessagesRequest<'_>) -> bool {
    let answering = out.messages.last().is_some_and(|t| t.content.iter().any(Block::is_tool_result));
    let opens_with_thinking = out
        .messages
        .iter()
        .rev()
        .find(|t| t.role == super::super::types::Role::Assistant)
        .and_then(|t| t.content.first())
        .is_some_and(|b| matches!(b, Block::Thinking { .. } | Block::RedactedThinking { .. }));
    answering && !opens_with_thinking
}

/// A budget below `max_tokens` (Anthropic's rule): `max_tokens` is raised by the budget, up
/// to the model's output limit; a budget that does not fit under it is lowered.
fn fit_budget(out: &mut MessagesRequest<'_>, budget: u64, model: &str, opts: &Options) -> u64 {
    let cap = default_max_tokens(model, opts).max(out.max_tokens);
    if out.max_tokens <= budget {
        out.max_tokens = budget.saturating_add(out.max_tokens).min(cap);
    }
    if budget < out.max_tokens {
        return budget;
    }
    let lowered = out.max_tokens.saturating_sub(1).max(1_024);
    tracing::info!(model, asked = budget, sent = lowered, "thinking budget lowered to fit under max_tokens");
    if lowered >= out.max_tokens {
        out.max_tokens = lowered + 1;
    }
    lowered
}

/// An assistant message's Anthropic reasoning blocks, in order (the caller's other vendors'
/// blocks were removed before; `providers::reasoning::keep_own`).
pub fn replayed(m: &Message) -> Vec<Block<'_>> {
    let mut out = Vec::new();
    for d in m.reasoning_details.iter().flatten() {
        if d.format.as_deref() != Some(FORMAT_ANTHROPIC) {
            continue;
        }
        match (d.kind, &d.signature, &d.data) {
            (DetailKind::Encrypted, _, Some(data)) => out.push(Block::RedactedThinking { data: Cow::Borrowed(data) }),
            (DetailKind::Text, Some(sig), _) => out.push(Block::Thinking {
                thinking: Cow::Borrowed(d.text.as_deref().unwrap_or_default()),
                signature: Cow::Borrowed(sig),
            }),
            _ => tracing::debug!("an unsigned Anthropic reasoning block was not replayed"),
        }
    }
    out
}

/// A `thinking` block read from an answer.
pub fn detail(text: &str, signature: &str, index: u32) -> ReasoningDetail {
    let mut d = ReasoningDetail::new(DetailKind::Text, FORMAT_ANTHROPIC);
    d.text = Some(text.to_string());
    d.signature = (!signature.is_empty()).then(|| signature.to_string());
    d.index = Some(index);
    d
}

/// A `redacted_thinking` block read from an answer.
pub fn redacted(data: &str, index: u32) -> ReasoningDetail {
    let mut d = ReasoningDetail::new(DetailKind::Encrypted, FORMAT_ANTHROPIC);
    d.data = Some(data.to_string());
    d.index = Some(index);
    d
}
