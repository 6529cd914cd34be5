#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Thinking, both directions and at every stream split point: the reasoning ask as
//! `thinking`, signed blocks replayed verbatim, answers' thinking and redacted thinking as
//! reasoning details, and a Messages caller served reasoning (its own vendor's and
//! another's) that reads back as it was.

use serde_json::{Value, json};

use super::{Options, ReplyCtx, StreamState, from_wire, to_wire};
use crate::api::reasoning::{Effort, Resolved};
use crate::api::{ChatChunk, ChatRequest};
use crate::cache::replay::assemble;
use crate::wire::anthropic::serve;
use crate::wire::anthropic::types::MessagesResponse;
use crate::wire::test_support::{anthropic_start, decode, named_event};

fn req(v: Value) -> ChatRequest {
    serde_json::from_value(v).unwrap()
}

fn wire(r: &ChatRequest, model: &str, sent: Resolved) -> Value {
    let opts = Options { reasoning: sent, ..Options::default() };
    serde_json::to_value(to_wire(r, model, false, &opts).unwrap().0).unwrap()
}

fn ask() -> ChatRequest {
    req(json!({"model": "m", "temperature": 0.3, "max_tokens": 1000, "messages": [{"role": "user", "content": "q"}]}))
}

#[test]
fn a_level_is_adaptive_thinking_with_an_effort_and_a_budget_fits_under_max_tokens() {
    let w = wire(&ask(), "claude-opus-4-6", Resolved::Level(Effort::Xhigh));
    assert_eq!(w["thinking"], json!({"type": "adaptive"}));
    assert_eq!(w["output_config"], json!({"effort": "max"}));
    assert!(w.get("temperature").is_none(), "thinking takes no temperature");
    let w = wire(&ask(), "claude-sonnet-4-5", Resolved::Budget(8_192));
    assert_eq!(w["thinking"], json!({"type": "enabled", "budget_tokens": 8_192}));
    assert_eq!(w["max_tokens"], 9_192, "raised by the budget, the answer keeps its 1000");
    let w = wire(&ask(), "claude-3-5-haiku", Resolved::Budget(60_000));
    assert!(w["thinking"]["budget_tokens"].as_u64().unwrap() < w["max_tokens"].as_u64().unwrap(), "{w}");
    for unasked in [Resolved::Unasked, Resolved::Off] {
        let w = wire(&ask(), "claude-opus-4-6", unasked);
        assert!(w.get("thinking").is_none() && w.get("output_config").is_none());
        assert_eq!(w["temperature"], 0.3);
    }
    let w = wire(&ask(), "claude-opus-4-6", Resolved::Adaptive);
    assert_eq!(w["thinking"], json!({"type": "adaptive"}));
    assert!(w.get("output_config").is_none());
}

#[test]
fn thinking_is_left_out_where_anthropic_rejects_it() {
    let mut forced = ask();
    forced.tools = Some(serde_json::from_value(json!([{"type": "function", "function": {"name": "f"}}])).unwrap());
    forced.tool_choice = Some(json!("required"));
    assert!(wire(&forced, "claude-opus-4-6", Resolved::Level(Effort::High)).get("thinking").is_none());
    let other_vendors_call = req(json!({"model": "m", "messages": [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
            "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "r"}]}));
    assert!(wire(&other_vendors_call, "claude-opus-4-6", Resolved::Level(Effort::High)).get("thinking").is_none());
}

fn history() -> ChatRequest {
    req(json!({"model": "m", "messages": [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "Let me check.", "reasoning_content": "hmm",
         "reasoning_details": [
            {"type": "reasoning.text", "text": "hmm", "signature": "EqQBsig==", "format": "anthropic-claude-v1"},
            {"type": "reasoning.encrypted", "data": "EmwKredacted", "format": "anthropic-claude-v1"},
            {"type": "reasoning.encrypted", "signature": "Z2Vt", "format": "google-gemini-v1"}],
         "tool_calls": [{"id": "toolu_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "r"}]}))
}

#[test]
fn signed_blocks_open_their_turn_verbatim() {
    let w = wire(&history(), "claude-opus-4-6", Resolved::Level(Effort::High));
    assert_eq!(
        w["messages"][1]["content"],
        json!([{"type": "thinking", "thinking": "hmm", "signature": "EqQBsig=="},
               {"type": "redacted_thinking", "data": "EmwKredacted"},
               {"type": "text", "text": "Let me check."},
               {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}]),
        "only Anthropic's blocks, in order, before the text"
    );
    assert_eq!(w["thinking"]["type"], "adaptive", "the tool loop's turn opens with thinking");
}

#[test]
fn an_answers_thinking_and_redacted_thinking_are_details() {
    let r: MessagesResponse = serde_json::from_value(json!({"id": "msg_1", "model": "claude", "content": [
        {"type": "thinking", "thinking": "Let me think.", "signature": "EqQBsig=="},
        {"type": "redacted_thinking", "data": "EmwKredacted"},
        {"type": "text", "text": "42"}], "stop_reason": "end_turn", "usage": {"input_tokens": 1, "output_tokens": 2}}))
    .unwrap();
    let a = serde_json::to_value(from_wire(r, ReplyCtx::default(), 1)).unwrap();
    let m = &a["choices"][0]["message"];
    assert_eq!(m["content"], "42");
    assert_eq!(m["reasoning_content"], "Let me think.");
    assert_eq!(
        m["reasoning_details"],
        json!([{"type": "reasoning.text", "text": "Let me think.", "signature": "EqQBsig==",
                "format": "anthropic-claude-v1", "index": 0},
               {"type": "reasoning.encrypted", "data": "EmwKredacted", "format": "anthropic-claude-v1", "index": 1}])
    );
}

fn thinking_stream() -> String {
    let delta = |i: u32, d: Value| {
        named_event("content_block_delta", json!({"type": "content_block_delta", "index": i, "delta": d}))
    };
    let start = |i: u32, b: Value| {
        named_event("content_block_start", json!({"type": "content_block_start", "index": i, "content_block": b}))
    };
    let stop = |i: u32| named_event("content_block_stop", json!({"type": "content_block_stop", "index": i}));
    anthropic_start()
        + &start(0, json!({"type": "thinking", "thinking": "", "signature": ""}))
        + &delta(0, json!({"type": "thinking_delta", "thinking": "Let me "}))
        + &delta(0, json!({"type": "thinking_delta", "thinking": "think ☀️."}))
        + &delta(0, json!({"type": "signature_delta", "signature": "EqQBsig=="}))
        + &stop(0)
        + &start(1, json!({"type": "redacted_thinking", "data": "EmwKredacted"}))
        + &stop(1)
        + &start(2, json!({"type": "text", "text": ""}))
        + &delta(2, json!({"type": "text_delta", "text": "42"}))
        + &stop(2)
        + &named_event(
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"},
            "usage": {"output_tokens": 9}}),
        )
        + &named_event("message_stop", json!({"type": "message_stop"}))
}

#[test]
fn a_thinking_stream_at_every_split_point() {
    let sse = thinking_stream();
    for cut in 0..sse.len() {
        if !sse.is_char_boundary(cut) {
            continue;
        }
        let (chunks, err) = decode(StreamState::new(ReplyCtx::default(), 1), &sse, cut);
        assert!(err.is_none(), "cut {cut}: {err:?}");
        let whole = serde_json::to_value(assemble(&chunks)).unwrap();
        let m = &whole["choices"][0]["message"];
        assert_eq!(m["reasoning_content"], "Let me think ☀️.", "cut {cut}");
        assert_eq!(m["content"], "42", "cut {cut}");
        let d = &m["reasoning_details"];
        assert_eq!(d[0]["signature"], "EqQBsig==", "cut {cut}");
        assert_eq!(d[0]["text"], "Let me think ☀️.", "cut {cut}");
        assert_eq!(
            d[1],
            json!({"type": "reasoning.encrypted", "data": "EmwKredacted",
            "format": "anthropic-claude-v1", "index": 1}),
            "cut {cut}"
        );
        let reasoning_first =
            chunks.iter().position(|c| c.choices.iter().any(|ch| ch.delta.reasoning_content.is_some()));
        let text_first = chunks.iter().position(|c| c.content().is_some_and(|t| !t.is_empty()));
        assert!(reasoning_first < text_first, "cut {cut}");
    }
}

/// A canonical answer with Anthropic's and Gemini's reasoning, as another vendor's answer
/// reaches a Messages caller.
fn mixed_answer() -> crate::api::ChatResponse {
    serde_json::from_value(json!({"id": "c1", "model": "m", "choices": [{"index": 0, "finish_reason": "stop",
        "message": {"role": "assistant", "content": "42", "reasoning_content": "hmm",
            "reasoning_details": [
                {"type": "reasoning.text", "text": "hmm", "signature": "EqQBsig==", "format": "anthropic-claude-v1",
                 "provider": "claude"},
                {"type": "reasoning.text", "text": "gemini thought", "signature": "Z2Vt", "format": "google-gemini-v1",
                 "provider": "gem"}]}}]}))
    .unwrap()
}

#[test]
fn a_messages_caller_gets_thinking_blocks_and_sends_them_back_as_they_were() {
    let answer = mixed_answer();
    let served = serde_json::to_value(serve::from_canonical(&answer).unwrap()).unwrap();
    let blocks = served["content"].as_array().unwrap();
    assert_eq!(blocks[0], json!({"type": "thinking", "thinking": "hmm", "signature": "EqQBsig=="}));
    assert_eq!(blocks[1]["type"], "thinking");
    assert_eq!(blocks[1]["thinking"], "gemini thought");
    let envelope = blocks[1]["signature"].as_str().unwrap();
    assert!(crate::api::reasoning::is_envelope(envelope), "{envelope}");
    assert_eq!(blocks[2], json!({"type": "text", "text": "42"}));
    // The caller's next turn carries the blocks back: the details as they were.
    let next = json!({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "q"},
        {"role": "assistant", "content": blocks}, {"role": "user", "content": "more"}]});
    let c = serve::read(&next).unwrap().chat;
    let back = serde_json::to_value(&c.messages[1].reasoning_details).unwrap();
    let sent = serde_json::to_value(&answer.choices[0].message.reasoning_details).unwrap();
    assert_eq!(back[0]["signature"], sent[0]["signature"]);
    assert_eq!(back[1], sent[1], "the foreign one whole, tag included");
}

#[test]
fn a_messages_stream_signs_its_thinking_block() {
    let chunks: Vec<ChatChunk> = crate::cache::replay::replay(&mixed_answer());
    let mut enc = serve::StreamEncoder::new();
    let mut events = Vec::new();
    for c in &chunks {
        enc.on_chunk(c, &mut events).unwrap();
    }
    enc.finish(&mut events);
    let v: Vec<Value> = events.iter().map(|e| serde_json::to_value(e).unwrap()).collect();
    let deltas: Vec<&str> = v.iter().filter_map(|e| e["delta"]["type"].as_str()).collect();
    assert_eq!(
        deltas,
        ["thinking_delta", "signature_delta", "thinking_delta", "signature_delta", "text_delta"],
        "{v:?}"
    );
    let sigs: Vec<&str> = v.iter().filter_map(|e| e["delta"]["signature"].as_str()).collect();
    assert_eq!(sigs[0], "EqQBsig==");
    assert!(crate::api::reasoning::is_envelope(sigs[1]));
    // Unsigned thinking (an OpenAI-compatible server's) is signed as no vendor's.
    let plain = ChatChunk::delta(
        "c",
        1,
        "m",
        0,
        crate::api::response::Delta { reasoning_content: Some("think".into()), ..Default::default() },
        None,
    );
    let mut enc = serve::StreamEncoder::new();
    let mut events = Vec::new();
    enc.on_chunk(&plain, &mut events).unwrap();
    enc.on_chunk(&ChatChunk::text("c", 1, "m", false, "a"), &mut events).unwrap();
    let v: Vec<Value> = events.iter().map(|e| serde_json::to_value(e).unwrap()).collect();
    let sig = v.iter().find_map(|e| e["delta"]["signature"].as_str()).unwrap();
    let d = crate::api::reasoning::open_envelope(sig).unwrap();
    assert!(d.format.is_none(), "never replayed to any vendor");
}
