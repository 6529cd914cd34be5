//! The Responses adapter's own policy on top of the dialect: `store: false`, requests the
//! Responses API cannot express (`Failure::Unsupported`, so the router fails over), empty
//! answers and streams as failures, chunks held back until the first output, and errors.

use serde_json::{Value, json};

use futures_util::StreamExt;

use super::{answer, wire_request};
use crate::api::{ChatChunk, ChatRequest};
use crate::providers::{Failure, ProviderError};
use crate::wire::openai_responses::{ChunkReader, Response};
use crate::wire::test_support::{decode, named_event as ev};

fn req(v: Value) -> ChatRequest {
    serde_json::from_value(v).expect("valid chat request")
}

fn wire(v: Value) -> Result<Value, ProviderError> {
    wire_request(&req(v), "gpt-5", false).map(|w| serde_json::to_value(&w).expect("serializes"))
}

fn user(text: &str) -> Value {
    json!({"role": "user", "content": text})
}

#[test]
fn store_is_false_unless_the_caller_asked() {
    let w = wire(json!({"model": "x", "messages": [user("hi")], "max_tokens": 100, "seed": 3})).unwrap();
    assert_eq!(w["store"], false);
    assert_eq!(w["model"], "gpt-5");
    assert_eq!(w["max_output_tokens"], 100);
    assert_eq!(w["input"], json!([{"type": "message", "role": "user", "content": "hi"}]));
    assert!(w.get("seed").is_none(), "{w}");
    let w = wire(json!({"model": "x", "messages": [user("hi")], "store": true})).unwrap();
    assert_eq!(w["store"], true);
    let w = wire(json!({"model": "x", "messages": [user("hi")], "modalities": ["text"]})).unwrap();
    assert!(w.get("modalities").is_none(), "{w}");
}

#[test]
fn what_the_responses_api_cannot_express_fails_over() {
    let bad = [
        json!({"model": "x", "messages": [user("a")], "max_tokens": 15}),
        json!({"model": "x", "messages": [user("a")], "modalities": ["text", "audio"]}),
        json!({"model": "x", "messages": [user("a")], "stop": ["END"]}),
        json!({"model": "x", "messages": [user("a")], "logprobs": true}),
        json!({"model": "x", "messages": [user("a")], "logit_bias": {"12": 1}}),
        json!({"model": "x", "messages": [user("a")], "tools": [{"type": "custom", "custom": {"name": "c"}}]}),
    ];
    for b in bad {
        let e = wire(b.clone()).err().unwrap_or_else(|| panic!("accepted: {b}"));
        assert_eq!(e.failure, Failure::Unsupported, "{b}: {e}");
        assert_eq!(e.caller_status(), 400, "{b}");
    }
    let e = wire(json!({"model": "x", "messages": [user("a")], "max_completion_tokens": 8})).unwrap_err();
    assert!(e.message.contains("at least 16"), "{e}");
}

fn response(v: Value) -> Response {
    serde_json::from_value(v).expect("valid Response")
}

#[test]
fn whole_answer_maps_usage_and_an_empty_one_fails() {
    let r = response(json!({"id": "resp_1", "object": "response", "created_at": 7, "status": "completed",
        "model": "gpt-5", "output": [
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
             "content": [{"type": "output_text", "text": "hello", "annotations": []}]}],
        "usage": {"input_tokens": 10, "input_tokens_details": {"cached_tokens": 4}, "output_tokens": 9,
                  "output_tokens_details": {"reasoning_tokens": 6}, "total_tokens": 19}}));
    let a = serde_json::to_value(answer(&r).unwrap()).unwrap();
    assert_eq!(a["choices"][0]["message"]["content"], "hello");
    assert_eq!(a["choices"][0]["finish_reason"], "stop");
    assert_eq!(a["usage"]["prompt_tokens_details"]["cached_tokens"], 4);
    assert_eq!(a["usage"]["completion_tokens_details"]["reasoning_tokens"], 6);

    let empty = response(json!({"id": "resp_2", "status": "completed", "model": "m",
        "output": [{"type": "reasoning", "id": "rs_1", "summary": []}]}));
    let e = answer(&empty).unwrap_err();
    assert_eq!(e.failure, Failure::BadResponse);
    assert!(e.message.contains("no text or function call"), "{e}");
    // Cut short by the output limit while reasoning: a `length` answer, not a failure.
    let cut = response(json!({"id": "resp_3", "status": "incomplete", "model": "m",
        "incomplete_details": {"reason": "max_output_tokens"}, "output": []}));
    assert_eq!(answer(&cut).unwrap().choices[0].finish_reason.as_deref(), Some("length"));
    let failed = response(json!({"id": "resp_4", "status": "failed", "model": "m", "output": [],
        "error": {"code": "server_error", "message": "boom"}}));
    let e = answer(&failed).unwrap_err();
    assert_eq!(
        (e.failure, e.message.as_str(), e.code.as_deref()),
        (Failure::StreamBroken, "boom", Some("server_error"))
    );
}

fn snapshot(status: &str) -> Value {
    json!({"id": "resp_s", "object": "response", "created_at": 5, "status": status, "model": "gpt-5", "output": []})
}

fn head() -> String {
    ev(
        "response.created",
        json!({"type": "response.created", "sequence_number": 0, "response": snapshot("in_progress")}),
    ) + &ev(
        "response.in_progress",
        json!({"type": "response.in_progress", "sequence_number": 1, "response": snapshot("in_progress")}),
    )
}

fn completed(output: Value) -> String {
    let mut r = snapshot("completed");
    r["output"] = output;
    r["usage"] = json!({"input_tokens": 3, "output_tokens": 2, "total_tokens": 5,
        "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0}});
    ev("response.completed", json!({"type": "response.completed", "sequence_number": 9, "response": r}))
}

/// The adapter's stream: the dialect's reader, then the hold-back every vendor stream gets.
async fn run(sse: &str) -> (Vec<ChatChunk>, Option<ProviderError>) {
    let (chunks, err) = decode(ChunkReader::default(), sse, sse.len() / 2);
    let items: Vec<Result<ChatChunk, ProviderError>> =
        chunks.into_iter().map(Ok).chain(err.map(|e| Err(ProviderError::from(e)))).collect();
    let mut s = crate::providers::output::stream(Box::pin(futures_util::stream::iter(items)));
    let mut out = Vec::new();
    while let Some(item) = s.next().await {
        match item {
            Ok(c) => out.push(c),
            Err(e) => return (out, Some(e)),
        }
    }
    (out, None)
}

#[tokio::test]
async fn stream_holds_chunks_until_output_then_releases_them() {
    let (chunks, err) = run(&head()).await;
    assert!(chunks.is_empty() && err.is_some(), "a cut before any output sends nothing");
    assert_eq!(err.unwrap().failure, Failure::StreamBroken);

    let text = ev(
        "response.output_text.delta",
        json!({"type": "response.output_text.delta", "sequence_number": 4,
        "item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": "Hi"}),
    );
    let sse = head() + &text + &completed(json!([]));
    let (chunks, err) = run(&sse).await;
    assert!(err.is_none(), "{err:?}");
    let v: Vec<Value> = chunks.iter().map(|c| serde_json::to_value(c).unwrap()).collect();
    assert_eq!(v[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(v[1]["choices"][0]["delta"]["content"], "Hi");
    assert_eq!(v[2]["choices"][0]["finish_reason"], "stop");
    assert_eq!(v[3]["usage"]["total_tokens"], 5);
}

#[tokio::test]
async fn stream_that_completes_empty_or_fails_first_is_a_failure() {
    let (chunks, err) = run(&(head() + &completed(json!([])))).await;
    assert!(chunks.is_empty());
    let e = err.expect("empty stream fails");
    assert_eq!(e.failure, Failure::BadResponse);
    assert!(e.message.contains("no text or function call"), "{e}");

    let failed = ev(
        "response.failed",
        json!({"type": "response.failed", "sequence_number": 2,
        "response": {"id": "resp_s", "status": "failed", "model": "gpt-5", "output": [],
                     "error": {"code": "rate_limit_exceeded", "message": "slow down"}}}),
    );
    let (chunks, err) = run(&(head() + &failed)).await;
    assert!(chunks.is_empty());
    let e = err.unwrap();
    assert_eq!((e.failure, e.code.as_deref()), (Failure::StreamBroken, Some("rate_limit_exceeded")));

    let bad = ev("response.output_text.delta", json!({"type": "response.output_text.delta", "sequence_number": 2}));
    let (_, err) = run(&(head() + &bad)).await;
    assert_eq!(err.unwrap().failure, Failure::BadResponse);
}

#[tokio::test]
async fn streamed_function_call_is_a_tool_call_with_finish_tool_calls() {
    let item = json!({"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "weather", "arguments": "",
        "status": "in_progress"});
    let sse = head()
        + &ev(
            "response.output_item.added",
            json!({"type": "response.output_item.added", "sequence_number": 2,
            "output_index": 0, "item": item}),
        )
        + &ev(
            "response.function_call_arguments.delta",
            json!({"type": "response.function_call_arguments.delta",
            "sequence_number": 3, "item_id": "fc_1", "output_index": 0, "delta": "{\"q\":1}"}),
        )
        + &completed(json!([]));
    let (chunks, err) = run(&sse).await;
    assert!(err.is_none(), "{err:?}");
    let v: Vec<Value> = chunks.iter().map(|c| serde_json::to_value(c).unwrap()).collect();
    assert_eq!(v[1]["choices"][0]["delta"]["tool_calls"][0]["id"], "call_1");
    assert_eq!(v[1]["choices"][0]["delta"]["tool_calls"][0]["function"]["name"], "weather");
    assert_eq!(v[2]["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"], "{\"q\":1}");
    assert_eq!(v[3]["choices"][0]["finish_reason"], "tool_calls");
}
