//! Whole answers: canonical -> Responses object (golden, spec-checked) and back, plus the
//! error shapes.

use serde_json::{Value, json};

use super::schema::{check_error_body, check_response};
use super::{chat_response, create, json};
use crate::api::error::GatewayError;
use crate::wire::openai_responses::{
    Response, ResponseEcho, error_body, response_error, to_chat_response, to_response,
};
use crate::wire::{VendorReport, WireError};

fn completion(message: Value, finish: &str) -> Value {
    json!({"id": "chatcmpl-abc", "object": "chat.completion", "created": 1700000000, "model": "gpt-x",
           "choices": [{"index": 0, "message": message, "finish_reason": finish}],
           "usage": {"prompt_tokens": 30, "completion_tokens": 12, "total_tokens": 42,
                     "prompt_tokens_details": {"cached_tokens": 8},
                     "completion_tokens_details": {"reasoning_tokens": 5}}})
}

fn answer(message: Value, finish: &str, echo: ResponseEcho) -> Value {
    let r = to_response(&chat_response(completion(message, finish)), echo).unwrap();
    let v = json(&r);
    check_response(&v).unwrap_or_else(|e| panic!("not a valid Response: {e}"));
    v
}

#[test]
fn a_text_answer_becomes_a_completed_response_echoing_the_request() {
    let req = create(json!({"model": "alias", "input": "hi", "instructions": "Be brief.", "temperature": 0.2,
        "max_output_tokens": 50, "metadata": {"k": "v"},
        "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}, "strict": true}]}));
    let got = answer(json!({"role": "assistant", "content": "Hello there."}), "stop", ResponseEcho::of(&req));
    assert_eq!(
        got,
        json!({
        "id": "resp_abc", "object": "response", "created_at": 1700000000, "status": "completed",
        "error": null, "incomplete_details": null, "model": "gpt-x",
        "output": [{"type": "message", "id": "msg_abc_0", "role": "assistant", "status": "completed",
                    "content": [{"type": "output_text", "text": "Hello there.", "annotations": [], "logprobs": []}]}],
        "usage": {"input_tokens": 30, "input_tokens_details": {"cached_tokens": 8, "cache_write_tokens": 0},
                  "output_tokens": 12, "output_tokens_details": {"reasoning_tokens": 5}, "total_tokens": 42},
        "instructions": "Be brief.", "max_output_tokens": 50, "parallel_tool_calls": true,
        "previous_response_id": null, "reasoning": null, "temperature": 0.2, "text": {"format": {"type": "text"}},
        "tool_choice": "auto", "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}, "strict": true}],
        "top_p": null, "metadata": {"k": "v"}})
    );
}

#[test]
fn tool_calls_become_function_call_items_after_the_message() {
    let got = answer(
        json!({"role": "assistant", "content": "Let me check.", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
            {"id": "call_2", "type": "function", "function": {"name": "time", "arguments": "{}"}}]}),
        "tool_calls",
        ResponseEcho::default(),
    );
    assert_eq!(got["status"], "completed");
    assert_eq!(
        got["output"][1],
        json!({"type": "function_call", "id": "fc_abc_1", "call_id": "call_1",
        "name": "weather", "arguments": "{\"city\":\"Paris\"}", "status": "completed"})
    );
    assert_eq!(got["output"][2]["id"], "fc_abc_2");
    assert_eq!(got["output"][2]["call_id"], "call_2");
}

#[test]
fn length_and_content_filter_are_incomplete_with_the_reason() {
    let long = answer(json!({"role": "assistant", "content": "cut"}), "length", ResponseEcho::default());
    assert_eq!(long["status"], "incomplete");
    assert_eq!(long["incomplete_details"], json!({"reason": "max_output_tokens"}));
    assert_eq!(long["output"][0]["status"], "incomplete");
    let filtered = answer(
        json!({"role": "assistant", "content": null, "refusal": "no"}),
        "content_filter",
        ResponseEcho::default(),
    );
    assert_eq!(filtered["incomplete_details"], json!({"reason": "content_filter"}));
    assert_eq!(filtered["output"][0]["content"], json!([{"type": "refusal", "refusal": "no"}]));
}

#[test]
fn a_responses_object_becomes_a_canonical_completion() {
    let upstream: Response = serde_json::from_value(json!({
        "id": "resp_9", "object": "response", "created_at": 1710000000, "status": "completed", "model": "gpt-5",
        "error": null, "incomplete_details": null, "instructions": null, "tools": [], "tool_choice": "auto",
        "parallel_tool_calls": true, "metadata": {}, "temperature": 1, "top_p": 1,
        "output": [
            {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "thought"}]},
            {"type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
             "content": [{"type": "output_text", "text": "Hi ", "annotations": []},
                         {"type": "output_text", "text": "you.", "annotations": []}]},
            {"type": "function_call", "id": "fc_1", "call_id": "call_x", "name": "f", "arguments": "{}",
             "status": "completed"}],
        "usage": {"input_tokens": 10, "input_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 2},
                  "output_tokens": 20, "output_tokens_details": {"reasoning_tokens": 15}, "total_tokens": 30}}))
    .unwrap();
    let got = json(&to_chat_response(&upstream).unwrap());
    assert_eq!(
        got,
        json!({"id": "resp_9", "object": "chat.completion", "created": 1710000000, "model": "gpt-5",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "logprobs": null, "message": {"role": "assistant", "content": "Hi you.", "refusal": null,
            "reasoning_content": "thought",
            "reasoning_details": [{"type": "reasoning.summary", "summary": "thought", "id": "rs_1",
                                   "format": "openai-responses-v1", "index": 0}],
            "tool_calls": [{"id": "call_x", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30,
                  "prompt_tokens_details": {"cached_tokens": 4, "cache_creation_tokens": 2},
                  "completion_tokens_details": {"reasoning_tokens": 15}}})
    );
}

#[test]
fn whole_answers_round_trip() {
    let original = chat_response(completion(
        json!({"role": "assistant", "content": "x", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":[1]}"}}]}),
        "tool_calls",
    ));
    let there = to_response(&original, ResponseEcho::default()).unwrap();
    let back = json(&to_chat_response(&there).unwrap());
    let mut want = json(&original);
    want["id"] = json!("resp_abc");
    assert_eq!(back, want);
    let long = chat_response(completion(json!({"role": "assistant", "content": "cu"}), "length"));
    let back = to_chat_response(&to_response(&long, ResponseEcho::default()).unwrap()).unwrap();
    assert_eq!(back.choices[0].finish_reason.as_deref(), Some("length"));
}

#[test]
fn failed_responses_and_unknown_items_are_errors() {
    let mut failed: Response = serde_json::from_value(json!({"id": "resp_f", "status": "failed",
        "error": {"code": "server_error", "message": "boom"}}))
    .unwrap();
    assert_eq!(
        to_chat_response(&failed).unwrap_err(),
        WireError::Reported(VendorReport::OpenAi { code: Some("server_error".into()), message: Some("boom".into()) })
    );
    failed.status = crate::wire::openai_responses::Status::Completed;
    failed.output =
        serde_json::from_value(json!([{"type": "web_search_call", "id": "ws", "status": "completed"}])).unwrap();
    assert!(to_chat_response(&failed).unwrap_err().to_string().contains("web_search_call"));
    let empty = chat_response(json!({"id": "chatcmpl-0", "choices": []}));
    assert!(to_response(&empty, ResponseEcho::default()).is_err());
}

#[test]
fn errors_take_the_responses_shapes() {
    let e = GatewayError::invalid("bad `input`", Some("input"));
    let body = error_body(&e);
    check_error_body(&body).unwrap();
    assert_eq!(
        body,
        json!({"error": {"message": "bad `input`", "type": "invalid_request_error", "param": "input",
        "code": null}})
    );
    assert_eq!(response_error(&e).code, "invalid_prompt");
    let limited = GatewayError::CallerLimited {
        limit: crate::api::error::CallerLimit::Requests,
        message: "slow down".into(),
        retry_after: std::time::Duration::from_secs(1),
    };
    assert_eq!(response_error(&limited).code, "rate_limit_exceeded");
    let broken = GatewayError::StreamBroken { message: "reset".into() };
    assert_eq!(response_error(&broken).code, "server_error");
    assert_eq!(response_error(&e).message, "bad `input`");
}

#[test]
fn a_decoded_response_encodes_each_field_once() {
    let wire = json!({"id": "resp_1", "object": "response", "created_at": 5, "status": "completed", "model": "m",
        "error": null, "incomplete_details": null, "instructions": "i", "tools": [], "tool_choice": "auto",
        "parallel_tool_calls": false, "metadata": {}, "temperature": 1.0, "top_p": 1.0, "output": [],
        "text": {"format": {"type": "text"}}, "service_tier": "default"});
    let r: Response = serde_json::from_value(wire.clone()).unwrap();
    assert_eq!(r.extra.keys().collect::<Vec<_>>(), vec!["service_tier"]);
    assert!(!r.echo.parallel_tool_calls);
    let text = serde_json::to_string(&r).unwrap();
    assert_eq!(text.matches("\"tools\"").count(), 1, "{text}");
    let mut want = wire;
    want.as_object_mut().unwrap().insert("previous_response_id".into(), Value::Null);
    want.as_object_mut().unwrap().insert("max_output_tokens".into(), Value::Null);
    want.as_object_mut().unwrap().insert("reasoning".into(), Value::Null);
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), want);
}
