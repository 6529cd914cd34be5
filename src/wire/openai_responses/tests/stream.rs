//! Streams: canonical chunk transcripts -> Responses event sequences (exact order, every
//! event spec-checked, sequence numbers 0..n), and Responses events -> canonical chunks.

use serde_json::{Value, json};

use super::schema::check_event;
use super::{chat_response, json};
use crate::api::ChatChunk;
use crate::api::error::GatewayError;
use crate::wire::openai_responses::{ChunkReader, EventStream, ResponseEcho, StreamEvent, to_response};
use crate::wire::{Flow, VendorReport, WireError};

fn chunk(delta: Value, finish: Option<&str>) -> ChatChunk {
    serde_json::from_value(json!({"id": "chatcmpl-s1", "object": "chat.completion.chunk", "created": 1700000000,
        "model": "gpt-x", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}))
    .unwrap()
}

fn usage_chunk() -> ChatChunk {
    serde_json::from_value(json!({"id": "chatcmpl-s1", "created": 1700000000, "model": "gpt-x", "choices": [],
        "usage": {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}}))
    .unwrap()
}

fn call(index: u32, id: Option<&str>, name: Option<&str>, args: &str) -> Value {
    let mut f = json!({"arguments": args});
    if let Some(n) = name {
        f["name"] = json!(n);
    }
    let mut c = json!({"index": index, "function": f});
    if let Some(id) = id {
        c["id"] = json!(id);
        c["type"] = json!("function");
    }
    json!({"tool_calls": [c]})
}

/// Runs chunks through the state machine, then checks what every transcript must satisfy.
fn run(chunks: &[ChatChunk]) -> Vec<StreamEvent> {
    let mut s = EventStream::new("chatcmpl-s1", 1700000000, "gpt-x", ResponseEcho::default());
    let mut out = Vec::new();
    for c in chunks {
        s.on_chunk(c, &mut out).unwrap();
    }
    s.finish(&mut out);
    check_transcript(&out);
    out
}

fn check_transcript(events: &[StreamEvent]) {
    for (i, e) in events.iter().enumerate() {
        let v = json(e);
        check_event(&v).unwrap_or_else(|err| panic!("event {i} ({}) breaks the spec: {err}", e.event_type()));
        assert_eq!(e.sequence_number, i as u64, "sequence numbers count up from 0");
        let sse = String::from_utf8(e.to_sse()).unwrap();
        assert!(sse.starts_with(&format!("event: {}\ndata: {{", e.event_type())) && sse.ends_with("}\n\n"));
    }
    assert!(events.last().is_some_and(StreamEvent::is_terminal), "the last event ends the stream");
    assert_eq!(events.iter().filter(|e| e.is_terminal()).count(), 1);
}

fn types(events: &[StreamEvent]) -> Vec<&'static str> {
    events.iter().map(StreamEvent::event_type).collect()
}

fn final_response(events: &[StreamEvent]) -> Value {
    json(events.last().unwrap())["response"].clone()
}

#[test]
fn a_text_stream_is_the_exact_event_sequence() {
    let events = run(&[
        chunk(json!({"role": "assistant", "content": ""}), None),
        chunk(json!({"content": "Hel"}), None),
        chunk(json!({"content": "lo"}), None),
        chunk(json!({}), Some("stop")),
        usage_chunk(),
    ]);
    assert_eq!(
        types(&events),
        vec![
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    let v: Vec<Value> = events.iter().map(json).collect();
    assert_eq!(v[0]["response"]["status"], "in_progress");
    assert_eq!(v[0]["response"]["id"], "resp_s1");
    assert_eq!(
        v[2]["item"],
        json!({"type": "message", "id": "msg_s1_0", "role": "assistant", "status": "in_progress",
        "content": []})
    );
    assert_eq!(v[4]["delta"], "Hel");
    assert_eq!(v[6]["text"], "Hello");
    assert_eq!(v[7]["part"], json!({"type": "output_text", "text": "Hello", "annotations": [], "logprobs": []}));
    let done = final_response(&events);
    assert_eq!(done["status"], "completed");
    assert_eq!(done["output"][0]["status"], "completed");
    assert_eq!(done["usage"]["input_tokens"], 9);
    assert_eq!(done["usage"]["total_tokens"], 13);
}

#[test]
fn one_tool_call_streams_its_arguments() {
    let events = run(&[
        chunk(json!({"role": "assistant", "content": null}), None),
        chunk(call(0, Some("call_a"), Some("weather"), ""), None),
        chunk(call(0, None, None, "{\"city\":"), None),
        chunk(call(0, None, None, "\"Paris\"}"), None),
        chunk(json!({}), Some("tool_calls")),
    ]);
    assert_eq!(
        types(&events),
        vec![
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    let v: Vec<Value> = events.iter().map(json).collect();
    assert_eq!(
        v[2]["item"],
        json!({"type": "function_call", "id": "fc_s1_0", "call_id": "call_a", "name": "weather",
        "arguments": "", "status": "in_progress"})
    );
    assert_eq!(
        v[5],
        json!({"type": "response.function_call_arguments.done", "item_id": "fc_s1_0", "output_index": 0,
        "name": "weather", "arguments": "{\"city\":\"Paris\"}", "sequence_number": 5})
    );
    assert_eq!(v[6]["item"]["status"], "completed");
}

#[test]
fn text_then_several_tool_calls_close_each_item_before_the_next() {
    let events = run(&[
        chunk(json!({"role": "assistant", "content": "Checking."}), None),
        chunk(call(0, Some("call_a"), Some("weather"), "{\"c\":\"P\"}"), None),
        chunk(call(1, Some("call_b"), Some("time"), "{"), None),
        chunk(call(1, None, None, "}"), None),
        chunk(json!({}), Some("tool_calls")),
    ]);
    let t = types(&events);
    assert_eq!(
        &t[2..],
        &[
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    let done = final_response(&events);
    let ids: Vec<&str> = done["output"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec!["msg_s1_0", "fc_s1_1", "fc_s1_2"]);
    assert_eq!(done["output"][2]["arguments"], "{}");
    let added: Vec<u64> = events
        .iter()
        .map(json)
        .filter(|v| v["type"] == "response.output_item.added")
        .map(|v| v["output_index"].as_u64().unwrap())
        .collect();
    assert_eq!(added, vec![0, 1, 2]);
}

#[test]
fn a_length_stop_ends_incomplete() {
    let events =
        run(&[chunk(json!({"role": "assistant", "content": "trunc"}), None), chunk(json!({}), Some("length"))]);
    assert_eq!(events.last().unwrap().event_type(), "response.incomplete");
    let done = final_response(&events);
    assert_eq!(done["status"], "incomplete");
    assert_eq!(done["incomplete_details"], json!({"reason": "max_output_tokens"}));
    assert_eq!(done["output"][0]["status"], "incomplete");
    let item_done = events.iter().map(json).find(|v| v["type"] == "response.output_item.done").unwrap();
    assert_eq!(item_done["item"]["status"], "incomplete");
}

#[test]
fn a_refusal_streams_as_a_refusal_part() {
    let events =
        run(&[chunk(json!({"role": "assistant", "refusal": "I can't"}), None), chunk(json!({}), Some("stop"))]);
    let t = types(&events);
    assert!(t.contains(&"response.refusal.delta") && t.contains(&"response.refusal.done"), "{t:?}");
    assert_eq!(final_response(&events)["output"][0]["content"], json!([{"type": "refusal", "refusal": "I can't"}]));
}

#[test]
fn a_failure_mid_stream_is_response_failed() {
    let mut s = EventStream::new("chatcmpl-s1", 1, "gpt-x", ResponseEcho::default());
    let mut out = Vec::new();
    s.on_chunk(&chunk(json!({"content": "par"}), None), &mut out).unwrap();
    s.fail(&GatewayError::StreamBroken { message: "vendor reset".into() }, &mut out);
    check_transcript(&out);
    let last = json(out.last().unwrap());
    assert_eq!(last["type"], "response.failed");
    assert_eq!(last["response"]["error"], json!({"code": "server_error", "message": "vendor reset"}));
    assert_eq!(last["response"]["output"][0]["status"], "incomplete");
    assert!(s.on_chunk(&chunk(json!({"content": "late"}), None), &mut out).is_err());
}

#[test]
fn an_interleaved_tool_call_is_an_error_not_a_wrong_stream() {
    let mut s = EventStream::new("chatcmpl-s1", 1, "gpt-x", ResponseEcho::default());
    let mut out = Vec::new();
    s.on_chunk(&chunk(call(0, Some("a"), Some("f"), "{"), None), &mut out).unwrap();
    s.on_chunk(&chunk(call(1, Some("b"), Some("g"), "{"), None), &mut out).unwrap();
    let e = s.on_chunk(&chunk(call(0, None, None, "}"), None), &mut out).unwrap_err();
    assert!(matches!(e, WireError::Malformed(_)), "{e}");
}

/// Our own events read back into chunks reassemble the same answer as the whole conversion.
#[test]
fn events_read_back_into_the_same_answer() {
    let chunks = [
        chunk(json!({"role": "assistant", "content": "Checking."}), None),
        chunk(call(0, Some("call_a"), Some("weather"), "{\"c\":"), None),
        chunk(call(0, None, None, "1}"), None),
        chunk(call(1, Some("call_b"), Some("time"), "{}"), None),
        chunk(json!({}), Some("tool_calls")),
        usage_chunk(),
    ];
    let events = run(&chunks);
    let mut reader = ChunkReader::default();
    let mut back = Vec::new();
    let mut progress = Vec::new();
    for e in &events {
        let data = serde_json::to_string(e).unwrap();
        progress.push(reader.on_data(&data, &mut back).unwrap());
    }
    assert_eq!(progress.last(), Some(&Flow::Done));
    assert_eq!(progress.iter().filter(|p| **p == Flow::Done).count(), 1);
    let mut want = assemble(&chunks);
    want.id = "resp_s1".into();
    assert_eq!(json(&assemble(&back)), json(&want));
    // and the whole-answer path agrees with the streamed final response
    let whole = to_response(&assemble(&back), ResponseEcho::default()).unwrap();
    assert_eq!(json(&whole)["output"], final_response(&events)["output"]);
}

#[test]
fn upstream_failures_and_unknown_events() {
    let mut r = ChunkReader::default();
    let mut out = Vec::new();
    let summary = json!({"type": "response.reasoning_summary_text.delta", "item_id": "rs", "output_index": 0,
        "summary_index": 0, "delta": "x", "sequence_number": 3});
    assert_eq!(r.on_data(&summary.to_string(), &mut out).unwrap(), Flow::More);
    assert_eq!(out.len(), 1, "a reasoning summary delta is reasoning_content");
    assert_eq!(out[0].choices[0].delta.reasoning_content.as_deref(), Some("x"));
    out.clear();
    let skip = json!({"type": "response.reasoning_summary_part.added", "item_id": "rs", "output_index": 0,
        "summary_index": 0, "part": {"type": "summary_text", "text": ""}, "sequence_number": 3});
    assert_eq!(r.on_data(&skip.to_string(), &mut out).unwrap(), Flow::More);
    assert!(out.is_empty());
    let err = json!({"type": "error", "code": "rate_limit_exceeded", "message": "slow down", "param": null,
        "sequence_number": 4});
    assert_eq!(
        r.on_data(&err.to_string(), &mut out).unwrap_err(),
        WireError::Reported(VendorReport::OpenAi {
            code: Some("rate_limit_exceeded".into()),
            message: Some("slow down".into())
        })
    );
    assert!(r.on_data("{not json", &mut out).is_err());
}

/// A whole completion from chunks (the router's own accumulation, reduced to choice 0).
fn assemble(chunks: &[ChatChunk]) -> crate::api::ChatResponse {
    let (mut text, mut calls, mut finish, mut usage) = (String::new(), Vec::<Value>::new(), None, None);
    let (mut id, mut created, mut model) = (String::new(), 0, String::new());
    for c in chunks {
        (id, created, model) = (c.id.clone(), c.created, c.model.clone());
        usage = c.usage.or(usage);
        let Some(ch) = c.choices.first() else { continue };
        finish = ch.finish_reason.clone().or(finish);
        text.push_str(ch.delta.content.as_deref().unwrap_or(""));
        for t in ch.delta.tool_calls.iter().flatten() {
            let i = t.index as usize;
            if calls.len() <= i {
                calls.push(json!({"id": t.id, "type": "function", "function": {"name": "", "arguments": ""}}));
            }
            let f = t.function.as_ref().unwrap();
            let cur = &mut calls[i]["function"];
            cur["name"] = json!(format!("{}{}", cur["name"].as_str().unwrap(), f.name.as_deref().unwrap_or("")));
            cur["arguments"] =
                json!(format!("{}{}", cur["arguments"].as_str().unwrap(), f.arguments.as_deref().unwrap_or("")));
        }
    }
    chat_response(json!({"id": id, "created": created, "model": model, "usage": usage,
        "choices": [{"index": 0, "finish_reason": finish,
                     "message": {"role": "assistant", "content": text, "tool_calls": calls}}]}))
}

#[test]
fn an_incomplete_upstream_stream_finishes_with_length_and_usage() {
    let events = run(&[
        chunk(json!({"role": "assistant", "content": "cut"}), None),
        chunk(json!({}), Some("length")),
        usage_chunk(),
    ]);
    let mut reader = ChunkReader::default();
    let mut back = Vec::new();
    for e in &events {
        reader.on(e, &mut back).unwrap();
    }
    let finish: Vec<&str> = back.iter().filter_map(|c| c.choices.first()?.finish_reason.as_deref()).collect();
    assert_eq!(finish, vec!["length"]);
    let usage = back.last().and_then(|c| c.usage).unwrap();
    assert_eq!((usage.prompt_tokens, usage.completion_tokens, usage.total_tokens), (9, 4, 13));
    assert_eq!(back.iter().filter_map(ChatChunk::content).collect::<String>(), "cut");
}
