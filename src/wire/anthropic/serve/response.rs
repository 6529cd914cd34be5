//! Canonical response -> Messages response, and a failure -> Messages error body, for an
//! Anthropic-shaped front. `stop_reason` is `tool_use` whenever the turn has tool calls
//! (unless it was cut by the token limit or a filter); usage is split back into Anthropic's
//! `input_tokens` (without cache reads and writes) and the cache counts.

use serde_json::Value;

use super::super::DIALECT;
use super::super::types::{CacheCreation, ErrorBody, ErrorObject, MessagesResponse, RespBlock, WireUsage};
use crate::api::chat::ToolCall;
use crate::api::{ChatResponse, Usage};
use crate::wire::WireError;

/// The Messages answer for a canonical one (its first choice: Messages has no `n`).
pub fn from_canonical(r: &ChatResponse) -> Result<MessagesResponse, WireError> {
    let choice = r.choices.first().ok_or_else(|| WireError::Malformed("the answer has no choices".into()))?;
    let msg = &choice.message;
    let mut content = super::reasoning::blocks(msg.reasoning_details.as_deref(), msg.reasoning_content.as_deref());
    for text in [&msg.content, &msg.refusal].into_iter().flatten() {
        if !text.is_empty() {
            content.push(RespBlock::Text { text: text.clone() });
        }
    }
    let calls = msg.tool_calls.as_deref().unwrap_or_default();
    for (k, c) in calls.iter().enumerate() {
        content.push(tool_use(c, k)?);
    }
    let refused = msg.refusal.is_some();
    let finish = if refused { Some("content_filter") } else { choice.finish_reason.as_deref() };
    Ok(MessagesResponse {
        id: r.id.clone(),
        model: r.model.clone(),
        content,
        stop_reason: Some(stop_reason(finish, !calls.is_empty()).into()),
        usage: r.usage.as_ref().map(usage).unwrap_or_else(|| usage(&Usage::default())),
        ..MessagesResponse::default()
    })
}

/// finish_reason -> stop_reason; any tool call makes it `tool_use` unless the turn was cut.
pub fn stop_reason(finish: Option<&str>, has_tool_calls: bool) -> &'static str {
    match finish {
        Some("length") => "max_tokens",
        Some("content_filter") => "refusal",
        _ if has_tool_calls => "tool_use",
        _ => "end_turn",
    }
}

fn tool_use(c: &ToolCall, k: usize) -> Result<RespBlock, WireError> {
    let input = match c.function.arguments.trim() {
        "" => Value::Object(Default::default()),
        args => match serde_json::from_str::<Value>(args) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                return Err(WireError::unsupported(
                    DIALECT,
                    format!("tool_calls[{k}]: arguments that are not a JSON object (`tool_use.input` must be one)"),
                ));
            }
        },
    };
    Ok(RespBlock::ToolUse { id: c.id.clone(), name: c.function.name.clone(), input })
}

/// Canonical usage -> Anthropic's: the prompt split into uncached input, cache reads and
/// cache writes, the writes split by TTL in `cache_creation` (the inverse of `call::usage`).
pub fn usage(u: &Usage) -> WireUsage {
    let details = u.prompt_tokens_details;
    let read = details.map(|d| d.cached_tokens);
    let write = u.cache_write_tokens();
    let one_hour = u.cache_write_1h_tokens();
    let input = u.prompt_tokens.saturating_sub(read.unwrap_or(0)).saturating_sub(write);
    WireUsage {
        input_tokens: Some(input),
        output_tokens: Some(u.completion_tokens),
        cache_creation_input_tokens: details.map(|_| write),
        cache_read_input_tokens: read,
        cache_creation: details.map(|_| CacheCreation {
            ephemeral_5m_input_tokens: write - one_hour,
            ephemeral_1h_input_tokens: one_hour,
        }),
    }
}

/// Anthropic's error type for an HTTP status (its documented table).
pub fn error_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        504 => "timeout_error",
        503 | 529 => "overloaded_error",
        500..=599 => "api_error",
        _ => "invalid_request_error",
    }
}

/// The error object for a failure answered with `status`.
pub fn error_object(status: u16, message: impl Into<String>) -> ErrorObject {
    ErrorObject { kind: error_type(status).into(), message: message.into() }
}

/// `{"type":"error","error":{"type":…,"message":…}}` for a failure answered with `status`.
pub fn error_body(status: u16, message: impl Into<String>) -> ErrorBody {
    ErrorBody { kind: "error", error: error_object(status, message) }
}
