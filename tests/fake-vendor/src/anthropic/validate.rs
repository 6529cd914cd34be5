//! What the Anthropic-shaped fake checks before it answers, as strictly as Anthropic (and
//! stricter Anthropic-compatible hosts): the headers, unknown fields, block shapes, tool ids
//! and every `tool_result` answering a `tool_use` of the turn before.

use serde_json::{Value, json};

const TOP_LEVEL: &[&str] = &[
    "model",
    "messages",
    "max_tokens",
    "system",
    "temperature",
    "top_p",
    "top_k",
    "stop_sequences",
    "stream",
    "tools",
    "tool_choice",
    "metadata",
    "thinking",
    "service_tier",
    "output_config",
    "context_management",
    "container",
    "mcp_servers",
];

/// The signature this fake mints on every `thinking` block (base64 of `sig-fake`): any other
/// is one it did not mint, rejected as Anthropic rejects a foreign or altered one.
pub const SIGNATURE: &str = "c2lnLWZha2U=";
/// The data of the `redacted_thinking` blocks it mints (base64 of `enc-fake`).
pub const REDACTED: &str = "ZW5jLWZha2U=";

/// Whether the request turns thinking on.
pub fn thinking_on(body: &Value) -> bool {
    matches!(body["thinking"]["type"].as_str(), Some("enabled" | "adaptive"))
}

/// Anthropic's thinking rules: a budget below `max_tokens`, and, in a tool loop, the last
/// assistant turn opening with its (signed) thinking.
fn check_thinking(body: &Value) -> Result<(), String> {
    if !thinking_on(body) {
        return Ok(());
    }
    if let Some(b) = body["thinking"]["budget_tokens"].as_u64() {
        if b < 1024 {
            return Err("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024".into());
        }
        if body["max_tokens"].as_u64().is_some_and(|m| m <= b) {
            return Err("`max_tokens` must be greater than `thinking.budget_tokens`".into());
        }
    }
    if body["tool_choice"]["type"].as_str().is_some_and(|t| t == "any" || t == "tool") {
        return Err("Thinking may not be enabled when tool_choice forces tool use.".into());
    }
    let msgs = body["messages"].as_array().cloned().unwrap_or_default();
    let in_tool_loop =
        msgs.last().and_then(|m| m["content"].as_array()).is_some_and(|c| c.iter().any(|b| b["type"] == "tool_result"));
    let last_assistant = msgs.iter().enumerate().rev().find(|(_, m)| m["role"] == "assistant");
    if let (true, Some((i, m))) = (in_tool_loop, last_assistant) {
        let first = m["content"].as_array().and_then(|c| c.first()).map(|b| b["type"].clone()).unwrap_or_default();
        if first != "thinking" && first != "redacted_thinking" {
            return Err(format!(
                "messages.{i}.content.0.type: Expected `thinking` or `redacted_thinking`, but found `{}`. When \
                 `thinking` is enabled, a final `assistant` message must start with a thinking block (preceeding the \
                 lastmost set of `tool_use` and `tool_result` blocks).",
                first.as_str().unwrap_or("text")
            ));
        }
    }
    Ok(())
}

fn id_ok(id: &str) -> bool {
    !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The Messages API's request rules (PROVIDERS.md §2.5); the error text is Anthropic's.
pub fn validate(headers: &Value, body: &Value) -> Result<(), (u16, &'static str, String)> {
    let bad = |m: String| Err((400, "invalid_request_error", m));
    if headers["x-api-key"].as_str().is_none_or(str::is_empty) {
        return Err((401, "authentication_error", "x-api-key header is required".into()));
    }
    if headers["anthropic-version"].as_str().is_none() {
        return bad("anthropic-version: header is required".into());
    }
    let Some(obj) = body.as_object() else { return bad("body must be an object".into()) };
    if let Some(k) = obj.keys().find(|k| !TOP_LEVEL.contains(&k.as_str())) {
        return bad(format!("{k}: Extra inputs are not permitted"));
    }
    if body["max_tokens"].as_u64().is_none_or(|n| n == 0) {
        return bad("max_tokens: Field required".into());
    }
    if let Err(m) = check_thinking(body) {
        return bad(m);
    }
    if body["temperature"].as_f64().is_some_and(|t| !(0.0..=1.0).contains(&t)) {
        return bad("temperature: Input should be less than or equal to 1".into());
    }
    for s in body["stop_sequences"].as_array().into_iter().flatten() {
        if s.as_str().is_none_or(|s| s.trim().is_empty()) {
            return bad("stop_sequences: each stop sequence must contain non-whitespace".into());
        }
    }
    let tool_names: Vec<&str> =
        body["tools"].as_array().into_iter().flatten().filter_map(|t| t["name"].as_str()).collect();
    for t in body["tools"].as_array().into_iter().flatten() {
        if !t["name"].as_str().is_some_and(|n| id_ok(n) && n.len() <= 64) {
            return bad("tools.0.name: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'".into());
        }
        let server_tool = t["type"].as_str().is_some_and(|k| k != "custom");
        if !server_tool && t["input_schema"]["type"] != "object" {
            return bad("tools.0.input_schema.type: Input should be 'object'".into());
        }
    }
    match body["tool_choice"]["type"].as_str() {
        None | Some("auto" | "any" | "none") => {}
        Some("tool") if body["tool_choice"]["name"].as_str().is_some_and(|n| tool_names.contains(&n)) => {}
        Some(other) => return bad(format!("tool_choice: invalid tool_choice `{other}`")),
    }
    let Some(msgs) = body["messages"].as_array().filter(|m| !m.is_empty()) else {
        return bad("messages: at least one message is required".into());
    };
    let mut prev_role = "";
    let mut pending: Vec<String> = Vec::new();
    for (i, m) in msgs.iter().enumerate() {
        let role = m["role"].as_str().unwrap_or("");
        if !matches!(role, "user" | "assistant") {
            return bad(format!("messages.{i}.role: Input should be 'user' or 'assistant'"));
        }
        if i == 0 && role != "user" {
            return bad("messages: first message must use the \"user\" role".into());
        }
        if role == prev_role {
            return bad(format!("messages: roles must alternate between \"user\" and \"assistant\" (messages.{i})"));
        }
        prev_role = role;
        let blocks: Vec<Value> = match &m["content"] {
            Value::String(s) => vec![json!({"type": "text", "text": s})],
            Value::Array(a) => a.clone(),
            _ => return bad(format!("messages.{i}.content: Field required")),
        };
        if blocks.is_empty() {
            return bad(format!("messages.{i}: all messages must have non-empty content"));
        }
        let results: Vec<&str> =
            blocks.iter().filter(|b| b["type"] == "tool_result").filter_map(|b| b["tool_use_id"].as_str()).collect();
        if !pending.is_empty() {
            let answered = role == "user" && pending.iter().all(|p| results.contains(&p.as_str()));
            let first_are_results = blocks.iter().take(results.len()).all(|b| b["type"] == "tool_result");
            if !answered || !first_are_results {
                return bad(format!(
                    "messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately after: {}",
                    pending.join(", ")
                ));
            }
        }
        if let Some(stray) = results.iter().find(|r| !pending.iter().any(|p| p == *r)) {
            return bad(format!("messages.{i}: unexpected `tool_use_id` found in `tool_result` blocks: {stray}"));
        }
        pending.clear();
        for (j, b) in blocks.iter().enumerate() {
            match b["type"].as_str() {
                Some("text") => {
                    let t = b["text"].as_str().unwrap_or("");
                    if t.is_empty() {
                        return bad(format!("messages.{i}.content.{j}: text content blocks must be non-empty"));
                    }
                    if i + 1 == msgs.len() && role == "assistant" && t.ends_with(char::is_whitespace) {
                        return bad("messages: final assistant content cannot end with trailing whitespace".into());
                    }
                }
                Some("thinking") if role == "assistant" => {
                    if b["signature"].as_str().is_none_or(str::is_empty) {
                        return bad(format!("messages.{i}.content.{j}.thinking.signature: Field required"));
                    }
                    if b["signature"].as_str() != Some(SIGNATURE) {
                        return bad(format!("messages.{i}.content.{j}: Invalid `signature` in `thinking` block"));
                    }
                }
                Some("redacted_thinking") if role == "assistant" => {
                    if b["data"].as_str() != Some(REDACTED) {
                        return bad(format!("messages.{i}.content.{j}: Invalid `data` in `redacted_thinking` block"));
                    }
                }
                Some("search_result") if role == "user" => {}
                Some("document") if matches!(b["source"]["type"].as_str(), Some("text" | "content")) => {}
                Some("image" | "document") => {
                    if !matches!(b["source"]["type"].as_str(), Some("base64" | "url")) {
                        return bad(format!("messages.{i}.content.{j}.source: invalid source"));
                    }
                }
                Some("tool_use") if role == "assistant" => {
                    let id = b["id"].as_str().unwrap_or("");
                    if !id_ok(id) {
                        return bad(format!(
                            "messages.{i}.content.{j}.id: String should match pattern '^[a-zA-Z0-9_-]+$'"
                        ));
                    }
                    if !b["input"].is_object() {
                        return bad(format!("messages.{i}.content.{j}.input: Input should be a valid dictionary"));
                    }
                    pending.push(id.to_string());
                }
                Some("tool_result") if role == "user" => {}
                other => return bad(format!("messages.{i}.content.{j}.type: unexpected block type {other:?}")),
            }
        }
    }
    if !pending.is_empty() {
        return bad(format!(
            "`tool_use` ids were found without `tool_result` blocks immediately after: {}",
            pending.join(", ")
        ));
    }
    Ok(())
}
