//! Reasoning items, both directions: a Responses upstream's reasoning (whole and streamed)
//! as details with `encrypted_content` verbatim; details back as input items; a Responses
//! caller served reasoning items (OpenAI's own and another vendor's in an envelope) that read
//! back as they were; the stream events a caller gets.

use serde_json::{Value, json};

use super::super::events::{EventBody, StreamEvent};
use super::super::output::{Response, ResponseEcho};
use super::super::request_in::to_chat_request;
use super::super::request_out::to_create_response;
use super::super::response::{to_chat_response, to_response};
use super::super::stream_in::ChunkReader;
use super::super::stream_out::EventStream;
use super::{chat, chat_response, create, json};
use crate::cache::replay::{assemble, replay};

fn item(enc: &str) -> Value {
    json!({"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "Weighing it."}],
           "encrypted_content": enc})
}

#[test]
fn an_upstreams_reasoning_item_is_a_detail_and_goes_back_as_it_came() {
    let r: Response =
        serde_json::from_value(json!({"id": "resp_1", "created_at": 1, "model": "gpt-5", "status": "completed",
        "output": [item("gAAAAenc"), {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": "42", "annotations": []}]}]}))
        .unwrap();
    let a = json(&to_chat_response(&r).unwrap());
    let m = &a["choices"][0]["message"];
    assert_eq!(m["reasoning_content"], "Weighing it.");
    assert_eq!(
        m["reasoning_details"],
        json!([{"type": "reasoning.encrypted", "summary": "Weighing it.", "data": "gAAAAenc", "id": "rs_1",
                "format": "openai-responses-v1", "index": 0}])
    );
    // The caller's next turn: the item goes back before the message, verbatim.
    let next = chat(json!({"model": "m", "messages": [{"role": "user", "content": "q"}, m,
        {"role": "user", "content": "why"}]}));
    let w = json(&to_create_response(&next, "gpt-5", false).unwrap().value);
    assert_eq!(w["input"][1], item("gAAAAenc"));
    assert_eq!(w["input"][2]["role"], "assistant");
}

fn sse(events: &[Value]) -> String {
    events.iter().map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap())).collect()
}

#[test]
fn a_reasoning_stream_at_every_split_point() {
    let resp = |status: &str| {
        json!({"id": "resp_1", "object": "response", "created_at": 1, "model": "gpt-5",
        "status": status, "output": []})
    };
    let events = [
        json!({"type": "response.created", "sequence_number": 0, "response": resp("in_progress")}),
        json!({"type": "response.output_item.added", "sequence_number": 1, "output_index": 0,
               "item": {"type": "reasoning", "id": "rs_1", "summary": []}}),
        json!({"type": "response.reasoning_summary_text.delta", "sequence_number": 2, "item_id": "rs_1",
               "output_index": 0, "summary_index": 0, "delta": "Weighing "}),
        json!({"type": "response.reasoning_summary_text.delta", "sequence_number": 3, "item_id": "rs_1",
               "output_index": 0, "summary_index": 0, "delta": "it."}),
        json!({"type": "response.output_item.done", "sequence_number": 4, "output_index": 0, "item": item("gAAAAenc")}),
        json!({"type": "response.output_text.delta", "sequence_number": 5, "item_id": "msg_1", "output_index": 1,
               "content_index": 0, "delta": "42", "logprobs": []}),
        json!({"type": "response.completed", "sequence_number": 6, "response": resp("completed")}),
    ];
    let text = sse(&events);
    for cut in (0..text.len()).filter(|c| text.is_char_boundary(*c)) {
        let (chunks, err) = crate::wire::test_support::decode(ChunkReader::default(), &text, cut);
        assert!(err.is_none(), "cut {cut}: {err:?}");
        let whole = json(&assemble(&chunks));
        let m = &whole["choices"][0]["message"];
        assert_eq!(m["reasoning_content"], "Weighing it.", "cut {cut}");
        assert_eq!(m["reasoning_details"][0]["data"], "gAAAAenc", "cut {cut}");
        assert_eq!(m["content"], "42", "cut {cut}");
    }
}

fn mixed() -> crate::api::ChatResponse {
    chat_response(json!({"id": "chatcmpl-r1", "created": 1, "model": "m", "choices": [{"index": 0,
        "finish_reason": "stop", "message": {"role": "assistant", "content": "42", "reasoning_content": "hmm",
        "reasoning_details": [
            {"type": "reasoning.encrypted", "summary": "Weighing it.", "data": "gAAAAenc", "id": "rs_1",
             "format": "openai-responses-v1", "provider": "openai"},
            {"type": "reasoning.text", "text": "hmm", "signature": "EqQBsig==", "format": "anthropic-claude-v1",
             "provider": "claude"}]}}]}))
}

#[test]
fn a_responses_caller_gets_reasoning_items_and_sends_them_back_as_they_were() {
    let r = json(&to_response(&mixed(), ResponseEcho::default()).unwrap());
    assert_eq!(r["output"][0], item("gAAAAenc"), "OpenAI's own, verbatim");
    let foreign = &r["output"][1];
    assert_eq!(foreign["type"], "reasoning");
    assert_eq!(foreign["summary"][0]["text"], "hmm");
    let enc = foreign["encrypted_content"].as_str().unwrap();
    assert!(crate::api::reasoning::is_envelope(enc));
    assert_eq!(r["output"][2]["type"], "message");
    // Next turn: both items back as input; the details are what they were, tags included.
    let next = create(json!({"model": "m", "input": [{"role": "user", "content": "q"}, r["output"][0], r["output"][1],
        r["output"][2], {"role": "user", "content": "why"}]}));
    let c = to_chat_request(&next).unwrap().chat;
    let back = json(&c.messages[1].reasoning_details);
    assert_eq!(back[0]["data"], "gAAAAenc");
    assert_eq!(back[1], json(&mixed().choices[0].message.reasoning_details)[1]);
    assert_eq!(c.messages[1].content.as_ref().map(crate::api::Content::text).as_deref(), Some("42"));
}

#[test]
fn a_responses_stream_carries_reasoning_items_and_summary_deltas() {
    let mut s = EventStream::new("chatcmpl-r1", 1, "m", ResponseEcho::default());
    let mut out: Vec<StreamEvent> = Vec::new();
    for c in replay(&mixed()) {
        s.on_chunk(&c, &mut out).unwrap();
    }
    s.finish(&mut out);
    let kinds: Vec<&str> = out.iter().map(StreamEvent::event_type).collect();
    assert_eq!(
        &kinds[..5],
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.reasoning_summary_text.delta",
            "response.output_item.done"
        ],
        "{kinds:?}"
    );
    let items: Vec<Value> = out
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::OutputItemDone { item, .. } => Some(json(item)),
            _ => None,
        })
        .collect();
    assert_eq!(items[0]["encrypted_content"], "gAAAAenc");
    assert_eq!(items[0]["summary"][0]["text"], "Weighing it.");
    assert!(crate::api::reasoning::is_envelope(items[1]["encrypted_content"].as_str().unwrap()));
    assert_eq!(items[2]["type"], "message");
    let final_output = &json(out.last().unwrap())["response"]["output"];
    assert_eq!(final_output.as_array().unwrap().len(), 3);
}
