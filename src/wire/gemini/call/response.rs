//! generateContent response -> canonical response: synthesized stable tool-call ids
//! (carrying any `thoughtSignature`), `tool_calls` finish when a function was called, SAFETY
//! & co. to `content_filter`, a blocked prompt to an error, usage with reasoning tokens.

use serde_json::Value;

use super::super::types::{GenerateResponse, UsageMetadata};
use super::super::{DIALECT, tool_call_id};
use crate::api::chat::{FunctionCall, ToolCall};
use crate::api::response::{Choice, CompletionTokensDetails, PromptTokensDetails, ResponseMessage};
use crate::api::{ChatResponse, Extra, Usage, ids};
use crate::wire::{VendorReport, WireError};

/// finishReason -> finish_reason (PROVIDERS.md §3.3); a function call makes it `tool_calls`.
pub fn finish_reason(reason: Option<&str>, has_tool_calls: bool) -> &'static str {
    match reason {
        Some("MAX_TOKENS") => "length",
        Some(
            "SAFETY"
            | "BLOCKLIST"
            | "PROHIBITED_CONTENT"
            | "SPII"
            | "IMAGE_SAFETY"
            | "IMAGE_PROHIBITED_CONTENT"
            | "RECITATION"
            | "IMAGE_RECITATION"
            | "LANGUAGE",
        ) => "content_filter",
        Some("STOP") if has_tool_calls => "tool_calls",
        Some("STOP") => "stop",
        other => {
            tracing::debug!(finish_reason = ?other, "Gemini finishReason without an OpenAI equivalent; reported as stop");
            if has_tool_calls { "tool_calls" } else { "stop" }
        }
    }
}

/// Gemini's prompt count excludes tool-use prompt tokens and its candidates count excludes
/// thoughts; OpenAI's prompt and completion include them.
pub fn usage(u: &UsageMetadata) -> Usage {
    let mut out = Usage::new(
        u.prompt_token_count + u.tool_use_prompt_token_count,
        u.candidates_token_count + u.thoughts_token_count,
    );
    if u.cached_content_token_count > 0 {
        out.prompt_tokens_details =
            Some(PromptTokensDetails { cached_tokens: u.cached_content_token_count, ..Default::default() });
    }
    if u.thoughts_token_count > 0 {
        out.completion_tokens_details =
            Some(CompletionTokensDetails { reasoning_tokens: u.thoughts_token_count, ..Default::default() });
    }
    out
}

/// A prompt Gemini refused to answer (a 400 `content_policy_violation`, not a retry).
pub fn blocked(reason: &str) -> WireError {
    WireError::Blocked { dialect: DIALECT, reason: reason.to_string() }
}

pub(super) fn block_reason(r: &GenerateResponse) -> Option<&str> {
    r.prompt_feedback.as_ref().and_then(|f| f.block_reason.as_deref())
}

pub fn from_wire(r: GenerateResponse, model: &str, created: u64) -> Result<ChatResponse, WireError> {
    if let Some(e) = r.error {
        return Err(WireError::Reported(VendorReport::Gemini(e)));
    }
    if r.candidates.is_empty() {
        return Err(match block_reason(&r) {
            Some(reason) => blocked(reason),
            None => WireError::Malformed("Gemini answered without candidates".into()),
        });
    }
    let seed = r.response_id.clone().unwrap_or_else(ids::nonce);
    let mut choices = Vec::with_capacity(r.candidates.len());
    for (pos, c) in r.candidates.into_iter().enumerate() {
        let index = c.index.unwrap_or(pos as u32);
        let mut text = String::new();
        let mut calls = Vec::new();
        let (mut thought, mut details) = (String::new(), Vec::new());
        for p in c.content.map(|c| c.parts).unwrap_or_default() {
            let at = details.len() as u32;
            match (&p.text, p.thought == Some(true), p.function_call.is_some(), p.thought_signature.as_deref()) {
                (Some(t), true, _, sig) => {
                    thought.push_str(t);
                    details.push(super::thoughts::thought(t, sig, at));
                }
                (_, false, false, Some(sig)) => details.push(super::thoughts::text_signature(sig, at)),
                _ => {}
            }
            if let Some(fc) = p.function_call {
                let id = tool_call_id(
                    fc.id.as_deref(),
                    &seed,
                    index,
                    calls.len() as u32,
                    &fc.name,
                    p.thought_signature.as_deref(),
                );
                calls.push(ToolCall {
                    id,
                    kind: "function".into(),
                    function: FunctionCall { arguments: args_string(&fc.args), name: fc.name },
                });
            } else if let Some(t) = p.text
                && p.thought != Some(true)
            {
                text.push_str(&t);
            }
        }
        let finish = finish_reason(c.finish_reason.as_deref(), !calls.is_empty());
        choices.push(Choice {
            index,
            message: ResponseMessage {
                role: "assistant".into(),
                content: if text.is_empty() && !calls.is_empty() { None } else { Some(text) },
                refusal: None,
                tool_calls: (!calls.is_empty()).then_some(calls),
                reasoning_content: (!thought.is_empty()).then_some(thought),
                reasoning_details: (!details.is_empty()).then_some(details),
                extra: Extra::new(),
            },
            finish_reason: Some(finish.into()),
            logprobs: None,
            extra: Extra::new(),
        });
    }
    choices.sort_by_key(|c| c.index);
    Ok(ChatResponse {
        id: r.response_id.unwrap_or_else(ids::completion_id),
        object: "chat.completion".into(),
        created,
        model: r.model_version.unwrap_or_else(|| model.to_string()),
        choices,
        usage: r.usage_metadata.as_ref().map(usage),
        extra: Extra::new(),
        native: None,
        verbatim: None,
    })
}

pub(super) fn args_string(args: &Value) -> String {
    match args {
        Value::Null => "{}".into(),
        v => v.to_string(),
    }
}
