//! Requests: Responses -> canonical (golden), canonical -> Responses (golden), round trips,
//! and what each direction refuses.

use serde_json::{Value, json};

use super::{chat, create, json};
use crate::wire::WireError;
use crate::wire::openai_responses::{to_chat_request, to_create_response};

/// The canonical request and, as one more top-level key `native.only`, what only a Responses
/// upstream gets.
fn canonical_and_only(v: Value) -> Value {
    let c = to_chat_request(&create(v)).unwrap_or_else(|e| panic!("conversion failed: {e}"));
    let mut out = json(&c.chat);
    out["native.only"] = Value::Object(c.only);
    out
}

fn responses(v: Value) -> Value {
    let c = to_create_response(&chat(v), "gpt-up", false).unwrap_or_else(|e| panic!("conversion failed: {e}"));
    json(&c.value)
}

#[test]
fn responses_requests_become_canonical_field_by_field() {
    let cases: Vec<(&str, Value, Value)> = vec![
        (
            "string input, instructions, sampling, metadata, store, user",
            json!({"model": "m", "input": "Grüß dich 👋", "instructions": "Be terse.", "max_output_tokens": 64,
                   "temperature": 0.3, "top_p": 0.9, "metadata": {"k": "v"}, "store": false, "user": "u-1",
                   "safety_identifier": "s-1"}),
            json!({"model": "m", "max_completion_tokens": 64, "temperature": 0.3, "top_p": 0.9, "user": "u-1",
                   "safety_identifier": "s-1", "native.only": {"metadata": {"k": "v"}, "store": false},
                   "messages": [{"role": "developer", "content": "Be terse."},
                                {"role": "user", "content": "Grüß dich 👋"}]}),
        ),
        (
            "parts: input_text, input_image (detail kept), input_file",
            json!({"model": "m", "input": [{"role": "user", "content": [
                {"type": "input_text", "text": "What is this?"},
                {"type": "input_image", "image_url": "https://x.test/cat.png", "detail": "high"},
                {"type": "input_file", "filename": "a.pdf", "file_data": "data:application/pdf;base64,AAAA"}]}]}),
            json!({"model": "m", "messages": [{"role": "user", "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "https://x.test/cat.png", "detail": "high"}},
                {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,AAAA"}}]}]}),
        ),
        (
            "tool loop: assistant text + two calls join one turn, outputs become tool messages",
            json!({"model": "m", "input": [
                {"type": "message", "role": "user", "content": "weather in Paris and Rome?"},
                {"type": "message", "role": "assistant", "id": "msg_1", "status": "completed",
                 "content": [{"type": "output_text", "text": "Checking.", "annotations": []}]},
                {"type": "function_call", "call_id": "call_a", "name": "weather", "arguments": "{\"city\":\"Paris\"}"},
                {"type": "function_call", "call_id": "call_b", "name": "weather", "arguments": "{\"city\":\"Rome\"}"},
                {"type": "function_call_output", "call_id": "call_a", "output": "18C"},
                {"type": "function_call_output", "call_id": "call_b", "output": [{"type": "input_text", "text": "21C"}]}]}),
            json!({"model": "m", "messages": [
                {"role": "user", "content": "weather in Paris and Rome?"},
                {"role": "assistant", "content": "Checking.", "tool_calls": [
                    {"id": "call_a", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "call_b", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Rome\"}"}}]},
                {"role": "tool", "content": "18C", "tool_call_id": "call_a"},
                {"role": "tool", "content": [{"type": "text", "text": "21C"}], "tool_call_id": "call_b"}]}),
        ),
        (
            "flat function tools, tool_choice by name, json_schema, verbosity, reasoning, stream",
            json!({"model": "m", "input": "hi", "stream": true, "parallel_tool_calls": false,
                   "tools": [{"type": "function", "name": "f", "description": "d", "parameters": {"type": "object"},
                              "strict": true}],
                   "tool_choice": {"type": "function", "name": "f"},
                   "text": {"format": {"type": "json_schema", "name": "out", "schema": {"type": "object"}, "strict": true},
                            "verbosity": "low"},
                   "reasoning": {"effort": "high", "summary": "auto"}, "previous_response_id": "resp_prev"}),
            json!({"model": "m", "stream": true, "stream_options": {"include_usage": true}, "parallel_tool_calls": false,
                   "messages": [{"role": "user", "content": "hi"}],
                   "tools": [{"type": "function", "function": {"name": "f", "description": "d",
                              "parameters": {"type": "object"}, "strict": true}}],
                   "tool_choice": {"type": "function", "function": {"name": "f"}},
                   "response_format": {"type": "json_schema", "json_schema": {"name": "out", "schema": {"type": "object"},
                                       "strict": true}},
                   "verbosity": "low", "reasoning_effort": "high", "reasoning": {"summary": "auto"},
                   "native.only": {"reasoning": {"summary": "auto"}, "previous_response_id": "resp_prev"}}),
        ),
        (
            "allowed_tools choice, json_object",
            json!({"model": "m", "input": "hi", "text": {"format": {"type": "json_object"}},
                   "tool_choice": {"type": "allowed_tools", "mode": "required", "tools": [{"type": "function", "name": "f"}]}}),
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "response_format": {"type": "json_object"},
                   "tool_choice": {"type": "allowed_tools", "allowed_tools": {"mode": "required",
                                   "tools": [{"type": "function", "function": {"name": "f"}}]}}}),
        ),
    ];
    for (name, input, want) in cases {
        let mut got = canonical_and_only(input);
        if want.get("native.only").is_none() {
            assert_eq!(got["native.only"], json!({}), "{name}");
            got.as_object_mut().unwrap().remove("native.only");
        }
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn responses_only_and_unknown_fields_reach_native_only_never_canonical_extra() {
    let c = to_chat_request(&create(json!({"model": "m", "input": "q", "include": ["reasoning.encrypted_content"],
        "truncation": "auto", "store": true, "max_tool_calls": 3, "some_new_field": {"x": 1},
        "prompt_cache_key": "pk", "stream_options": {"include_obfuscation": false}, "stream": true})))
    .unwrap();
    let only: Vec<&str> = c.only.keys().map(String::as_str).collect();
    assert_eq!(only, ["include", "max_tool_calls", "some_new_field", "store", "stream_options", "truncation"]);
    assert_eq!(c.chat.extra.keys().collect::<Vec<_>>(), ["prompt_cache_key"]);
    assert_eq!(json(&c.chat)["stream_options"], json!({"include_usage": true}));
    for name in ["background", "conversation", "prompt"] {
        let e = to_chat_request(&create(json!({"model": "m", "input": "q", name: {"id": "x"}}))).unwrap_err();
        assert!(matches!(&e, WireError::Unsupported { at, .. } if at == name), "{e:?}");
    }
    assert!(to_chat_request(&create(json!({"model": "m", "input": "q", "background": false}))).is_ok());
}

#[test]
fn reasoning_input_items_are_carried_on_their_assistant_turn() {
    let req = create(json!({"model": "m", "input": [
        {"role": "user", "content": "q"},
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "opaque"},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"}]}));
    let c = to_chat_request(&req).unwrap();
    assert!(c.dropped.is_empty(), "{:?}", c.dropped);
    let d = &json(&c.chat)["messages"][1]["reasoning_details"];
    assert_eq!(
        *d,
        json!([{"type": "reasoning.encrypted", "data": "opaque", "id": "rs_1", "format": "openai-responses-v1", "index": 0}])
    );
    let mut m = json(&c.chat)["messages"].clone();
    m[1].as_object_mut().unwrap().remove("reasoning_details");
    assert_eq!(
        m[1],
        json!({"role": "assistant", "content": null, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}),
        "the call joins the turn its reasoning opened"
    );
}

#[test]
fn hosted_tools_are_required_of_a_responses_upstream_and_refused_by_name_elsewhere() {
    use crate::wire::native::{Dialect, NativeRequest, Required, check_foreign};
    let c = to_chat_request(&create(json!({"model": "m", "input": "q", "tools": [
        {"type": "function", "name": "f", "parameters": null, "strict": null},
        {"type": "file_search", "vector_store_ids": ["vs"]}], "tool_choice": {"type": "web_search_preview"}})))
    .unwrap();
    assert_eq!(
        c.required,
        vec![
            Required::new("tools[1]", "the built-in tool `file_search`"),
            Required::new("tool_choice", "the built-in tool `web_search_preview`")
        ]
    );
    assert_eq!(c.chat.tools.as_ref().map(Vec::len), Some(1), "the function tool is kept");
    assert!(c.chat.tool_choice.is_none());
    let n = NativeRequest { required: c.required, ..NativeRequest::new(Dialect::OpenAiResponses, Default::default()) };
    let e = check_foreign(&n, "Anthropic").unwrap_err();
    assert!(e.to_string().contains("file_search"), "{e}");
    assert_eq!(e.to_gateway_error().param(), Some("tools"));
    assert_eq!(e.to_gateway_error().status(), 400);
}

#[test]
fn what_responses_has_and_canonical_cannot_carry_is_refused_by_name() {
    let err = |v: Value| to_chat_request(&create(v)).unwrap_err();
    let e = err(json!({"model": "m", "input": [{"type": "item_reference", "id": "msg_1"}]}));
    assert!(e.to_string().contains("item_reference"), "{e}");
    let e = err(json!({"model": "m", "input": [{"type": "computer_call_output", "call_id": "c", "output": {}}]}));
    assert!(e.to_string().contains("computer_call_output"), "{e}");
    let e =
        err(json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]}));
    assert!(e.to_string().contains("input[0].content[0]"), "{e}");
}

#[test]
fn canonical_requests_become_responses_field_by_field() {
    let got = responses(json!({"model": "alias", "max_tokens": 100, "temperature": 0.5, "seed": 7,
        "messages": [
            {"role": "system", "content": "sys"},
            {"role": "user", "content": [{"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}}]},
            {"role": "assistant", "content": "calling", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "done"}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        "tool_choice": "required", "response_format": {"type": "json_object"},
        "reasoning_effort": "low", "metadata": {"a": "b"}, "store": true, "prompt_cache_key": "k",
        "presence_penalty": 0.1}));
    assert_eq!(
        got,
        json!({"model": "gpt-up", "max_output_tokens": 100, "temperature": 0.5,
        "input": [
            {"type": "message", "role": "system", "content": "sys"},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "look"},
                {"type": "input_image", "image_url": "data:image/png;base64,iVBO", "detail": "auto"}]},
            {"type": "message", "role": "assistant", "content": "calling"},
            {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{\"a\":1}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "done"}],
        "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}, "strict": null}],
        "tool_choice": "required", "text": {"format": {"type": "json_object"}},
        "reasoning": {"effort": "low"}, "metadata": {"a": "b"}, "store": true, "prompt_cache_key": "k"})
    );
    let c = to_create_response(
        &chat(json!({"model": "a", "seed": 1, "presence_penalty": 0.2,
        "messages": [{"role": "user", "name": "bob", "content": "x"}]})),
        "up",
        true,
    )
    .unwrap();
    assert_eq!(c.dropped, vec!["seed", "messages[0].name", "presence_penalty"]);
    assert_eq!(c.value.stream, Some(true));
}

#[test]
fn what_responses_cannot_express_is_refused() {
    let err = |v: Value| to_create_response(&chat(v), "up", false).unwrap_err().to_string();
    let base = |extra: Value| {
        let mut v = json!({"model": "a", "messages": [{"role": "user", "content": "x"}]});
        v.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        v
    };
    assert!(err(base(json!({"n": 2}))).contains("`n`"));
    assert!(err(base(json!({"stop": ["END"]}))).contains("stop"));
    assert!(err(base(json!({"logprobs": true}))).contains("logprobs"));
    assert!(err(base(json!({"audio": {"voice": "x"}}))).contains("audio"));
    assert!(
        err(json!({"model": "a", "messages": [{"role": "function", "name": "f", "content": "x"}]}))
            .contains("function")
    );
    assert!(
        err(json!({"model": "a", "messages": [{"role": "user", "content": [{"type": "input_audio",
        "input_audio": {"data": "", "format": "wav"}}]}]}))
        .contains("input_audio")
    );
    // asking for nothing is not a refusal
    assert!(to_create_response(&chat(base(json!({"logprobs": false, "logit_bias": {}}))), "up", false).is_ok());
}

/// Responses -> canonical (+ `native.only`) -> Responses keeps the request's meaning: the second
/// canonical form equals the first, and the settings come back in their Responses places (a
/// Responses upstream sees the `only` fields beside the canonical ones).
#[test]
fn round_trips_keep_meaning() {
    let originals = vec![
        json!({"model": "m", "input": "just text", "store": false}),
        json!({"model": "m", "instructions": "sys", "stream": true, "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "a"},
                {"type": "input_image", "image_url": "https://x.test/i.png", "detail": "low"}]},
            {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c", "output": "r"}],
            "tools": [{"type": "function", "name": "f", "description": "d", "parameters": {"type": "object"},
                       "strict": false, "defer_loading": true}],
            "tool_choice": {"type": "allowed_tools", "mode": "auto", "tools": [{"type": "function", "name": "f"}]},
            "text": {"format": {"type": "json_schema", "name": "o", "schema": {"type": "object"}, "description": "x"},
                     "verbosity": "high"},
            "reasoning": {"effort": "medium", "summary": "detailed", "context": "all_turns"},
            "previous_response_id": "resp_1", "include": ["reasoning.encrypted_content"], "truncation": "auto",
            "max_output_tokens": 10, "metadata": {"t": "1"}, "user": "u", "parallel_tool_calls": true}),
    ];
    for original in originals {
        let ingress = to_chat_request(&create(original.clone())).unwrap();
        let first = ingress.chat.clone();
        let stream = first.is_stream();
        let mut with_only = first.clone();
        with_only.extra.extend(ingress.only.clone());
        let back = to_create_response(&with_only, "m", stream).unwrap();
        assert!(back.dropped.is_empty(), "{:?}", back.dropped);
        let again = to_chat_request(&back.value).unwrap();
        assert_eq!(json(&again.chat), json(&first), "canonical forms differ for {original}");
        assert_eq!(again.only, ingress.only, "`only` fields differ for {original}");
        let back = json(&back.value);
        for key in [
            "tools",
            "tool_choice",
            "text",
            "reasoning",
            "previous_response_id",
            "include",
            "truncation",
            "max_output_tokens",
            "metadata",
            "user",
            "store",
            "stream",
        ] {
            assert_eq!(back.get(key), original.get(key), "`{key}` did not come back");
        }
    }
}
