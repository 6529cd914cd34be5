//! The OpenAI Chat Completions answers (`POST /v1/chat/completions`, Azure deployment URLs):
//! the echo of the last user message, whole or streamed word by word, the tool-call turn, and
//! the fault behaviours the model name picks (the table in the crate docs).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use hyper::Response;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::{CallGuard, FakeBody, Stats, error_resp, faults, json_resp};

fn last_user_text(body: &Value) -> String {
    let msgs = body["messages"].as_array().cloned().unwrap_or_default();
    let Some(m) = msgs.iter().rev().find(|m| m["role"] == "user") else {
        return String::new();
    };
    match &m["content"] {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect(),
        _ => String::new(),
    }
}

pub async fn chat(body: Value, guard: CallGuard, stats: &Arc<Stats>) -> Response<FakeBody> {
    // `fail-500#b` behaves like `fail-500`: the suffix makes a distinct deployment in sidegate.
    let model = body["model"].as_str().unwrap_or("").split('#').next().unwrap_or("").to_string();
    let stream = body["stream"].as_bool().unwrap_or(false);
    let fail = |status: u16| {
        error_resp(status, "server_error", "server_error", &format!("The server had an error (fake {status})"))
    };
    if stats.down.load(Ordering::SeqCst) {
        return fail(503);
    }
    match model.as_str() {
        "fail-500" => return fail(500),
        "fail-502" => return fail(502),
        "fail-503" => return fail(503),
        "fail-529" => return error_resp(529, "overloaded_error", "overloaded", "Overloaded"),
        "fail-429" => {
            let mut r = error_resp(429, "requests", "rate_limit_exceeded", "Rate limit reached for requests");
            r.headers_mut().insert("retry-after", "1".parse().expect("static header"));
            return r;
        }
        "fail-429-bare" => {
            return error_resp(429, "requests", "rate_limit_exceeded", "Rate limit reached for requests");
        }
        "fail-429-60" => {
            let mut r = error_resp(429, "tokens", "rate_limit_exceeded", "Rate limit reached for tokens");
            r.headers_mut().insert("retry-after", "60".parse().expect("static header"));
            return r;
        }
        "quota-429" => {
            return error_resp(429, "insufficient_quota", "insufficient_quota", "You exceeded your current quota");
        }
        "fail-401" => {
            return error_resp(401, "invalid_request_error", "invalid_api_key", "Incorrect API key provided");
        }
        "bad-400" => {
            return error_resp(400, "invalid_request_error", "invalid_value", "Invalid value for 'temperature'");
        }
        "context-400" => {
            return error_resp(
                400,
                "invalid_request_error",
                "context_length_exceeded",
                "This model's maximum context length is 8192 tokens",
            );
        }
        "hang" => {
            std::future::pending::<()>().await;
        }
        "slow-first" => tokio::time::sleep(Duration::from_secs(3)).await,
        "reset" => {
            drop(guard);
            let (tx, rx) = mpsc::channel(1);
            let _ = tx.try_send(None);
            return Response::new(FakeBody::Chan(rx));
        }
        m if m.starts_with("flaky-") => {
            let n: u64 = m["flaky-".len()..].parse().unwrap_or(1);
            let seen = {
                let mut map = stats.flaky.lock().unwrap_or_else(|p| p.into_inner());
                let c = map.entry(m.to_string()).or_insert(0);
                *c += 1;
                *c
            };
            if seen <= n {
                return fail(500);
            }
        }
        _ => {}
    }
    if let Some(field) = foreign_field(&body) {
        guard.finish();
        return error_resp(
            400,
            "invalid_request_error",
            "unknown_parameter",
            &format!("Unrecognized request argument supplied: {field}"),
        );
    }
    if model == "tool-call" && body["tools"].as_array().is_some_and(|t| !t.is_empty()) && !in_tool_loop(&body) {
        return tool_call_answer(&body, stream, guard);
    }
    let text = last_user_text(&body);
    let id = "chatcmpl-fake";
    let words: Vec<String> = text.split_inclusive(char::is_whitespace).map(str::to_string).collect();
    let usage = usage_of(&body, &text, words.len() as u64, stats);
    if !stream {
        if model == "malformed" {
            guard.finish();
            let mut r = Response::new(FakeBody::Full(Some(Bytes::from_static(b"{\"id\": \"x\", \"choices\": [tru"))));
            r.headers_mut().insert("content-type", "application/json".parse().expect("static header"));
            return r;
        }
        guard.finish();
        if let Some(r) = shaped_answer(&model, &text) {
            return r;
        }
        if model == "empty" {
            let v = json!({"id": id, "object": "chat.completion", "created": 1_700_000_000u64, "model": model,
                "choices": [], "usage": usage});
            return json_resp(200, &v);
        }
        return json_resp(
            200,
            &json!({
                "id": id, "object": "chat.completion", "created": 1_700_000_000u64, "model": model,
                "choices": [{"index": 0, "message": with_reasoning(&model, json!({"role": "assistant", "content": text, "refusal": null})), "logprobs": null, "finish_reason": "stop"}],
                "usage": usage, "system_fingerprint": "fp_fake"
            }),
        );
    }
    let include_usage = body["stream_options"]["include_usage"].as_bool().unwrap_or(false);
    let chunk = |delta: Value, finish: Value| {
        let v = json!({"id": id, "object": "chat.completion.chunk", "created": 1_700_000_000u64, "model": model,
                       "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]});
        Bytes::from(format!("data: {v}\n\n"))
    };
    let mut events: Vec<Option<Bytes>> = vec![Some(chunk(json!({"role": "assistant", "content": ""}), Value::Null))];
    let mut interval = Duration::ZERO;
    match model.as_str() {
        "slow-stream" => {
            interval = Duration::from_millis(50);
            events.extend((0..200).map(|i| Some(chunk(json!({"content": format!("tick{i} ")}), Value::Null))));
        }
        "truncate" => {
            events.push(Some(chunk(json!({"content": "partial "}), Value::Null)));
            events.push(None);
        }
        "stall" => events.push(Some(chunk(json!({"content": "partial "}), Value::Null))),
        "stream-error" => {
            events.push(Some(chunk(json!({"content": "partial "}), Value::Null)));
            events.push(Some(Bytes::from_static(b"data: {\"error\":{\"message\":\"The server had an error while processing your request\",\"type\":\"server_error\"}}\n\n")));
        }
        // The role chunk (an envelope, no content), then the error: not yet committed.
        "envelope-error" => events.push(Some(Bytes::from_static(
            b"data: {\"error\":{\"message\":\"You exceeded your current quota\",\"type\":\"insufficient_quota\"}}\n\n",
        ))),
        "malformed" => {
            events.clear();
            events.push(Some(Bytes::from_static(b"data: {\"id\": \"x\", \"choices\": [tru\n\n")));
        }
        _ => {}
    }
    if model == "reasoner" {
        for w in REASONING.split_inclusive(' ') {
            events.push(Some(chunk(json!({"reasoning_content": w}), Value::Null)));
        }
    }
    let normal = !matches!(model.as_str(), "truncate" | "stream-error" | "envelope-error" | "malformed" | "stall");
    let stall = model == "stall";
    if normal {
        if model != "empty" {
            events.extend(words.iter().map(|w| Some(chunk(json!({"content": w}), Value::Null))));
        }
        events.push(Some(chunk(json!({}), json!("stop"))));
        if include_usage {
            let v = json!({"id": id, "object": "chat.completion.chunk", "created": 1_700_000_000u64, "model": model, "choices": [], "usage": usage});
            events.push(Some(Bytes::from(format!("data: {v}\n\n"))));
        }
        events.push(Some(Bytes::from_static(b"data: [DONE]\n\n")));
    }
    let end = if stall { faults::StreamEnd::Stall } else { faults::StreamEnd::Close };
    faults::sse_then(events, interval, guard, end)
}

/// The whole answers of the `as-sent`, `sparse` and `reasoning-details` models, written by
/// hand (not through a JSON map, which would sort the keys): the echo of `text` in the shapes
/// other servers send.
fn shaped_answer(model: &str, text: &str) -> Option<Response<FakeBody>> {
    let content = Value::String(text.to_string()).to_string();
    let usage = r#"{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}"#;
    let body = match model {
        // Every key the spec requires, in an order of its own, with keys nobody else models
        // (in usage, on the message, at the top) and a newline after it.
        "as-sent" => {
            format!(
                r#"{{"id":"chatcmpl-as-sent","choices":[{{"message":{{"content":{content},"role":"assistant","refusal":null,"annotations":[]}},"finish_reason":"stop","index":0,"logprobs":null}}],"created":1700000000,"model":"as-sent","object":"chat.completion","usage":{{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2,"queue_time":0.012}},"x_vendor":{{"trace":"t-1"}}}}"#
            ) + "\n"
        }
        // No `object`, `logprobs` or `refusal`, as some compatible servers answer.
        "sparse" => format!(
            r#"{{"id":"chatcmpl-sparse","created":1700000000,"model":"sparse","choices":[{{"index":0,"message":{{"role":"assistant","content":{content}}},"finish_reason":"stop"}}],"usage":{usage}}}"#
        ),
        // Complete, with a reasoning block (OpenRouter's shape).
        "reasoning-details" => format!(
            r#"{{"id":"chatcmpl-details","object":"chat.completion","created":1700000000,"model":"reasoning-details","choices":[{{"index":0,"message":{{"role":"assistant","content":{content},"refusal":null,"reasoning_details":[{{"type":"reasoning.text","text":"{REASONING}","format":"unknown"}}]}},"logprobs":null,"finish_reason":"stop"}}],"usage":{usage}}}"#
        ),
        _ => return None,
    };
    let mut r = Response::new(FakeBody::Full(Some(Bytes::from(body))));
    r.headers_mut().insert("content-type", "application/json".parse().expect("static header"));
    Some(r)
}

/// What the `reasoner` model thinks (as `reasoning_content`, the field compatible servers use).
const REASONING: &str = "Thinking it over.";

fn with_reasoning(model: &str, mut message: Value) -> Value {
    if model == "reasoner" {
        message["reasoning_content"] = json!(REASONING);
    }
    message
}

/// A field no Chat Completions server takes: sidegate's reasoning extensions (OpenAI answers
/// them with a 400).
fn foreign_field(body: &Value) -> Option<String> {
    if body.get("reasoning").is_some() {
        return Some("reasoning".into());
    }
    let msgs = body["messages"].as_array()?;
    msgs.iter()
        .enumerate()
        .find_map(|(i, m)| m.get("reasoning_details").map(|_| format!("messages[{i}].reasoning_details")))
}

/// The conversation's last message is a tool result: the model answers it.
fn in_tool_loop(body: &Value) -> bool {
    body["messages"].as_array().and_then(|m| m.last()).is_some_and(|m| m["role"] == "tool")
}

/// "Let me check." and one call per tool (`{"q": <last user text>}`), ending `stop` as some
/// compatible servers do (sidegate must still report a tool-call turn).
fn tool_call_answer(body: &Value, stream: bool, guard: CallGuard) -> Response<FakeBody> {
    let text = last_user_text(body);
    let calls: Vec<Value> = body["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(k, t)| {
            json!({"id": format!("call_fake{k:02}"), "type": "function",
                   "function": {"name": t["function"]["name"], "arguments": json!({"q": text}).to_string()}})
        })
        .collect();
    let usage = json!({"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12});
    let (id, created, model) = ("chatcmpl-fake", 1_700_000_000u64, body["model"].clone());
    if !stream {
        guard.finish();
        let message = json!({"role": "assistant", "content": "Let me check.", "refusal": null, "tool_calls": calls});
        return json_resp(
            200,
            &json!({"id": id, "object": "chat.completion", "created": created, "model": model,
                    "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": "stop"}], "usage": usage}),
        );
    }
    let chunk = |delta: Value, finish: Value| {
        let v = json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                       "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]});
        Some(Bytes::from(format!("data: {v}\n\n")))
    };
    let mut events = vec![
        chunk(json!({"role": "assistant", "content": ""}), Value::Null),
        chunk(json!({"content": "Let me "}), Value::Null),
        chunk(json!({"content": "check."}), Value::Null),
    ];
    for (k, c) in calls.iter().enumerate() {
        let args = c["function"]["arguments"].as_str().unwrap_or("{}");
        let cut = (0..=args.len() / 2).rev().find(|i| args.is_char_boundary(*i)).unwrap_or(0);
        events.push(chunk(
            json!({"tool_calls": [{"index": k, "id": c["id"], "type": "function",
                                   "function": {"name": c["function"]["name"], "arguments": ""}}]}),
            Value::Null,
        ));
        for part in [&args[..cut], &args[cut..]] {
            events.push(chunk(json!({"tool_calls": [{"index": k, "function": {"arguments": part}}]}), Value::Null));
        }
    }
    events.push(chunk(json!({}), json!("stop")));
    if body["stream_options"]["include_usage"] == true {
        let v = json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model, "choices": [], "usage": usage});
        events.push(Some(Bytes::from(format!("data: {v}\n\n"))));
    }
    events.push(Some(Bytes::from_static(b"data: [DONE]\n\n")));
    faults::sse_then(events, Duration::ZERO, guard, faults::StreamEnd::Close)
}

/// The answer's usage: the last user text's words in, the echo out; a prompt of 1024+ words
/// counts all its words, with the repeated prefix as `cached_tokens` (OpenAI's automatic
/// caching); `reasoning_effort` adds 5 reasoning tokens to the completion.
fn usage_of(body: &Value, text: &str, completion: u64, stats: &Stats) -> Value {
    let texts: Vec<&Value> = body["messages"].as_array().into_iter().flatten().map(|m| &m["content"]).collect();
    let words = crate::auto_cache::prompt_words(&texts);
    let (prompt, cached) = crate::auto_cache::lookup(&words, &stats.openai_cache)
        .unwrap_or((text.split_whitespace().count().max(1) as u64, 0));
    let reasoning = if body.get("reasoning_effort").is_some_and(|e| e != "none") { 5 } else { 0 };
    let completion = completion + reasoning;
    let mut u = json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion});
    if words.len() >= 1024 {
        u["prompt_tokens_details"] = json!({"cached_tokens": cached, "audio_tokens": 0});
    }
    if reasoning > 0 {
        u["completion_tokens_details"] = json!({"reasoning_tokens": reasoning, "audio_tokens": 0,
            "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0});
    }
    u
}
