//! Canonical response -> GenerateContentResponse, for a Gemini-shaped front: each choice a
//! candidate (text and `refusal` as text parts, tool calls as `functionCall` parts with
//! `args` objects), `finishReason` from `finish_reason`, usage split back into Gemini's
//! counts (the inverse of `call::usage`).

use serde_json::Value;

use super::super::signature_of;
use super::super::types::{Candidate, GenerateResponse, RespContent, RespFunctionCall, RespPart, UsageMetadata};
use super::FRONT;
use crate::api::chat::ToolCall;
use crate::api::{ChatResponse, Usage};
use crate::wire::WireError;
use crate::wire::gemini::SIG_SEP;

/// The generateContent answer for a canonical one.
pub fn from_canonical(r: &ChatResponse) -> Result<GenerateResponse, WireError> {
    let mut candidates = Vec::with_capacity(r.choices.len());
    for c in &r.choices {
        let msg = &c.message;
        let mut parts = super::thoughts::parts(msg.reasoning_details.as_deref(), msg.reasoning_content.as_deref());
        for text in [&msg.content, &msg.refusal].into_iter().flatten() {
            if !text.is_empty() {
                parts.push(RespPart { text: Some(text.clone()), ..RespPart::default() });
            }
        }
        super::thoughts::sign_text(&mut parts);
        for (k, call) in msg.tool_calls.iter().flatten().enumerate() {
            parts.push(function_call(call, &format!("choices[{}].message.tool_calls[{k}]", c.index))?);
        }
        let finish = if msg.refusal.is_some() { Some("content_filter") } else { c.finish_reason.as_deref() };
        candidates.push(Candidate {
            content: (!parts.is_empty()).then(|| RespContent { role: Some("model".into()), parts }),
            finish_reason: Some(finish_reason(finish).into()),
            index: Some(c.index),
        });
    }
    Ok(GenerateResponse {
        candidates,
        usage_metadata: r.usage.as_ref().map(usage),
        model_version: Some(r.model.clone()).filter(|m| !m.is_empty()),
        response_id: Some(r.id.clone()).filter(|id| !id.is_empty()),
        ..GenerateResponse::default()
    })
}

/// finish_reason -> finishReason. Gemini has no tool-call reason: a turn with calls is `STOP`.
pub fn finish_reason(finish: Option<&str>) -> &'static str {
    match finish {
        None | Some("stop" | "tool_calls" | "function_call") => "STOP",
        Some("length") => "MAX_TOKENS",
        Some("content_filter") => "SAFETY",
        Some(_) => "OTHER",
    }
}

/// A canonical tool call as a `functionCall` part. The id goes back as `id` (without a
/// signature, which becomes the part's `thoughtSignature`), so a caller that echoes it in
/// the next turn gets the same canonical id back.
pub fn function_call(c: &ToolCall, at: &str) -> Result<RespPart, WireError> {
    let args = match c.function.arguments.trim() {
        "" => Value::Object(Default::default()),
        a => match serde_json::from_str::<Value>(a) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                return Err(WireError::unsupported_at(
                    FRONT,
                    at,
                    "arguments that are not a JSON object (`functionCall.args` must be one)",
                ));
            }
        },
    };
    let base = c.id.split_once(SIG_SEP).map_or(c.id.as_str(), |(b, _)| b);
    Ok(RespPart {
        function_call: Some(RespFunctionCall {
            name: c.function.name.clone(),
            args,
            id: Some(base.to_string()).filter(|id| !id.is_empty()),
        }),
        thought_signature: signature_of(&c.id).map(str::to_string),
        ..RespPart::default()
    })
}

/// Canonical usage -> usageMetadata: reasoning tokens back out of the candidates count.
pub fn usage(u: &Usage) -> UsageMetadata {
    let thoughts = u.completion_tokens_details.map_or(0, |d| d.reasoning_tokens);
    UsageMetadata {
        prompt_token_count: u.prompt_tokens,
        candidates_token_count: u.completion_tokens.saturating_sub(thoughts),
        thoughts_token_count: thoughts,
        cached_content_token_count: u.cached_tokens(),
        tool_use_prompt_token_count: 0,
        total_token_count: u.total_tokens.max(u.prompt_tokens.saturating_add(u.completion_tokens)),
    }
}
