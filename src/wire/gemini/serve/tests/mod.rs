//! Serving-side tests: generateContent requests read into canonical ones and written back
//! by the calling side keep their meaning (ids and thought signatures included), and what
//! the canonical types cannot carry is refused by name; answers, failures and streams are in
//! [`answers`].
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod answers;

use serde_json::{Value, json};

use super::super::call;
use super::super::{SIG_SEP, tool_call_id};
use super::{from_canonical, from_json};
use crate::api::{ChatRequest, ChatResponse};
use crate::wire::WireError;

fn canonical(v: &Value) -> Result<ChatRequest, WireError> {
    from_json(&serde_json::to_vec(v).expect("serializes"), "models/gemini-2.5-flash", false)
}

/// Gemini JSON -> canonical -> Gemini JSON, as the Gemini adapter would send it.
fn round_trip(v: &Value) -> Value {
    let c = canonical(v).unwrap_or_else(|e| panic!("read failed: {e}"));
    serde_json::to_value(call::to_wire(&c).expect("writes back")).expect("serializes")
}

#[test]
fn requests_round_trip_with_their_meaning() {
    let cases = [
        json!({"systemInstruction": {"parts": [{"text": "You are terse."}, {"text": "Answer in Japanese."}]},
               "contents": [
                   {"role": "user", "parts": [{"text": "こんにちは 🌸"}, {"text": "second"}]},
                   {"role": "model", "parts": [{"text": "はい"}]},
                   {"role": "user", "parts": [{"text": "and now?"}]}],
               "generationConfig": {"temperature": 1.4, "topP": 0.9, "topK": 40, "maxOutputTokens": 100,
                   "stopSequences": ["END"], "candidateCount": 2, "seed": 7, "presencePenalty": 0.1,
                   "frequencyPenalty": 0.2, "thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": false}},
               "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"}],
               "cachedContent": "cachedContents/abc"}),
        json!({"contents": [
                   {"role": "user", "parts": [{"text": "Weather in Paris and Rome?"}]},
                   {"role": "model", "parts": [
                       {"text": "Let me check."},
                       {"functionCall": {"name": "weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2lnMQ=="},
                       {"functionCall": {"name": "weather", "args": {"city": "Rome"}}},
                       {"functionCall": {"name": "now", "args": {}}}]},
                   {"role": "user", "parts": [
                       {"functionResponse": {"name": "weather", "response": {"temp_c": 21}}},
                       {"functionResponse": {"name": "weather", "response": {"output": "rainy"}}},
                       {"functionResponse": {"name": "now", "response": {"output": 12}}},
                       {"text": "thanks"}]}],
               "tools": [{"functionDeclarations": [
                   {"name": "weather", "description": "Get weather", "parameters": {"type": "object",
                       "properties": {"city": {"type": "string", "nullable": true}}, "required": ["city"]}},
                   {"name": "now"}]}],
               "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["now"]}}}),
        json!({"contents": [{"role": "user", "parts": [
                   {"text": "Describe"},
                   {"inlineData": {"mimeType": "image/jpeg", "data": "/9j/4AAQ"}},
                   {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0x"}},
                   {"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}},
                   {"fileData": {"mimeType": "image/png", "fileUri": "https://generativelanguage.googleapis.com/v1beta/files/abc.png"}}]}],
               "tools": [{"functionDeclarations": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}],
               "toolConfig": {"functionCallingConfig": {"mode": "NONE"}},
               "generationConfig": {"responseMimeType": "application/json", "responseSchema": {"type": "object",
                   "properties": {"a": {"type": "string", "enum": ["x", "y"]}}, "required": ["a"]}}}),
        json!({"contents": [{"role": "user", "parts": [{"text": "pick"}]}],
               "tools": [{"functionDeclarations": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}],
               "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["a", "c"]}},
               "generationConfig": {"responseMimeType": "application/json"}}),
    ];
    // Tool results read as the text an OpenAI-style vendor expects (the `output` wrapper off).
    let tools = canonical(&cases[1]).unwrap();
    let results: Vec<String> = tools.messages[2..5].iter().map(|m| m.content.as_ref().unwrap().text()).collect();
    assert_eq!(results, ["{\"temp_c\":21}", "rainy", "12"]);
    // Gemini's own fields are not canonical: they ride in the native request's `only` (a
    // Gemini upstream gets the caller's body as sent) and reach no other vendor.
    let own = canonical(&cases[0]).unwrap();
    let extra: Vec<&str> = own.extra.keys().map(String::as_str).collect();
    assert_eq!(extra, ["frequency_penalty", "presence_penalty"], "only OpenAI's own names in `extra`");
    let only = &own.native.as_ref().unwrap().only;
    assert_eq!(
        Value::Object(only.clone()),
        json!({"safetySettings": cases[0]["safetySettings"], "cachedContent": "cachedContents/abc",
               "generationConfig.topK": 40, "generationConfig.thinkingConfig": cases[0]["generationConfig"]["thinkingConfig"]})
    );
    assert_eq!(own.native.as_ref().unwrap().body, *cases[0].as_object().unwrap());
    for (i, case) in cases.into_iter().enumerate() {
        let mut want = case.clone();
        if i == 0 {
            let o = want.as_object_mut().unwrap();
            o.remove("safetySettings");
            o.remove("cachedContent");
            let g = o["generationConfig"].as_object_mut().unwrap();
            g.remove("topK");
            g.remove("thinkingConfig");
        }
        assert_eq!(round_trip(&case), want);
    }
}

#[test]
fn canonical_fields_and_shorthands() {
    let c = canonical(&json!({"model": "ignored", "labels": {"team": "a"},
        "contents": [{"parts": [{"text": "hi"}]}, {"role": "model", "parts": [{"text": "thinking", "thought": true},
            {"text": "", "thoughtSignature": "sig"}, {"text": "ok"}]}, {"role": "user", "parts": [{"text": "again"}]}],
        "tools": [{"functionDeclarations": [{"name": "f", "parametersJsonSchema": {"type": "object",
            "properties": {"x": {"$ref": "#/$defs/X"}}, "$defs": {"X": {"type": "integer"}}}, "response": {"type": "STRING"}}]}],
        "generationConfig": {"topK": 40.0, "maxOutputTokens": 9, "responseModalities": ["TEXT"],
            "responseMimeType": "application/json", "responseJsonSchema": {"type": "object"}}}))
    .unwrap();
    let v = serde_json::to_value(&c).unwrap();
    assert_eq!(v["model"], "gemini-2.5-flash", "the URL's model, without `models/`");
    assert_eq!(v["messages"][0], json!({"role": "user", "content": "hi"}), "a content without role is the user's");
    assert_eq!(
        v["messages"][1],
        json!({"role": "assistant", "content": "ok", "reasoning_details": [
            {"type": "reasoning.text", "text": "thinking", "format": "google-gemini-v1", "index": 0},
            {"type": "reasoning.encrypted", "signature": "sig", "format": "google-gemini-v1", "index": 1}]}),
        "thoughts are no content; they and the signature are the turn's reasoning, for Gemini"
    );
    assert_eq!(
        v["tools"][0]["function"]["parameters"]["$defs"]["X"],
        json!({"type": "integer"}),
        "JSON Schema as it is"
    );
    assert_eq!(v["max_tokens"], json!(9));
    assert!(v.get("top_k").is_none(), "topK is Gemini's: not canonical `extra`");
    let only = &c.native.as_ref().unwrap().only;
    assert_eq!((only["generationConfig.topK"].clone(), only["labels"].clone()), (json!(40), json!({"team": "a"})));
    assert_eq!(
        v["response_format"],
        json!({"type": "json_schema", "json_schema": {"name": "response", "schema": {"type": "object"}}})
    );
    assert!(v.get("labels").is_none() && !c.is_stream());
    let s = from_json(br#"{"contents": [{"parts": [{"text": "x"}]}]}"#, "g", true).unwrap();
    assert!(s.is_stream() && s.wants_stream_usage(), "the last event carries usageMetadata");
    assert_eq!(s.model, "g");
}

#[test]
fn ids_and_signatures_round_trip() {
    let req = |calls: Value, responses: Value| {
        canonical(&json!({"contents": [{"role": "user", "parts": [{"text": "q"}]}, {"role": "model", "parts": calls},
            {"role": "user", "parts": responses}]}))
    };
    let c = req(
        json!([{"functionCall": {"name": "f", "args": {"a": 1}}, "thoughtSignature": "c2ln"},
               {"functionCall": {"name": "f", "args": {"a": 2}}}]),
        json!([{"functionResponse": {"name": "f", "response": {"r": 1}}}, {"functionResponse": {"name": "f", "response": {"r": 2}}}]),
    )
    .unwrap();
    let calls = c.messages[1].tool_calls.clone().unwrap();
    assert_eq!(calls[0].id, tool_call_id(None, "contents", 1, 0, "f", Some("c2ln")));
    assert!(calls[0].id.ends_with(&format!("{SIG_SEP}c2ln")));
    let answered: Vec<_> = c.messages[2..].iter().map(|m| m.tool_call_id.clone().unwrap()).collect();
    assert_eq!(answered, [calls[0].id.clone(), calls[1].id.clone()], "paired by name and order");

    // An answer's call goes out with its id and signature; echoed back, it is the same call.
    let answer: ChatResponse = serde_json::from_value(json!({"id": "r", "model": "m", "choices": [{"index": 0,
        "finish_reason": "tool_calls", "message": {"role": "assistant", "tool_calls": [
            {"id": format!("call_1{SIG_SEP}c2ln"), "type": "function", "function": {"name": "f", "arguments": "{}"}}]}}]}))
    .unwrap();
    let part = serde_json::to_value(&from_canonical(&answer).unwrap().candidates[0].content.as_ref().unwrap().parts[0])
        .unwrap();
    assert_eq!(part, json!({"functionCall": {"name": "f", "args": {}, "id": "call_1"}, "thoughtSignature": "c2ln"}));
    let again =
        req(json!([part]), json!([{"functionResponse": {"name": "f", "id": "call_1", "response": {}}}])).unwrap();
    assert_eq!(again.messages[1].tool_calls.as_ref().unwrap()[0].id, format!("call_1{SIG_SEP}c2ln"));
    assert_eq!(again.messages[2].tool_call_id.as_deref(), Some(format!("call_1{SIG_SEP}c2ln").as_str()));

    // Ids, when both sides carry them, pick the call; names and order otherwise.
    let swapped = req(
        json!([{"functionCall": {"name": "f", "id": "a"}}, {"functionCall": {"name": "f", "id": "b"}}]),
        json!([{"functionResponse": {"name": "f", "id": "b", "response": {}}}, {"functionResponse": {"name": "f", "id": "a", "response": {}}}]),
    )
    .unwrap();
    let ids: Vec<_> = swapped.messages[2..].iter().map(|m| m.tool_call_id.clone().unwrap()).collect();
    assert_eq!(ids, ["b", "a"]);
    let stray =
        req(json!([{"functionCall": {"name": "f"}}]), json!([{"functionResponse": {"name": "g", "response": {}}}]));
    assert!(matches!(&stray, Err(WireError::Invalid { at, .. }) if at == "contents[2].parts[0]"), "{stray:?}");
    let unanswered = req(json!([{"functionCall": {"name": "f"}}]), json!([{"text": "never mind"}]));
    assert!(matches!(&unanswered, Err(WireError::Invalid { message, .. }) if message.contains("no functionResponse")));
}

#[test]
fn what_the_canonical_types_cannot_carry_is_an_error() {
    let base = |extra: Value| {
        let mut r = json!({"contents": [{"role": "user", "parts": [{"text": "x"}]}]});
        if let (Some(o), Value::Object(e)) = (r.as_object_mut(), extra) {
            o.extend(e);
        }
        canonical(&r)
    };
    let refused = |extra: Value, what: &str| {
        let e = base(extra.clone()).expect_err("refused");
        assert!(e.to_string().contains(what), "{extra}: {e}");
        e
    };
    // A built-in tool is Gemini's to run: only a Gemini upstream is called with it.
    for tool in ["googleSearch", "codeExecution", "urlContext", "googleSearchRetrieval"] {
        let r = base(json!({"tools": [{tool: {}}]})).expect("read");
        let n = r.native.as_deref().expect("native");
        let at = format!("tools[0].{tool}");
        assert_eq!(n.required, [crate::wire::native::Required::new(&at, format!("the built-in tool `{tool}`"))]);
        assert_eq!(n.only[&at], json!({}), "the cache key sees the tool");
        let e = crate::wire::native::check_foreign(n, "Anthropic").expect_err("refused elsewhere");
        assert!(matches!(&e, WireError::Unsupported { .. }) && e.param() == Some("tools"), "{e}");
    }
    refused(json!({"generationConfig": {"responseLogprobs": true}}), "generationConfig.responseLogprobs");
    refused(json!({"generationConfig": {"responseModalities": ["IMAGE"]}}), "responseModalities");
    refused(json!({"generationConfig": {"responseMimeType": "text/x.enum"}}), "text/x.enum");
    refused(json!({"generationConfig": {"responseSchema": {"type": "STRING"}}}), "responseMimeType: application/json");
    refused(json!({"generationConfig": {"topK": 2.5}}), "whole number");
    refused(json!({"toolConfig": {"functionCallingConfig": {"mode": "VALIDATED"}}}), "VALIDATED");
    refused(
        json!({"toolConfig": {"functionCallingConfig": {"mode": "AUTO", "allowedFunctionNames": ["f"]}}}),
        "only with mode ANY",
    );
    refused(json!({"toolConfig": {"retrievalConfig": {}}}), "toolConfig.retrievalConfig");
    refused(
        json!({"tools": [{"functionDeclarations": [{"name": "f", "parameters": {}, "parametersJsonSchema": {}}]}]}),
        "not both",
    );
    refused(json!({"tools": [{"functionDeclarations": [{"name": "f", "behavior": "NON_BLOCKING"}]}]}), "behavior");
    // A top-level field sidegate does not know is Gemini's: kept for a Gemini upstream only.
    let future = base(json!({"someFutureField": 1, "model": "models/x"})).unwrap();
    let native = future.native.as_ref().unwrap();
    assert_eq!(Value::Object(native.only.clone()), json!({"someFutureField": 1}));
    assert!(!native.body.contains_key("model") && native.body["someFutureField"] == 1);
    assert!(future.extra.is_empty());
    refused(json!({"contents": [{"role": "function", "parts": [{"text": "x"}]}]}), "is not `user` or `model`");
    refused(json!({"contents": [{"parts": [{"executableCode": {"code": "1"}}]}]}), "code execution is a built-in tool");
    refused(
        json!({"contents": [{"parts": [{"text": "a", "inlineData": {"mimeType": "image/png", "data": "x"}}]}]}),
        "one of",
    );
    refused(json!({"contents": [{"parts": [{"functionCall": {"name": "f"}}]}]}), "functionCall in a user turn");
    refused(
        json!({"contents": [{"role": "model", "parts": [{"inlineData": {"mimeType": "image/png", "data": "x"}}]}]}),
        "model turn",
    );
    let unknown = refused(json!({"contents": [{"parts": [{"txt": "typo"}]}]}), "unknown field `txt`");
    assert!(matches!(unknown, WireError::Invalid { .. }));
}
