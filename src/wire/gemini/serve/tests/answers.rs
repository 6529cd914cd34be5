//! Canonical answers, failures and chunk streams become the exact Gemini shapes (golden
//! fixtures); a Gemini answer or stream read by the calling side and written back is the same.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::{Value, json};

use super::super::super::SIG_SEP;
use super::super::super::call;
use super::super::{JsonArray, StreamEncoder, encode, error_body, from_canonical, status_name};
use crate::api::error::{CallerLimit, GatewayError, Refusal, Timeout};
use crate::api::{ChatChunk, ChatResponse};
use crate::wire::WireError;
use crate::wire::test_support::decode;

// ---- responses ------------------------------------------------------------------------------

#[test]
fn responses_golden_and_round_trip() {
    let answer: ChatResponse = serde_json::from_value(json!({"id": "chatcmpl-1", "model": "gpt-4o", "choices": [
        {"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": "Let me check.", "tool_calls": [
            {"id": "call_a", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
            {"id": "call_b", "type": "function", "function": {"name": "now", "arguments": ""}}]}},
        {"index": 1, "finish_reason": "length", "message": {"role": "assistant", "content": "Sunny and"}}],
        "usage": {"prompt_tokens": 30, "completion_tokens": 12, "total_tokens": 42,
                  "prompt_tokens_details": {"cached_tokens": 10}, "completion_tokens_details": {"reasoning_tokens": 5}}}))
    .unwrap();
    assert_eq!(
        serde_json::to_value(from_canonical(&answer).unwrap()).unwrap(),
        json!({"candidates": [
            {"content": {"role": "model", "parts": [{"text": "Let me check."},
                {"functionCall": {"name": "weather", "args": {"city": "Paris"}, "id": "call_a"}},
                {"functionCall": {"name": "now", "args": {}, "id": "call_b"}}]}, "finishReason": "STOP", "index": 0},
            {"content": {"role": "model", "parts": [{"text": "Sunny and"}]}, "finishReason": "MAX_TOKENS", "index": 1}],
            "usageMetadata": {"promptTokenCount": 30, "candidatesTokenCount": 7, "thoughtsTokenCount": 5,
                              "cachedContentTokenCount": 10, "totalTokenCount": 42},
            "modelVersion": "gpt-4o", "responseId": "chatcmpl-1"})
    );
    // A Gemini answer read by the calling side and written back is the same answer.
    let original = json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Here."},
            {"functionCall": {"name": "f", "args": {"x": [1, "ü"]}, "id": "fc-1"}, "thoughtSignature": "c2ln"}]},
            "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 8, "thoughtsTokenCount": 120,
                          "cachedContentTokenCount": 4, "totalTokenCount": 140},
        "modelVersion": "gemini-2.5-flash", "responseId": "resp-1"});
    let read = call::from_wire(serde_json::from_value(original.clone()).unwrap(), "g", 0).unwrap();
    assert_eq!(serde_json::to_value(from_canonical(&read).unwrap()).unwrap(), original);

    let refusal: ChatResponse =
        serde_json::from_value(json!({"id": "x", "choices": [{"index": 0, "finish_reason": "stop",
        "message": {"role": "assistant", "content": null, "refusal": "I can't help with that."}}]}))
        .unwrap();
    let v = serde_json::to_value(from_canonical(&refusal).unwrap()).unwrap();
    assert_eq!(v["candidates"][0]["finishReason"], "SAFETY");
    assert_eq!(v["candidates"][0]["content"]["parts"], json!([{"text": "I can't help with that."}]));
    for (finish, want) in [
        (Some("stop"), "STOP"),
        (Some("tool_calls"), "STOP"),
        (Some("length"), "MAX_TOKENS"),
        (Some("content_filter"), "SAFETY"),
        (Some("something_new"), "OTHER"),
        (None, "STOP"),
    ] {
        assert_eq!(super::super::finish_reason(finish), want, "{finish:?}");
    }
    let bad: ChatResponse =
        serde_json::from_value(json!({"id": "c", "choices": [{"index": 0, "message": {"role": "assistant",
        "tool_calls": [{"id": "x", "type": "function", "function": {"name": "f", "arguments": "[1]"}}]}}]}))
        .unwrap();
    assert!(matches!(from_canonical(&bad), Err(WireError::Unsupported { .. })));
}

#[test]
fn errors_by_status() {
    let body = |e: &GatewayError| serde_json::to_value(error_body(e)).unwrap()["error"].clone();
    let limited = GatewayError::CallerLimited {
        limit: CallerLimit::Requests,
        message: "slow down".into(),
        retry_after: Duration::from_millis(1500),
    };
    assert_eq!(
        body(&limited),
        json!({"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED", "details": [
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1.500s"},
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "CALLER_RATE_LIMITED", "domain": "sidegate", "metadata": {}}]})
    );
    let unknown = body(&GatewayError::UnknownModel { message: "unknown model `x`".into() });
    assert_eq!((unknown["code"].clone(), unknown["status"].clone()), (json!(404), json!("NOT_FOUND")));
    assert_eq!(unknown["details"][0]["metadata"], json!({"param": "model"}));
    let upstream = |status| GatewayError::Upstream {
        status,
        code: "upstream_error".into(),
        message: "m".into(),
        retry_after: None,
        attempts: Vec::new(),
    };
    let table = [
        (GatewayError::invalid("bad", Some("contents")), 400, "INVALID_ARGUMENT"),
        (upstream(401), 401, "UNAUTHENTICATED"),
        (
            GatewayError::CallerRefused { refusal: Refusal::UnknownCaller, message: "who?".into() },
            403,
            "PERMISSION_DENIED",
        ),
        (GatewayError::NoSuchEndpoint { method: "GET".into(), path: "/x".into() }, 404, "NOT_FOUND"),
        (GatewayError::internal("bug"), 500, "INTERNAL"),
        (GatewayError::StreamBroken { message: "cut".into() }, 502, "UNAVAILABLE"),
        (GatewayError::ProviderUnavailable { message: "no key".into() }, 503, "UNAVAILABLE"),
        (
            GatewayError::TimedOut { timeout: Timeout::Deadline, message: "late".into(), attempts: Vec::new() },
            504,
            "DEADLINE_EXCEEDED",
        ),
        (WireError::invalid_at("tools[0]", "x").to_gateway_error(), 400, "INVALID_ARGUMENT"),
    ];
    for (e, code, status) in table {
        let b = body(&e);
        assert_eq!((b["code"].as_u64(), b["status"].as_str()), (Some(code), Some(status)), "{e:?}");
        assert_eq!(b["message"], e.to_string());
    }
    assert_eq!(status_name(413), "INVALID_ARGUMENT");
    assert_eq!(status_name(529), "INTERNAL");
}

// ---- streams --------------------------------------------------------------------------------

fn chunks(list: Value) -> Vec<ChatChunk> {
    serde_json::from_value(list).expect("canonical chunks")
}

fn encode_all(chunks: &[ChatChunk]) -> Result<Vec<Value>, WireError> {
    let mut enc = StreamEncoder::new();
    let mut out = Vec::new();
    for c in chunks {
        enc.on_chunk(c, &mut out)?;
    }
    enc.finish(&mut out)?;
    Ok(out.iter().map(|e| serde_json::to_value(e).expect("serializes")).collect())
}

#[test]
fn golden_events_for_text_then_two_tool_calls() {
    let ch = |delta: Value| json!({"id": "chatcmpl-1", "model": "gpt-4o", "choices": [{"index": 0, "delta": delta}]});
    let c = chunks(json!([
        ch(json!({"role": "assistant", "content": ""})),
        ch(json!({"content": "Checking "})),
        ch(json!({"content": "☀️"})),
        ch(json!({"tool_calls": [{"index": 0, "id": format!("call_a{SIG_SEP}c2ln"), "type": "function",
            "function": {"name": "weather", "arguments": ""}}]})),
        ch(json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\":"}}]})),
        ch(json!({"tool_calls": [{"index": 0, "function": {"arguments": "\"Paris\"}"}}]})),
        ch(json!({"tool_calls": [{"index": 1, "id": "call_b", "type": "function", "function": {"name": "now", "arguments": "{}"}}]})),
        {"id": "chatcmpl-1", "model": "gpt-4o", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
        {"id": "chatcmpl-1", "model": "gpt-4o", "choices": [],
         "usage": {"prompt_tokens": 30, "completion_tokens": 12, "total_tokens": 42, "prompt_tokens_details": {"cached_tokens": 10}}}
    ]));
    let text = |t: &str| {
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": t}]}, "index": 0}],
               "modelVersion": "gpt-4o", "responseId": "chatcmpl-1"})
    };
    let last = json!({"candidates": [{"content": {"role": "model", "parts": [
            {"functionCall": {"name": "weather", "args": {"city": "Paris"}, "id": "call_a"}, "thoughtSignature": "c2ln"},
            {"functionCall": {"name": "now", "args": {}, "id": "call_b"}}]}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 30, "candidatesTokenCount": 12, "cachedContentTokenCount": 10, "totalTokenCount": 42},
        "modelVersion": "gpt-4o", "responseId": "chatcmpl-1"});
    assert_eq!(encode_all(&c).unwrap(), vec![text("Checking "), text("☀️"), last]);

    // Nothing in the stream: still one closing event.
    assert_eq!(
        encode_all(&[]).unwrap(),
        vec![json!({"candidates": [{"finishReason": "STOP", "index": 0}],
                    "usageMetadata": {"promptTokenCount": 0, "candidatesTokenCount": 0, "totalTokenCount": 0}})]
    );
    // Text after a call sends the call whole first; arguments for it after that are an error.
    let after = chunks(json!([
        ch(json!({"tool_calls": [{"index": 0, "id": "a", "function": {"name": "f", "arguments": "{}"}}]})),
        ch(json!({"content": "done"})),
    ]));
    let v = encode_all(&after).unwrap();
    assert_eq!(
        v[0]["candidates"][0]["content"]["parts"],
        json!([{"functionCall": {"name": "f", "args": {}, "id": "a"}}, {"text": "done"}])
    );
    let late =
        [after, chunks(json!([ch(json!({"tool_calls": [{"index": 0, "function": {"arguments": "x"}}]}))]))].concat();
    assert!(matches!(encode_all(&late), Err(WireError::Malformed(_))));
    let two = chunks(json!([
        {"choices": [{"index": 1, "delta": {"content": "b"}}]},
        {"choices": [{"index": 0, "delta": {"content": "a"}, "finish_reason": "length"}]},
        {"choices": [{"index": 1, "delta": {}, "finish_reason": "stop"}]}]));
    let v = encode_all(&two).unwrap();
    assert_eq!(
        v[2]["candidates"],
        json!([{"finishReason": "MAX_TOKENS", "index": 0}, {"finishReason": "STOP", "index": 1}])
    );
}

#[test]
fn framing_and_stream_errors() {
    let ev = crate::wire::gemini::types::GenerateResponse { response_id: Some("r".into()), ..Default::default() };
    assert_eq!(encode(&ev), b"data: {\"responseId\":\"r\"}\n\n".to_vec());
    let mut arr = JsonArray::default();
    let bytes = [arr.item(&ev), arr.item(&ev), arr.end()].concat();
    let parsed: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(parsed, json!([{"responseId": "r"}, {"responseId": "r"}]));
    assert_eq!(JsonArray::default().end(), b"[]".to_vec());
    let e = StreamEncoder::error(&GatewayError::StreamBroken { message: "vendor went away".into() });
    let v = serde_json::to_value(e).unwrap();
    assert_eq!((v["error"]["code"].clone(), v["error"]["status"].clone()), (json!(502), json!("UNAVAILABLE")));
}

/// A Gemini stream read by the calling side and written back by the serving side: the same
/// text, the same whole calls with their signatures, the finish reason and the last usage.
#[test]
fn a_vendor_stream_round_trips_through_canonical_chunks() {
    let data = |v: Value| format!("data: {v}\r\n\r\n");
    let sse = data(
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Hi "}]}, "index": 0}], "responseId": "r1"}),
    ) + &data(json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "there"},
            {"functionCall": {"name": "f", "args": {"a": 1}, "id": "fc-1"}, "thoughtSignature": "c2ln"}]}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 7, "candidatesTokenCount": 9, "totalTokenCount": 16}, "responseId": "r1"}));
    let (canonical, err) = decode(call::StreamState::new("gemini-2.0-flash", 0), &sse, 0);
    assert!(err.is_none(), "{err:?}");
    let events = encode_all(&canonical).unwrap();
    let parts: Vec<Value> = events
        .iter()
        .flat_map(|e| e["candidates"][0]["content"]["parts"].as_array().cloned().unwrap_or_default())
        .collect();
    assert_eq!(
        parts,
        [
            json!({"text": "Hi "}),
            json!({"text": "there"}),
            json!({"functionCall": {"name": "f", "args": {"a": 1}, "id": "fc-1"}, "thoughtSignature": "c2ln"})
        ]
    );
    let last = events.last().unwrap();
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert_eq!(last["usageMetadata"], json!({"promptTokenCount": 7, "candidatesTokenCount": 9, "totalTokenCount": 16}));
    assert_eq!(last["responseId"], "r1");
}
