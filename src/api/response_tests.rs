//! The canonical answers: their wire shape (the keys OpenAI's published schema requires are
//! always written, and vendors that leave them out still parse) and usage arithmetic.

#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};

use super::response::{ChatChunk, ChatResponse};

#[test]
fn absent_logprobs_and_refusal_are_written_as_null() {
    let vendor = json!({"id": "c", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}]});
    let r: ChatResponse = serde_json::from_value(vendor).unwrap();
    let v = serde_json::to_value(&r).unwrap();
    let choice = &v["choices"][0];
    assert_eq!(choice.get("logprobs"), Some(&Value::Null));
    assert_eq!(choice["message"].get("refusal"), Some(&Value::Null));
    assert_eq!(choice["message"].get("tool_calls"), None, "optional keys stay out");
}

#[test]
fn present_logprobs_and_refusal_survive_a_round_trip() {
    let lp = json!({"content": [{"token": "hi", "logprob": -0.1, "bytes": [104, 105], "top_logprobs": []}], "refusal": null});
    let vendor = json!({"id": "c", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": null, "refusal": "no"},
                     "logprobs": lp, "finish_reason": "stop"}]});
    let v = serde_json::to_value(serde_json::from_value::<ChatResponse>(vendor.clone()).unwrap()).unwrap();
    assert_eq!(v, vendor);
}

#[test]
fn chunks_keep_their_compact_shape() {
    // The chunk schema requires neither key; chunks stay as they were (one per token).
    let v = serde_json::to_value(ChatChunk::text("c", 1, "m", false, "x")).unwrap();
    assert_eq!(
        v,
        json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
               "choices": [{"index": 0, "delta": {"content": "x"}, "finish_reason": null}]})
    );
}

#[test]
fn usage_sums_saturate_on_absurd_vendor_counts() {
    use super::response::Usage;
    let huge = Usage::new(u64::MAX, 5);
    assert_eq!(huge.total_tokens, u64::MAX);
    let sum = huge.add(&Usage::new(7, u64::MAX));
    assert_eq!((sum.prompt_tokens, sum.completion_tokens, sum.total_tokens), (u64::MAX, u64::MAX, u64::MAX));
}
