//! A small checker of the Responses shapes sidegate emits against the OpenAPI spec
//! (/work/shared/specs/openai-openapi.yaml): required keys and enum values, hand-listed from
//! the schemas named in each table entry.

use serde_json::Value;

/// `ResponseStreamEvent` members sidegate emits: `type` -> required keys.
const EVENT_REQUIRED: &[(&str, &[&str])] = &[
    ("response.created", &["type", "response", "sequence_number"]), // ResponseCreatedEvent
    ("response.in_progress", &["type", "response", "sequence_number"]), // ResponseInProgressEvent
    ("response.completed", &["type", "response", "sequence_number"]), // ResponseCompletedEvent
    ("response.incomplete", &["type", "response", "sequence_number"]), // ResponseIncompleteEvent
    ("response.failed", &["type", "response", "sequence_number"]),  // ResponseFailedEvent
    ("response.output_item.added", &["type", "output_index", "item", "sequence_number"]),
    ("response.output_item.done", &["type", "output_index", "item", "sequence_number"]),
    ("response.content_part.added", &["type", "item_id", "output_index", "content_index", "part", "sequence_number"]),
    ("response.content_part.done", &["type", "item_id", "output_index", "content_index", "part", "sequence_number"]),
    (
        "response.output_text.delta",
        &["type", "item_id", "output_index", "content_index", "delta", "sequence_number", "logprobs"],
    ),
    (
        "response.output_text.done",
        &["type", "item_id", "output_index", "content_index", "text", "sequence_number", "logprobs"],
    ),
    ("response.refusal.delta", &["type", "item_id", "output_index", "content_index", "delta", "sequence_number"]),
    ("response.refusal.done", &["type", "item_id", "output_index", "content_index", "refusal", "sequence_number"]),
    ("response.function_call_arguments.delta", &["type", "item_id", "output_index", "delta", "sequence_number"]),
    (
        "response.function_call_arguments.done",
        &["type", "item_id", "name", "output_index", "arguments", "sequence_number"],
    ),
    ("error", &["type", "code", "message", "param", "sequence_number"]), // ResponseErrorEvent
];

/// `Response` (allOf ModelResponseProperties, ResponseProperties, own properties).
const RESPONSE_REQUIRED: &[&str] = &[
    "id",
    "object",
    "created_at",
    "error",
    "incomplete_details",
    "instructions",
    "model",
    "tools",
    "output",
    "parallel_tool_calls",
    "metadata",
    "tool_choice",
    "temperature",
    "top_p",
];
const RESPONSE_STATUS: &[&str] = &["completed", "failed", "in_progress", "cancelled", "queued", "incomplete"];
const INCOMPLETE_REASON: &[&str] = &["max_output_tokens", "content_filter"];
const ITEM_STATUS: &[&str] = &["in_progress", "completed", "incomplete"];
/// `ResponseErrorCode` (the values sidegate can choose).
const ERROR_CODES: &[&str] = &["server_error", "rate_limit_exceeded", "invalid_prompt"];
const OUTPUT_MESSAGE_REQUIRED: &[&str] = &["id", "type", "role", "content", "status"];
const FUNCTION_CALL_REQUIRED: &[&str] = &["type", "call_id", "name", "arguments"];
const OUTPUT_TEXT_REQUIRED: &[&str] = &["type", "text", "annotations", "logprobs"];
const REFUSAL_REQUIRED: &[&str] = &["type", "refusal"];
const FUNCTION_TOOL_REQUIRED: &[&str] = &["type", "name", "strict", "parameters"];
const USAGE_REQUIRED: &[&str] =
    &["input_tokens", "input_tokens_details", "output_tokens", "output_tokens_details", "total_tokens"];
/// `ErrorResponse` / `Error`.
const ERROR_BODY_REQUIRED: &[&str] = &["type", "message", "param", "code"];

fn require(v: &Value, keys: &[&str], what: &str) -> Result<(), String> {
    let obj = v.as_object().ok_or_else(|| format!("{what}: not an object: {v}"))?;
    match keys.iter().find(|k| !obj.contains_key(**k)) {
        Some(k) => Err(format!("{what}: missing required `{k}` in {v}")),
        None => Ok(()),
    }
}

fn one_of(v: &Value, key: &str, allowed: &[&str], what: &str) -> Result<(), String> {
    match v.get(key).and_then(Value::as_str) {
        Some(s) if allowed.contains(&s) => Ok(()),
        other => Err(format!("{what}: `{key}` is {other:?}, not one of {allowed:?}")),
    }
}

fn integer(v: &Value, key: &str, what: &str) -> Result<(), String> {
    v.get(key).and_then(Value::as_u64).map(|_| ()).ok_or_else(|| format!("{what}: `{key}` is not an integer"))
}

/// One stream event: its own required keys, then the nested response, item or part.
pub fn check_event(v: &Value) -> Result<(), String> {
    let kind = v.get("type").and_then(Value::as_str).ok_or("event without `type`")?;
    let (_, required) =
        EVENT_REQUIRED.iter().find(|(t, _)| *t == kind).ok_or_else(|| format!("unexpected event type `{kind}`"))?;
    require(v, required, kind)?;
    integer(v, "sequence_number", kind)?;
    if let Some(r) = v.get("response") {
        check_response(r)?;
    }
    if let Some(item) = v.get("item") {
        check_item(item)?;
    }
    if let Some(part) = v.get("part") {
        check_part(part)?;
    }
    Ok(())
}

pub fn check_response(r: &Value) -> Result<(), String> {
    require(r, RESPONSE_REQUIRED, "response")?;
    one_of(r, "object", &["response"], "response")?;
    one_of(r, "status", RESPONSE_STATUS, "response")?;
    integer(r, "created_at", "response")?;
    if let Some(d) = r.get("incomplete_details").filter(|d| !d.is_null()) {
        one_of(d, "reason", INCOMPLETE_REASON, "incomplete_details")?;
    }
    if let Some(e) = r.get("error").filter(|e| !e.is_null()) {
        require(e, &["code", "message"], "response.error")?;
        one_of(e, "code", ERROR_CODES, "response.error")?;
    }
    for item in r["output"].as_array().ok_or("response.output is not an array")? {
        check_item(item)?;
    }
    for tool in r["tools"].as_array().ok_or("response.tools is not an array")? {
        if tool.get("type").and_then(Value::as_str) == Some("function") {
            require(tool, FUNCTION_TOOL_REQUIRED, "function tool")?;
        }
    }
    if let Some(u) = r.get("usage") {
        require(u, USAGE_REQUIRED, "usage")?;
        require(&u["input_tokens_details"], &["cached_tokens", "cache_write_tokens"], "input_tokens_details")?;
        require(&u["output_tokens_details"], &["reasoning_tokens"], "output_tokens_details")?;
    }
    Ok(())
}

pub fn check_item(item: &Value) -> Result<(), String> {
    match item.get("type").and_then(Value::as_str) {
        Some("message") => {
            require(item, OUTPUT_MESSAGE_REQUIRED, "output message")?;
            one_of(item, "role", &["assistant"], "output message")?;
            one_of(item, "status", ITEM_STATUS, "output message")?;
            for part in item["content"].as_array().ok_or("message content is not an array")? {
                check_part(part)?;
            }
            Ok(())
        }
        Some("function_call") => {
            require(item, FUNCTION_CALL_REQUIRED, "function_call")?;
            if item.get("status").is_some() {
                one_of(item, "status", ITEM_STATUS, "function_call")?;
            }
            Ok(())
        }
        other => Err(format!("unexpected output item type {other:?}")),
    }
}

pub fn check_part(part: &Value) -> Result<(), String> {
    match part.get("type").and_then(Value::as_str) {
        Some("output_text") => require(part, OUTPUT_TEXT_REQUIRED, "output_text"),
        Some("refusal") => require(part, REFUSAL_REQUIRED, "refusal"),
        other => Err(format!("unexpected content part type {other:?}")),
    }
}

pub fn check_error_body(v: &Value) -> Result<(), String> {
    require(v, &["error"], "error body")?;
    require(&v["error"], ERROR_BODY_REQUIRED, "error")
}

#[test]
fn the_checker_rejects_what_the_spec_rejects() {
    let ok = serde_json::json!({"type": "response.output_text.delta", "item_id": "m", "output_index": 0,
        "content_index": 0, "delta": "x", "logprobs": [], "sequence_number": 3});
    assert_eq!(check_event(&ok), Ok(()));
    let mut no_logprobs = ok.clone();
    no_logprobs.as_object_mut().map(|o| o.remove("logprobs"));
    assert!(check_event(&no_logprobs).is_err_and(|e| e.contains("logprobs")));
    let bad_status = serde_json::json!({"type": "function_call", "call_id": "c", "name": "f", "arguments": "",
        "status": "done"});
    assert!(check_item(&bad_status).is_err());
    assert!(check_event(&serde_json::json!({"type": "response.audio.delta"})).is_err());
}
