//! The Anthropic adapter's edges: requests the dialect cannot express and vendor errors
//! (HTTP bodies and stream `error` events) classified for failover.

use serde_json::{Value, json};

use crate::api::{ChatChunk, ChatRequest};
use crate::providers::{Failure, ProviderError};
use crate::wire::anthropic::call::{self as translate, Options, ReplyCtx, StreamState};
use crate::wire::test_support::{anthropic_start as start, decode, named_event as ev};

fn wire_of(v: Value) -> Result<Value, ProviderError> {
    let r: ChatRequest = serde_json::from_value(v).expect("valid OpenAI request");
    let (w, _) = translate::to_wire(&r, "claude-3-5-haiku-latest", false, &Options::default())?;
    Ok(serde_json::to_value(&w).expect("serializes"))
}

fn user(text: &str) -> Value {
    json!({"role": "user", "content": text})
}

/// A whole SSE transcript decoded; errors classified as the adapter does.
fn run(sse: &str, ctx: ReplyCtx) -> (Vec<ChatChunk>, Option<ProviderError>) {
    let (chunks, err) = decode(StreamState::new(ctx, 1), sse, 0);
    (chunks, err.map(ProviderError::from))
}

#[test]
fn requests_that_cannot_be_expressed_are_400s() {
    let bad = [
        json!({"model": "x", "messages": [user("a")], "temperature": 1.5}),
        json!({"model": "x", "messages": [user("a")], "logit_bias": {"1": 3}}),
        json!({"model": "x", "messages": [user("a")], "logprobs": true}),
        json!({"model": "x", "messages": [user("a")], "modalities": ["text", "audio"]}),
        json!({"model": "x", "messages": [user("a")], "n": 2}),
        json!({"model": "x", "messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "AA", "format": "wav"}}]}]}),
        json!({"model": "x", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/tiff;base64,AA"}}]}]}),
        json!({"model": "x", "messages": [user("a"), {"role": "assistant", "content": null, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "x"}]}),
        json!({"model": "x", "messages": [user("a"), {"role": "assistant", "content": null, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}, user("no result")]}),
        json!({"model": "x", "messages": [user("a"), {"role": "tool", "tool_call_id": "zz", "content": "orphan"}]}),
        json!({"model": "x", "messages": [{"role": "system", "content": "only system"}]}),
    ];
    for b in bad {
        let e = wire_of(b.clone()).err().unwrap_or_else(|| panic!("accepted: {b}"));
        // a field the vendor lacks fails over (Unsupported); a malformed request returns at once
        assert!(matches!(e.failure, Failure::InvalidRequest | Failure::Unsupported), "{b}: {e}");
        assert_eq!(e.caller_status(), 400);
    }
    let e =
        wire_of(json!({"model": "x", "messages": [user("a"), {"role": "assistant", "content": null, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}, user("no result")]}))
        .unwrap_err();
    assert!(e.message.contains("`c1` has no tool message"), "{e}");
}

#[test]
fn stream_error_event_is_a_classified_error_after_the_text_so_far() {
    let sse = start()
        + &ev(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        )
        + &ev(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}}),
        )
        + &ev("error", json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}));
    let (chunks, err) = run(&sse, ReplyCtx::default());
    assert_eq!(chunks.len(), 2, "role + text, no finish chunk");
    assert!(chunks.iter().all(|c| c.choices.iter().all(|ch| ch.finish_reason.is_none())));
    let e = err.expect("error");
    assert_eq!((e.failure, e.status, e.code.as_deref()), (Failure::Upstream, Some(529), Some("overloaded_error")));

    let sse = start() + &ev("error", json!({"type": "error", "error": {"type": "weird_error", "message": "boom"}}));
    let (chunks, err) = run(&sse, ReplyCtx::default());
    assert!(chunks.is_empty(), "no role chunk before content: the router can still fail over");
    assert_eq!(err.map(|e| e.failure), Some(Failure::StreamBroken));
}

#[test]
fn stream_cut_before_message_stop_is_broken() {
    let sse = start()
        + &ev(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        );
    let (_, err) = run(&sse, ReplyCtx::default());
    assert_eq!(err.map(|e| e.failure), Some(Failure::StreamBroken));
}

#[test]
fn http_error_bodies() {
    let h = reqwest::header::HeaderMap::new();
    let e = super::error_from_http(
        529,
        &h,
        br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
    );
    assert_eq!((e.failure, e.caller_status()), (Failure::Upstream, 503));
    let e = super::error_from_http(400, &h, br#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}}"#);
    assert_eq!(e.failure, Failure::ContextTooLong);
    let e = super::error_from_http(
        400,
        &h,
        br#"{"type":"error","error":{"type":"billing_error","message":"credit balance too low"}}"#,
    );
    assert_eq!(e.failure, Failure::Quota);
    let mut h = reqwest::header::HeaderMap::new();
    h.insert("retry-after", "3".parse().unwrap());
    let e =
        super::error_from_http(429, &h, br#"{"type":"error","error":{"type":"rate_limit_error","message":"slow"}}"#);
    assert_eq!((e.failure, e.retry_after), (Failure::RateLimited, Some(std::time::Duration::from_secs(3))));
    let e = super::error_from_http(413, &h, b"<html>Request Entity Too Large</html>");
    assert_eq!(e.failure, Failure::TooLarge);
}
