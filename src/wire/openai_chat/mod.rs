//! The OpenAI Chat Completions dialect. The canonical types *are* its request, response and
//! chunk shapes, so this holds only what they do not: reading a vendor's SSE stream
//! (`data: <chunk>` events ending with `data: [DONE]`, in-band error events, Groq's
//! `x_groq.usage`) and reading an error body. Which fields each OpenAI-compatible server
//! accepts is adapter policy (`providers::presets`), not dialect.

use serde_json::Value;

use super::sse::SseEvent;
use super::{Flow, StreamDecoder, VendorReport, WireError};
use crate::api::{ChatChunk, Usage};

/// OpenAI SSE: ending without `[DONE]` is a broken stream, and an in-band `{"error": ...}`
/// event is an error. Chunks with no choices and no usage (Azure's `prompt_filter_results`
/// opener) carry nothing and are skipped.
#[derive(Debug, Clone, Copy, Default)]
pub struct StreamState {
    /// Lift `x_groq.usage` into `usage` (older Groq streams).
    pub x_groq: bool,
}

impl StreamDecoder for StreamState {
    fn on_event(&mut self, ev: SseEvent, out: &mut Vec<ChatChunk>) -> Result<Flow, WireError> {
        let data = ev.data.trim();
        if data == "[DONE]" {
            return Ok(Flow::Done);
        }
        let mut chunk = parse_chunk(data)?;
        if self.x_groq
            && chunk.usage.is_none()
            && let Some(u) = chunk.extra.get("x_groq").and_then(|x| x.get("usage"))
        {
            chunk.usage = serde_json::from_value::<Usage>(u.clone()).ok();
        } else if spec_complete(&chunk, data) {
            // Unchanged: the event's own bytes are the chunk (moved, not copied).
            let start = data.as_ptr() as usize - ev.data.as_ptr() as usize;
            let end = start + data.len();
            chunk.verbatim = Some(bytes::Bytes::from(ev.data).slice(start..end));
        }
        if !chunk.choices.is_empty() || chunk.usage.is_some() {
            out.push(chunk);
        }
        Ok(Flow::More)
    }

    fn on_end(&mut self, _out: &mut Vec<ChatChunk>) -> Result<(), WireError> {
        Err(WireError::Truncated("vendor stream ended before [DONE]".into()))
    }
}

/// Whether the vendor's chunk has every field the OpenAI spec requires of a chunk (`id`,
/// `object`, `created`, `model`; `index` and `finish_reason` in each choice), so that its own
/// bytes can stand for it. A chunk that leaves one out is encoded from its fields, which fills
/// the defaults in. A key's quoted name cannot occur inside a JSON string (its quotes would be
/// escaped there), so counting them counts keys.
fn spec_complete(chunk: &ChatChunk, data: &str) -> bool {
    use memchr::memmem::Finder;
    // The searchers are built once: building one costs more than searching a chunk.
    static KEYS: std::sync::LazyLock<[Finder<'static>; 3]> = std::sync::LazyLock::new(|| {
        [Finder::new(b"\"object\""), Finder::new(b"\"finish_reason\""), Finder::new(b"\"index\"")]
    });
    let [object, finish_reason, index] = &*KEYS;
    let n = chunk.choices.len();
    !chunk.id.is_empty()
        && chunk.created != 0
        && !chunk.model.is_empty()
        && object.find(data.as_bytes()).is_some()
        && finish_reason.find_iter(data.as_bytes()).take(n).count() == n
        && index.find_iter(data.as_bytes()).take(n).count() == n
}

/// One chunk, or the error the vendor sent in its place.
pub fn parse_chunk(data: &str) -> Result<ChatChunk, WireError> {
    if (data.starts_with("{\"error\"") || (data.contains("\"error\"") && !data.contains("\"choices\"")))
        && let Ok(v) = serde_json::from_str::<Value>(data)
        && v.get("error").is_some()
    {
        let (code, message) = error_fields(data.as_bytes());
        return Err(WireError::Reported(VendorReport::OpenAi { code, message }));
    }
    serde_json::from_str::<ChatChunk>(data)
        .map_err(|e| WireError::Malformed(format!("vendor sent an invalid stream chunk: {e}")))
}

/// `(code, message)` from an OpenAI-style error body (`error.code`, else `error.type`),
/// tolerating anything else: a non-JSON body is the message (its first 500 characters).
pub fn error_fields(body: &[u8]) -> (Option<String>, Option<String>) {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        return (None, (!text.is_empty()).then(|| text.chars().take(500).collect()));
    };
    let err = v.get("error").unwrap_or(&v);
    let code =
        err.get("code").and_then(Value::as_str).or_else(|| err.get("type").and_then(Value::as_str)).map(str::to_string);
    let message = err.get("message").and_then(Value::as_str).map(str::to_string);
    (code, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies() {
        let (c, m) =
            error_fields(br#"{"error":{"message":"slow down","type":"requests","code":"rate_limit_exceeded"}}"#);
        assert_eq!((c.as_deref(), m.as_deref()), (Some("rate_limit_exceeded"), Some("slow down")));
        let (c, m) = error_fields(b"<html>bad gateway</html>");
        assert_eq!((c, m.as_deref()), (None, Some("<html>bad gateway</html>")));
    }

    fn events(t: &mut StreamState, data: &[&str]) -> Vec<ChatChunk> {
        let mut out = Vec::new();
        for d in data {
            t.on_event(SseEvent { event: None, data: d.to_string() }, &mut out).unwrap();
        }
        out
    }

    #[test]
    fn a_chunk_missing_a_required_field_is_encoded_with_the_defaults() {
        let full = r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}"#;
        let no_object = full.replace(r#""object":"chat.completion.chunk","#, "");
        let no_finish = full.replace(r#","finish_reason":null"#, "");
        let text_mentions_keys =
            full.replace("hi", r#"say \"object\" and \"finish_reason\""#).replace(r#","finish_reason":null"#, "");
        for (data, verbatim) in
            [(full.to_string(), true), (no_object, false), (no_finish, false), (text_mentions_keys, false)]
        {
            let mut out = Vec::new();
            StreamState::default().on_event(SseEvent { event: None, data: data.clone() }, &mut out).unwrap();
            assert_eq!(out[0].verbatim.is_some(), verbatim, "{data}");
            let json: Value = serde_json::from_slice(&out[0].to_json()).unwrap();
            assert_eq!(json["object"], "chat.completion.chunk", "{data}");
            assert!(json["choices"][0].get("finish_reason").is_some(), "{data}");
        }
    }

    #[test]
    fn an_unchanged_chunk_keeps_the_vendors_bytes_without_surrounding_space() {
        let mut t = StreamState::default();
        let mut out = Vec::new();
        let data = "  {\"id\":\"c\", \"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"},\"logprobs\":null,\"finish_reason\":null}]} ";
        t.on_event(SseEvent { event: None, data: data.into() }, &mut out).unwrap();
        assert_eq!(out[0].verbatim.as_deref(), Some(data.trim().as_bytes()));
        assert_eq!(&out[0].to_json()[..], data.trim().as_bytes());
        // Once changed, the chunk is encoded from its fields.
        out[0].touch().usage = Some(Usage::new(1, 1));
        let json: Value = serde_json::from_slice(&out[0].to_json()).unwrap();
        assert_eq!(json["usage"]["prompt_tokens"], 1);
    }

    #[test]
    fn azure_filter_opener_skipped_and_groq_usage_lifted() {
        let mut t = StreamState { x_groq: true };
        let out = events(
            &mut t,
            &[
                r#"{"id":"","object":"","created":0,"model":"","choices":[],"prompt_filter_results":[{"prompt_index":0}]}"#,
                r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}"#,
                r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"x_groq":{"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}}"#,
            ],
        );
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].usage, Some(Usage::new(3, 1)));
        // The lifted usage is a change: that chunk is encoded again, the other passes as sent.
        assert!(out[1].verbatim.is_none());
        assert_eq!(
            out[0].verbatim.as_deref(),
            Some(
                &br#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}"#[..]
            )
        );
        assert_eq!(t.on_event(SseEvent { event: None, data: "[DONE]".into() }, &mut Vec::new()).unwrap(), Flow::Done);
    }
}
