#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Thoughts, both directions and at every stream split point: the reasoning ask as
//! `thinkingConfig`, thought parts and text-part signatures as details, signatures back on
//! the part they came with, and a Gemini caller served reasoning that reads back as it was.

use serde_json::{Value, json};

use super::{StreamState, thoughts};
use crate::api::ChatRequest;
use crate::api::reasoning::{Effort, Resolved, is_envelope};
use crate::cache::replay::{assemble, replay};
use crate::wire::gemini::serve;
use crate::wire::test_support::decode;

fn req(v: Value) -> ChatRequest {
    serde_json::from_value(v).unwrap()
}

fn config(sent: Resolved, include: Option<bool>) -> Value {
    let r = req(json!({"model": "m", "messages": [{"role": "user", "content": "q"}]}));
    let mut w = super::to_wire(&r).unwrap();
    thoughts::apply(&mut w, sent, include);
    serde_json::to_value(&w).unwrap()["generationConfig"]["thinkingConfig"].clone()
}

#[test]
fn the_ask_is_a_level_or_a_budget_with_thoughts_shown() {
    assert_eq!(config(Resolved::Level(Effort::Low), None), json!({"thinkingLevel": "low", "includeThoughts": true}));
    assert_eq!(config(Resolved::Level(Effort::Xhigh), None)["thinkingLevel"], "high");
    assert_eq!(config(Resolved::Budget(2048), Some(false)), json!({"thinkingBudget": 2048, "includeThoughts": false}));
    assert_eq!(config(Resolved::Adaptive, None), json!({"thinkingBudget": -1, "includeThoughts": true}));
    assert_eq!(config(Resolved::Off, None), json!({"thinkingBudget": 0}));
    assert_eq!(config(Resolved::Unasked, None), Value::Null);
}

#[test]
fn a_text_parts_signature_goes_back_on_that_part() {
    let r = req(json!({"model": "m", "messages": [{"role": "user", "content": "q"},
        {"role": "assistant", "content": "Sunny.", "reasoning_details": [
            {"type": "reasoning.text", "text": "thought", "signature": "dGhvdWdodA==", "format": "google-gemini-v1"},
            {"type": "reasoning.encrypted", "signature": "c2lnLXRleHQ=", "format": "google-gemini-v1"}]},
        {"role": "user", "content": "more"}]}));
    let w = serde_json::to_value(super::to_wire(&r).unwrap()).unwrap();
    assert_eq!(
        w["contents"][1]["parts"],
        json!([{"text": "Sunny.", "thoughtSignature": "c2lnLXRleHQ="}]),
        "thoughts are not replayed; the signature rides on its part"
    );
}

fn data(v: Value) -> String {
    format!("data: {v}\r\n\r\n")
}

fn thought_stream() -> String {
    let part = |p: Value, finish: Option<&str>| {
        data(json!({"candidates": [{"content": {"role": "model", "parts": [p]}, "index": 0, "finishReason": finish}],
            "responseId": "r1", "modelVersion": "gemini-3-pro"}))
    };
    part(json!({"text": "Thinking ☀️ over.", "thought": true}), None)
        + &part(json!({"text": "Sunny."}), None)
        + &part(json!({"text": "", "thoughtSignature": "c2lnLXRleHQ="}), Some("STOP"))
}

#[test]
fn a_thought_stream_at_every_split_point() {
    let sse = thought_stream();
    for cut in (0..sse.len()).filter(|c| sse.is_char_boundary(*c)) {
        let (chunks, err) = decode(StreamState::new("gemini-3-pro", 1), &sse, cut);
        assert!(err.is_none(), "cut {cut}: {err:?}");
        let whole = serde_json::to_value(assemble(&chunks)).unwrap();
        let m = &whole["choices"][0]["message"];
        assert_eq!(m["reasoning_content"], "Thinking ☀️ over.", "cut {cut}");
        assert_eq!(m["content"], "Sunny.", "cut {cut}");
        assert_eq!(
            m["reasoning_details"],
            json!([{"type": "reasoning.text", "text": "Thinking ☀️ over.", "format": "google-gemini-v1", "index": 0},
                   {"type": "reasoning.encrypted", "signature": "c2lnLXRleHQ=", "format": "google-gemini-v1", "index": 1}]),
            "cut {cut}"
        );
    }
}

fn mixed() -> crate::api::ChatResponse {
    serde_json::from_value(json!({"id": "c1", "model": "m", "choices": [{"index": 0, "finish_reason": "stop",
        "message": {"role": "assistant", "content": "42", "reasoning_content": "hmm",
            "reasoning_details": [
                {"type": "reasoning.text", "text": "hmm", "signature": "EqQBsig==", "format": "anthropic-claude-v1",
                 "provider": "claude"},
                {"type": "reasoning.encrypted", "signature": "c2lnLXRleHQ=", "format": "google-gemini-v1",
                 "provider": "gem"}]}}]}))
    .unwrap()
}

#[test]
fn a_gemini_caller_gets_thought_parts_and_sends_them_back_as_they_were() {
    let served = serde_json::to_value(serve::from_canonical(&mixed()).unwrap()).unwrap();
    let parts = served["candidates"][0]["content"]["parts"].as_array().unwrap().clone();
    assert_eq!(parts[0]["thought"], true);
    assert_eq!(parts[0]["text"], "hmm");
    let sig = parts[0]["thoughtSignature"].as_str().unwrap();
    assert!(is_envelope(sig) && sig.len().is_multiple_of(4), "Anthropic's, in a base64-valid envelope");
    assert_eq!(
        parts[1],
        json!({"text": "42", "thoughtSignature": "c2lnLXRleHQ="}),
        "Gemini's own, verbatim, on the text part it signed"
    );
    assert_eq!(parts.len(), 2);
    let next = json!({"contents": [{"role": "user", "parts": [{"text": "q"}]}, {"role": "model", "parts": parts},
        {"role": "user", "parts": [{"text": "more"}]}]});
    let c = serve::from_json(next.to_string().as_bytes(), "gemini-3-pro", false).unwrap();
    let back = serde_json::to_value(&c.messages[1].reasoning_details).unwrap();
    let sent = serde_json::to_value(&mixed().choices[0].message.reasoning_details).unwrap();
    assert_eq!(back[0], sent[0], "the foreign detail whole");
    assert_eq!(back[1]["signature"], "c2lnLXRleHQ=");
}

#[test]
fn a_gemini_stream_carries_thought_parts() {
    let mut enc = serve::StreamEncoder::new();
    let mut out = Vec::new();
    for c in replay(&mixed()) {
        enc.on_chunk(&c, &mut out).unwrap();
    }
    enc.finish(&mut out).unwrap();
    let parts: Vec<Value> = out
        .iter()
        .flat_map(|e| e.candidates.iter())
        .filter_map(|c| c.content.as_ref())
        .flat_map(|c| c.parts.iter())
        .map(|p| serde_json::to_value(p).unwrap())
        .collect();
    assert_eq!(parts[0], json!({"text": "hmm", "thought": true}));
    assert!(is_envelope(parts[1]["thoughtSignature"].as_str().unwrap()));
    assert_eq!(parts[2]["thoughtSignature"], "c2lnLXRleHQ=");
    assert_eq!(parts.last().unwrap()["text"], "42");
}
