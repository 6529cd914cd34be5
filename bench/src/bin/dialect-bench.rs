//! Conversion cost of every ingress x upstream pair: per request (the caller's body -> the
//! canonical request -> the vendor's body bytes), per answer (the vendor's bytes -> canonical
//! -> the caller's bytes) and per stream event (one vendor text-delta event -> canonical
//! chunk -> the caller's event bytes). Ingresses: Chat Completions, Messages, Responses,
//! Gemini; upstreams: OpenAI Chat, Anthropic, Gemini, OpenAI Responses. Where ingress and
//! upstream speak one dialect the row is passthrough and costs what sidegate really does
//! there: the body is still read into canonical form (routing, limits and the cache key need
//! it) but sent as it came, with only `model` set; the answer is read for its usage and its
//! bytes are served as they are; a stream event is re-framed and decoded for accounting.
//! Pure conversions only (no network), on a multi-turn tool-use conversation. Numbers, not
//! assertions. A second table has reasoning on: the request asks for `reasoning_effort: high`
//! and replays an earlier turn's signed Anthropic thinking (kept for Anthropic, removed for
//! the others), the answer carries thinking text and a signed block, and the stream event is
//! a thinking delta (Anthropic `thinking_delta`, a Gemini thought part, a Responses summary
//! delta, a chat `reasoning_content` delta).
//!
//! `cargo run --release -p sidegate-bench --bin dialect-bench [-- --iters N]`

use std::hint::black_box;

use serde_json::{Value, json};
use sidegate::api::reasoning::{
    Effort, FORMAT_ANTHROPIC, FORMAT_GEMINI, FORMAT_OPENAI, ForeignReasoning, ReasoningDetail,
};
use sidegate::api::{ChatChunk, ChatRequest, ChatResponse};
use sidegate::config::ProviderKind;
use sidegate::providers::openai::OpenAi;
use sidegate::providers::reasoning;
use sidegate::providers::{openai_responses as presp, presets};
use sidegate::wire::anthropic::{call as anth, serve as aserve, types as awire};
use sidegate::wire::gemini::{call as gem, serve as gserve, types as gwire};
use sidegate::wire::native::{Dialect, NativeRequest};
use sidegate::wire::openai_responses as resp;
use sidegate::wire::sse::{SseEvent, reencode};
use sidegate::wire::{Flow, StreamDecoder};
use sidegate_bench::{iters_arg, time};

#[derive(Clone, Copy, PartialEq)]
enum D {
    Chat,
    Messages,
    Gemini,
    Responses,
}

const ALL: [D; 4] = [D::Chat, D::Messages, D::Gemini, D::Responses];

impl D {
    fn ingress(self) -> &'static str {
        match self {
            D::Chat => "chat",
            D::Messages => "messages",
            D::Gemini => "gemini",
            D::Responses => "responses",
        }
    }

    fn upstream(self) -> &'static str {
        match self {
            D::Chat => "openai chat",
            D::Messages => "anthropic",
            D::Gemini => "gemini",
            D::Responses => "openai responses",
        }
    }

    fn kind(self) -> ProviderKind {
        match self {
            D::Chat | D::Responses => ProviderKind::OpenAi,
            D::Messages => ProviderKind::Anthropic,
            D::Gemini => ProviderKind::Gemini,
        }
    }

    fn model(self) -> &'static str {
        match self {
            D::Chat => "gpt-4o-mini",
            D::Messages => "claude-sonnet-4-5",
            D::Gemini => "gemini-2.5-flash",
            D::Responses => "gpt-5-mini",
        }
    }
}

fn conversation(reasoning: bool) -> ChatRequest {
    let mut req = plain_conversation();
    if reasoning {
        req.reasoning_effort = Some(Effort::High);
        let detail: ReasoningDetail = serde_json::from_value(json!({"type": "reasoning.text",
            "text": "The user wants the weather; I should call the tool for Paris and the time.",
            "signature": "EqQBCkgIARABGAIiQL".repeat(20), "format": "anthropic-claude-v1", "provider": "claude"}))
        .expect("valid detail");
        req.messages[2].reasoning_details = Some(vec![detail]);
        req.messages[2].reasoning_content = Some("The user wants the weather.".into());
    }
    req
}

fn plain_conversation() -> ChatRequest {
    let para = "The quick brown fox jumps over the lazy dog, and then considers the weather in Paris. ".repeat(4);
    serde_json::from_value(json!({
        "model": "m", "temperature": 0.3, "max_tokens": 512,
        "tools": [
            {"type": "function", "function": {"name": "weather", "description": "Weather for a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
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
    }))
    .expect("valid request")
}

fn answer(reasoning: bool) -> ChatResponse {
    let mut a = plain_answer();
    if reasoning {
        let text = "Tomorrow's forecast is what the tool gives; one sentence, then.";
        let m = &mut a.choices[0].message;
        m.reasoning_content = Some(text.into());
        m.reasoning_details = Some(vec![
            serde_json::from_value(
                json!({"type": "reasoning.text", "text": text, "signature": "EqQBCkgIARABGAIiQL".repeat(20),
                "format": "anthropic-claude-v1", "index": 0, "provider": "claude"}),
            )
            .expect("valid detail"),
        ]);
    }
    a
}

fn plain_answer() -> ChatResponse {
    serde_json::from_value(json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant",
            "content": "Tomorrow in Paris: sunny, 23 degrees, light wind from the west.",
            "tool_calls": [{"id": "call_9", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}}]}}],
        "usage": {"prompt_tokens": 420, "completion_tokens": 31, "total_tokens": 451}}))
    .expect("valid answer")
}

/// The caller's body in dialect `d` for the conversation (written by the calling side).
fn ingress_body(d: D, req: &ChatRequest) -> Vec<u8> {
    let model = "route";
    let v = match d {
        D::Chat => serde_json::to_vec(req),
        D::Messages => serde_json::to_vec(&anth::to_wire(req, model, false, &anth::Options::default()).expect("to").0),
        D::Gemini => serde_json::to_vec(&gem::to_wire(req).expect("to")),
        D::Responses => serde_json::to_vec(&resp::to_create_response(req, model, false).expect("to").value),
    };
    v.expect("encodes")
}

/// What the front does with the caller's body: parsed once, read into canonical form, the
/// caller's request kept beside it (as `front/http/{messages,gemini,responses}.rs` do).
fn read_ingress(d: D, body: &[u8]) -> ChatRequest {
    let native = |dialect, map| Some(std::sync::Arc::new(NativeRequest::new(dialect, map)));
    match d {
        D::Chat => serde_json::from_slice(body).expect("reads"),
        D::Messages => {
            let v: Value = serde_json::from_slice(body).expect("reads");
            let mut req = aserve::read(&v).expect("converts").chat;
            let Value::Object(map) = v else { unreachable!("an object") };
            req.native = native(Dialect::AnthropicMessages, map);
            req
        }
        // (sets the native request itself)
        D::Gemini => gserve::from_object(serde_json::from_slice(body).expect("reads"), "route", false).expect("reads"),
        D::Responses => {
            let v: Value = serde_json::from_slice(body).expect("reads");
            let r = <resp::CreateResponse as serde::Deserialize>::deserialize(&v).expect("reads");
            let mut req = resp::to_chat_request(&r).expect("converts").chat;
            let Value::Object(map) = v else { unreachable!("an object") };
            req.native = native(Dialect::OpenAiResponses, map);
            req
        }
    }
}

/// The vendor body for `req` from upstream `u` (passthrough when the dialects match).
fn upstream_body(u: D, ingress: D, req: &ChatRequest) -> Vec<u8> {
    if u == ingress
        && let Some(n) = req.native.as_deref()
    {
        return serde_json::to_vec(&n.body_for(u.model(), false)).expect("encodes");
    }
    // What every call does first: the blocks another vendor minted removed, the ask resolved.
    let format = match u {
        D::Chat => None,
        D::Messages => Some(FORMAT_ANTHROPIC),
        D::Gemini => Some(FORMAT_GEMINI),
        D::Responses => Some(FORMAT_OPENAI),
    };
    let req = &*reasoning::keep_own(req, format, "claude", ForeignReasoning::Drop);
    let sent =
        reasoning::resolve(&req.reasoning_ask(), &reasoning::control(u.kind(), None, u.model(), None), u.model());
    let v = match u {
        D::Chat => serde_json::to_vec(&OpenAi::wire_request(&presets::openai(), req, u.model(), false)),
        D::Messages => {
            let opts = anth::Options { reasoning: sent, ..anth::Options::default() };
            serde_json::to_vec(&anth::to_wire(req, u.model(), false, &opts).expect("to").0)
        }
        D::Gemini => {
            let mut w = gem::to_wire(req).expect("to");
            gem::thoughts::apply(&mut w, sent, None);
            serde_json::to_vec(&w)
        }
        D::Responses => serde_json::to_vec(&presp::wire_request(req, u.model(), false).expect("to")),
    };
    v.expect("encodes")
}

/// The vendor's answer bytes in upstream `u`'s dialect (written by the serving side).
fn vendor_answer(u: D, a: &ChatResponse) -> Vec<u8> {
    let v = match u {
        D::Chat => serde_json::to_vec(a),
        D::Messages => serde_json::to_vec(&aserve::from_canonical(a).expect("converts")),
        D::Gemini => serde_json::to_vec(&gserve::from_canonical(a).expect("converts")),
        D::Responses => serde_json::to_vec(&resp::to_response(a, resp::ResponseEcho::default()).expect("converts")),
    };
    v.expect("encodes")
}

fn read_vendor(u: D, bytes: &[u8]) -> ChatResponse {
    match u {
        D::Chat => serde_json::from_slice(bytes).expect("parses"),
        D::Messages => {
            let w: awire::MessagesResponse = serde_json::from_slice(bytes).expect("parses");
            anth::from_wire(w, anth::ReplyCtx::default(), 0)
        }
        D::Gemini => {
            let w: gwire::GenerateResponse = serde_json::from_slice(bytes).expect("parses");
            gem::from_wire(w, u.model(), 0).expect("converts")
        }
        D::Responses => {
            let w: resp::Response = serde_json::from_slice(bytes).expect("parses");
            presp::answer(&w).expect("converts")
        }
    }
}

/// The caller's answer bytes in ingress `d`'s dialect.
fn write_ingress(d: D, a: &ChatResponse) -> usize {
    let v = match d {
        D::Chat => serde_json::to_vec(a),
        D::Messages => serde_json::to_vec(&aserve::from_canonical(a).expect("converts")),
        D::Gemini => serde_json::to_vec(&gserve::from_canonical(a).expect("converts")),
        D::Responses => serde_json::to_vec(&resp::to_response(a, resp::ResponseEcho::default()).expect("converts")),
    };
    v.map_or(0, |b| b.len())
}

/// A vendor decoder for upstream `u`, primed past the stream's opening events, and the
/// vendor's text-delta event.
fn vendor_stream(u: D, reasoning: bool) -> (Box<dyn StreamDecoder>, SseEvent) {
    if reasoning {
        return thinking_stream(u);
    }
    let ev = |event: Option<&str>, data: Value| SseEvent { event: event.map(str::to_string), data: data.to_string() };
    let mut out = Vec::new();
    match u {
        D::Chat => {
            let d = sidegate::wire::openai_chat::StreamState::default();
            let delta = ev(
                None,
                json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
                "choices": [{"index": 0, "delta": {"content": " sunny,"}, "finish_reason": null}]}),
            );
            (Box::new(d), delta)
        }
        D::Messages => {
            let mut d = anth::StreamState::new(anth::ReplyCtx::default(), 0);
            let _ = d.on_event(ev(Some("message_start"), json!({"type": "message_start", "message": {"id": "msg_1",
                "type": "message", "role": "assistant", "model": "claude", "content": [], "usage": {"input_tokens": 5, "output_tokens": 0}}})), &mut out);
            let _ = d.on_event(
                ev(
                    Some("content_block_start"),
                    json!({"type": "content_block_start", "index": 0,
                "content_block": {"type": "text", "text": ""}}),
                ),
                &mut out,
            );
            let delta = ev(
                Some("content_block_delta"),
                json!({"type": "content_block_delta", "index": 0,
                "delta": {"type": "text_delta", "text": " sunny,"}}),
            );
            (Box::new(d), delta)
        }
        D::Gemini => {
            let d = gem::StreamState::new(u.model(), 0);
            let delta = ev(
                None,
                json!({"candidates": [{"content": {"role": "model", "parts": [{"text": " sunny,"}]}, "index": 0}],
                "modelVersion": "gemini-2.5-flash", "responseId": "r1"}),
            );
            (Box::new(d), delta)
        }
        D::Responses => {
            let mut d = resp::ChunkReader::default();
            let a = answer(false);
            let mut enc = resp::EventStream::new(&a.id, 0, "m", resp::ResponseEcho::default());
            let mut evs = Vec::new();
            enc.start(&mut evs);
            let _ = enc.on_chunk(&ChatChunk::text("chatcmpl-1", 0, "m", true, "Tomorrow"), &mut evs);
            for e in &evs {
                let _ =
                    d.on_event(SseEvent { event: None, data: serde_json::to_string(e).expect("encodes") }, &mut out);
            }
            evs.clear();
            let _ = enc.on_chunk(&ChatChunk::text("chatcmpl-1", 0, "m", false, " sunny,"), &mut evs);
            let delta = SseEvent { event: None, data: serde_json::to_string(&evs[0]).expect("encodes") };
            (Box::new(d), delta)
        }
    }
}

/// A vendor decoder for upstream `u` inside a thinking block, and the vendor's thinking delta.
fn thinking_stream(u: D) -> (Box<dyn StreamDecoder>, SseEvent) {
    let ev = |event: Option<&str>, data: Value| SseEvent { event: event.map(str::to_string), data: data.to_string() };
    let mut out = Vec::new();
    match u {
        D::Chat => {
            let delta = ev(
                None,
                json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
                "choices": [{"index": 0, "delta": {"reasoning_content": " the tool,"}, "finish_reason": null}]}),
            );
            (Box::new(sidegate::wire::openai_chat::StreamState::default()), delta)
        }
        D::Messages => {
            let mut d = anth::StreamState::new(anth::ReplyCtx::default(), 0);
            let _ = d.on_event(ev(Some("message_start"), json!({"type": "message_start", "message": {"id": "msg_1",
                "type": "message", "role": "assistant", "model": "claude", "content": [], "usage": {"input_tokens": 5, "output_tokens": 0}}})), &mut out);
            let start = json!({"type": "content_block_start", "index": 0,
                "content_block": {"type": "thinking", "thinking": "", "signature": ""}});
            let _ = d.on_event(ev(Some("content_block_start"), start), &mut out);
            let delta = ev(
                Some("content_block_delta"),
                json!({"type": "content_block_delta", "index": 0,
                "delta": {"type": "thinking_delta", "thinking": " the tool,"}}),
            );
            (Box::new(d), delta)
        }
        D::Gemini => {
            let delta = ev(
                None,
                json!({"candidates": [{"content": {"role": "model", "parts": [
                {"text": " the tool,", "thought": true}]}, "index": 0}], "modelVersion": "gemini-2.5-flash", "responseId": "r1"}),
            );
            (Box::new(gem::StreamState::new(u.model(), 0)), delta)
        }
        D::Responses => {
            let mut d = resp::ChunkReader::default();
            let created = json!({"type": "response.created", "sequence_number": 0, "response": {"id": "resp_1",
                "object": "response", "created_at": 1, "model": "gpt-5-mini", "status": "in_progress", "output": []}});
            let _ = d.on_event(ev(None, created), &mut out);
            let delta = ev(
                None,
                json!({"type": "response.reasoning_summary_text.delta", "sequence_number": 2,
                "item_id": "rs_1", "output_index": 0, "summary_index": 0, "delta": " the tool,"}),
            );
            (Box::new(d), delta)
        }
    }
}

/// The caller's event encoder for ingress `d`, primed with the stream's first chunk: one
/// chunk in, the bytes it writes out.
fn ingress_stream(d: D) -> Box<dyn FnMut(&ChatChunk) -> usize> {
    let first = ChatChunk::text("chatcmpl-1", 0, "m", true, "");
    match d {
        D::Chat => Box::new(|c| serde_json::to_vec(c).map_or(0, |b| b.len() + 8)),
        D::Messages => {
            let mut enc = aserve::StreamEncoder::new();
            let mut evs = Vec::new();
            let _ = enc.on_chunk(&first, &mut evs);
            Box::new(move |c| {
                evs.clear();
                let _ = enc.on_chunk(c, &mut evs);
                evs.iter().map(|e| aserve::stream::encode(e).len()).sum()
            })
        }
        D::Gemini => {
            let mut enc = gserve::StreamEncoder::new();
            let mut evs = Vec::new();
            let _ = enc.on_chunk(&first, &mut evs);
            Box::new(move |c| {
                evs.clear();
                let _ = enc.on_chunk(c, &mut evs);
                evs.iter().map(|e| gserve::encode(e).len()).sum()
            })
        }
        D::Responses => {
            let mut enc = resp::EventStream::new("chatcmpl-1", 0, "m", resp::ResponseEcho::default());
            let mut evs = Vec::new();
            enc.start(&mut evs);
            let _ = enc.on_chunk(&first, &mut evs);
            Box::new(move |c| {
                evs.clear();
                let _ = enc.on_chunk(c, &mut evs);
                evs.iter().map(|e| serde_json::to_vec(e).map_or(0, |b| b.len())).sum()
            })
        }
    }
}

fn main() {
    let iters = iters_arg(5_000);
    table(iters, false);
    println!();
    table(iters, true);
}

fn table(iters: u32, reasoning: bool) {
    let req = conversation(reasoning);
    let a = answer(reasoning);
    let what = if reasoning { ", reasoning on" } else { "" };
    println!("conversion cost per ingress x upstream, median of 5 rounds x {iters} calls (7 messages, 2 tools{what})");
    println!(
        "{:<10} {:<17} {:>11} {:>12} {:>12} {:>14}",
        "ingress", "upstream", "kind", "request µs", "answer µs", "stream ev µs"
    );
    let mut passthrough = Vec::new();
    for ing in ALL {
        let body = ingress_body(ing, &req);
        for up in ALL {
            let same = ing == up;
            let kind = match (same, ing) {
                (true, D::Chat) => "canonical",
                (true, _) => "passthrough",
                _ => "translated",
            };
            let request = time(iters, || {
                let r = read_ingress(ing, black_box(&body));
                black_box(upstream_body(up, ing, &r));
            });
            let vendor = vendor_answer(up, &a);
            let answer_ns = time(iters, || {
                let r = read_vendor(up, black_box(&vendor));
                if same && ing != D::Chat {
                    // passthrough: read for usage, the vendor's bytes served as they are
                    black_box((r, bytes::Bytes::copy_from_slice(&vendor)));
                } else {
                    black_box(write_ingress(ing, &r));
                }
            });
            let (mut dec, ev) = vendor_stream(up, reasoning);
            let mut enc = ingress_stream(ing);
            let mut chunks = Vec::new();
            let event_ns = time(iters, || {
                chunks.clear();
                let ev = SseEvent { event: ev.event.clone(), data: black_box(&ev.data).clone() };
                let raw = (same && ing != D::Chat).then(|| reencode(&ev));
                let flow = dec.on_event(ev, &mut chunks);
                debug_assert!(matches!(flow, Ok(Flow::More)));
                match raw {
                    Some(r) => black_box(r.len()),
                    None => black_box(chunks.iter().map(&mut enc).sum::<usize>()),
                };
            });
            let row = format!(
                "{:<10} {:<17} {:>11} {:>12.2} {:>12.2} {:>14.2}",
                ing.ingress(),
                up.upstream(),
                kind,
                request / 1000.0,
                answer_ns / 1000.0,
                event_ns / 1000.0
            );
            if same { passthrough.push(row) } else { println!("{row}") }
        }
    }
    println!("-- same dialect in and out");
    for r in passthrough {
        println!("{r}");
    }
}
