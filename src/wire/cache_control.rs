//! Prompt-cache breakpoints in canonical requests. A caller marks where a vendor may cache
//! the prompt up to with a `cache_control` field (Anthropic's `{"type":"ephemeral"}`, with an
//! optional `"ttl"`): on a content part (text, image, or a part kept verbatim), on a message
//! (its last block) or on a tool (the tool list up to it). Only Anthropic takes them; every
//! other vendor is sent the request without them ([`strip`]), and their automatic caching
//! needs none. The markers change no answer (the cache key leaves them out).

use serde_json::Value;

use crate::api::ChatRequest;
use crate::api::chat::{Content, ContentPart, Message};

/// The field name, on parts, messages (`extra`) and tools (`extra`), in every dialect.
pub const FIELD: &str = "cache_control";

/// Anthropic's limit of breakpoints in one request.
pub const MAX_BREAKPOINTS: usize = 4;

/// The marker a part carries, if any.
pub fn of_part(p: &ContentPart) -> Option<&Value> {
    match p {
        ContentPart::Text { cache_control, .. } | ContentPart::ImageUrl { cache_control, .. } => cache_control.as_ref(),
        ContentPart::Other(v) => v.get(FIELD),
    }
}

/// The marker on the message itself (not on one of its parts).
pub fn of_message(m: &Message) -> Option<&Value> {
    m.extra.get(FIELD)
}

/// Whether a message or any of its parts carries a marker.
pub fn message_has_marker(m: &Message) -> bool {
    of_message(m).is_some()
        || matches!(&m.content, Some(Content::Parts(parts)) if parts.iter().any(|p| of_part(p).is_some()))
}

/// Whether the request carries any marker (on a message, a part or a tool).
pub fn has_markers(req: &ChatRequest) -> bool {
    req.messages.iter().any(message_has_marker) || req.tools.iter().flatten().any(|t| t.extra.contains_key(FIELD))
}

/// Removes every marker, for a vendor that does not take them (OpenAI-style servers reject
/// or ignore unknown fields; either way they must not see Anthropic's). Logged at debug.
pub fn strip(req: &mut ChatRequest) {
    if !has_markers(req) {
        return;
    }
    tracing::debug!("cache_control markers dropped: this vendor caches prompts on its own and takes none");
    for m in &mut req.messages {
        m.extra.remove(FIELD);
        if let Some(Content::Parts(parts)) = &mut m.content {
            for p in parts {
                match p {
                    ContentPart::Text { cache_control, .. } | ContentPart::ImageUrl { cache_control, .. } => {
                        *cache_control = None
                    }
                    ContentPart::Other(Value::Object(o)) => {
                        o.remove(FIELD);
                    }
                    ContentPart::Other(_) => {}
                }
            }
        }
    }
    for t in req.tools.iter_mut().flatten() {
        t.extra.remove(FIELD);
    }
}

/// A caller's marker as Anthropic takes it: `{"type":"ephemeral"}` with `ttl` "5m" or "1h".
/// A TTL given another way (seconds, minutes, "60m", a number) is mapped to the nearest one
/// Anthropic has (up to 5 minutes: "5m", longer: "1h"); one that cannot be read is dropped
/// (the default, 5 minutes, applies). A marker of another type is dropped. Each change is
/// logged at debug level.
pub fn for_anthropic(v: &Value) -> Option<Value> {
    let kind = match v {
        Value::Object(o) => o.get("type").and_then(Value::as_str).unwrap_or("ephemeral"),
        // `"cache_control": true` (or "ephemeral") is read as a plain breakpoint.
        Value::Bool(true) => "ephemeral",
        Value::String(s) => s.as_str(),
        _ => "",
    };
    if kind != "ephemeral" {
        tracing::debug!(marker = %v, "cache_control dropped: Anthropic has only `ephemeral` breakpoints");
        return None;
    }
    let Some(ttl) = v.get("ttl") else {
        return Some(serde_json::json!({"type": "ephemeral"}));
    };
    match ttl_seconds(ttl) {
        Some(secs) => {
            let mapped = if secs <= 300 { "5m" } else { "1h" };
            if ttl.as_str() != Some(mapped) {
                tracing::debug!(ttl = %ttl, mapped, "cache_control ttl mapped to the nearest one Anthropic takes");
            }
            Some(serde_json::json!({"type": "ephemeral", "ttl": mapped}))
        }
        None => {
            tracing::debug!(ttl = %ttl, "cache_control ttl dropped (unreadable); Anthropic's default of 5m applies");
            Some(serde_json::json!({"type": "ephemeral"}))
        }
    }
}

/// A TTL in seconds: a number, or a string such as "300", "300s", "5m", "1h".
fn ttl_seconds(ttl: &Value) -> Option<u64> {
    if let Some(n) = ttl.as_u64() {
        return Some(n);
    }
    let s = ttl.as_str()?.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().ok()?;
    let scale = match unit.trim() {
        "" | "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        _ => return None,
    };
    n.checked_mul(scale)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use serde_json::json;

    use super::*;

    #[test]
    fn ttls_map_to_the_nearest_anthropic_has() {
        let ttl = |v: Value| for_anthropic(&json!({"type": "ephemeral", "ttl": v})).unwrap();
        assert_eq!(ttl(json!("5m")), json!({"type": "ephemeral", "ttl": "5m"}));
        assert_eq!(ttl(json!("1h")), json!({"type": "ephemeral", "ttl": "1h"}));
        assert_eq!(ttl(json!("60m")), json!({"type": "ephemeral", "ttl": "1h"}));
        assert_eq!(ttl(json!(300)), json!({"type": "ephemeral", "ttl": "5m"}));
        assert_eq!(ttl(json!("120s")), json!({"type": "ephemeral", "ttl": "5m"}));
        assert_eq!(ttl(json!("forever")), json!({"type": "ephemeral"}));
        assert_eq!(for_anthropic(&json!({"type": "ephemeral"})).unwrap(), json!({"type": "ephemeral"}));
        assert_eq!(for_anthropic(&json!({"type": "persistent"})), None);
    }

    #[test]
    fn strip_removes_markers_everywhere() {
        let mut req: ChatRequest = serde_json::from_value(json!({
            "model": "m",
            "messages": [
                {"role": "system", "content": "s", "cache_control": {"type": "ephemeral"}},
                {"role": "user", "content": [
                    {"type": "text", "text": "a", "cache_control": {"type": "ephemeral"}},
                    {"type": "file", "file": {"file_id": "f"}, "cache_control": {"type": "ephemeral"}}]}],
            "tools": [{"type": "function", "function": {"name": "t"}, "cache_control": {"type": "ephemeral"}}]
        }))
        .unwrap();
        assert!(has_markers(&req));
        strip(&mut req);
        assert!(!has_markers(&req));
        assert!(!serde_json::to_string(&req).unwrap().contains("cache_control"));
    }
}
