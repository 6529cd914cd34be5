//! Messages response -> canonical response: stop reasons, usage with cache tokens, the JSON
//! tool's input as content.

use serde_json::Value;

use super::super::JSON_TOOL;
use super::super::types::{self as wire, RespBlock, WireUsage};
use super::ReplyCtx;
use crate::api::chat::{FunctionCall, ToolCall};
use crate::api::response::{Choice, PromptTokensDetails, ResponseMessage};
use crate::api::{ChatResponse, Extra, Usage};

/// stop_reason -> finish_reason (PROVIDERS.md §2.6).
pub fn finish_reason(stop: Option<&str>, has_tool_calls: bool) -> &'static str {
    match stop {
        Some("end_turn" | "stop_sequence" | "pause_turn") => "stop",
        Some("max_tokens" | "model_context_window_exceeded") => "length",
        // A tool_use that was only the JSON tool is a finished answer.
        Some("tool_use") if has_tool_calls => "tool_calls",
        Some("tool_use") => "stop",
        Some("refusal") => "content_filter",
        other => {
            tracing::debug!(stop_reason = ?other, "unknown Anthropic stop_reason; reported as stop");
            if has_tool_calls { "tool_calls" } else { "stop" }
        }
    }
}

/// Anthropic counts cache reads and writes outside `input_tokens`; OpenAI's prompt includes
/// them. Writes are `cache_creation_input_tokens` (or, when only the per-TTL split came, its
/// sum); the 1-hour part is kept apart for its price. Thinking is inside `output_tokens` and
/// not counted apart by Anthropic, so no reasoning count is made up.
pub fn usage(u: &WireUsage) -> Usage {
    let split = u.cache_creation.unwrap_or_default();
    let write = u
        .cache_creation_input_tokens
        .unwrap_or_else(|| split.ephemeral_5m_input_tokens.saturating_add(split.ephemeral_1h_input_tokens));
    let (input, read) = (u.input_tokens.unwrap_or(0), u.cache_read_input_tokens.unwrap_or(0));
    let mut out = Usage::new(input.saturating_add(write).saturating_add(read), u.output_tokens.unwrap_or(0));
    if u.cache_creation_input_tokens.is_some() || u.cache_read_input_tokens.is_some() || u.cache_creation.is_some() {
        let one_hour = split.ephemeral_1h_input_tokens.min(write);
        out.prompt_tokens_details = Some(PromptTokensDetails {
            cached_tokens: read,
            audio_tokens: None,
            cache_creation_tokens: (write > 0).then_some(write),
            cache_creation_1h_tokens: (one_hour > 0).then_some(one_hour),
        });
    }
    out
}

fn arguments_of(input: &Value) -> String {
    match input {
        Value::Null => "{}".to_string(),
        v => v.to_string(),
    }
}

pub fn from_wire(r: wire::MessagesResponse, ctx: ReplyCtx, created: u64) -> ChatResponse {
    let mut text = String::new();
    let mut calls = Vec::new();
    let (mut thought, mut details) = (String::new(), Vec::new());
    for b in r.content {
        match b {
            RespBlock::Thinking { thinking, signature } => {
                thought.push_str(&thinking);
                details.push(super::thinking::detail(&thinking, &signature, details.len() as u32));
            }
            RespBlock::RedactedThinking { data } => {
                details.push(super::thinking::redacted(&data, details.len() as u32))
            }
            RespBlock::Text { text: t } => text.push_str(&t),
            RespBlock::ToolUse { input, name, .. } if ctx.json_tool && name == JSON_TOOL => {
                text.push_str(&arguments_of(&input));
            }
            RespBlock::ToolUse { id, name, input } => calls.push(ToolCall {
                id,
                kind: "function".into(),
                function: FunctionCall { arguments: arguments_of(&input), name },
            }),
            RespBlock::Other => {}
        }
    }
    let finish = finish_reason(r.stop_reason.as_deref(), !calls.is_empty());
    let content = if text.is_empty() && !calls.is_empty() { None } else { Some(text) };
    ChatResponse {
        id: r.id,
        object: "chat.completion".into(),
        created,
        model: r.model,
        choices: vec![Choice {
            index: 0,
            message: ResponseMessage {
                role: "assistant".into(),
                content,
                refusal: None,
                tool_calls: (!calls.is_empty()).then_some(calls),
                reasoning_content: (!thought.is_empty()).then_some(thought),
                reasoning_details: (!details.is_empty()).then_some(details),
                extra: Extra::new(),
            },
            finish_reason: Some(finish.into()),
            logprobs: None,
            extra: Extra::new(),
        }],
        usage: Some(usage(&r.usage)),
        extra: Extra::new(),
        native: None,
        verbatim: None,
    }
}
