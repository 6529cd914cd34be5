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

#[test]
fn an_answer_serves_its_vendor_bytes_until_touched_and_never_encodes_them() {
    let vendor = br#"{"vendor":"bytes"}"#;
    let mut r: ChatResponse = serde_json::from_value(json!({"id": "c", "object": "chat.completion", "created": 1,
        "model": "m", "choices": []}))
    .unwrap();
    assert!(r.verbatim.is_none(), "decoding alone never keeps bytes");
    r.verbatim = Some(bytes::Bytes::from_static(vendor));
    assert_eq!(&r.to_json()[..], vendor);
    assert_eq!(&r.clone().to_json()[..], vendor, "a copy is the same answer");
    let encoded = serde_json::to_vec(&r).unwrap();
    assert!(!String::from_utf8_lossy(&encoded).contains("vendor"), "never on the wire or in a store");
    let stored: ChatResponse = serde_json::from_slice(&encoded).unwrap();
    assert!(stored.verbatim.is_none());
    r.touch();
    assert!(r.verbatim.is_none());
    assert_eq!(&r.to_json()[..], &encoded[..]);
    let mut framed = b"[".to_vec();
    r.write_json(&mut framed).unwrap();
    assert_eq!(&framed[1..], &encoded[..]);
}

#[test]
fn required_keys_are_noted_at_every_level_and_per_decode() {
    use super::required_keys::decode;
    let full = json!({"id": "c", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi", "refusal": null},
                     "logprobs": null, "finish_reason": "stop"}]});
    let text = full.to_string();
    assert!(decode::<ChatResponse>(&text).unwrap().1);
    let mut no_refusal = full.clone();
    no_refusal["choices"][0]["message"].as_object_mut().unwrap().remove("refusal");
    assert!(!decode::<ChatResponse>(&no_refusal.to_string()).unwrap().1);
    // The note is this decode's only: a failed or incomplete decode before does not leak.
    assert!(decode::<ChatResponse>("{\"id\": 1}").is_err());
    assert!(decode::<ChatResponse>(&text).unwrap().1);
    // Types that name no noting default are complete by definition.
    assert!(decode::<Value>("{}").unwrap().1);
}
