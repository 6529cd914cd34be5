//! Fixture tests for calling Gemini, both ways (request out, response and events in). Requests are compared as whole
//! JSON documents against what generateContent documents; responses and SSE transcripts are
//! written as Gemini sends them.

use serde_json::{Value, json};

use super::super::types as wire;
use super::super::{SIG_SEP, tool_call_id};
use super::StreamState;
use crate::api::{ChatChunk, ChatRequest, EmbeddingsRequest};
use crate::wire::WireError;
use crate::wire::gemini::call as translate;
use crate::wire::test_support::decode;

fn req(v: Value) -> ChatRequest {
    serde_json::from_value(v).expect("valid OpenAI request")
}

fn wire_of(v: Value) -> Result<Value, WireError> {
    let r = req(v);
    Ok(serde_json::to_value(translate::to_wire(&r)?).expect("serializes"))
}

fn wire_json(v: Value) -> Value {
    wire_of(v).unwrap_or_else(|e| panic!("translation failed: {e}"))
}

fn user(text: &str) -> Value {
    json!({"role": "user", "content": text})
}

#[test]
fn requests_field_by_field() {
    let cases: Vec<(&str, Value, Value)> = vec![
        (
            "system and developer to systemInstruction, roles, merge, unicode, generationConfig",
            json!({"model": "x", "temperature": 1.4, "top_p": 0.9, "max_tokens": 100, "stop": "END", "seed": 7,
                   "presence_penalty": 0.1, "frequency_penalty": 0.2, "top_k": 40, "user": "dropped",
                   "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "developer", "content": "Answer in Japanese."},
                user("こんにちは 🌸"), user(""), user("second"),
                {"role": "assistant", "content": "はい"}]}),
            json!({"systemInstruction": {"parts": [{"text": "You are terse."}, {"text": "Answer in Japanese."}]},
                   "contents": [
                       {"role": "user", "parts": [{"text": "こんにちは 🌸"}, {"text": "second"}]},
                       {"role": "model", "parts": [{"text": "はい"}]}],
                   "generationConfig": {"temperature": 1.4, "topP": 0.9, "topK": 40, "maxOutputTokens": 100,
                       "stopSequences": ["END"], "seed": 7, "presencePenalty": 0.1, "frequencyPenalty": 0.2}}),
        ),
        (
            "inline image and PDF, n -> candidateCount",
            json!({"model": "x", "n": 2, "messages": [{"role": "user", "content": [
                {"type": "text", "text": "Describe"},
                {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ", "detail": "low"}},
                {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0x"}},
                {"type": "image_url", "image_url": {"url": "https://generativelanguage.googleapis.com/v1beta/files/abc.png"}}]}]}),
            json!({"contents": [{"role": "user", "parts": [
                {"text": "Describe"},
                {"inlineData": {"mimeType": "image/jpeg", "data": "/9j/4AAQ"}},
                {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0x"}},
                {"fileData": {"mimeType": "image/png", "fileUri": "https://generativelanguage.googleapis.com/v1beta/files/abc.png"}}]}],
                "generationConfig": {"candidateCount": 2}}),
        ),
        (
            "tool round trip: names from the assistant calls, responses reordered to call order, signature echoed",
            json!({"model": "x", "messages": [
                user("Weather in Paris and Rome?"),
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": format!("call_a{SIG_SEP}c2lnMQ=="), "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "call_b", "type": "function", "function": {"name": "clock", "arguments": ""}}]},
                {"role": "tool", "tool_call_id": "call_b", "content": "12:00"},
                {"role": "tool", "tool_call_id": format!("call_a{SIG_SEP}c2lnMQ=="), "content": "{\"temp_c\":21}"},
                user("thanks")]}),
            json!({"contents": [
                {"role": "user", "parts": [{"text": "Weather in Paris and Rome?"}]},
                {"role": "model", "parts": [
                    {"functionCall": {"name": "weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2lnMQ=="},
                    {"functionCall": {"name": "clock", "args": {}}}]},
                {"role": "user", "parts": [
                    {"functionResponse": {"name": "weather", "response": {"temp_c": 21}}},
                    {"functionResponse": {"name": "clock", "response": {"output": "12:00"}}},
                    {"text": "thanks"}]}]}),
        ),
        (
            "history starting with the model",
            json!({"model": "x", "messages": [{"role": "assistant", "content": "Hi!"}, user("hello")]}),
            json!({"contents": [
                {"role": "user", "parts": [{"text": "…"}]},
                {"role": "model", "parts": [{"text": "Hi!"}]},
                {"role": "user", "parts": [{"text": "hello"}]}]}),
        ),
        (
            "json_object and stop sequences without whitespace-only ones",
            json!({"model": "x", "stop": ["\n", " "], "response_format": {"type": "json_object"}, "messages": [user("x")]}),
            json!({"contents": [{"role": "user", "parts": [{"text": "x"}]}],
                   "generationConfig": {"responseMimeType": "application/json"}}),
        ),
    ];
    for (name, input, want) in cases {
        assert_eq!(wire_json(input), want, "case: {name}");
    }
}

#[test]
fn tools_schema_and_every_tool_choice_form() {
    let base = json!({"model": "x", "messages": [user("hi")], "tools": [
        {"type": "function", "function": {"name": "weather", "description": "Get weather", "strict": true,
            "parameters": {"type": "object", "additionalProperties": false, "$schema": "x",
                "properties": {"city": {"type": ["string", "null"]}}, "required": ["city"]}}},
        {"type": "function", "function": {"name": "now", "parameters": {"type": "object", "properties": {}}}}]});
    let w = wire_json(base.clone());
    assert_eq!(
        w["tools"],
        json!([{"functionDeclarations": [
            {"name": "weather", "description": "Get weather",
             "parameters": {"type": "object", "properties": {"city": {"type": "string", "nullable": true}}, "required": ["city"]}},
            {"name": "now"}]}])
    );
    assert!(w.get("toolConfig").is_none());
    let table = [
        (json!("none"), json!({"mode": "NONE"})),
        (json!("auto"), json!({"mode": "AUTO"})),
        (json!("required"), json!({"mode": "ANY"})),
        (
            json!({"type": "function", "function": {"name": "now"}}),
            json!({"mode": "ANY", "allowedFunctionNames": ["now"]}),
        ),
        (
            json!({"type": "allowed_tools", "allowed_tools": {"mode": "required", "tools": [{"type": "function", "function": {"name": "now"}}]}}),
            json!({"mode": "ANY", "allowedFunctionNames": ["now"]}),
        ),
    ];
    for (choice, want) in table {
        let mut r = base.clone();
        r["tool_choice"] = choice.clone();
        assert_eq!(wire_json(r)["toolConfig"]["functionCallingConfig"], want, "{choice}");
    }
    let mut r = base.clone();
    r["tool_choice"] = json!({"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": [{"type": "function", "function": {"name": "now"}}]}});
    let w = wire_json(r);
    assert_eq!(w["tools"][0]["functionDeclarations"].as_array().map(Vec::len), Some(1));
    assert_eq!(w["toolConfig"]["functionCallingConfig"], json!({"mode": "AUTO"}));

    let mut r = base;
    r["response_format"] = json!({"type": "json_schema", "json_schema": {"name": "a", "strict": true,
        "schema": {"type": "object", "properties": {"a": {"const": "x"}}, "additionalProperties": false}}});
    assert_eq!(
        wire_json(r)["generationConfig"],
        json!({"responseMimeType": "application/json",
               "responseSchema": {"type": "object", "properties": {"a": {"enum": ["x"], "type": "string"}}}})
    );
}

fn response(v: Value) -> Result<Value, WireError> {
    let parsed: wire::GenerateResponse = serde_json::from_value(v).expect("vendor-shaped response");
    Ok(serde_json::to_value(translate::from_wire(parsed, "gemini-2.0-flash", 9)?).expect("serializes"))
}

#[test]
fn responses_text_tools_thoughts_usage() {
    let r = response(json!({
        "candidates": [{"content": {"role": "model", "parts": [
            {"text": "thinking about it", "thought": true},
            {"text": "Let me look."},
            {"functionCall": {"name": "weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2ln"},
            {"functionCall": {"name": "now", "args": {}}}]},
            "finishReason": "STOP", "index": 0, "safetyRatings": []}],
        "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 8, "thoughtsTokenCount": 120,
            "cachedContentTokenCount": 4, "toolUsePromptTokenCount": 3, "totalTokenCount": 143},
        "modelVersion": "gemini-2.5-flash", "responseId": "resp-1"}))
    .unwrap();
    let id0 = tool_call_id(None, "resp-1", 0, 0, "weather", Some("c2ln"));
    let id1 = tool_call_id(None, "resp-1", 0, 1, "now", None);
    assert!(id0.ends_with(&format!("{SIG_SEP}c2ln")) && id0.starts_with("call_"));
    assert_ne!(id0.split(SIG_SEP).next(), Some(id1.as_str()));
    assert_eq!(
        r,
        json!({"id": "resp-1", "object": "chat.completion", "created": 9, "model": "gemini-2.5-flash",
               "choices": [{"index": 0, "finish_reason": "tool_calls", "logprobs": null, "message": {"role": "assistant", "content": "Let me look.", "refusal": null,
                   "reasoning_content": "thinking about it",
                   "reasoning_details": [{"type": "reasoning.text", "text": "thinking about it", "format": "google-gemini-v1", "index": 0}],
                   "tool_calls": [
                       {"id": id0, "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
                       {"id": id1, "type": "function", "function": {"name": "now", "arguments": "{}"}}]}}],
               "usage": {"prompt_tokens": 15, "completion_tokens": 128, "total_tokens": 143,
                         "prompt_tokens_details": {"cached_tokens": 4},
                         "completion_tokens_details": {"reasoning_tokens": 120}}})
    );
    // Gemini's own ids pass through.
    let r = response(json!({"candidates": [{"content": {"parts": [{"functionCall": {"name": "f", "args": {}, "id": "fc-9"}}]}, "finishReason": "STOP"}]})).unwrap();
    assert_eq!(r["choices"][0]["message"]["tool_calls"][0]["id"], "fc-9");
    assert_eq!(r["choices"][0]["message"]["content"], Value::Null);
}

#[test]
fn two_candidates_and_every_finish_reason() {
    let r = response(json!({"candidates": [
        {"content": {"parts": [{"text": "b"}]}, "finishReason": "MAX_TOKENS", "index": 1},
        {"content": {"parts": [{"text": "a"}]}, "finishReason": "STOP", "index": 0}]}))
    .unwrap();
    assert_eq!(r["choices"][0]["message"]["content"], "a");
    assert_eq!(r["choices"][1]["finish_reason"], "length");
    let table = [
        ("STOP", false, "stop"),
        ("STOP", true, "tool_calls"),
        ("MAX_TOKENS", false, "length"),
        ("SAFETY", false, "content_filter"),
        ("BLOCKLIST", false, "content_filter"),
        ("PROHIBITED_CONTENT", false, "content_filter"),
        ("SPII", false, "content_filter"),
        ("IMAGE_SAFETY", false, "content_filter"),
        ("RECITATION", false, "content_filter"),
        ("LANGUAGE", false, "content_filter"),
        ("OTHER", false, "stop"),
        ("FINISH_REASON_UNSPECIFIED", false, "stop"),
        ("MALFORMED_FUNCTION_CALL", false, "stop"),
        ("UNEXPECTED_TOOL_CALL", false, "stop"),
        ("NO_IMAGE", false, "stop"),
    ];
    for (reason, calls, want) in table {
        assert_eq!(translate::finish_reason(Some(reason), calls), want, "{reason}");
    }
}

// ---- streams --------------------------------------------------------------------------------

fn run(sse: &str, cut: usize) -> (Vec<ChatChunk>, Option<WireError>) {
    decode(StreamState::new("gemini-2.0-flash", 1), sse, cut)
}

fn data(v: Value) -> String {
    format!("data: {v}\r\n\r\n")
}

fn tool_stream() -> String {
    data(json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Checking 🌦"}]}, "index": 0}],
                "usageMetadata": {"promptTokenCount": 10, "totalTokenCount": 10}, "modelVersion": "gemini-2.0-flash", "responseId": "r1"}))
        + &data(
            json!({"candidates": [{"content": {"role": "model", "parts": [{"functionCall": {"name": "weather", "args": {"city": "Paris"}}}]}, "index": 0}],
                "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15}, "responseId": "r1"}),
        )
        + &data(
            json!({"candidates": [{"content": {"role": "model", "parts": [{"functionCall": {"name": "weather", "args": {"city": "Rome"}}}]},
                "finishReason": "STOP", "index": 0}],
                "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 9, "thoughtsTokenCount": 3, "totalTokenCount": 22}, "responseId": "r1"}),
        )
}

#[test]
fn stream_parallel_calls_across_events_at_every_split_point() {
    let sse = tool_stream();
    let (want, err) = run(&sse, 0);
    assert!(err.is_none(), "{err:?}");
    for cut in 1..sse.len() {
        let (got, err) = run(&sse, cut);
        assert!(err.is_none(), "cut {cut}: {err:?}");
        assert_eq!(serde_json::to_value(&got).unwrap(), serde_json::to_value(&want).unwrap(), "cut {cut}");
    }
    let v: Vec<Value> = want.iter().map(|c| serde_json::to_value(c).unwrap()).collect();
    assert_eq!(v[0]["choices"][0]["delta"], json!({"role": "assistant", "content": ""}));
    assert_eq!(v[1]["choices"][0]["delta"]["content"], "Checking 🌦");
    // the tool index keeps counting across events: 0 then 1, each call whole in one chunk
    let calls: Vec<&Value> = v.iter().filter_map(|c| c["choices"][0]["delta"]["tool_calls"].get(0)).collect();
    assert_eq!(calls.len(), 2);
    assert_eq!((calls[0]["index"].as_u64(), calls[1]["index"].as_u64()), (Some(0), Some(1)));
    assert_eq!(calls[1]["function"], json!({"name": "weather", "arguments": "{\"city\":\"Rome\"}"}));
    assert_eq!(calls[0]["type"], "function");
    assert_ne!(calls[0]["id"], calls[1]["id"]);
    let finishes: Vec<&Value> =
        v.iter().filter(|c| c["choices"].get(0).is_some_and(|ch| !ch["finish_reason"].is_null())).collect();
    assert_eq!(finishes.len(), 1);
    assert_eq!(finishes[0]["choices"][0]["finish_reason"], "tool_calls");
    // usage is cumulative: the last one, once, at the end
    let last = v.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"]["prompt_tokens"], 10);
    assert_eq!(last["usage"]["completion_tokens"], 12);
    assert_eq!(last["usage"]["completion_tokens_details"]["reasoning_tokens"], 3);
    assert_eq!(v.iter().filter(|c| c.get("usage").is_some()).count(), 1);
}

#[test]
fn stream_safety_and_max_tokens() {
    for (reason, want) in [("SAFETY", "content_filter"), ("MAX_TOKENS", "length"), ("RECITATION", "content_filter")] {
        let sse =
            data(json!({"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": reason, "index": 0}]}));
        let (chunks, err) = run(&sse, 0);
        assert!(err.is_none());
        let f: Vec<_> = chunks.iter().flat_map(|c| c.choices.iter()).filter_map(|c| c.finish_reason.clone()).collect();
        assert_eq!(f, vec![want.to_string()], "{reason}");
    }
}

#[test]
fn embeddings_batches_and_base64() {
    let inputs: Vec<String> = (0..250).map(|i| format!("text {i}")).collect();
    let r: EmbeddingsRequest =
        serde_json::from_value(json!({"model": "e", "input": inputs, "dimensions": 8, "encoding_format": "base64"}))
            .unwrap();
    let batches = translate::embed_wire(&r, "models/gemini-embedding-001").unwrap();
    assert_eq!(batches.iter().map(|b| b.requests.len()).collect::<Vec<_>>(), vec![100, 100, 50]);
    let first = serde_json::to_value(&batches[0]).unwrap();
    assert_eq!(
        first["requests"][0],
        json!({"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "text 0"}]}, "outputDimensionality": 8})
    );
    let out = translate::embed_from_wire(vec![vec![1.0], vec![2.0]], &r, "gemini-embedding-001");
    assert_eq!(out["data"][1], json!({"object": "embedding", "index": 1, "embedding": "AAAAQA=="}));
    assert_eq!(out["object"], "list");
    let tokens: EmbeddingsRequest = serde_json::from_value(json!({"model": "e", "input": [[1, 2, 3]]})).unwrap();
    assert!(translate::embed_wire(&tokens, "models/e").is_err());
}
