//! Serving-side tests: Messages requests read into canonical ones and written back by the
//! calling side keep their meaning; canonical answers, errors and chunk streams become the
//! exact Messages shapes (golden event sequences).

use serde_json::{Value, json};

use super::super::call::{self, Options, ReplyCtx, StreamState};
use super::super::types::{MessagesResponse, StreamEvent};
use super::{StreamEncoder, error_body, from_canonical};
use crate::api::{ChatChunk, ChatRequest, ChatResponse};
use crate::wire::sse::SseParser;
use crate::wire::{Flow, StreamDecoder, WireError};

fn canonical(v: &Value) -> Result<ChatRequest, WireError> {
    super::request::from_json(&serde_json::to_vec(v).expect("serializes"))
}

fn served(v: &Value) -> super::Served {
    super::read(v).unwrap_or_else(|e| panic!("read failed: {e}"))
}

/// Messages JSON -> canonical -> Messages JSON, as the Anthropic adapter would send it.
fn round_trip(v: &Value) -> Value {
    let c = canonical(v).unwrap_or_else(|e| panic!("read failed: {e}"));
    let (w, _) = call::to_wire(&c, &c.model, c.is_stream(), &Options::default()).expect("writes back");
    serde_json::to_value(&w).expect("serializes")
}

#[test]
fn requests_round_trip_with_their_meaning() {
    let cases = [
        json!({"model": "claude-sonnet-4-5", "max_tokens": 300, "system": "Be terse.",
               "messages": [
                   {"role": "user", "content": [{"type": "text", "text": "Grüß dich 👋"}]},
                   {"role": "assistant", "content": [{"type": "text", "text": "Hallo!"}]},
                   {"role": "user", "content": [{"type": "text", "text": "and now?"}]}]}),
        json!({"model": "claude-3-5-haiku-latest", "max_tokens": 1024, "temperature": 0.2,
               "stop_sequences": ["END"], "metadata": {"user_id": "u-42"}, "stream": true,
               "tools": [{"name": "weather", "description": "Get weather",
                          "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}},
                         {"name": "now", "input_schema": {"type": "object", "properties": {}}}],
               "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
               "messages": [
                   {"role": "user", "content": [
                       {"type": "text", "text": "What is this, and the weather?"},
                       {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
                       {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
                       {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"}}]},
                   {"role": "assistant", "content": [
                       {"type": "text", "text": "Let me check."},
                       {"type": "tool_use", "id": "toolu_01A", "name": "weather", "input": {"city": "Paris"}},
                       {"type": "tool_use", "id": "toolu_01B", "name": "now", "input": {}}]},
                   {"role": "user", "content": [
                       {"type": "tool_result", "tool_use_id": "toolu_01A", "content": [{"type": "text", "text": "21C"}]},
                       {"type": "tool_result", "tool_use_id": "toolu_01B",
                        "content": [{"type": "text", "text": "clock offline"}]},
                       {"type": "text", "text": "thanks"}]}]}),
        json!({"model": "claude", "max_tokens": 10, "tool_choice": {"type": "tool", "name": "now"},
               "tools": [{"name": "now", "input_schema": {"type": "object"}}],
               "messages": [{"role": "user", "content": [{"type": "text", "text": "time?"}]},
                            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "now", "input": {}}]},
                            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1"}]}]}),
    ];
    for case in cases {
        assert_eq!(round_trip(&case), case);
    }
}

/// `top_k` and `is_error` have no canonical field: they reach an Anthropic vendor through the
/// native body (`only`), and never a canonical `extra` another vendor would be sent.
#[test]
fn anthropic_only_fields_stay_out_of_the_canonical_request() {
    let body = json!({"model": "c", "max_tokens": 9, "top_k": 5, "service_tier": "auto",
        "output_config": {"effort": "low"}, "context_management": {"edits": []},
        "tools": [{"name": "now", "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": "x"},
            {"role": "assistant", "content": [{"type": "thinking", "thinking": "hm", "signature": "sig"},
                                               {"type": "redacted_thinking", "data": "enc"},
                                               {"type": "tool_use", "id": "t1", "name": "now", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "is_error": true, "content": "down"}]}]});
    let s = served(&body);
    let v = serde_json::to_value(&s.chat).unwrap();
    assert!(s.chat.extra.is_empty() && v["messages"][2].get("is_error").is_none(), "{v}");
    assert_eq!(s.only["top_k"], 5);
    assert_eq!(s.only["service_tier"], "auto");
    assert_eq!(s.only["output_config"], json!({"effort": "low"}));
    assert_eq!(s.only["context_management"], json!({"edits": []}), "unknown fields are kept");
    assert_eq!(s.only[super::only::IS_ERROR], json!(["t1"]));
    assert_eq!(
        s.only[super::only::THINKING],
        json!([{"type": "thinking", "thinking": "hm", "signature": "sig"}, {"type": "redacted_thinking", "data": "enc"}])
    );
    assert!(!s.only.contains_key("tools") && !s.only.contains_key("cache_control"), "cache_control changes no answer");
    assert_eq!(s.chat.tools.as_ref().map(Vec::len), Some(1));
}

#[test]
fn documents_and_search_results_become_text() {
    let s = served(
        &json!({"model": "c", "max_tokens": 9, "system": [{"type": "text", "text": "S", "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": [
            {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "plain doc"}},
            {"type": "document", "source": {"type": "content", "content": [{"type": "text", "text": "block doc"}]}},
            {"type": "search_result", "source": "https://x/a", "title": "A", "content": [{"type": "text", "text": "found"}]}]}]}),
    );
    let v = serde_json::to_value(&s.chat).unwrap();
    // The breakpoint travels as the canonical extension (an Anthropic vendor is sent it).
    assert_eq!(
        v["messages"][0],
        json!({"role": "system", "content": [{"type": "text", "text": "S", "cache_control": {"type": "ephemeral"}}]})
    );
    assert_eq!(
        v["messages"][1]["content"],
        json!([{"type": "text", "text": "plain doc"}, {"type": "text", "text": "block doc"},
               {"type": "text", "text": "A\nhttps://x/a\n\nfound"}])
    );
    assert!(s.only.is_empty(), "{:?}", s.only);
}

#[test]
fn shorthand_forms_and_passthrough_fields() {
    let body = json!({"model": "claude", "max_tokens": 5, "thinking": {"type": "enabled", "budget_tokens": 1024},
        "system": [{"type": "text", "text": "A", "cache_control": {"type": "ephemeral"}}, {"type": "text", "text": "B"}],
        "messages": [{"role": "user", "content": "plain"},
                     {"role": "assistant", "content": [{"type": "thinking", "thinking": "hmm", "signature": "s"},
                                                        {"type": "text", "text": "ok"}]},
                     {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "x", "content": "as a string"}]}]});
    let c = canonical(&body).unwrap();
    assert_eq!(
        served(&body).only["thinking"],
        json!({"type": "enabled", "budget_tokens": 1024}),
        "unmodelled fields are kept for Anthropic"
    );
    let v = serde_json::to_value(&c).unwrap();
    assert!(v.get("thinking").is_none(), "unmodelled fields are not canonical");
    assert_eq!(
        v["messages"][0],
        json!({"role": "system", "content": [{"type": "text", "text": "A", "cache_control": {"type": "ephemeral"}},
                                             {"type": "text", "text": "B"}]})
    );
    assert_eq!(v["messages"][1], json!({"role": "user", "content": "plain"}));
    assert_eq!(
        v["messages"][2],
        json!({"role": "assistant", "content": "ok", "reasoning_details": [{"type": "reasoning.text", "text": "hmm",
            "signature": "s", "format": "anthropic-claude-v1", "index": 0}]}),
        "replayed thinking is carried verbatim, for the vendor that minted it"
    );
    assert_eq!(v["messages"][3], json!({"role": "tool", "tool_call_id": "x", "content": "as a string"}));
    assert!(c.stream.is_none() && c.stream_options.is_none());
    let s = canonical(
        &json!({"model": "c", "max_tokens": 1, "stream": true, "messages": [{"role": "user", "content": "x"}]}),
    )
    .unwrap();
    assert!(s.is_stream() && s.wants_stream_usage(), "a Messages stream needs the final usage");
}

/// Server tools and documents by URL reach an Anthropic vendor as sent; any other vendor
/// refuses them (`Unsupported`: the router fails over); an unknown block type is named.
#[test]
fn what_the_canonical_types_cannot_carry_is_refused_by_other_vendors() {
    let base = |extra: Value| {
        let mut r = json!({"model": "c", "max_tokens": 1, "messages": [{"role": "user", "content": "x"}]});
        if let (Some(o), Value::Object(e)) = (r.as_object_mut(), extra) {
            o.extend(e);
        }
        r
    };
    let foreign = |body: &Value| {
        let s = served(body);
        let n = crate::wire::native::NativeRequest {
            only: s.only,
            required: s.required,
            ..crate::wire::native::NativeRequest::new(
                crate::wire::native::Dialect::AnthropicMessages,
                Default::default(),
            )
        };
        crate::wire::native::check_foreign(&n, "OpenAI")
    };
    let tool = json!({"type": "web_search_20250305", "name": "web_search", "max_uses": 3});
    let server_tool = base(json!({"tools": [tool]}));
    let s = served(&server_tool);
    assert_eq!(s.only["tools[0]"], tool, "the cache key sees the tool");
    assert_eq!(s.required.len(), 1);
    assert!(s.chat.tools.is_none());
    let e = foreign(&server_tool);
    assert!(
        matches!(&e, Err(WireError::Unsupported { at, what, .. }) if at == "tools[0]" && what.contains("web_search")),
        "{e:?}"
    );
    let doc_url = base(json!({"messages": [{"role": "user", "content": [
        {"type": "document", "source": {"type": "url", "url": "https://x/a.pdf"}}]}]}));
    assert!(matches!(foreign(&doc_url), Err(WireError::Unsupported { .. })));
    assert!(foreign(&base(json!({"top_k": 3}))).is_ok(), "a refinement is only dropped");
    let unknown =
        canonical(&base(json!({"messages": [{"role": "user", "content": [{"type": "bogus_block", "x": 1}]}]})));
    assert!(matches!(&unknown, Err(WireError::Invalid { message: m, .. }) if m.contains("bogus_block")), "{unknown:?}");
}

fn answer(v: Value) -> ChatResponse {
    serde_json::from_value(v).expect("canonical answer")
}

#[test]
fn responses_and_stop_reasons() {
    // An Anthropic answer read by the calling side and written back is the same answer.
    let original = json!({"id": "msg_01X", "type": "message", "role": "assistant", "model": "claude-3-5-haiku-20241022",
        "content": [{"type": "text", "text": "Let me check."},
                    {"type": "tool_use", "id": "toolu_01A", "name": "weather", "input": {"city": "Paris"}}],
        "stop_reason": "tool_use", "stop_sequence": null,
        "usage": {"input_tokens": 12, "output_tokens": 40, "cache_creation_input_tokens": 100, "cache_read_input_tokens": 2048,
                  "cache_creation": {"ephemeral_5m_input_tokens": 60, "ephemeral_1h_input_tokens": 40}}});
    let read: MessagesResponse = serde_json::from_value(original.clone()).unwrap();
    let canonical = call::from_wire(read, ReplyCtx::default(), 1);
    assert_eq!(serde_json::to_value(from_canonical(&canonical).unwrap()).unwrap(), original);

    // A turn with tool calls is `tool_use` even when the vendor said `stop`.
    let r = answer(json!({"id": "c1", "model": "gpt-4o", "choices": [{"index": 0, "finish_reason": "stop",
        "message": {"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": ""}}]}}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}}));
    assert_eq!(
        serde_json::to_value(from_canonical(&r).unwrap()).unwrap(),
        json!({"id": "c1", "type": "message", "role": "assistant", "model": "gpt-4o",
               "content": [{"type": "tool_use", "id": "call_1", "name": "f", "input": {}}],
               "stop_reason": "tool_use", "stop_sequence": null, "usage": {"input_tokens": 9, "output_tokens": 3}})
    );
    for (finish, calls, want) in [
        (Some("stop"), false, "end_turn"),
        (Some("length"), true, "max_tokens"),
        (Some("content_filter"), false, "refusal"),
        (Some("tool_calls"), true, "tool_use"),
        (None, true, "tool_use"),
        (None, false, "end_turn"),
    ] {
        assert_eq!(super::stop_reason(finish, calls), want, "{finish:?} {calls}");
    }
    let bad = answer(json!({"id": "c", "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "tool_calls": [{"id": "x", "type": "function", "function": {"name": "f", "arguments": "[1]"}}]}}]}));
    assert!(matches!(from_canonical(&bad), Err(WireError::Unsupported { .. })));
}

#[test]
fn error_bodies_by_status() {
    let body = |s: u16| serde_json::to_value(error_body(s, "m")).unwrap();
    assert_eq!(body(529), json!({"type": "error", "error": {"type": "overloaded_error", "message": "m"}}));
    for (status, kind) in [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (413, "request_too_large"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (502, "api_error"),
        (503, "overloaded_error"),
        (504, "timeout_error"),
    ] {
        assert_eq!(body(status)["error"]["type"], kind, "{status}");
    }
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
    enc.finish(&mut out);
    Ok(out.iter().map(|e| serde_json::to_value(e).expect("serializes")).collect())
}

#[test]
fn golden_event_sequence_for_text_then_two_tool_calls() {
    let c = chunks(json!([
        {"id": "chatcmpl-1", "model": "gpt-4o", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
        {"id": "chatcmpl-1", "model": "gpt-4o", "choices": [{"index": 0, "delta": {"content": "Checking "}}]},
        {"id": "chatcmpl-1", "model": "gpt-4o", "choices": [{"index": 0, "delta": {"content": "☀️"}}]},
        {"id": "chatcmpl-1", "model": "gpt-4o", "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "id": "call_a", "type": "function", "function": {"name": "weather", "arguments": ""}}]}}]},
        {"id": "chatcmpl-1", "model": "gpt-4o", "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "function": {"arguments": "{\"city\":"}}]}}]},
        {"id": "chatcmpl-1", "model": "gpt-4o", "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "function": {"arguments": "\"Paris\"}"}}]}}]},
        {"id": "chatcmpl-1", "model": "gpt-4o", "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 1, "id": "call_b", "type": "function", "function": {"name": "now", "arguments": "{}"}}]}}]},
        {"id": "chatcmpl-1", "model": "gpt-4o", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
        {"id": "chatcmpl-1", "model": "gpt-4o", "choices": [],
         "usage": {"prompt_tokens": 30, "completion_tokens": 12, "total_tokens": 42, "prompt_tokens_details": {"cached_tokens": 10}}}
    ]));
    let start = json!({"type": "message_start", "message": {"id": "chatcmpl-1", "type": "message", "role": "assistant",
        "model": "gpt-4o", "content": [], "stop_reason": null, "stop_sequence": null,
        "usage": {"input_tokens": 0, "output_tokens": 0}}});
    let want = vec![
        start,
        json!({"type": "ping"}),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Checking "}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "☀️"}}),
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "call_a", "name": "weather", "input": {}}}),
        json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"city\":"}}),
        json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "\"Paris\"}"}}),
        json!({"type": "content_block_stop", "index": 1}),
        json!({"type": "content_block_start", "index": 2, "content_block": {"type": "tool_use", "id": "call_b", "name": "now", "input": {}}}),
        json!({"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": "{}"}}),
        json!({"type": "content_block_stop", "index": 2}),
        json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null},
               "usage": {"input_tokens": 20, "output_tokens": 12, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 10,
                         "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0}}}),
        json!({"type": "message_stop"}),
    ];
    assert_eq!(encode_all(&c).unwrap(), want);

    // A stream with nothing in it still opens and closes properly.
    let empty = encode_all(&[]).unwrap();
    let kinds: Vec<&str> = empty.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(kinds, ["message_start", "ping", "message_delta", "message_stop"]);
    assert_eq!(empty[2]["delta"]["stop_reason"], "end_turn");

    // Interleaved tool-call arguments cannot be expressed as Messages blocks.
    let mixed = chunks(json!([
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "a", "function": {"name": "f", "arguments": ""}}]}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 1, "id": "b", "function": {"name": "g", "arguments": ""}}]}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}}]}
    ]));
    assert!(matches!(encode_all(&mixed), Err(WireError::Unsupported { .. })));
    let e = serde_json::to_value(StreamEncoder::error(529, "Overloaded")).unwrap();
    assert_eq!(e, json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}));
    assert_eq!(
        super::stream::encode(&StreamEvent::MessageStop),
        b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n".to_vec()
    );
}

/// An Anthropic stream read by the calling side and written back by the serving side: the
/// same blocks, deltas and stop reason (one ping, after message_start; usage reported at the end).
#[test]
fn a_vendor_stream_round_trips_through_canonical_chunks() {
    let ev = |v: Value| format!("event: {}\ndata: {v}\n\n", v["type"].as_str().unwrap_or(""));
    let original = [
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi "}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "there"}}),
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}}),
        json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"a\":"}}),
        json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "1}"}}),
        json!({"type": "content_block_stop", "index": 1}),
    ];
    let sse = ev(json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
            "model": "claude", "content": [], "usage": {"input_tokens": 7, "output_tokens": 1}}}))
        + &ev(json!({"type": "ping"}))
        + &original.iter().map(|v| ev(v.clone())).collect::<String>()
        + &ev(json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9}}))
        + &ev(json!({"type": "message_stop"}));
    let mut p = SseParser::default();
    p.push(sse.as_bytes());
    let mut dec = StreamState::new(ReplyCtx::default(), 0);
    let mut canonical = Vec::new();
    while let Some(e) = p.next_event().expect("valid SSE") {
        if dec.on_event(e, &mut canonical).expect("decodes") == Flow::Done {
            break;
        }
    }
    let events = encode_all(&canonical).unwrap();
    assert_eq!(events[0]["message"]["id"], "msg_1");
    assert_eq!(events[1], json!({"type": "ping"}), "one ping after message_start, as Anthropic sends it");
    assert_eq!(&events[2..events.len() - 2], &original[..]);
    assert_eq!(events[events.len() - 2]["delta"]["stop_reason"], "tool_use");
    assert_eq!(events[events.len() - 2]["usage"], json!({"input_tokens": 7, "output_tokens": 9}));
}
