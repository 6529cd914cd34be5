//! The Gemini adapter's edges: requests the dialect cannot express, model ids in the URL
//! path, and vendor errors (HTTP bodies, in-stream errors, blocked prompts) classified for
//! failover.

use serde_json::{Value, json};

use crate::api::{ChatChunk, ChatRequest};
use crate::providers::{Failure, ProviderError};
use crate::wire::gemini::call::{self as translate, StreamState};
use crate::wire::gemini::types as wire;
use crate::wire::test_support::decode;

fn wire_of(v: Value) -> Result<Value, ProviderError> {
    let r: ChatRequest = serde_json::from_value(v).expect("valid OpenAI request");
    Ok(serde_json::to_value(translate::to_wire(&r)?).expect("serializes"))
}

fn user(text: &str) -> Value {
    json!({"role": "user", "content": text})
}

fn response(v: Value) -> Result<Value, ProviderError> {
    let parsed: wire::GenerateResponse = serde_json::from_value(v).expect("vendor-shaped response");
    Ok(serde_json::to_value(translate::from_wire(parsed, "gemini-2.0-flash", 9)?).expect("serializes"))
}

/// A whole SSE transcript decoded; errors classified as the adapter does.
fn run(sse: &str) -> (Vec<ChatChunk>, Option<ProviderError>) {
    let (chunks, err) = decode(StreamState::new("gemini-2.0-flash", 1), sse, 0);
    (chunks, err.map(ProviderError::from))
}

fn data(v: Value) -> String {
    format!("data: {v}\r\n\r\n")
}

#[test]
fn requests_that_cannot_be_expressed_are_400s() {
    let bad = [
        json!({"model": "x", "messages": [user("a")], "logprobs": true}),
        json!({"model": "x", "messages": [user("a")], "logit_bias": {"1": 2}}),
        json!({"model": "x", "messages": [user("a")], "stop": ["a", "b", "c", "d", "e", "f"]}),
        json!({"model": "x", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]}),
        json!({"model": "x", "messages": [user("a"), {"role": "tool", "tool_call_id": "nobody", "content": "x"}]}),
        json!({"model": "x", "messages": [user("a"), {"role": "assistant", "content": null, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
            {"id": "c2", "type": "function", "function": {"name": "g", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "only one"}]}),
        json!({"model": "x", "messages": [user("a")], "tools": [{"type": "function", "function": {"name": "1bad"}}]}),
        json!({"model": "x", "messages": [user("a")], "tools": [{"type": "function", "function": {"name": "f",
            "parameters": {"$ref": "#/$defs/N", "$defs": {"N": {"type": "object", "properties": {"n": {"$ref": "#/$defs/N"}}}}}}}]}),
    ];
    for b in bad {
        let e = wire_of(b.clone()).err().unwrap_or_else(|| panic!("accepted: {b}"));
        // a field the vendor lacks fails over (Unsupported); a malformed request returns at once
        assert!(matches!(e.failure, Failure::InvalidRequest | Failure::Unsupported), "{b}: {e}");
        assert_eq!(e.caller_status(), 400, "{b}: {e}");
    }
    let e = wire_of(json!({"model": "x", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]})).unwrap_err();
    assert!(e.message.contains("data:"), "the error says what to do: {e}");
    assert!(super::model_path("gemini-2.0-flash").is_ok());
    assert_eq!(super::model_path("models/gemini-2.0-flash").ok(), Some("gemini-2.0-flash"));
    for evil in ["../../v1/files", "a/b", "a?key=x", "", ".."] {
        assert!(super::model_path(evil).is_err(), "{evil}");
    }
}

#[test]
fn blocked_prompt_is_a_content_policy_400() {
    let e = response(json!({"promptFeedback": {"blockReason": "SAFETY", "safetyRatings": []},
        "usageMetadata": {"promptTokenCount": 5, "totalTokenCount": 5}}))
    .unwrap_err();
    assert_eq!(
        (e.failure, e.caller_status(), e.code.as_deref()),
        (Failure::InvalidRequest, 400, Some("content_policy_violation"))
    );
}

#[test]
fn error_bodies_are_classified() {
    let h = reqwest::header::HeaderMap::new();
    let rate = br#"{"error":{"code":429,"message":"You exceeded your current quota, please check your plan","status":"RESOURCE_EXHAUSTED",
        "details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaId":"GenerateRequestsPerMinutePerProjectPerModel"}]},
                   {"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"32s"}]}}"#;
    let e = super::error_from_http(429, &h, rate);
    assert_eq!((e.failure, e.retry_after), (Failure::RateLimited, Some(std::time::Duration::from_secs(32))));
    let daily = br#"{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED","details":[{"violations":[{"quotaId":"GenerateRequestsPerDayPerProjectPerModel"}]}]}}"#;
    assert_eq!(super::error_from_http(429, &h, daily).failure, Failure::Quota);
    let key = br#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT",
        "details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]}}"#;
    assert_eq!(super::error_from_http(400, &h, key).failure, Failure::Auth);
    let bad = br#"{"error":{"code":400,"message":"Invalid JSON payload received. Unknown name \"foo\"","status":"INVALID_ARGUMENT"}}"#;
    let e = super::error_from_http(400, &h, bad);
    assert_eq!((e.failure, e.code.as_deref()), (Failure::InvalidRequest, Some("INVALID_ARGUMENT")));
    let long = br#"{"error":{"code":400,"message":"The input token count (2000000) exceeds the maximum number of tokens allowed (1048576).","status":"INVALID_ARGUMENT"}}"#;
    assert_eq!(super::error_from_http(400, &h, long).failure, Failure::ContextTooLong);
    assert_eq!(
        super::error_from_http(
            503,
            &h,
            br#"{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}"#
        )
        .failure,
        Failure::Upstream
    );
}

#[test]
fn stream_without_finish_is_broken_and_in_stream_errors_are_errors() {
    let sse = data(json!({"candidates": [{"content": {"parts": [{"text": "partial"}]}, "index": 0}]}));
    let (chunks, err) = run(&sse);
    assert_eq!(chunks.len(), 2);
    assert_eq!(err.map(|e| e.failure), Some(Failure::StreamBroken));

    let sse = data(json!({"candidates": [{"content": {"parts": [{"text": "partial"}]}, "index": 0}]}))
        + &data(json!({"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}));
    let (_, err) = run(&sse);
    assert_eq!(err.map(|e| (e.failure, e.status)), Some((Failure::Upstream, Some(503))));

    let sse = data(json!({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}}));
    let (chunks, err) = run(&sse);
    assert!(chunks.is_empty());
    assert_eq!(err.map(|e| e.code), Some(Some("content_policy_violation".to_string())));
}
