//! Quirks of OpenAI-compatible server families (`preset = "…"`) and of Azure OpenAI, as data
//! plus one pure function that applies them to a request. Unsupported parameters are
//! removed with a debug log instead of reaching the server and costing a 400; renamed ones
//! are renamed; nothing else changes. docs/providers.md has the table and the sources.

use std::borrow::Cow;

use serde_json::Value;

use crate::api::ChatRequest;
use crate::api::chat::{ResponseFormat, Role};
use crate::config::Preset;
use crate::wire::canonical::fnv64;

/// What differs from OpenAI for one server family. `Quirks::default()` is plain OpenAI.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quirks {
    /// `developer` messages are sent as `system` (most compatible servers reject the role).
    pub developer_to_system: bool,
    /// Request fields the server rejects: removed (typed fields and pass-through extras).
    pub drop: &'static [&'static str],
    /// `messages[].name` is rejected (Groq).
    pub drop_message_name: bool,
    /// `seed` goes under another name (Mistral: `random_seed`).
    pub seed_as: Option<&'static str>,
    /// `tool_choice: "required"` is spelled differently (Mistral: `"any"`).
    pub required_as: Option<&'static str>,
    /// Only the older `max_tokens` is understood.
    pub max_tokens_only: bool,
    /// The server accepts `stream_options.include_usage` (else usage arrives on its own or not at all).
    pub stream_options: bool,
    /// `n > 1` is rejected or ignored: the adapter fans out instead.
    pub fan_out_n: bool,
    /// Tool-call ids must be exactly 9 characters `[a-zA-Z0-9]` (Mistral).
    pub nine_char_tool_ids: bool,
    /// No strict `json_schema`: downgraded to `json_object` (the schema is not enforced).
    pub json_schema_as_object: bool,
    /// Stream usage comes in the last chunk's `x_groq.usage` (older Groq streams).
    pub usage_in_x_groq: bool,
}

const OPENAI: Quirks = Quirks {
    developer_to_system: false,
    drop: &[],
    drop_message_name: false,
    seed_as: None,
    required_as: None,
    max_tokens_only: false,
    stream_options: true,
    fan_out_n: false,
    nine_char_tool_ids: false,
    json_schema_as_object: false,
    usage_in_x_groq: false,
};

/// Fields none of the compatible servers know (OpenAI-platform bookkeeping).
const PLATFORM_ONLY: &[&str] =
    &["store", "metadata", "service_tier", "prediction", "web_search_options", "safety_identifier", "prompt_cache_key"];

pub fn openai() -> Quirks {
    OPENAI
}

/// Azure OpenAI. Classic api-versions before 2024-09-01 reject `max_completion_tokens` and
/// `stream_options`; the v1 API (no api-version) takes both.
pub fn azure(api_version: Option<&str>) -> Quirks {
    let old = api_version.is_some_and(|v| v < "2024-09-01");
    Quirks { max_tokens_only: old, stream_options: !old, ..OPENAI }
}

pub fn preset(p: Preset) -> Quirks {
    match p {
        Preset::Mistral => Quirks {
            developer_to_system: true,
            drop: &[
                "logit_bias",
                "logprobs",
                "top_logprobs",
                "user",
                "stream_options",
                "reasoning_effort",
                "store",
                "metadata",
                "service_tier",
                "prediction",
                "web_search_options",
                "safety_identifier",
                "prompt_cache_key",
                "verbosity",
                "modalities",
            ],
            seed_as: Some("random_seed"),
            required_as: Some("any"),
            max_tokens_only: true,
            stream_options: false,
            nine_char_tool_ids: true,
            ..OPENAI
        },
        Preset::Groq => Quirks {
            developer_to_system: true,
            drop: &["logprobs", "top_logprobs", "logit_bias", "store", "metadata", "prediction", "web_search_options"],
            drop_message_name: true,
            fan_out_n: true,
            usage_in_x_groq: true,
            ..OPENAI
        },
        Preset::DeepSeek => Quirks {
            developer_to_system: true,
            drop: PLATFORM_ONLY,
            max_tokens_only: true,
            fan_out_n: true,
            json_schema_as_object: true,
            ..OPENAI
        },
        Preset::Together => Quirks { developer_to_system: true, drop: PLATFORM_ONLY, ..OPENAI },
        Preset::Vllm => Quirks { developer_to_system: true, drop: PLATFORM_ONLY, ..OPENAI },
        Preset::Ollama => Quirks {
            developer_to_system: true,
            drop: &[
                "logit_bias",
                "logprobs",
                "top_logprobs",
                "user",
                "store",
                "metadata",
                "service_tier",
                "prediction",
            ],
            max_tokens_only: true,
            fan_out_n: true,
            ..OPENAI
        },
    }
}

/// Removes a field by its wire name; true if it was set.
fn remove(req: &mut ChatRequest, field: &str) -> bool {
    match field {
        "user" => req.user.take().is_some(),
        "seed" => req.seed.take().is_some(),
        "stream_options" => req.stream_options.take().is_some(),
        "parallel_tool_calls" => req.parallel_tool_calls.take().is_some(),
        "reasoning_effort" => req.reasoning_effort.take().is_some(),
        other => req.extra.remove(other).is_some_and(|v| !v.is_null()),
    }
}

/// A deterministic 9-character `[a-zA-Z0-9]` id for Mistral (same input, same id).
pub fn nine_char_id(id: &str) -> Cow<'_, str> {
    if id.len() == 9 && id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Cow::Borrowed(id);
    }
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut h = fnv64(&[id.as_bytes()]);
    let mut out = String::with_capacity(9);
    for _ in 0..9 {
        out.push(char::from(ALPHABET[(h % 62) as usize]));
        h /= 62;
    }
    Cow::Owned(out)
}

/// Rewrites `req` for a server with quirks `q`. Pure; logs what it dropped at debug.
pub fn apply(q: &Quirks, req: &mut ChatRequest) {
    let mut dropped: Vec<&str> = q.drop.iter().copied().filter(|f| remove(req, f)).collect();
    if q.drop_message_name {
        let mut any = false;
        for m in &mut req.messages {
            any |= m.name.take().is_some();
        }
        if any {
            dropped.push("messages[].name");
        }
    }
    if q.developer_to_system {
        for m in &mut req.messages {
            if m.role == Role::Developer {
                m.role = Role::System;
            }
        }
    }
    if let Some(name) = q.seed_as
        && let Some(seed) = req.seed.take()
    {
        req.extra.insert(name.into(), Value::from(seed));
    }
    if q.max_tokens_only
        && let Some(m) = req.max_completion_tokens.take()
    {
        req.max_tokens = Some(m);
    }
    if let Some(any) = q.required_as
        && req.tool_choice.as_ref().and_then(Value::as_str) == Some("required")
    {
        req.tool_choice = Some(Value::String(any.into()));
    }
    if q.json_schema_as_object && matches!(req.response_format, Some(ResponseFormat::JsonSchema { .. })) {
        req.response_format = Some(ResponseFormat::JsonObject);
        dropped.push("response_format.json_schema (sent as json_object)");
    }
    if q.nine_char_tool_ids {
        for m in &mut req.messages {
            if let Some(id) = &mut m.tool_call_id
                && let Cow::Owned(short) = nine_char_id(id)
            {
                *id = short;
            }
            for c in m.tool_calls.iter_mut().flatten() {
                if let Cow::Owned(short) = nine_char_id(&c.id) {
                    c.id = short;
                }
            }
        }
    }
    if !dropped.is_empty() {
        tracing::debug!(fields = ?dropped, "request fields this server does not support were dropped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req(v: Value) -> ChatRequest {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn mistral_renames_and_drops() {
        let mut r = req(json!({
            "model": "m", "seed": 7, "tool_choice": "required", "max_completion_tokens": 99,
            "logit_bias": {"1": 2}, "user": "u", "stream_options": {"include_usage": true},
            "messages": [
                {"role": "developer", "content": "be brief"},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "call_abcdefghijkl", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "call_abcdefghijkl", "content": "ok"}
            ]
        }));
        apply(&preset(Preset::Mistral), &mut r);
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["random_seed"], 7);
        assert!(v.get("seed").is_none() && v.get("logit_bias").is_none() && v.get("user").is_none());
        assert!(v.get("stream_options").is_none());
        assert_eq!(v["tool_choice"], "any");
        assert_eq!(v["max_tokens"], 99);
        assert!(v.get("max_completion_tokens").is_none());
        assert_eq!(v["messages"][0]["role"], "system");
        let id = v["messages"][1]["tool_calls"][0]["id"].as_str().unwrap();
        assert_eq!(id.len(), 9);
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(v["messages"][2]["tool_call_id"], id, "the same id on both sides");
    }

    #[test]
    fn groq_deepseek_azure() {
        let mut r = req(json!({"model": "m", "logprobs": true, "top_logprobs": 2,
            "messages": [{"role": "user", "name": "alice", "content": "hi"}]}));
        apply(&preset(Preset::Groq), &mut r);
        let v = serde_json::to_value(&r).unwrap();
        assert!(v.get("logprobs").is_none() && v["messages"][0].get("name").is_none());

        let mut r = req(json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "object"}}}}));
        apply(&preset(Preset::DeepSeek), &mut r);
        assert!(matches!(r.response_format, Some(ResponseFormat::JsonObject)));

        assert!(azure(Some("2024-06-01")).max_tokens_only);
        assert!(!azure(Some("2024-10-21")).max_tokens_only);
        assert!(azure(None).stream_options);
        assert_eq!(openai(), Quirks { stream_options: true, ..Quirks::default() });
    }
}
