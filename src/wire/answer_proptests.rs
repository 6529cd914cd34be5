//! Property tests of the answer conversions, serving side against calling side: a random
//! canonical answer (unicode or empty text, up to three tool calls with JSON-object
//! arguments, a finish reason, usage with cached tokens) written in a dialect by its `serve`
//! side and read back by its `call` side keeps its text, its tool calls (names, arguments as
//! JSON and, where the dialect carries them, ids), its finish reason and its token counts.
//! The same holds for streams: the answer replayed as chunks, encoded as the dialect's
//! events, serialized, parsed and decoded, assembles into the same answer. Dialects:
//! Anthropic Messages, Gemini generateContent, OpenAI Responses.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::sse::SseEvent;
use super::{Flow, StreamDecoder};
use crate::api::chat::{FunctionCall, ToolCall};
use crate::api::response::{PromptTokensDetails, ResponseMessage};
use crate::api::{ChatChunk, ChatResponse, Usage};
use crate::cache::replay;

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just(String::new()),
        6 => "\\PC{1,24}",
        2 => "[a-z ]{1,12}",
    ]
}

fn arguments() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("{}".to_string()),
        ("[a-z]{1,6}", "\\PC{0,8}").prop_map(|(k, v)| json!({ k: v }).to_string()),
        ("[a-z]{1,6}", any::<i32>(), any::<bool>()).prop_map(|(k, n, b)| json!({ k: {"n": n, "ok": b}}).to_string()),
    ]
}

fn tool_call() -> impl Strategy<Value = (String, String)> {
    ("[a-z_][a-z0-9_]{0,8}", arguments())
}

/// A canonical answer: text, tool calls, a finish reason that fits them, and usage.
fn answer() -> impl Strategy<Value = ChatResponse> {
    (text(), prop::collection::vec(tool_call(), 0..3), any::<bool>(), (1u64..5000, 1u64..2000, 0u64..5000))
        .prop_filter("an answer has some output", |(t, calls, _, _)| !t.is_empty() || !calls.is_empty())
        .prop_map(|(text, calls, cut, (prompt, completion, cached))| {
            let tool_calls: Vec<ToolCall> = calls
                .into_iter()
                .enumerate()
                .map(|(i, (name, arguments))| ToolCall {
                    id: format!("call_{i}x"),
                    kind: "function".into(),
                    function: FunctionCall { name, arguments },
                })
                .collect();
            let finish = match (cut, tool_calls.is_empty()) {
                (true, _) => "length",
                (false, true) => "stop",
                (false, false) => "tool_calls",
            };
            let cached = cached.min(prompt);
            let usage = Usage {
                prompt_tokens: prompt,
                completion_tokens: completion,
                total_tokens: prompt + completion,
                prompt_tokens_details: (cached > 0)
                    .then_some(PromptTokensDetails { cached_tokens: cached, ..Default::default() }),
                completion_tokens_details: None,
            };
            let v = json!({"id": "chatcmpl-prop", "object": "chat.completion", "created": 1_700_000_000u64,
                "model": "m", "choices": [{"index": 0, "finish_reason": finish,
                    "message": {"role": "assistant", "content": (!text.is_empty()).then_some(text),
                                "tool_calls": (!tool_calls.is_empty()).then_some(tool_calls)}}],
                "usage": usage});
            serde_json::from_value(v).unwrap_or_else(|e| panic!("answer: {e}"))
        })
}

fn message(r: &ChatResponse) -> &ResponseMessage {
    &r.choices[0].message
}

/// What must survive: text, tool calls (name, arguments as JSON; the id if `ids`), finish
/// reason, prompt / completion / cached tokens.
fn same_answer(want: &ChatResponse, got: &ChatResponse, ids: bool) -> Result<(), TestCaseError> {
    let (w, g) = (message(want), message(got));
    prop_assert_eq!(w.content.as_deref().unwrap_or(""), g.content.as_deref().unwrap_or(""));
    let calls = |m: &ResponseMessage| -> Vec<(String, String, Value)> {
        m.tool_calls
            .iter()
            .flatten()
            .map(|c| {
                let args = serde_json::from_str(&c.function.arguments).unwrap_or(Value::Null);
                (if ids { c.id.clone() } else { String::new() }, c.function.name.clone(), args)
            })
            .collect()
    };
    prop_assert_eq!(calls(w), calls(g));
    prop_assert_eq!(&want.choices[0].finish_reason, &got.choices[0].finish_reason);
    let (wu, gu) = (want.usage.unwrap_or_default(), got.usage.unwrap_or_default());
    prop_assert_eq!(wu.prompt_tokens, gu.prompt_tokens);
    prop_assert_eq!(wu.completion_tokens, gu.completion_tokens);
    prop_assert_eq!(wu.cached_tokens(), gu.cached_tokens());
    Ok(())
}

fn anthropic_whole(a: &ChatResponse) -> Result<ChatResponse, TestCaseError> {
    use super::anthropic::{call, serve, types};
    let wire = serve::from_canonical(a).map_err(fail)?;
    let bytes = serde_json::to_vec(&wire).map_err(fail)?;
    let parsed: types::MessagesResponse = serde_json::from_slice(&bytes).map_err(fail)?;
    Ok(call::from_wire(parsed, call::ReplyCtx::default(), a.created))
}

fn gemini_whole(a: &ChatResponse) -> Result<ChatResponse, TestCaseError> {
    use super::gemini::{call, serve, types};
    let wire = serve::from_canonical(a).map_err(fail)?;
    let bytes = serde_json::to_vec(&wire).map_err(fail)?;
    let parsed: types::GenerateResponse = serde_json::from_slice(&bytes).map_err(fail)?;
    call::from_wire(parsed, &a.model, a.created).map_err(fail)
}

fn responses_whole(a: &ChatResponse) -> Result<ChatResponse, TestCaseError> {
    use super::openai_responses as r;
    let wire = r::to_response(a, r::ResponseEcho::default()).map_err(fail)?;
    let bytes = serde_json::to_vec(&wire).map_err(fail)?;
    let parsed: r::Response = serde_json::from_slice(&bytes).map_err(fail)?;
    r::to_chat_response(&parsed).map_err(fail)
}

/// One event: its SSE name and its data.
type Framed = (Option<String>, Vec<u8>);

/// Events (as SSE data, with their names) through a dialect's stream decoder.
fn decode(events: Vec<Framed>, mut d: impl StreamDecoder) -> Result<Vec<ChatChunk>, TestCaseError> {
    let mut out = Vec::new();
    for (event, data) in events {
        let data = String::from_utf8(data).map_err(fail)?;
        if d.on_event(SseEvent { event, data }, &mut out).map_err(fail)? == Flow::Done {
            return Ok(out);
        }
    }
    d.on_end(&mut out).map_err(fail)?;
    Ok(out)
}

fn fail(e: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

/// Each event serialized, with the SSE event name `name` gives it.
fn frame<T: serde::Serialize>(events: &[T], name: impl Fn(&T) -> Option<String>) -> Result<Vec<Framed>, TestCaseError> {
    events.iter().map(|e| Ok((name(e), serde_json::to_vec(e).map_err(fail)?))).collect()
}

fn anthropic_stream(a: &ChatResponse) -> Result<ChatResponse, TestCaseError> {
    use super::anthropic::{call, serve};
    let mut enc = serve::StreamEncoder::new();
    let mut events = Vec::new();
    for c in replay::replay(a) {
        enc.on_chunk(&c, &mut events).map_err(fail)?;
    }
    enc.finish(&mut events);
    let framed = frame(&events, |e| Some(e.name().to_string()))?;
    Ok(replay::assemble(&decode(framed, call::StreamState::new(call::ReplyCtx::default(), a.created))?))
}

fn gemini_stream(a: &ChatResponse) -> Result<ChatResponse, TestCaseError> {
    use super::gemini::{call, serve};
    let mut enc = serve::StreamEncoder::new();
    let mut events = Vec::new();
    for c in replay::replay(a) {
        enc.on_chunk(&c, &mut events).map_err(fail)?;
    }
    enc.finish(&mut events).map_err(fail)?;
    let framed = frame(&events, |_| None)?;
    Ok(replay::assemble(&decode(framed, call::StreamState::new(&a.model, a.created))?))
}

fn responses_stream(a: &ChatResponse) -> Result<ChatResponse, TestCaseError> {
    use super::openai_responses as r;
    let mut enc = r::EventStream::new(&a.id, a.created, &a.model, r::ResponseEcho::default());
    let mut events = Vec::new();
    enc.start(&mut events);
    for c in replay::replay(a) {
        enc.on_chunk(&c, &mut events).map_err(fail)?;
    }
    enc.finish(&mut events);
    let framed = frame(&events, |_| None)?;
    Ok(replay::assemble(&decode(framed, r::ChunkReader::default())?))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn anthropic_answers_read_back_the_same(a in answer()) {
        same_answer(&a, &anthropic_whole(&a)?, true)?;
        same_answer(&a, &anthropic_stream(&a)?, true)?;
    }

    #[test]
    fn gemini_answers_read_back_the_same(a in answer()) {
        // (`functionCall.id` carries the call ids)
        same_answer(&a, &gemini_whole(&a)?, true)?;
        same_answer(&a, &gemini_stream(&a)?, true)?;
    }

    #[test]
    fn responses_answers_read_back_the_same(a in answer()) {
        same_answer(&a, &responses_whole(&a)?, true)?;
        same_answer(&a, &responses_stream(&a)?, true)?;
    }
}
