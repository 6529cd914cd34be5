//! Translation cost per vendor: request (canonical -> vendor JSON bytes), response (vendor
//! bytes -> canonical -> JSON bytes for the caller) and one stream event (vendor SSE data ->
//! canonical chunk -> JSON bytes). The serving direction (`anthropic (serve)`, `gemini
//! (serve)`): a Messages / generateContent request body -> canonical, a canonical answer ->
//! Messages / GenerateContentResponse JSON bytes, and one canonical chunk -> SSE event bytes.
//! No network: the wire dialects' pure conversions only, on a
//! typical multi-turn tool-use request. Numbers, not assertions.
//!
//! `cargo run --release -p sidegate-bench --bin translate-bench [-- --iters N]`

use std::hint::black_box;

use serde_json::json;
use sidegate::api::{ChatRequest, ChatResponse};
use sidegate::providers::openai::OpenAi;
use sidegate::providers::presets;
use sidegate::wire::StreamDecoder;
use sidegate::wire::anthropic::{call as anth, serve as aserve, types as awire};
use sidegate::wire::gemini::{call as gem, serve as gserve, types as gwire};
use sidegate::wire::sse::SseEvent;
use sidegate_bench::{iters_arg, time};

fn request() -> ChatRequest {
    let para = "The quick brown fox jumps over the lazy dog, and then considers the weather in Paris. ".repeat(4);
    let v = json!({
        "model": "m", "temperature": 0.3, "max_tokens": 512, "stop": ["END"],
        "tools": [
            {"type": "function", "function": {"name": "weather", "description": "Weather for a city",
                "parameters": {"type": "object", "additionalProperties": false,
                    "properties": {"city": {"type": "string"}, "unit": {"type": ["string", "null"], "enum": ["c", "f"]}}, "required": ["city"]}}},
            {"type": "function", "function": {"name": "now", "parameters": {"type": "object", "properties": {}}}}],
        "messages": [
            {"role": "system", "content": "You are a concise assistant."},
            {"role": "user", "content": para},
            {"role": "assistant", "content": "Let me check.", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "now", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call_2", "content": "12:00"},
            {"role": "tool", "tool_call_id": "call_1", "content": "{\"temp_c\": 21}"},
            {"role": "assistant", "content": para},
            {"role": "user", "content": "And tomorrow? Answer in one sentence."}]
    });
    serde_json::from_value(v).expect("valid request")
}

fn anthropic_response() -> Vec<u8> {
    serde_json::to_vec(
        &json!({"id": "msg_01", "type": "message", "role": "assistant", "model": "claude-3-5-haiku-20241022",
        "content": [{"type": "text", "text": "Tomorrow in Paris: sunny, 23 degrees, light wind from the west."},
                    {"type": "tool_use", "id": "toolu_01", "name": "weather", "input": {"city": "Paris"}}],
        "stop_reason": "tool_use", "usage": {"input_tokens": 420, "output_tokens": 31, "cache_read_input_tokens": 0}}),
    )
    .unwrap_or_default()
}

fn gemini_response() -> Vec<u8> {
    serde_json::to_vec(&json!({"candidates": [{"content": {"role": "model", "parts": [
            {"text": "Tomorrow in Paris: sunny, 23 degrees, light wind from the west."},
            {"functionCall": {"name": "weather", "args": {"city": "Paris"}}}]}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 420, "candidatesTokenCount": 31, "totalTokenCount": 451},
        "modelVersion": "gemini-2.0-flash", "responseId": "r1"}))
    .unwrap_or_default()
}

fn openai_response() -> Vec<u8> {
    serde_json::to_vec(&json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant",
            "content": "Tomorrow in Paris: sunny, 23 degrees, light wind from the west."}}],
        "usage": {"prompt_tokens": 420, "completion_tokens": 31, "total_tokens": 451}}))
    .unwrap_or_default()
}

fn main() {
    let iters = iters_arg(20_000);
    let req = request();
    let body_len = serde_json::to_vec(&req).map_or(0, |b| b.len());

    let mut rows: Vec<(&str, &str, f64)> = Vec::new();

    // ---- requests
    let q = presets::openai();
    rows.push((
        "openai (passthrough)",
        "request",
        time(iters, || {
            black_box(serde_json::to_vec(&OpenAi::wire_request(&q, black_box(&req), "gpt-4o-mini", false)).ok());
        }),
    ));
    let opts = anth::Options::default();
    rows.push((
        "anthropic",
        "request",
        time(iters, || {
            let (w, _) = anth::to_wire(black_box(&req), "claude-3-5-haiku-latest", false, &opts).expect("translates");
            black_box(serde_json::to_vec(&w).ok());
        }),
    ));
    rows.push((
        "gemini",
        "request",
        time(iters, || {
            let w = gem::to_wire(black_box(&req)).expect("translates");
            black_box(serde_json::to_vec(&w).ok());
        }),
    ));

    // ---- responses
    let o = openai_response();
    rows.push((
        "openai (passthrough)",
        "response",
        time(iters, || {
            let r: ChatResponse = serde_json::from_slice(black_box(&o)).expect("parses");
            black_box(serde_json::to_vec(&r).ok());
        }),
    ));
    let a = anthropic_response();
    rows.push((
        "anthropic",
        "response",
        time(iters, || {
            let w: awire::MessagesResponse = serde_json::from_slice(black_box(&a)).expect("parses");
            black_box(serde_json::to_vec(&anth::from_wire(w, anth::ReplyCtx::default(), 0)).ok());
        }),
    ));
    let g = gemini_response();
    rows.push((
        "gemini",
        "response",
        time(iters, || {
            let w: gwire::GenerateResponse = serde_json::from_slice(black_box(&g)).expect("parses");
            black_box(serde_json::to_vec(&gem::from_wire(w, "gemini-2.0-flash", 0).expect("translates")).ok());
        }),
    ));

    // ---- stream events (a text delta: the common case)
    let oev = r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":" sunny,"},"finish_reason":null}]}"#;
    rows.push((
        "openai (passthrough)",
        "stream event",
        time(iters, || {
            let c: sidegate::api::ChatChunk = serde_json::from_str(black_box(oev)).expect("parses");
            black_box(serde_json::to_vec(&c).ok());
        }),
    ));
    let mut st = anth::StreamState::new(anth::ReplyCtx::default(), 0);
    let mut out = Vec::new();
    let start = SseEvent {
        event: Some("message_start".into()),
        data: r#"{"type":"message_start","message":{"id":"msg_1","model":"claude","usage":{"input_tokens":5}}}"#.into(),
    };
    let block = SseEvent {
        event: None,
        data: r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#.into(),
    };
    let _ = st.on_event(start, &mut out);
    let _ = st.on_event(block, &mut out);
    let aev = r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" sunny,"}}"#;
    rows.push((
        "anthropic",
        "stream event",
        time(iters, || {
            out.clear();
            let _ = st.on_event(
                SseEvent { event: Some("content_block_delta".into()), data: black_box(aev).to_string() },
                &mut out,
            );
            black_box(out.iter().filter_map(|c| serde_json::to_vec(c).ok()).count());
        }),
    ));
    let mut gst = gem::StreamState::new("gemini-2.0-flash", 0);
    let gev = r#"{"candidates":[{"content":{"role":"model","parts":[{"text":" sunny,"}]},"index":0}],"usageMetadata":{"promptTokenCount":420,"candidatesTokenCount":3,"totalTokenCount":423},"modelVersion":"gemini-2.0-flash","responseId":"r1"}"#;
    rows.push((
        "gemini",
        "stream event",
        time(iters, || {
            out.clear();
            let _ = gst.on_event(SseEvent { event: None, data: black_box(gev).to_string() }, &mut out);
            black_box(out.iter().filter_map(|c| serde_json::to_vec(c).ok()).count());
        }),
    ));

    serve_rows(iters, &req, &mut rows);
    gemini_serve_rows(iters, &req, &mut rows);

    println!(
        "translation cost, median of 5 rounds x {iters} calls (request body {body_len} bytes, 7 messages, 2 tools)"
    );
    println!("{:<22} {:<14} {:>10}", "vendor", "what", "µs/op");
    for (v, what, ns) in rows {
        println!("{v:<22} {what:<14} {:>10.2}", ns / 1000.0);
    }
}

/// The serving direction: what an Anthropic-shaped front would pay per request, answer and
/// stream event, on the same conversation.
fn serve_rows(iters: u32, req: &ChatRequest, rows: &mut Vec<(&str, &str, f64)>) {
    let opts = anth::Options::default();
    let (w, _) = anth::to_wire(req, "claude-3-5-haiku-latest", false, &opts).expect("translates");
    let body = serde_json::to_vec(&w).unwrap_or_default();
    rows.push((
        "anthropic (serve)",
        "request",
        time(iters, || {
            black_box(aserve::from_json(black_box(&body)).ok());
        }),
    ));
    let a = anthropic_response();
    let parsed: awire::MessagesResponse = serde_json::from_slice(&a).expect("parses");
    let answer = anth::from_wire(parsed, anth::ReplyCtx::default(), 0);
    rows.push((
        "anthropic (serve)",
        "response",
        time(iters, || {
            let m = aserve::from_canonical(black_box(&answer)).expect("converts");
            black_box(serde_json::to_vec(&m).ok());
        }),
    ));
    let mut enc = aserve::StreamEncoder::new();
    let mut events = Vec::new();
    let first = sidegate::api::ChatChunk::text("chatcmpl-1", 0, "claude", true, "");
    let _ = enc.on_chunk(&first, &mut events);
    let chunk = sidegate::api::ChatChunk::text("chatcmpl-1", 0, "claude", false, " sunny,");
    let _ = enc.on_chunk(&chunk, &mut events);
    rows.push((
        "anthropic (serve)",
        "stream event",
        time(iters, || {
            events.clear();
            let _ = enc.on_chunk(black_box(&chunk), &mut events);
            black_box(events.iter().map(|e| aserve::stream::encode(e).len()).sum::<usize>());
        }),
    ));
}

/// The serving direction for a Gemini-shaped front, on the same conversation: the
/// generateContent body the calling side writes, read back; the Gemini answer written; one
/// text chunk as an `alt=sse` event.
fn gemini_serve_rows(iters: u32, req: &ChatRequest, rows: &mut Vec<(&str, &str, f64)>) {
    let body = serde_json::to_vec(&gem::to_wire(req).expect("translates")).unwrap_or_default();
    rows.push((
        "gemini (serve)",
        "request",
        time(iters, || {
            black_box(gserve::from_json(black_box(&body), "gemini-2.0-flash", false).ok());
        }),
    ));
    let parsed: gwire::GenerateResponse = serde_json::from_slice(&gemini_response()).expect("parses");
    let answer = gem::from_wire(parsed, "gemini-2.0-flash", 0).expect("translates");
    rows.push((
        "gemini (serve)",
        "response",
        time(iters, || {
            let g = gserve::from_canonical(black_box(&answer)).expect("converts");
            black_box(serde_json::to_vec(&g).ok());
        }),
    ));
    let mut enc = gserve::StreamEncoder::new();
    let mut events = Vec::new();
    let first = sidegate::api::ChatChunk::text("chatcmpl-1", 0, "gemini-2.0-flash", true, "");
    let _ = enc.on_chunk(&first, &mut events);
    let chunk = sidegate::api::ChatChunk::text("chatcmpl-1", 0, "gemini-2.0-flash", false, " sunny,");
    rows.push((
        "gemini (serve)",
        "stream event",
        time(iters, || {
            events.clear();
            let _ = enc.on_chunk(black_box(&chunk), &mut events);
            black_box(events.iter().map(|e| gserve::encode(e).len()).sum::<usize>());
        }),
    ));
}
