//! Fixture tests for calling Anthropic, both ways (request out, response and events in). Requests are compared as
//! whole JSON documents against what the Messages API documents; responses and stream
//! transcripts are written as Anthropic sends them.

use serde_json::{Value, json};

use super::super::JSON_TOOL;
use super::super::types as wire;
use super::{Options, ReplyCtx, StreamState};
use crate::api::{ChatChunk, ChatRequest};
use crate::wire::WireError;
use crate::wire::anthropic::call as translate;
use crate::wire::test_support::{anthropic_start as start, decode, named_event as ev};

fn req(v: Value) -> ChatRequest {
    serde_json::from_value(v).expect("valid OpenAI request")
}

fn wire_of(v: Value) -> Result<(Value, ReplyCtx), WireError> {
    let r = req(v);
    let (w, ctx) = translate::to_wire(&r, "claude-3-5-haiku-latest", false, &Options::default())?;
    Ok((serde_json::to_value(&w).expect("serializes"), ctx))
}

fn wire_json(v: Value) -> Value {
    wire_of(v).map(|(w, _)| w).unwrap_or_else(|e| panic!("translation failed: {e}"))
}

fn user(text: &str) -> Value {
    json!({"role": "user", "content": text})
}

#[test]
fn requests_field_by_field() {
    let cases: Vec<(&str, Value, Value)> = vec![
        (
            "system, developer, unicode, default max_tokens",
            json!({"model": "x", "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
                user("Grüß dich 👋 — 你好")]}),
            json!({"model": "claude-3-5-haiku-latest", "max_tokens": 8192,
                   "system": "You are terse.\n\nAnswer in French.",
                   "messages": [{"role": "user", "content": [{"type": "text", "text": "Grüß dich 👋 — 你好"}]}]}),
        ),
        (
            "same-role merge, empty content dropped, sampling fields",
            json!({"model": "x", "max_completion_tokens": 50, "temperature": 0.2, "top_p": 0.9, "top_k": 5,
                   "stop": ["\n", "END"], "user": "u-42", "seed": 1, "presence_penalty": 0.5,
                   "messages": [user("a"), user(""), {"role": "assistant", "content": ""}, user("b")]}),
            json!({"model": "claude-3-5-haiku-latest", "max_tokens": 50, "temperature": 0.2, "top_k": 5,
                   "stop_sequences": ["END"], "metadata": {"user_id": "u-42"},
                   "messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]}),
        ),
        (
            "images: data URL and http URL, detail dropped",
            json!({"model": "x", "messages": [{"role": "user", "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "high"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}]}]}),
            json!({"model": "claude-3-5-haiku-latest", "max_tokens": 8192, "messages": [{"role": "user", "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}]}]}),
        ),
        (
            "tool round trip: parallel calls, results out of order batched first, text after",
            json!({"model": "x", "messages": [
                user("Weather in Paris and Rome?"),
                {"role": "assistant", "content": "", "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "call_2", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Rome\"}"}}]},
                {"role": "tool", "tool_call_id": "call_2", "content": "25C"},
                {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "21C"}]},
                user("and tomorrow?")]}),
            json!({"model": "claude-3-5-haiku-latest", "max_tokens": 8192, "messages": [
                {"role": "user", "content": [{"type": "text", "text": "Weather in Paris and Rome?"}]},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "call_1", "name": "weather", "input": {"city": "Paris"}},
                    {"type": "tool_use", "id": "call_2", "name": "weather", "input": {"city": "Rome"}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "call_2", "content": [{"type": "text", "text": "25C"}]},
                    {"type": "tool_result", "tool_use_id": "call_1", "content": [{"type": "text", "text": "21C"}]},
                    {"type": "text", "text": "and tomorrow?"}]}]}),
        ),
        (
            "foreign tool ids sanitized the same on both sides; no-arg call; empty result",
            json!({"model": "x", "messages": [user("go"),
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "functions.Bash:0", "type": "function", "function": {"name": "now", "arguments": ""}}]},
                {"role": "tool", "tool_call_id": "functions.Bash:0", "content": ""}]}),
            {
                let id = crate::wire::canonical::safe_tool_id("functions.Bash:0").into_owned();
                json!({"model": "claude-3-5-haiku-latest", "max_tokens": 8192, "messages": [
                    {"role": "user", "content": [{"type": "text", "text": "go"}]},
                    {"role": "assistant", "content": [{"type": "tool_use", "id": id, "name": "now", "input": {}}]},
                    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": id}]}]})
            },
        ),
        (
            "history starting with assistant; trailing prefill trimmed",
            json!({"model": "x", "messages": [{"role": "assistant", "content": "Hello!"}, user("hi"),
                   {"role": "assistant", "content": "The answer is "}]}),
            json!({"model": "claude-3-5-haiku-latest", "max_tokens": 8192, "messages": [
                {"role": "user", "content": [{"type": "text", "text": "…"}]},
                {"role": "assistant", "content": [{"type": "text", "text": "Hello!"}]},
                {"role": "user", "content": [{"type": "text", "text": "hi"}]},
                {"role": "assistant", "content": [{"type": "text", "text": "The answer is"}]}]}),
        ),
        (
            "pdf file part becomes a document",
            json!({"model": "x", "messages": [{"role": "user", "content": [
                {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0x"}}]}]}),
            json!({"model": "claude-3-5-haiku-latest", "max_tokens": 8192, "messages": [{"role": "user", "content": [
                {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"}}]}]}),
        ),
    ];
    for (name, input, want) in cases {
        assert_eq!(wire_json(input), want, "case: {name}");
    }
}

fn tools_req(choice: Value, parallel: Option<bool>) -> Value {
    let mut r = json!({"model": "x", "messages": [user("hi")], "tools": [
        {"type": "function", "function": {"name": "weather", "description": "Get weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}, "strict": true}},
        {"type": "function", "function": {"name": "time"}}]});
    if !choice.is_null() {
        r["tool_choice"] = choice;
    }
    if let Some(p) = parallel {
        r["parallel_tool_calls"] = json!(p);
    }
    r
}

#[test]
fn tools_and_every_tool_choice_form() {
    let w = wire_json(tools_req(Value::Null, None));
    assert_eq!(
        w["tools"],
        json!([
            {"name": "weather", "description": "Get weather",
             "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
            {"name": "time", "input_schema": {"type": "object", "properties": {}}}])
    );
    assert!(w.get("tool_choice").is_none());
    let table = [
        (json!("none"), None, json!({"type": "none"})),
        (json!("auto"), None, json!({"type": "auto"})),
        (json!("required"), None, json!({"type": "any"})),
        (json!("required"), Some(false), json!({"type": "any", "disable_parallel_tool_use": true})),
        (Value::Null, Some(false), json!({"type": "auto", "disable_parallel_tool_use": true})),
        (json!({"type": "function", "function": {"name": "time"}}), None, json!({"type": "tool", "name": "time"})),
        (
            json!({"type": "allowed_tools", "allowed_tools": {"mode": "required", "tools": [{"type": "function", "function": {"name": "time"}}]}}),
            None,
            json!({"type": "any"}),
        ),
    ];
    for (choice, parallel, want) in table {
        let w = wire_json(tools_req(choice.clone(), parallel));
        assert_eq!(w["tool_choice"], want, "tool_choice {choice} parallel {parallel:?}");
    }
    let allowed = wire_json(tools_req(
        json!({"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": [{"type": "function", "function": {"name": "time"}}]}}),
        None,
    ));
    assert_eq!(allowed["tools"].as_array().map(Vec::len), Some(1), "allowed_tools narrows the list");
    assert!(wire_of(tools_req(json!({"type": "function", "function": {"name": "nope"}}), None)).is_err());
}

#[test]
fn response_format_uses_a_forced_tool() {
    let schema = json!({"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]});
    let (w, ctx) = wire_of(json!({"model": "x", "messages": [user("hi")],
        "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": schema, "strict": true}}}))
    .unwrap();
    assert!(ctx.json_tool);
    assert_eq!(w["tools"][0]["name"], JSON_TOOL);
    assert_eq!(w["tools"][0]["input_schema"], schema);
    assert_eq!(w["tool_choice"], json!({"type": "tool", "name": JSON_TOOL}));

    let (w, _) =
        wire_of(json!({"model": "x", "messages": [user("hi")], "response_format": {"type": "json_object"}})).unwrap();
    assert_eq!(w["tools"][0]["input_schema"], json!({"type": "object"}));

    // With the caller's own tools, the JSON tool is offered alongside, not forced.
    let mut r = tools_req(json!("auto"), None);
    r["response_format"] = json!({"type": "json_object"});
    let (w, _) = wire_of(r).unwrap();
    assert_eq!(w["tools"].as_array().map(Vec::len), Some(3));
    assert_eq!(w["tool_choice"], json!({"type": "auto"}));

    let (w, ctx) =
        wire_of(json!({"model": "x", "messages": [user("hi")], "response_format": {"type": "text"}})).unwrap();
    assert!(!ctx.json_tool && w.get("tools").is_none());
}

#[test]
fn max_tokens_table() {
    let o = Options::default();
    assert_eq!(translate::default_max_tokens("claude-sonnet-4-5-20250929", &o), 64_000);
    assert_eq!(translate::default_max_tokens("claude-opus-4-1-20250805", &o), 32_000);
    assert_eq!(translate::default_max_tokens("claude-3-haiku-20240307", &o), 4_096);
    assert_eq!(translate::default_max_tokens("claude-next", &o), 4_096);
    assert_eq!(
        translate::default_max_tokens("claude-next", &Options { default_max_tokens: Some(9000), ..Options::default() }),
        9000
    );
}

fn response(v: Value, ctx: ReplyCtx) -> Value {
    let parsed: wire::MessagesResponse = serde_json::from_value(v).expect("vendor-shaped response");
    serde_json::to_value(translate::from_wire(parsed, ctx, 7)).expect("serializes")
}

#[test]
fn responses_text_tools_usage() {
    let r = response(
        json!({"id": "msg_01X", "type": "message", "role": "assistant", "model": "claude-3-5-haiku-20241022",
               "content": [{"type": "text", "text": "Let me check."},
                           {"type": "tool_use", "id": "toolu_01A", "name": "weather", "input": {"city": "Paris"}},
                           {"type": "tool_use", "id": "toolu_01B", "name": "now", "input": {}}],
               "stop_reason": "tool_use", "stop_sequence": null,
               "usage": {"input_tokens": 12, "output_tokens": 40, "cache_creation_input_tokens": 100,
                         "cache_read_input_tokens": 2048, "service_tier": "standard"}}),
        ReplyCtx::default(),
    );
    assert_eq!(
        r,
        json!({"id": "msg_01X", "object": "chat.completion", "created": 7, "model": "claude-3-5-haiku-20241022",
               "choices": [{"index": 0, "finish_reason": "tool_calls", "logprobs": null, "message": {"role": "assistant", "content": "Let me check.", "refusal": null,
                   "tool_calls": [
                       {"id": "toolu_01A", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
                       {"id": "toolu_01B", "type": "function", "function": {"name": "now", "arguments": "{}"}}]}}],
               "usage": {"prompt_tokens": 2160, "completion_tokens": 40, "total_tokens": 2200,
                         "prompt_tokens_details": {"cached_tokens": 2048, "cache_creation_tokens": 100}}})
    );
    // Only tool calls: content is null, as OpenAI sends it.
    let r = response(
        json!({"id": "m", "model": "c", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}],
               "stop_reason": "tool_use", "usage": {"input_tokens": 1, "output_tokens": 1}}),
        ReplyCtx::default(),
    );
    assert_eq!(r["choices"][0]["message"]["content"], Value::Null);
    assert!(r["usage"].get("prompt_tokens_details").is_none());
}

#[test]
fn every_stop_reason() {
    let table = [
        ("end_turn", false, "stop"),
        ("stop_sequence", false, "stop"),
        ("pause_turn", false, "stop"),
        ("max_tokens", false, "length"),
        ("model_context_window_exceeded", false, "length"),
        ("tool_use", true, "tool_calls"),
        ("tool_use", false, "stop"),
        ("refusal", false, "content_filter"),
        ("something_new", false, "stop"),
    ];
    for (stop, calls, want) in table {
        assert_eq!(translate::finish_reason(Some(stop), calls), want, "{stop}");
    }
    assert_eq!(translate::finish_reason(None, false), "stop");
}

#[test]
fn json_tool_answer_becomes_content_with_stop() {
    let r = response(
        json!({"id": "m", "model": "c", "content": [{"type": "tool_use", "id": "t", "name": JSON_TOOL, "input": {"answer": "42"}}],
               "stop_reason": "tool_use", "usage": {"input_tokens": 3, "output_tokens": 5}}),
        ReplyCtx { json_tool: true },
    );
    assert_eq!(r["choices"][0]["message"]["content"], "{\"answer\":\"42\"}");
    assert_eq!(r["choices"][0]["finish_reason"], "stop");
    assert!(r["choices"][0]["message"].get("tool_calls").is_none());
}

// ---- streams --------------------------------------------------------------------------------

fn run(sse: &str, ctx: ReplyCtx, cut: usize) -> (Vec<ChatChunk>, Option<WireError>) {
    decode(StreamState::new(ctx, 1), sse, cut)
}

const TOOL_STREAM: &str = "event: message_start\r\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude-3-5-haiku-20241022\",\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":25,\"cache_read_input_tokens\":10,\"output_tokens\":1}}}\r\n\r\n\
event: content_block_start\r\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\r\n\r\n\
event: ping\r\ndata: {\"type\": \"ping\"}\r\n\r\n\
event: content_block_delta\r\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Checking the wéather ☀️\"}}\r\n\r\n\
event: content_block_stop\r\ndata: {\"type\":\"content_block_stop\",\"index\":0}\r\n\r\n\
event: content_block_start\r\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_01A\",\"name\":\"weather\",\"input\":{}}}\r\n\r\n\
event: content_block_delta\r\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\"}}\r\n\r\n\
event: content_block_delta\r\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"city\\\": \\\"Pa\"}}\r\n\r\n\
event: content_block_delta\r\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"ris\\\"}\"}}\r\n\r\n\
event: content_block_stop\r\ndata: {\"type\":\"content_block_stop\",\"index\":1}\r\n\r\n\
event: content_block_start\r\ndata: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_01B\",\"name\":\"now\",\"input\":{}}}\r\n\r\n\
event: content_block_stop\r\ndata: {\"type\":\"content_block_stop\",\"index\":2}\r\n\r\n\
event: message_delta\r\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":42}}\r\n\r\n\
event: message_stop\r\ndata: {\"type\":\"message_stop\"}\r\n\r\n";

fn tool_args(chunks: &[ChatChunk], index: u32) -> String {
    chunks
        .iter()
        .flat_map(|c| c.choices.iter())
        .flat_map(|ch| ch.delta.tool_calls.iter().flatten())
        .filter(|t| t.index == index)
        .filter_map(|t| t.function.as_ref().and_then(|f| f.arguments.clone()))
        .collect()
}

#[test]
fn stream_text_then_parallel_tools_at_every_split_point() {
    let (want, err) = run(TOOL_STREAM, ReplyCtx::default(), 0);
    assert!(err.is_none(), "{err:?}");
    // Every byte offset, mid-line, mid-`\r\n` and mid-UTF-8 included.
    for cut in 1..TOOL_STREAM.len() {
        let (got, err) = run(TOOL_STREAM, ReplyCtx::default(), cut);
        assert!(err.is_none(), "cut {cut}: {err:?}");
        assert_eq!(serde_json::to_value(&got).unwrap(), serde_json::to_value(&want).unwrap(), "cut {cut}");
    }
    let v: Vec<Value> = want.iter().map(|c| serde_json::to_value(c).unwrap()).collect();
    // exactly one role chunk, first
    assert_eq!(v[0]["choices"][0]["delta"], json!({"role": "assistant", "content": ""}));
    assert_eq!(v.iter().filter(|c| c["choices"][0]["delta"].get("role").is_some()).count(), 1);
    assert_eq!(v[1]["choices"][0]["delta"]["content"], "Checking the wéather ☀️");
    // tool indexes count tools (0, 1), not content blocks (1, 2)
    assert_eq!(
        v[2]["choices"][0]["delta"]["tool_calls"],
        json!([{"index": 0, "id": "toolu_01A", "type": "function", "function": {"name": "weather", "arguments": ""}}])
    );
    assert_eq!(tool_args(&want, 0), "{\"city\": \"Paris\"}");
    assert!(serde_json::from_str::<Value>(&tool_args(&want, 0)).is_ok());
    // a tool without partial_json gets `{}`, never ""
    assert_eq!(tool_args(&want, 1), "{}");
    let finish: Vec<&Value> = v.iter().filter(|c| !c["choices"][0]["finish_reason"].is_null()).collect();
    assert_eq!(finish.len(), 1);
    assert_eq!(finish[0]["choices"][0]["finish_reason"], "tool_calls");
    let last = v.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"]["prompt_tokens"], 35);
    assert_eq!(last["usage"]["completion_tokens"], 42);
    assert_eq!(last["usage"]["prompt_tokens_details"]["cached_tokens"], 10);
    assert!(v.iter().all(|c| c["id"] == "msg_1" && c["model"] == "claude-3-5-haiku-20241022"));
}

#[test]
fn stream_json_tool_becomes_content_and_unknown_events_are_ignored() {
    let sse = start()
        + &ev(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}}),
        )
        + &ev(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "hmm"}}),
        )
        + &ev(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "x"}}),
        )
        + &ev("content_block_stop", json!({"type": "content_block_stop", "index": 0}))
        + &ev("brand_new_event", json!({"type": "brand_new_event", "x": 1}))
        + &ev(
            "content_block_start",
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "t", "name": JSON_TOOL, "input": {}}}),
        )
        + &ev(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"a\":"}}),
        )
        + &ev(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "1}"}}),
        )
        + &ev("content_block_stop", json!({"type": "content_block_stop", "index": 1}))
        + &ev(
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9}}),
        )
        + &ev("message_stop", json!({"type": "message_stop"}));
    let (chunks, err) = run(&sse, ReplyCtx { json_tool: true }, 0);
    assert!(err.is_none(), "{err:?}");
    let text: String = chunks.iter().filter_map(|c| c.content().map(str::to_string)).collect();
    assert_eq!(text, "{\"a\":1}");
    assert!(chunks.iter().all(|c| c.choices.iter().all(|ch| ch.delta.tool_calls.is_none())));
    let finish: Vec<_> = chunks.iter().flat_map(|c| c.choices.iter()).filter_map(|c| c.finish_reason.clone()).collect();
    assert_eq!(finish, vec!["stop".to_string()]);
}
