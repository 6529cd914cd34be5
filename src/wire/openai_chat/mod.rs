//! The OpenAI Chat Completions dialect. The canonical types *are* its request, response and
//! chunk shapes, so this holds only what they do not: reading a vendor's whole answer (kept as
//! the vendor's bytes too when it has every key the spec requires), reading its SSE stream
//! (`data: <chunk>` events ending with `data: [DONE]`, in-band error events, Groq's
//! `x_groq.usage`) and reading an error body. Which fields each OpenAI-compatible server
//! accepts is adapter policy (`providers::presets`), not dialect.

use bytes::Bytes;
use serde_json::Value;

use super::sse::SseEvent;
use super::{Flow, StreamDecoder, VendorReport, WireError};
use crate::api::{ChatChunk, ChatResponse, Usage, required_keys};

/// A vendor's whole answer (`body` as read, not copied). When it has every key OpenAI's spec
/// requires of one (`required_keys`: `id`, `object`, `created`, `model`, `choices`; each
/// choice's `index`, `message`, `finish_reason`, `logprobs`; each message's `role`, `content`,
/// `refusal`), it keeps the body, trimmed, as its `verbatim` JSON; an answer that lacks one is
/// encoded from its fields when served, which fills the defaults in.
pub fn read_answer(body: Bytes) -> Result<ChatResponse, serde_json::Error> {
    // Not UTF-8: decoded as before, never passed on as it is.
    let Ok(text) = std::str::from_utf8(&body) else {
        return serde_json::from_slice(&body);
    };
    let (mut answer, complete) = required_keys::decode::<ChatResponse>(text)?;
    if complete {
        // Only JSON whitespace can surround a body that decoded.
        answer.verbatim = Some(body.slice_ref(body.trim_ascii()));
    }
    Ok(answer)
}

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
        let (mut chunk, complete) = read_chunk(data)?;
        if self.x_groq
            && chunk.usage.is_none()
            && let Some(u) = chunk.extra.get("x_groq").and_then(|x| x.get("usage"))
        {
            chunk.usage = serde_json::from_value::<Usage>(u.clone()).ok();
        } else if complete {
            // Unchanged: the event's own bytes are the chunk (moved, not copied; only JSON
            // whitespace can surround data that decoded).
            let data = Bytes::from(ev.data);
            chunk.verbatim = Some(data.slice_ref(data.trim_ascii()));
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

/// One chunk, or the error the vendor sent in its place.
pub fn parse_chunk(data: &str) -> Result<ChatChunk, WireError> {
    read_chunk(data).map(|(chunk, _)| chunk)
}

/// [`parse_chunk`], and whether the chunk has every key OpenAI's spec requires of one
/// (`required_keys`: `id`, `object`, `created`, `model`, `choices`; each choice's `index`,
/// `delta` and `finish_reason`), so that its own bytes can stand for it. A chunk that leaves
/// one out is encoded from its fields, which fills the defaults in.
fn read_chunk(data: &str) -> Result<(ChatChunk, bool), WireError> {
    if (data.starts_with("{\"error\"") || (data.contains("\"error\"") && !data.contains("\"choices\"")))
        && let Ok(v) = serde_json::from_str::<Value>(data)
        && v.get("error").is_some()
    {
        let (code, message) = error_fields(data.as_bytes());
        return Err(WireError::Reported(VendorReport::OpenAi { code, message }));
    }
    required_keys::decode::<ChatChunk>(data)
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

    /// A spec-complete answer in a key order sidegate does not write, with a usage key it does
    /// not model (encoding drops it) and space around it.
    const FULL: &str = " {\"object\":\"chat.completion\",\"id\":\"c\",\"created\":1,\"model\":\"m\",\"choices\":[{\"message\":{\"content\":\"hi\",\"role\":\"assistant\",\"refusal\":null},\"index\":0,\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1,\"total_tokens\":2,\"queue_time\":0.01}}\n";

    fn answer(body: &str) -> ChatResponse {
        read_answer(Bytes::from(body.to_string())).unwrap()
    }

    #[test]
    fn a_spec_complete_answer_keeps_the_vendors_bytes_until_touched() {
        let mut a = answer(FULL);
        assert_eq!(a.verbatim.as_deref(), Some(FULL.trim().as_bytes()));
        assert_eq!(&a.to_json()[..], FULL.trim().as_bytes());
        let mut framed = Vec::new();
        a.write_json(&mut framed).unwrap();
        assert_eq!(framed, FULL.trim().as_bytes());
        a.touch().choices[0].message.content = Some("changed".into());
        let json: Value = serde_json::from_slice(&a.to_json()).unwrap();
        assert_eq!(json["choices"][0]["message"]["content"], "changed");
        assert!(json["usage"].get("queue_time").is_none(), "encoded from the fields");
    }

    #[test]
    fn an_answer_missing_any_required_key_is_encoded_with_the_defaults() {
        let cuts = [
            (r#""object":"chat.completion","#, "object"),
            (r#""created":1,"#, "created"),
            (r#""model":"m","#, "model"),
            (r#""role":"assistant","#, "role"),
            (r#""content":"hi","#, "content"),
            (r#","refusal":null"#, "refusal"),
            (r#","logprobs":null"#, "logprobs"),
            (r#","finish_reason":"stop""#, "finish_reason"),
        ];
        for (cut, key) in cuts {
            assert!(FULL.contains(cut), "{cut}");
            let a = answer(&FULL.replace(cut, ""));
            assert!(a.verbatim.is_none(), "without {key}");
            let json: Value = serde_json::from_slice(&a.to_json()).unwrap();
            let has = |v: &Value| v.get(key).is_some();
            let c = &json["choices"][0];
            assert!(has(&json) || has(c) || has(&c["message"]), "{key} filled in: {json}");
        }
        // Without `id`, `choices`, a choice's `index` or `message`, it is no answer at all.
        for cut in [r#""id":"c","#, r#""index":0,"#] {
            assert!(read_answer(Bytes::from(FULL.replace(cut, ""))).is_err(), "{cut}");
        }
    }

    #[test]
    fn key_names_elsewhere_do_not_stand_in_for_a_missing_key() {
        // The names quoted in text, as whole string values, and as keys of an extension
        // object: the message still lacks `refusal`, the second choice `logprobs`.
        let body = r#"{"id":"c","object":"chat.completion","created":1,"model":"refusal","choices":[
            {"index":0,"message":{"role":"assistant","content":"say \"refusal\": and \"logprobs\":","x":{"refusal":null}},"logprobs":null,"finish_reason":"stop"},
            {"index":1,"message":{"role":"assistant","content":"logprobs","refusal":null},"finish_reason":"stop","x":{"logprobs":null}}]}"#;
        assert!(answer(body).verbatim.is_none());
        let whole = body
            .replace(r#","x":{"refusal":null}"#, r#","refusal":null"#)
            .replace(r#","x":{"logprobs":null}"#, r#","logprobs":null"#);
        assert!(answer(&whole).verbatim.is_some(), "{whole}");
    }

    #[test]
    fn an_answer_that_is_not_utf8_never_passes_as_sent() {
        let mut body = FULL.replace("queue_time\":0.01", "queue_time\":\"\u{1}\"").into_bytes();
        let at = body.iter().position(|b| *b == 1).unwrap();
        body[at] = 0xff;
        assert!(read_answer(Bytes::from(body)).map_or(true, |a| a.verbatim.is_none()));
    }

    #[test]
    fn a_chunk_missing_a_required_field_is_encoded_with_the_defaults() {
        let full = r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}"#;
        let no_object = full.replace(r#""object":"chat.completion.chunk","#, "");
        let no_finish = full.replace(r#","finish_reason":null"#, "");
        let text_mentions_keys =
            full.replace("hi", r#"say \"object\" and \"finish_reason\""#).replace(r#","finish_reason":null"#, "");
        // A token that is a key's name, as a whole string value (`class A(object)`).
        let value_is_a_key_name = no_object.replace(r#""hi""#, r#""object""#);
        let mut cases =
            vec![(full.to_string(), true), (no_object, false), (no_finish, false), (text_mentions_keys, false)];
        cases.push((value_is_a_key_name, false));
        for cut in [r#""id":"c","#, r#""created":1,"#, r#""model":"m","#, r#""delta":{"content":"hi"},"#] {
            cases.push((full.replace(cut, ""), false));
        }
        for (data, verbatim) in cases {
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
