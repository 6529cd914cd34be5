//! Anthropic's prompt caching, simulated: a request's prompt is its tools, system blocks and
//! message blocks, in that order; each block with a `cache_control` breakpoint ends a prefix.
//! The longest prefix seen before, within its TTL, is read from the cache; the rest up to the
//! last breakpoint is written, each part at the TTL of the breakpoint that ends it. Tokens are
//! words (at least one per block). Markers are checked as Anthropic checks them: at most four,
//! `type` "ephemeral", `ttl` "5m" or "1h".

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Prefix hash -> when its cache entry expires.
pub type PromptCache = Mutex<HashMap<u64, Instant>>;

struct Breakpoint {
    hash: u64,
    /// Prompt tokens up to and including the marked block.
    tokens: u64,
    ttl: Duration,
    one_hour: bool,
}

fn words(v: &Value) -> u64 {
    let text = match v {
        Value::String(s) => s.clone(),
        _ => v.to_string(),
    };
    (text.split_whitespace().count() as u64).max(1)
}

/// Every block of the prompt, in order.
fn blocks(body: &Value) -> Vec<Value> {
    let mut out: Vec<Value> = body["tools"].as_array().cloned().unwrap_or_default();
    match &body["system"] {
        Value::String(s) => out.push(json!({"type": "text", "text": s})),
        Value::Array(a) => out.extend(a.iter().cloned()),
        _ => {}
    }
    for m in body["messages"].as_array().into_iter().flatten() {
        match &m["content"] {
            Value::String(s) => out.push(json!({"type": "text", "text": s})),
            Value::Array(a) => out.extend(a.iter().cloned()),
            _ => {}
        }
    }
    out
}

fn block_tokens(b: &Value) -> u64 {
    match b.get("text") {
        Some(t) => words(t),
        None => words(&json!([b.get("name"), b.get("description"), b.get("content"), b.get("input")])),
    }
}

/// The breakpoints of `body`, or Anthropic's 400 for markers it rejects.
fn breakpoints(body: &Value) -> Result<Vec<Breakpoint>, String> {
    let mut h = DefaultHasher::new();
    let (mut tokens, mut out) = (0, Vec::new());
    for b in blocks(body) {
        let mut plain = b.clone();
        let marker = plain.as_object_mut().and_then(|o| o.remove("cache_control"));
        plain.to_string().hash(&mut h);
        tokens += block_tokens(&plain);
        let Some(m) = marker else { continue };
        if m["type"] != "ephemeral" {
            return Err(format!("cache_control.type: Input should be 'ephemeral' (got {})", m["type"]));
        }
        let one_hour = match m.get("ttl").map(|t| t.as_str()) {
            None | Some(Some("5m")) => false,
            Some(Some("1h")) => true,
            Some(_) => return Err(format!("cache_control.ttl: Input should be '5m' or '1h' (got {})", m["ttl"])),
        };
        let ttl = Duration::from_secs(if one_hour { 3600 } else { 300 });
        out.push(Breakpoint { hash: h.finish(), tokens, ttl, one_hour });
    }
    if out.len() > 4 {
        return Err(format!("A maximum of 4 blocks with cache_control may be provided. Found {}.", out.len()));
    }
    Ok(out)
}

/// The usage fields of a call with breakpoints (None: it has none), its cache entries
/// written or refreshed; `Err` is Anthropic's 400 message.
pub fn usage(body: &Value, cache: &PromptCache) -> Result<Option<Value>, String> {
    let bps = breakpoints(body)?;
    if bps.is_empty() {
        return Ok(None);
    }
    let total: u64 = blocks(body)
        .iter()
        .map(|b| {
            let mut plain = b.clone();
            if let Some(o) = plain.as_object_mut() {
                o.remove("cache_control");
            }
            block_tokens(&plain)
        })
        .sum();
    let now = Instant::now();
    let mut c = cache.lock().unwrap_or_else(|p| p.into_inner());
    let read = bps.iter().rev().find(|b| c.get(&b.hash).is_some_and(|exp| *exp > now)).map_or(0, |b| b.tokens);
    let (mut five, mut hour, mut from) = (0, 0, read);
    for b in bps.iter().filter(|b| b.tokens > read) {
        let part = b.tokens - from;
        if b.one_hour {
            hour += part
        } else {
            five += part
        }
        from = b.tokens;
    }
    for b in &bps {
        c.insert(b.hash, now + b.ttl);
    }
    let write = five + hour;
    Ok(Some(json!({
        "input_tokens": total - read - write,
        "cache_read_input_tokens": read,
        "cache_creation_input_tokens": write,
        "cache_creation": {"ephemeral_5m_input_tokens": five, "ephemeral_1h_input_tokens": hour},
    })))
}
