//! Usage with cache reads, cache writes (5-minute and 1-hour apart) and reasoning tokens, per
//! vendor, both ways: read from each vendor's whole answer and stream (fed in two pieces cut at
//! every byte, so every split point of the event that carries the usage), and written in each
//! ingress dialect's own fields. Fixtures follow the vendors' documented usage objects.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};

use super::test_support::{decode, named_event};
use crate::api::response::{CompletionTokensDetails, PromptTokensDetails};
use crate::api::{ChatChunk, ChatResponse, Usage};
use crate::wire::{anthropic, gemini, openai_chat, openai_responses};

/// 50 fresh prompt tokens, 100,000 read from the cache, 20,000 written (5,000 of them for an
/// hour); 4,000 out of which 1,500 reasoning.
fn usage() -> Usage {
    Usage {
        prompt_tokens: 120_050,
        completion_tokens: 4_000,
        total_tokens: 124_050,
        prompt_tokens_details: Some(PromptTokensDetails {
            cached_tokens: 100_000,
            cache_creation_tokens: Some(20_000),
            cache_creation_1h_tokens: Some(5_000),
            ..Default::default()
        }),
        completion_tokens_details: Some(CompletionTokensDetails { reasoning_tokens: 1_500, ..Default::default() }),
    }
}

fn counts(u: &Usage) -> [u64; 6] {
    [
        u.prompt_tokens,
        u.completion_tokens,
        u.cached_tokens(),
        u.cache_write_tokens(),
        u.cache_write_1h_tokens(),
        u.reasoning_tokens(),
    ]
}

/// The usage of a decoded stream: exactly one chunk carries it, the last.
fn stream_usage(chunks: &[ChatChunk]) -> Usage {
    assert_eq!(chunks.iter().filter(|c| c.usage.is_some()).count(), 1, "usage once");
    chunks.last().and_then(|c| c.usage).expect("usage last")
}

/// Decodes `sse` whole and cut at every byte; each decode gives the same usage, returned.
fn at_every_split(sse: &str, decoder: fn(&str, usize) -> Vec<ChatChunk>) -> Usage {
    let whole = stream_usage(&decoder(sse, 0));
    for cut in 1..sse.len() {
        assert_eq!(stream_usage(&decoder(sse, cut)), whole, "cut {cut}");
    }
    whole
}

fn anthropic_decoder(sse: &str, cut: usize) -> Vec<ChatChunk> {
    {
        let state = anthropic::call::StreamState::new(anthropic::call::ReplyCtx::default(), 1);
        let (chunks, err) = decode(state, sse, cut);
        assert!(err.is_none(), "{err:?}");
        chunks
    }
}

#[test]
fn anthropic_whole_answer_cache_reads_and_writes_per_ttl() {
    let answer = json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn", "stop_sequence": null,
        "usage": {"input_tokens": 50, "cache_creation_input_tokens": 20000, "cache_read_input_tokens": 100000,
                  "cache_creation": {"ephemeral_5m_input_tokens": 15000, "ephemeral_1h_input_tokens": 5000},
                  "output_tokens": 4000}});
    let r = anthropic::call::from_wire(serde_json::from_value(answer.clone()).unwrap(), Default::default(), 1);
    let u = r.usage.unwrap();
    // input_tokens excludes reads and writes; canonical prompt_tokens includes them.
    assert_eq!(counts(&u), [120_050, 4_000, 100_000, 20_000, 5_000, 0]);
    // written back in Messages' own fields, the same numbers
    let back = serde_json::to_value(anthropic::serve::from_canonical(&r).unwrap()).unwrap();
    assert_eq!(back["usage"], answer["usage"]);
    // an answer with only the per-TTL split still counts its writes
    let split_only: anthropic::types::WireUsage = serde_json::from_value(json!({"input_tokens": 1,
        "cache_creation": {"ephemeral_5m_input_tokens": 7, "ephemeral_1h_input_tokens": 3}, "output_tokens": 2}))
    .unwrap();
    assert_eq!(counts(&anthropic::call::usage(&split_only)), [11, 2, 0, 10, 3, 0]);
}

#[test]
fn anthropic_stream_usage_at_every_split_point() {
    // Anthropic puts the prompt's counts in message_start and the cumulative output in
    // message_delta.
    let sse = named_event(
        "message_start",
        json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
            "content": [], "model": "claude-sonnet-4-5", "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 50, "cache_creation_input_tokens": 20000, "cache_read_input_tokens": 100000,
                      "cache_creation": {"ephemeral_5m_input_tokens": 15000, "ephemeral_1h_input_tokens": 5000},
                      "output_tokens": 1}}}),
    ) + &named_event(
        "content_block_start",
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    ) + &named_event(
        "content_block_delta",
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "ok"}}),
    ) + &named_event("content_block_stop", json!({"type": "content_block_stop", "index": 0}))
        + &named_event(
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                "usage": {"output_tokens": 4000}}),
        )
        + &named_event("message_stop", json!({"type": "message_stop"}));
    let u = at_every_split(&sse, anthropic_decoder);
    assert_eq!(counts(&u), [120_050, 4_000, 100_000, 20_000, 5_000, 0]);
}

#[test]
fn messages_ingress_writes_cache_usage_in_its_own_fields_and_reads_it_back() {
    // Canonical -> Messages events (what a Messages caller gets) -> read as a vendor stream.
    let mut enc = anthropic::serve::StreamEncoder::new();
    let mut events = Vec::new();
    let text = ChatChunk::text("c1", 1, "m", true, "ok");
    enc.on_chunk(&text, &mut events).unwrap();
    enc.on_chunk(&ChatChunk::finish("c1", 1, "m", "stop"), &mut events).unwrap();
    enc.on_chunk(&ChatChunk::usage_only("c1", 1, "m", usage()), &mut events).unwrap();
    enc.finish(&mut events);
    let delta = events.iter().map(|e| serde_json::to_value(e).unwrap()).find(|e| e["type"] == "message_delta");
    assert_eq!(
        delta.unwrap()["usage"],
        json!({"input_tokens": 50, "output_tokens": 4000, "cache_creation_input_tokens": 20000,
               "cache_read_input_tokens": 100000,
               "cache_creation": {"ephemeral_5m_input_tokens": 15000, "ephemeral_1h_input_tokens": 5000}})
    );
    let sse: String = events.iter().map(|e| named_event(e.name(), serde_json::to_value(e).unwrap())).collect();
    let u = at_every_split(&sse, anthropic_decoder);
    // Messages has no reasoning count (thinking is inside output_tokens): the rest round-trips.
    assert_eq!(counts(&u), [120_050, 4_000, 100_000, 20_000, 5_000, 0]);
}

fn chat_decoder(sse: &str, cut: usize) -> Vec<ChatChunk> {
    {
        let (chunks, err) = decode(openai_chat::StreamState::default(), sse, cut);
        assert!(err.is_none(), "{err:?}");
        chunks
    }
}

#[test]
fn openai_chat_cached_and_reasoning_tokens_whole_and_stream() {
    // OpenAI's documented usage object, with its details.
    let u = json!({"prompt_tokens": 2006, "completion_tokens": 300, "total_tokens": 2306,
        "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 192, "audio_tokens": 0,
            "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}});
    let whole: ChatResponse = serde_json::from_value(json!({"id": "c", "object": "chat.completion", "created": 1,
        "model": "gpt-5", "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
        "finish_reason": "stop", "logprobs": null}], "usage": u}))
    .unwrap();
    assert_eq!(counts(&whole.usage.unwrap()), [2006, 300, 1920, 0, 0, 192]);
    // written back unchanged (the chat dialect's own fields)
    assert_eq!(serde_json::to_value(whole.usage.unwrap()).unwrap(), u);
    let sse = format!(
        "data: {}\n\ndata: {}\n\ndata: {}\n\ndata: [DONE]\n\n",
        json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-5",
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": "ok"}, "finish_reason": null}]}),
        json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-5",
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
        json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-5", "choices": [], "usage": u}),
    );
    assert_eq!(counts(&at_every_split(&sse, chat_decoder)), [2006, 300, 1920, 0, 0, 192]);
    // the extension fields (cache writes) ride in prompt_tokens_details
    let v = serde_json::to_value(usage()).unwrap();
    assert_eq!(
        v["prompt_tokens_details"],
        json!({"cached_tokens": 100000, "cache_creation_tokens": 20000,
        "cache_creation_1h_tokens": 5000})
    );
    assert_eq!(v["completion_tokens_details"]["reasoning_tokens"], 1500);
}

fn responses_decoder(sse: &str, cut: usize) -> Vec<ChatChunk> {
    {
        let (chunks, err) = decode(openai_responses::ChunkReader::default(), sse, cut);
        assert!(err.is_none(), "{err:?}");
        chunks
    }
}

#[test]
fn responses_usage_details_both_ways_and_every_split_point() {
    let mut events = Vec::new();
    let mut s = openai_responses::EventStream::new("c1", 1, "m", openai_responses::ResponseEcho::default());
    s.start(&mut events);
    s.on_chunk(&ChatChunk::text("c1", 1, "m", true, "ok"), &mut events).unwrap();
    s.on_chunk(&ChatChunk::finish("c1", 1, "m", "stop"), &mut events).unwrap();
    s.on_chunk(&ChatChunk::usage_only("c1", 1, "m", usage()), &mut events).unwrap();
    s.finish(&mut events);
    let last = serde_json::to_value(events.last().unwrap()).unwrap();
    assert_eq!(
        last["response"]["usage"],
        json!({"input_tokens": 120050, "output_tokens": 4000, "total_tokens": 124050,
               "input_tokens_details": {"cached_tokens": 100000, "cache_write_tokens": 20000, "cache_write_1h_tokens": 5000},
               "output_tokens_details": {"reasoning_tokens": 1500}})
    );
    let sse: String = events
        .iter()
        .map(|e| {
            let v = serde_json::to_value(e).unwrap();
            let kind = v["type"].as_str().unwrap().to_owned();
            named_event(&kind, v)
        })
        .collect();
    assert_eq!(counts(&at_every_split(&sse, responses_decoder)), counts(&usage()));
    // OpenAI's own usage object (no cache writes) reads as it is documented
    let documented: openai_responses::ResponseUsage = serde_json::from_value(json!({"input_tokens": 328,
        "input_tokens_details": {"cached_tokens": 256}, "output_tokens": 52,
        "output_tokens_details": {"reasoning_tokens": 16}, "total_tokens": 380}))
    .unwrap();
    assert_eq!(counts(&openai_responses::response::usage_in(&documented)), [328, 52, 256, 0, 0, 16]);
}

fn gemini_decoder(sse: &str, cut: usize) -> Vec<ChatChunk> {
    {
        let (chunks, err) = decode(gemini::call::StreamState::new("gemini-2.5-pro", 1), sse, cut);
        assert!(err.is_none(), "{err:?}");
        chunks
    }
}

fn gemini_event(v: Value) -> String {
    format!("data: {v}\r\n\r\n")
}

#[test]
fn gemini_cached_content_and_thoughts_whole_and_stream() {
    // promptTokenCount includes cachedContentTokenCount; candidatesTokenCount excludes
    // thoughtsTokenCount (billed as output). Usage is cumulative: the last one counts.
    let meta = json!({"promptTokenCount": 115000, "cachedContentTokenCount": 100000,
        "candidatesTokenCount": 10000, "thoughtsTokenCount": 100000, "totalTokenCount": 225000});
    let sse =
        gemini_event(json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "o"}]}, "index": 0}],
            "usageMetadata": {"promptTokenCount": 115000, "cachedContentTokenCount": 100000, "candidatesTokenCount": 1,
                              "thoughtsTokenCount": 100000, "totalTokenCount": 215001}}))
            + &gemini_event(json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "k"}]},
            "finishReason": "STOP", "index": 0}], "usageMetadata": meta}));
    assert_eq!(counts(&at_every_split(&sse, gemini_decoder)), [115_000, 110_000, 100_000, 0, 0, 100_000]);
    // written back in Gemini's own fields
    let r: ChatResponse = serde_json::from_value(json!({"id": "c", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": serde_json::to_value(usage()).unwrap()}))
    .unwrap();
    let back = serde_json::to_value(gemini::serve::from_canonical(&r).unwrap()).unwrap();
    // Gemini has no cache-write field: the writes stay inside promptTokenCount.
    assert_eq!(
        back["usageMetadata"],
        json!({"promptTokenCount": 120050, "candidatesTokenCount": 2500, "thoughtsTokenCount": 1500,
               "cachedContentTokenCount": 100000, "totalTokenCount": 124050})
    );
    let mut enc = gemini::serve::StreamEncoder::new();
    let mut out = Vec::new();
    enc.on_chunk(&ChatChunk::text("c1", 1, "m", true, "ok"), &mut out).unwrap();
    enc.on_chunk(&ChatChunk::finish("c1", 1, "m", "stop"), &mut out).unwrap();
    enc.on_chunk(&ChatChunk::usage_only("c1", 1, "m", usage()), &mut out).unwrap();
    enc.finish(&mut out).unwrap();
    let sse: String = out.iter().map(|r| gemini_event(serde_json::to_value(r).unwrap())).collect();
    assert_eq!(counts(&at_every_split(&sse, gemini_decoder)), [120_050, 4_000, 100_000, 0, 0, 1_500]);
}
