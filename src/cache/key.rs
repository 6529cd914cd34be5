//! Cache keys: a blake3 hash of who may answer (the deployments the plan may call) and of
//! everything in the request that changes the answer, in a canonical JSON form (object keys
//! sorted, no whitespace), so the client's key order and formatting never matter.
//!
//! Fields of the caller's own dialect that the canonical form does not carry (`native.only`)
//! are in the key, under the dialect's name. Left out on purpose, because they do not change
//! the answer: `model` (the deployments stand
//! for it), `stream` and `stream_options` (streams and whole answers share entries), and
//! fields that only label or bill a request (`user`, `metadata`, `store`,
//! `safety_identifier`, `prompt_cache_key`), the caller's dialect's envelope (Responses
//! `previous_response_id`, already expanded into the messages, and `stream_options`; Gemini
//! `labels`), and prompt-cache breakpoints (`cache_control` on messages, content parts and
//! tools, and at the top level): they change what a vendor bills, not what it answers.
//! Tools, `tool_choice`, the response format and reasoning settings are in.
//! Every typed field of the request is named below
//! (exhaustive destructuring), so a field added to `ChatRequest` is a compile error here until
//! someone decides whether it belongs in the key.

use std::io::Write;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use crate::api::{ChatRequest, EmbeddingsRequest, Extra};
use crate::config::{ModelSettings, ProviderKind};

/// Bump when the key recipe or the entry format changes: old entries then simply miss.
pub const KEY_VERSION: &str = "sidegate-cache-v1";

/// Pass-through fields that label or bill a request without changing its answer.
const NOT_IN_KEY: [&str; 7] =
    ["user", "metadata", "store", "safety_identifier", "prompt_cache_key", "prompt_cache_retention", CACHE_MARK];

/// A dialect's own fields (`native.only`) that carry or label a request without changing its
/// answer, beside [`NOT_IN_KEY`].
const ENVELOPE: [&str; 3] = ["previous_response_id", "stream_options", "labels"];

/// A prompt-cache breakpoint (Anthropic's, and sidegate's extension field of that name).
const CACHE_MARK: &str = "cache_control";

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheKey(pub [u8; 32]);

impl CacheKey {
    pub fn hex(&self) -> String {
        let mut s = String::with_capacity(64);
        for b in self.0 {
            s.push_str(&format!("{b:02x}"));
        }
        s
    }
}

impl std::fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CacheKey({})", &self.hex()[..16])
    }
}

/// What produces a deployment's answers: the vendor endpoint and its model id (not the names
/// this config gives them, so hosts of a fleet that name things differently share entries, and
/// re-pointing a provider or a model changes the key). The mock's identity is its settings.
pub fn deployment_identity(m: &ModelSettings) -> String {
    let p = &m.provider;
    match (p.kind, &p.http, &p.mock) {
        (ProviderKind::Mock, _, Some(mock)) => {
            format!("mock|{}|{:?}|{}|{}", p.name, mock.reply, mock.tokens, m.vendor_model)
        }
        (kind, Some(http), _) => format!("{}|{}|{}", kind.as_str(), http.base_url, m.vendor_model),
        (kind, None, _) => format!("{}|{}|{}", kind.as_str(), p.name, m.vendor_model),
    }
}

/// The key of a chat request that may be answered by any of `targets`.
pub fn chat(targets: &[Arc<ModelSettings>], req: &ChatRequest) -> CacheKey {
    digest("chat", targets, &chat_fields(req))
}

/// The answer-changing fields of a chat request, as hashed.
fn chat_fields(req: &ChatRequest) -> Value {
    let ChatRequest {
        model: _,
        messages,
        stream: _,
        stream_options: _,
        max_tokens,
        max_completion_tokens,
        temperature,
        top_p,
        n,
        stop,
        seed,
        tools,
        tool_choice,
        parallel_tool_calls,
        response_format,
        user: _,
        reasoning_effort,
        reasoning,
        extra,
        native,
        prompt,
        prompt_cache: _,
    } = req;
    let mut fields = serde_json::Map::new();
    put(&mut fields, "messages", messages);
    strip_cache_marks(fields.get_mut("messages"), true);
    put(&mut fields, "max_tokens", max_tokens);
    put(&mut fields, "max_completion_tokens", max_completion_tokens);
    put(&mut fields, "temperature", temperature);
    put(&mut fields, "top_p", top_p);
    put(&mut fields, "n", n);
    put(&mut fields, "stop", stop);
    put(&mut fields, "seed", seed);
    put(&mut fields, "tools", tools);
    strip_cache_marks(fields.get_mut("tools"), false);
    put(&mut fields, "tool_choice", tool_choice);
    put(&mut fields, "parallel_tool_calls", parallel_tool_calls);
    put(&mut fields, "response_format", response_format);
    // Its name from when it was a pass-through field: keys stored before it was typed still match.
    put(&mut fields, "extra.reasoning_effort", reasoning_effort);
    put(&mut fields, "reasoning", reasoning);
    put_extra(&mut fields, extra);
    // What only a same-dialect vendor gets (Anthropic's `thinking`, say) changes its answer;
    // a request without such fields keys as its canonical form alone, so the same question
    // asked in two dialects shares an entry.
    // The rendered messages are in `messages`; a prompt with per-family phrasing answers
    // differently on each family, so its version is in the key too.
    if let Some(p) = prompt.as_deref().filter(|p| !p.overrides.is_empty()) {
        fields.insert("prompt".into(), Value::String(format!("{}#{}", p.id, p.hash)));
    }
    if let Some(n) = native.as_deref() {
        let only: serde_json::Map<String, Value> = n
            .only
            .iter()
            .filter(|(k, _)| !NOT_IN_KEY.contains(&k.as_str()) && !ENVELOPE.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !only.is_empty() {
            fields.insert(format!("native.{}", n.dialect.as_str()), Value::Object(only));
        }
    }
    Value::Object(fields)
}

/// Removes prompt-cache breakpoints from each item of a serialized `messages` or `tools` list
/// (and, for messages, from each content part; for tools, from the `function` object), and
/// nowhere deeper: a tool's parameter schema may have a property of that name.
fn strip_cache_marks(list: Option<&mut Value>, parts: bool) {
    let Some(Value::Array(items)) = list else { return };
    for item in items.iter_mut().filter_map(Value::as_object_mut) {
        item.remove(CACHE_MARK);
        let inner = if parts { item.get_mut("content") } else { item.get_mut("function") };
        match inner {
            Some(Value::Array(ps)) => {
                for p in ps.iter_mut().filter_map(Value::as_object_mut) {
                    p.remove(CACHE_MARK);
                }
            }
            Some(Value::Object(f)) => {
                f.remove(CACHE_MARK);
            }
            _ => {}
        }
    }
}

/// The key of an embeddings request.
pub fn embeddings(targets: &[Arc<ModelSettings>], req: &EmbeddingsRequest) -> CacheKey {
    let EmbeddingsRequest { model: _, input, encoding_format, dimensions, extra } = req;
    let mut fields = serde_json::Map::new();
    put(&mut fields, "input", input);
    put(&mut fields, "encoding_format", encoding_format);
    put(&mut fields, "dimensions", dimensions);
    put_extra(&mut fields, extra);
    digest("embeddings", targets, &Value::Object(fields))
}

/// Absent and `null` are the same request, so `None` is left out.
fn put<T: Serialize>(fields: &mut serde_json::Map<String, Value>, name: &str, v: &T) {
    match serde_json::to_value(v) {
        Ok(Value::Null) => {}
        Ok(v) => {
            fields.insert(name.to_string(), v);
        }
        // Not reachable for these types (string-keyed maps only); keep the key distinct anyway.
        Err(e) => {
            fields.insert(name.to_string(), Value::String(format!("<unserializable: {e}>")));
        }
    }
}

fn put_extra(fields: &mut serde_json::Map<String, Value>, extra: &Extra) {
    for (k, v) in extra {
        if !NOT_IN_KEY.contains(&k.as_str()) && !v.is_null() {
            fields.insert(format!("extra.{k}"), v.clone());
        }
    }
}

fn digest(op: &str, targets: &[Arc<ModelSettings>], body: &Value) -> CacheKey {
    let mut ids: Vec<String> = targets.iter().map(|t| deployment_identity(t)).collect();
    // The plan's order depends on the strategy (weighted draws, latency estimates); the set of
    // deployments that may answer does not.
    ids.sort();
    ids.dedup();
    let mut h = Framed(blake3::Hasher::new());
    h.part(KEY_VERSION.as_bytes());
    h.part(op.as_bytes());
    h.part(&(ids.len() as u64).to_le_bytes());
    for id in &ids {
        h.part(id.as_bytes());
    }
    let mut canon = Vec::with_capacity(256);
    write_canonical(body, &mut canon);
    h.part(&canon);
    CacheKey(*h.0.finalize().as_bytes())
}

/// Length-prefixed parts, so no two different part lists hash the same bytes.
struct Framed(blake3::Hasher);

impl Framed {
    fn part(&mut self, bytes: &[u8]) {
        self.0.update(&(bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
    }
}

/// Canonical JSON: object keys in byte order, no whitespace, strings escaped by serde_json,
/// numbers as serde_json prints them. Independent of serde_json's `preserve_order` feature.
pub fn write_canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_scalar(&Value::String(k.clone()), out);
                out.push(b':');
                if let Some(inner) = map.get(k) {
                    write_canonical(inner, out);
                }
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        scalar => write_scalar(scalar, out),
    }
}

fn write_scalar(v: &Value, out: &mut Vec<u8>) {
    // Writing a scalar Value into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, v);
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ModelSettings, ProviderKind, ProviderSettings};

    fn target(base_url: &str, model: &str) -> Arc<ModelSettings> {
        let http = crate::config::HttpSettings {
            base_url: base_url.into(),
            api_key: None,
            headers: Vec::new(),
            connect_timeout: std::time::Duration::from_secs(5),
            preset: None,
            api_version: None,
            default_max_tokens: None,
            api: crate::config::UpstreamApi::Chat,
        };
        let provider = Arc::new(ProviderSettings {
            name: "acct".into(),
            kind: ProviderKind::OpenAi,
            region: None,
            http: Some(http),
            mock: None,
            unavailable: None,
        });
        Arc::new(ModelSettings::ad_hoc(provider, "dep".into(), model.into()))
    }

    fn chat_req(json: &str) -> ChatRequest {
        serde_json::from_str(json).unwrap()
    }

    const A: &str = r#"{"model": "fast", "temperature": 0.5,
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {"b": {"type": "string"}, "a": {"type": "integer"}}}}}],
        "logit_bias": {"50256": -100, "11": 2}}"#;
    const A_REORDERED: &str = r#"{"logit_bias":{"11":2,"50256":-100},"tools":[{"function":{"parameters":{"properties":{"a":{"type":"integer"},"b":{"type":"string"}},"type":"object"},"name":"f"},"type":"function"}],
        "messages":[{"content":"hi","role":"user"}],"temperature":0.5,"model":"other-route-name",
        "stream": true, "stream_options": {"include_usage": true}, "user": "alice", "metadata": {"run": "7"}}"#;

    /// Pins the recipe: if this changes, every stored entry (disk, and Redis shared by other
    /// hosts) silently stops matching. Bump KEY_VERSION when you mean it.
    #[test]
    fn golden_key() {
        let mut canon = Vec::new();
        write_canonical(&chat_fields(&chat_req(A)), &mut canon);
        assert_eq!(
            String::from_utf8(canon).unwrap(),
            concat!(
                r#"{"extra.logit_bias":{"11":2,"50256":-100},"messages":[{"content":"hi","role":"user"}],"#,
                r#""temperature":0.5,"tools":[{"function":{"name":"f","parameters":{"properties":{"a":{"type":"integer"},"#,
                r#""b":{"type":"string"}},"type":"object"}},"type":"function"}]}"#
            )
        );
        let k = chat(&[target("https://api.openai.com/v1", "gpt-4o-mini")], &chat_req(A));
        assert_eq!(k.hex(), "ee2236f1768f0bf31c290fc4999bd75b5dc3b8053d224a282c288bc5a0fdc1f1");
    }

    #[test]
    fn canonical_form_is_pinned() {
        let mut out = Vec::new();
        let v: Value = serde_json::from_str(r#"{ "b": [1, 2.5, "x\n"], "a": {"z": null, "y": true} }"#).unwrap();
        write_canonical(&v, &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), r#"{"a":{"y":true,"z":null},"b":[1,2.5,"x\n"]}"#);
    }

    #[test]
    fn key_order_whitespace_and_non_answer_fields_do_not_matter() {
        let t = [target("https://api.openai.com/v1", "gpt-4o-mini")];
        assert_eq!(chat(&t, &chat_req(A)), chat(&t, &chat_req(A_REORDERED)));
    }

    #[test]
    fn what_changes_the_answer_changes_the_key() {
        let t = [target("https://api.openai.com/v1", "gpt-4o-mini")];
        let base = chat(&t, &chat_req(A));
        let hotter = A.replace("0.5", "0.7");
        assert_ne!(base, chat(&t, &chat_req(&hotter)));
        let other_text = A.replace("\"hi\"", "\"hi!\"");
        assert_ne!(base, chat(&t, &chat_req(&other_text)));
        // The route re-pointed at another model, or at another endpoint.
        assert_ne!(base, chat(&[target("https://api.openai.com/v1", "gpt-4o")], &chat_req(A)));
        assert_ne!(base, chat(&[target("http://127.0.0.1:9/v1", "gpt-4o-mini")], &chat_req(A)));
        // Chat and embeddings never share a key.
        let e: EmbeddingsRequest = serde_json::from_str(r#"{"model": "m", "input": "hi"}"#).unwrap();
        assert_ne!(base, embeddings(&t, &e));
    }

    #[test]
    fn dialect_only_fields_are_in_the_key_and_a_plain_native_request_keys_as_canonical() {
        use crate::wire::native::{Dialect, NativeRequest};
        let t = [target("https://api.openai.com/v1", "gpt-4o-mini")];
        let plain = chat_req(A);
        let mut native = NativeRequest::new(Dialect::AnthropicMessages, serde_json::Map::new());
        let mut same = chat_req(A);
        same.native = Some(Arc::new(native.clone()));
        assert_eq!(chat(&t, &plain), chat(&t, &same), "no dialect-only fields: one entry for both dialects");
        native.only.insert("thinking".into(), serde_json::json!({"type": "enabled", "budget_tokens": 2048}));
        let mut thinking = chat_req(A);
        thinking.native = Some(Arc::new(native));
        assert_ne!(chat(&t, &plain), chat(&t, &thinking));
    }

    /// Item by item: what changes an answer is in the key, what only bills, labels or carries
    /// a request is out. Pinned as canonical text, so a change to either list shows here.
    #[test]
    fn golden_key_of_a_full_request() {
        use crate::wire::native::{Dialect, NativeRequest};
        let full = r#"{"model": "fast", "user": "u1", "metadata": {"run": "7"}, "prompt_cache_key": "k",
            "reasoning_effort": "high", "tool_choice": "required", "response_format": {"type": "json_object"},
            "messages": [
                {"role": "system", "content": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]},
                {"role": "user", "content": "hi", "cache_control": {"type": "ephemeral"}}],
            "tools": [{"type": "function", "cache_control": {"type": "ephemeral"},
                "function": {"name": "f", "cache_control": {"type": "ephemeral"},
                    "parameters": {"type": "object", "properties": {"cache_control": {"type": "string"}}}}}]}"#;
        let mut req = chat_req(full);
        let mut native = NativeRequest::new(Dialect::OpenAiResponses, serde_json::Map::new());
        for (k, v) in [
            ("previous_response_id", serde_json::json!("resp_1")),
            ("store", serde_json::json!(true)),
            ("metadata", serde_json::json!({"a": "b"})),
            ("include", serde_json::json!(["reasoning.encrypted_content"])),
        ] {
            native.only.insert(k.into(), v);
        }
        req.native = Some(Arc::new(native));
        let mut canon = Vec::new();
        write_canonical(&chat_fields(&req), &mut canon);
        assert_eq!(
            String::from_utf8(canon).unwrap(),
            concat!(
                r#"{"extra.reasoning_effort":"high","messages":[{"content":[{"text":"Be brief.","type":"text"}],"role":"system"},"#,
                r#"{"content":"hi","role":"user"}],"native.responses":{"include":["reasoning.encrypted_content"]},"#,
                r#""response_format":{"type":"json_object"},"tool_choice":"required","#,
                r#""tools":[{"function":{"name":"f","parameters":{"properties":{"cache_control":{"type":"string"}},"type":"object"}},"type":"function"}]}"#
            ),
            "a parameter named cache_control stays: only breakpoints are removed"
        );
        let t = [target("https://api.openai.com/v1", "gpt-4o-mini")];
        let base = chat(&t, &req);
        let unmarked = full.replace(r#", "cache_control": {"type": "ephemeral", "ttl": "1h"}"#, "");
        let mut same = chat_req(&unmarked);
        same.native = req.native.clone();
        assert_eq!(base, chat(&t, &same), "breakpoints do not change the answer");
        for (from, to) in [
            (r#""reasoning_effort": "high""#, r#""reasoning_effort": "low""#),
            (r#""tool_choice": "required""#, r#""tool_choice": "auto""#),
            (r#"{"type": "json_object"}"#, r#"{"type": "text"}"#),
            (r#""name": "f""#, r#""name": "g""#),
        ] {
            let mut other = chat_req(&full.replace(from, to));
            other.native = req.native.clone();
            assert_ne!(base, chat(&t, &other), "{from} -> {to} changes the answer");
        }
    }

    #[test]
    fn target_order_does_not_matter() {
        let a = target("https://api.openai.com/v1", "gpt-4o-mini");
        let b = target("http://127.0.0.1:8000/v1", "llama");
        let r = chat_req(A);
        assert_eq!(chat(&[a.clone(), b.clone()], &r), chat(&[b, a], &r));
    }

    #[test]
    fn embeddings_ignore_user() {
        let t = [target("https://api.openai.com/v1", "text-embedding-3-small")];
        let a: EmbeddingsRequest = serde_json::from_str(r#"{"model": "m", "input": ["a", "b"], "user": "x"}"#).unwrap();
        let b: EmbeddingsRequest = serde_json::from_str(r#"{"input": ["a", "b"], "model": "n"}"#).unwrap();
        let c: EmbeddingsRequest = serde_json::from_str(r#"{"input": ["b", "a"], "model": "n"}"#).unwrap();
        assert_eq!(embeddings(&t, &a), embeddings(&t, &b));
        assert_ne!(embeddings(&t, &a), embeddings(&t, &c));
    }
}
