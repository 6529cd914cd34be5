//! Reading a canonical (OpenAI-shaped) request, shared by every non-OpenAI dialect's calling
//! side (Anthropic, Gemini): `tool_choice` forms, content parts, data URLs, tool-call
//! arguments, stop sequences, tool-call ids, extra-field rules, and the two errors a
//! conversion returns when a request cannot be expressed. Pure functions only.

use std::borrow::Cow;

use serde_json::Value;

use super::WireError;
use crate::api::chat::{Content, ContentPart, Message};
use crate::api::{ChatRequest, Extra};

/// A message's content as a vendor's parts: `text` for each text part (None drops it, e.g.
/// an empty one), `image` for each image URL, `other` for every other part type. The last two
/// get the part's location (`messages[i].content[j]`) for their errors.
pub fn content_parts<'a, T>(
    m: &'a Message,
    i: usize,
    text: fn(&'a str) -> Option<T>,
    image: fn(&'a str, &str) -> Result<T, WireError>,
    other: fn(&'a Value, &str) -> Result<T, WireError>,
) -> Result<Vec<T>, WireError> {
    let parts = match &m.content {
        None => return Ok(Vec::new()),
        Some(Content::Text(s)) => return Ok(text(s).into_iter().collect()),
        Some(Content::Parts(parts)) => parts,
    };
    let mut out = Vec::with_capacity(parts.len());
    for (j, p) in parts.iter().enumerate() {
        match p {
            ContentPart::Text { text: t, .. } => out.extend(text(t)),
            ContentPart::ImageUrl { image_url, .. } => {
                out.push(image(&image_url.url, &format!("messages[{i}].content[{j}]"))?)
            }
            ContentPart::Other(v) => out.push(other(v, &format!("messages[{i}].content[{j}]"))?),
        }
    }
    Ok(out)
}

/// A request the dialect cannot express as asked, naming the field.
pub fn unsupported(dialect: &'static str, what: impl std::fmt::Display) -> WireError {
    WireError::unsupported(dialect, what)
}

/// A request that is malformed for any dialect (bad JSON arguments, dangling tool ids).
pub fn invalid(what: impl Into<String>) -> WireError {
    WireError::invalid(what)
}

/// What `tool_choice` (with `tools`) asks for, vendor-neutral.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolMode {
    /// No `tool_choice`: the vendor's default (auto when tools are present).
    Default,
    None,
    Auto,
    /// Must call some tool.
    Required,
    /// Must call this tool.
    Named(String),
}

/// `tool_choice` parsed; `allowed` narrows the tools offered (`allowed_tools`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolChoice {
    pub mode: ToolMode,
    pub allowed: Option<Vec<String>>,
}

/// Every OpenAI `tool_choice` form: "none" | "auto" | "required" | {type:function} |
/// {type:allowed_tools}. Custom tools and unknown forms are rejected.
pub fn tool_choice(vendor: &'static str, v: Option<&Value>) -> Result<ToolChoice, WireError> {
    let plain = |mode| Ok(ToolChoice { mode, allowed: None });
    let Some(v) = v else { return plain(ToolMode::Default) };
    match v {
        Value::Null => plain(ToolMode::Default),
        Value::String(s) => match s.as_str() {
            "none" => plain(ToolMode::None),
            "auto" => plain(ToolMode::Auto),
            "required" => plain(ToolMode::Required),
            other => Err(invalid(format!("tool_choice `{other}` is not one of none, auto, required"))),
        },
        Value::Object(o) => match o.get("type").and_then(Value::as_str) {
            Some("function") => match v.pointer("/function/name").and_then(Value::as_str) {
                Some(name) => plain(ToolMode::Named(name.to_string())),
                None => Err(invalid("tool_choice.function.name is missing")),
            },
            Some("allowed_tools") => {
                let mode = match v.pointer("/allowed_tools/mode").and_then(Value::as_str) {
                    Some("auto") | None => ToolMode::Auto,
                    Some("required") => ToolMode::Required,
                    Some(m) => {
                        return Err(invalid(format!("tool_choice.allowed_tools.mode `{m}` is not auto or required")));
                    }
                };
                let tools = v.pointer("/allowed_tools/tools").and_then(Value::as_array).cloned().unwrap_or_default();
                let mut names = Vec::new();
                for t in &tools {
                    match t.pointer("/function/name").and_then(Value::as_str) {
                        Some(n) => names.push(n.to_string()),
                        None => return Err(unsupported(vendor, "tool_choice.allowed_tools with non-function tools")),
                    }
                }
                Ok(ToolChoice { mode, allowed: Some(names) })
            }
            Some(other) => Err(unsupported(vendor, format!("tool_choice type `{other}`"))),
            None => Err(invalid("tool_choice object needs a `type`")),
        },
        _ => Err(invalid("tool_choice must be a string or an object")),
    }
}

/// `data:<mime>;base64,<data>` -> (mime, data). Other data URLs are not images we can pass.
pub fn data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let mime = meta.strip_suffix(";base64")?;
    if mime.is_empty() || data.is_empty() {
        return None;
    }
    Some((mime, data))
}

/// A tool call's `arguments` string as a JSON object (what Anthropic and Gemini need). An
/// empty string is `{}`; invalid JSON or a non-object is the caller's error (400), not ours.
pub fn arguments(args: &str, at: &str) -> Result<Value, WireError> {
    if args.trim().is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    match serde_json::from_str::<Value>(args) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(invalid(format!("{at}.function.arguments must be a JSON object"))),
        Err(e) => Err(invalid(format!("{at}.function.arguments is not valid JSON ({e})"))),
    }
}

/// Stop sequences, without whitespace-only entries (vendors reject them; logged), as the
/// dialect's string type (`&str` or `Cow<str>`).
pub fn stop_sequences<'a, T: From<&'a str>>(req: &'a ChatRequest) -> Vec<T> {
    let all: &[String] = match &req.stop {
        None => &[],
        Some(crate::api::chat::Stop::One(s)) => std::slice::from_ref(s),
        Some(crate::api::chat::Stop::Many(v)) => v,
    };
    let keep: Vec<T> = all.iter().filter(|s| !s.trim().is_empty()).map(|s| T::from(s.as_str())).collect();
    if keep.len() < all.len() {
        tracing::debug!(count = all.len() - keep.len(), "whitespace-only stop sequences dropped");
    }
    keep
}

/// The text of a system/developer message (text parts joined); other parts are rejected.
pub fn system_text<'a>(vendor: &'static str, m: &'a Message, i: usize) -> Result<Cow<'a, str>, WireError> {
    match &m.content {
        None => Ok(Cow::Borrowed("")),
        Some(Content::Text(s)) => Ok(Cow::Borrowed(s)),
        Some(Content::Parts(parts)) => {
            let mut out = String::new();
            for p in parts {
                match p {
                    ContentPart::Text { text, .. } => out.push_str(text),
                    _ => return Err(unsupported(vendor, format!("messages[{i}]: non-text parts in a system message"))),
                }
            }
            Ok(Cow::Owned(out))
        }
    }
}

/// FNV-1a, 64 bits: stable across runs and platforms (ids must map the same every turn).
pub fn fnv64(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in *p {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A tool-call id made safe for `^[a-zA-Z0-9_-]+$` (Anthropic). Valid ids pass unchanged;
/// others get invalid characters replaced plus a hash of the original, so two different ids
/// never collide and a replayed history maps identically every turn.
pub fn safe_tool_id(id: &str) -> Cow<'_, str> {
    let ok = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if !id.is_empty() && id.chars().all(ok) {
        return Cow::Borrowed(id);
    }
    let cleaned: String = id.chars().map(|c| if ok(c) { c } else { '_' }).take(40).collect();
    Cow::Owned(format!("{cleaned}_{:016x}", fnv64(&[id.as_bytes()])))
}

/// Request fields outside the typed ones: what a vendor adapter does with each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtraRule {
    /// The adapter translates it itself.
    Translated,
    /// No equivalent and no harm in ignoring it: dropped, logged at debug.
    Dropped,
    /// Ignoring it would change the answer's meaning: 400.
    Rejected,
}

/// Applies `rule` to every extra field; returns the names dropped (for the debug log).
/// A value of `null` or `false` asks for nothing and is always accepted.
pub fn check_extras<'a>(
    vendor: &'static str,
    extra: &'a Extra,
    rule: impl Fn(&str, &Value) -> ExtraRule,
) -> Result<Vec<&'a str>, WireError> {
    let mut dropped = Vec::new();
    for (k, v) in extra {
        if matches!(v, Value::Null | Value::Bool(false)) {
            continue;
        }
        match rule(k, v) {
            ExtraRule::Translated => {}
            ExtraRule::Dropped => dropped.push(k.as_str()),
            ExtraRule::Rejected => return Err(unsupported(vendor, format!("`{k}`"))),
        }
    }
    if !dropped.is_empty() {
        tracing::debug!(vendor, fields = ?dropped, "request fields without a vendor equivalent dropped");
    }
    Ok(dropped)
}

/// Rules shared by vendors that have no logprobs, logit bias, audio or web search.
pub fn common_extra_rule(k: &str, v: &Value) -> ExtraRule {
    match k {
        "logit_bias" if v.as_object().is_some_and(|o| o.is_empty()) => ExtraRule::Dropped,
        "logprobs" | "logit_bias" | "audio" | "web_search_options" | "functions" | "function_call" => {
            ExtraRule::Rejected
        }
        "modalities" => {
            let text_only = v.as_array().is_some_and(|a| a.iter().all(|m| m == "text"));
            if text_only { ExtraRule::Dropped } else { ExtraRule::Rejected }
        }
        // Best-effort or bookkeeping fields with no effect on the answer's meaning.
        _ => ExtraRule::Dropped,
    }
}

/// Little-endian f32 bytes, standard base64 with padding: OpenAI's
/// `encoding_format: "base64"` embedding (what the openai SDKs ask for by default).
pub fn base64_f32(v: &[f32]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes: Vec<u8> = v.iter().flat_map(|f| f.to_le_bytes()).collect();
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_tool_choice_form() {
        let tc = |v: Value| tool_choice("X", Some(&v));
        assert_eq!(tc(json!("none")).unwrap().mode, ToolMode::None);
        assert_eq!(tc(json!("auto")).unwrap().mode, ToolMode::Auto);
        assert_eq!(tc(json!("required")).unwrap().mode, ToolMode::Required);
        assert_eq!(
            tc(json!({"type": "function", "function": {"name": "f"}})).unwrap().mode,
            ToolMode::Named("f".into())
        );
        let a = tc(json!({"type": "allowed_tools", "allowed_tools": {"mode": "required",
            "tools": [{"type": "function", "function": {"name": "a"}}]}}))
        .unwrap();
        assert_eq!((a.mode, a.allowed), (ToolMode::Required, Some(vec!["a".to_string()])));
        assert_eq!(tool_choice("X", None).unwrap().mode, ToolMode::Default);
        assert!(tc(json!("sometimes")).is_err());
        assert!(tc(json!({"type": "custom", "custom": {"name": "x"}})).is_err());
    }

    #[test]
    fn data_urls_and_arguments() {
        assert_eq!(data_url("data:image/png;base64,iVBOR"), Some(("image/png", "iVBOR")));
        assert_eq!(data_url("data:text/plain,hello"), None);
        assert_eq!(data_url("https://x/a.png"), None);
        assert_eq!(arguments("", "m").unwrap(), json!({}));
        assert_eq!(arguments("{\"a\":1}", "m").unwrap(), json!({"a": 1}));
        assert!(arguments("{\"a\":", "m").unwrap_err().to_string().contains("not valid JSON"));
        assert!(arguments("[1]", "m").unwrap_err().to_string().contains("JSON object"));
    }

    #[test]
    fn base64_of_floats() {
        // 1.0f32 = 00 00 80 3f; 2.0f32 = 00 00 00 40
        assert_eq!(base64_f32(&[1.0]), "AACAPw==");
        assert_eq!(base64_f32(&[1.0, 2.0]), "AACAPwAAAEA=");
        assert_eq!(base64_f32(&[]), "");
        assert_eq!(base64_f32(&[1.0, 2.0, 1.0]), "AACAPwAAAEAAAIA/");
    }

    #[test]
    fn tool_ids_are_sanitized_deterministically() {
        assert_eq!(safe_tool_id("toolu_01A-b"), "toolu_01A-b");
        let a = safe_tool_id("functions.Bash:0");
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'), "{a}");
        assert_eq!(a, safe_tool_id("functions.Bash:0"));
        assert_ne!(a, safe_tool_id("functions_Bash_0"));
        assert_ne!(safe_tool_id("functions.Bash:0"), safe_tool_id("functions:Bash.0"));
    }
}
