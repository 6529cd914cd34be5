//! The caller's own dialect, carried beside the canonical request and answer so that a vendor
//! speaking that same dialect gets the request as the caller sent it and the caller gets the
//! vendor's answer as the vendor sent it (passthrough), while everything else in the pipeline
//! (routing, limits, cache key, accounting) works on the canonical form.
//!
//! - [`Dialect`]: which API a request came in as (the ledger's `dialect` column, the
//!   metrics' `dialect` label).
//! - [`NativeRequest`]: the caller's request body and the vendor headers it brought
//!   (`anthropic-version`, `anthropic-beta`), plus the fields the canonical form does not
//!   model (`only`): those reach a same-dialect vendor and no other, and they are part of
//!   the cache key.
//! - [`NativeBytes`]: a vendor's answer body, or one stream event, verbatim, tagged with its
//!   dialect, so a front uses it only when it is the dialect it serves (a coalesced call may
//!   be shared by callers of several dialects).

use std::sync::Arc;

use bytes::Bytes;
use serde_json::{Map, Value};

/// A wire API a caller speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Dialect {
    /// OpenAI Chat Completions (and the native protocol, which carries its shapes).
    #[default]
    OpenAiChat,
    /// OpenAI Embeddings.
    OpenAiEmbeddings,
    /// Anthropic Messages.
    AnthropicMessages,
    /// OpenAI Responses.
    OpenAiResponses,
    /// Google Gemini generateContent (and its embeddings).
    Gemini,
}

impl Dialect {
    /// The name in logs, the ledger and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::OpenAiChat => "chat",
            Dialect::OpenAiEmbeddings => "embeddings",
            Dialect::AnthropicMessages => "messages",
            Dialect::OpenAiResponses => "responses",
            Dialect::Gemini => "gemini",
        }
    }
}

impl std::fmt::Display for Dialect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request as its caller sent it, for a vendor of the same dialect.
#[derive(Debug, Clone, PartialEq)]
pub struct NativeRequest {
    pub dialect: Dialect,
    /// The request body's top-level object, every field intact.
    pub body: Map<String, Value>,
    /// Vendor headers the caller sent that a same-dialect vendor must see (lower-case names).
    pub headers: Vec<(String, String)>,
    /// Fields of `body` the canonical request does not carry: a same-dialect vendor gets
    /// them (they are in `body`), others do not; they change the answer, so the cache key
    /// includes them.
    pub only: Map<String, Value>,
    /// What only a vendor of this dialect can do (OpenAI's hosted tools, say): a vendor of
    /// another dialect refuses the request as unsupported, so the router tries one that can.
    pub required: Vec<Required>,
}

/// Something in a request only a vendor of its own dialect can serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Required {
    /// Where in the request (`tools[2]`).
    pub at: String,
    /// What it is (`the built-in tool `web_search``), for the refusal's message.
    pub what: String,
}

impl Required {
    pub fn new(at: impl Into<String>, what: impl Into<String>) -> Self {
        Required { at: at.into(), what: what.into() }
    }
}

impl NativeRequest {
    /// A native request of `dialect` around `body`.
    pub fn new(dialect: Dialect, body: Map<String, Value>) -> Self {
        NativeRequest { dialect, body, headers: Vec::new(), only: Map::new(), required: Vec::new() }
    }

    /// The body a vendor of this dialect is sent: the caller's, with `model` set to the
    /// vendor's id and `stream` to what this call does (a cached route may make a whole
    /// call for a streaming caller). Nothing else changes. Serialized straight from the
    /// caller's body, without a copy of it.
    pub fn body_for<'a>(&'a self, model: &'a str, stream: bool) -> BodyFor<'a> {
        BodyFor { body: &self.body, model, stream }
    }

    /// The field names a vendor of another dialect will not get, for its debug log.
    pub fn dropped(&self) -> impl Iterator<Item = &str> {
        self.only.keys().map(String::as_str)
    }
}

/// A native body with its `model` and `stream` set, as it serializes.
pub struct BodyFor<'a> {
    body: &'a Map<String, Value>,
    model: &'a str,
    stream: bool,
}

impl<'a> BodyFor<'a> {
    /// `body` (a caller's native body, possibly edited) with `model` and `stream` set.
    pub fn new(body: &'a Map<String, Value>, model: &'a str, stream: bool) -> Self {
        BodyFor { body, model, stream }
    }
}

impl serde::Serialize for BodyFor<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("model", self.model)?;
        for (k, v) in self.body.iter().filter(|(k, _)| !matches!(k.as_str(), "model" | "stream")) {
            m.serialize_entry(k, v)?;
        }
        if self.stream {
            m.serialize_entry("stream", &true)?;
        }
        m.end()
    }
}

/// Checks a request before a vendor that does not speak `n.dialect` is called with its
/// canonical form: refused (`Unsupported`, so the router fails over to a vendor of the
/// caller's dialect) when it has something in `required`, else each `only` field it will not
/// get is named in a debug log.
pub fn check_foreign(n: &NativeRequest, vendor: &str) -> Result<(), crate::wire::WireError> {
    if let Some(first) = n.required.first() {
        return Err(crate::wire::WireError::unsupported_at(
            "this vendor",
            first.at.clone(),
            format!("{} (only a vendor speaking the caller's `{}` API can serve it)", first.what, n.dialect),
        ));
    }
    for field in n.dropped() {
        tracing::debug!(
            dialect = n.dialect.as_str(),
            vendor,
            field,
            "field dropped: the vendor does not speak the caller's dialect"
        );
    }
    Ok(())
}

/// The native request of `dialect`, if `native` is one.
pub fn of(native: &Option<Arc<NativeRequest>>, dialect: Dialect) -> Option<&NativeRequest> {
    native.as_deref().filter(|n| n.dialect == dialect)
}

/// A vendor's answer body or one stream event, as the vendor sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NativeBytes {
    pub dialect: Dialect,
    pub bytes: Bytes,
}

impl NativeBytes {
    /// The bytes, if they are in `dialect`.
    pub fn of(native: &Option<NativeBytes>, dialect: Dialect) -> Option<&Bytes> {
        native.as_ref().filter(|n| n.dialect == dialect).map(|n| &n.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_same_dialect_body_changes_only_model_and_stream() {
        let Value::Object(body) = json!({"model": "fast", "max_tokens": 5, "thinking": {"type": "adaptive"},
            "stream": true, "messages": []})
        else {
            unreachable!()
        };
        let n = NativeRequest::new(Dialect::AnthropicMessages, body.clone());
        let sent = |stream| match serde_json::to_value(n.body_for("claude-x", stream)) {
            Ok(Value::Object(m)) => m,
            other => panic!("not an object: {other:?}"),
        };
        let whole = sent(false);
        assert_eq!(whole["model"], "claude-x");
        assert!(!whole.contains_key("stream"));
        assert_eq!(whole["thinking"], body["thinking"]);
        assert_eq!(whole.len(), body.len() - 1);
        let mut streamed = sent(true);
        assert_eq!(streamed.remove("stream"), Some(Value::Bool(true)));
        assert_eq!(streamed, whole);
    }

    #[test]
    fn native_bytes_are_used_only_in_their_dialect() {
        let b = Some(NativeBytes { dialect: Dialect::Gemini, bytes: Bytes::from_static(b"{}") });
        assert!(NativeBytes::of(&b, Dialect::Gemini).is_some());
        assert!(NativeBytes::of(&b, Dialect::AnthropicMessages).is_none());
        let r = Some(Arc::new(NativeRequest::new(Dialect::OpenAiResponses, Map::new())));
        assert!(of(&r, Dialect::OpenAiResponses).is_some());
        assert!(of(&r, Dialect::OpenAiChat).is_none());
    }
}
