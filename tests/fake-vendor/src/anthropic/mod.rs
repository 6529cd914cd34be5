//! The Anthropic-shaped fake: `POST /v1/messages`, checked as strictly as Anthropic (and
//! stricter Anthropic-compatible hosts) check it, so translation mistakes surface as the 400s
//! a real vendor would send. Behaviour by model name:
//!
//! | model              | behaviour |
//! |--------------------|-----------|
//! | anything else      | echoes the last user text (tool results as `results: …`) |
//! | `tool-call`        | with tools: "Let me check." + one `tool_use` per tool (parallel) |
//! | `max-tokens`, `refusal`, `stop-seq` | that stop_reason |
//! | `cache`            | usage with cache reads and writes |
//! | any, with `cache_control` breakpoints | usage as Anthropic's prompt cache counts it (`cache`) |
//! | `stream-overloaded`| stream: `message_start`, then an `overloaded_error` event |
//! | `thinking`, or `thinking` on | a `thinking` block (streamed as `thinking_delta` + `signature_delta`), signed with [`validate::SIGNATURE`], before the answer |
//! | `thinking-redacted`| a `redacted_thinking` block first |
//!
//! With thinking on, a replayed `thinking` block whose signature the fake did not mint is a
//! 400 (`Invalid \`signature\` in \`thinking\` block`), and so is a tool turn whose assistant
//! turn does not open with its thinking, a budget not below `max_tokens`, or a forced tool.
//! | faults             | `fail-500`, `fail-529`, `fail-429`, `quota-429`, `fail-401`, `bad-400`, `context-400`, `flaky-N`, `hang`, `slow-first`, `reset`, `malformed`, `truncate`, `stream-error`, `slow-stream` |
//!
//! `POST /v1/messages/count_tokens` answers `{"input_tokens": 1000 + <words of the last user
//! text>}` (1000 so a test can tell the vendor's count from sidegate's estimate). The checks
//! are [`validate`].
//!
//! A forced `tool_choice: {type: "tool"}` is always obeyed: the answer is that tool's call
//! with input `{"answer": <last user text>}` (how sidegate's JSON mode is exercised).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::Response;
use serde_json::{Value, json};

pub mod cache;
mod validate;

use validate::validate;

use crate::faults::{self, ErrKind};
use crate::{CallGuard, FakeBody, Stats, json_resp};

fn error(status: u16, kind: &str, message: &str) -> Response<FakeBody> {
    json_resp(status, &json!({"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_fake"}))
}

fn render(e: ErrKind) -> Response<FakeBody> {
    match e {
        ErrKind::Server(s) => error(s, "api_error", "Internal server error"),
        ErrKind::Overloaded => error(529, "overloaded_error", "Overloaded"),
        ErrKind::RateLimit(with_retry) => {
            let mut r =
                error(429, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit");
            if with_retry {
                r.headers_mut().insert("retry-after", "1".parse().expect("static header"));
            }
            r
        }
        ErrKind::Quota => error(400, "billing_error", "Your credit balance is too low to access the Anthropic API."),
        ErrKind::Auth => error(401, "authentication_error", "invalid x-api-key"),
        ErrKind::Invalid => error(400, "invalid_request_error", "temperature: Input should be less than or equal to 1"),
        ErrKind::Context => error(400, "invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"),
    }
}

/// The last user turn's text, or its tool results as `results: a; b`.
fn last_user_text(body: &Value) -> String {
    let Some(m) = body["messages"].as_array().and_then(|a| a.iter().rev().find(|m| m["role"] == "user")) else {
        return String::new();
    };
    let blocks = match &m["content"] {
        Value::String(s) => return s.clone(),
        Value::Array(a) => a,
        _ => return String::new(),
    };
    let results: Vec<String> = blocks
        .iter()
        .filter(|b| b["type"] == "tool_result")
        .map(|b| match &b["content"] {
            Value::String(s) => s.clone(),
            Value::Array(a) => a.iter().filter_map(|x| x["text"].as_str()).collect(),
            _ => String::new(),
        })
        .collect();
    let text: String = blocks.iter().filter_map(|b| b["text"].as_str()).collect();
    if results.is_empty() { text } else { format!("results: {}", results.join("; ")) }
}

struct Answer {
    blocks: Vec<Value>,
    stop_reason: &'static str,
    stop_sequence: Value,
    usage: Value,
}

fn answer(model: &str, body: &Value) -> Answer {
    let text = last_user_text(body);
    let input_tokens = text.split_whitespace().count().max(1) as u64;
    let mut usage = json!({"input_tokens": input_tokens, "output_tokens": faults::words(&text).len().max(1)});
    if model == "cache" {
        usage["cache_creation_input_tokens"] = json!(100);
        usage["cache_read_input_tokens"] = json!(2048);
    }
    let mut stop_sequence = Value::Null;
    let forced = (body["tool_choice"]["type"] == "tool").then(|| body["tool_choice"]["name"].as_str()).flatten();
    let in_tool_loop = text.starts_with("results: ");
    let (blocks, stop_reason) = if let Some(name) = forced {
        (vec![json!({"type": "tool_use", "id": "toolu_forced01", "name": name, "input": {"answer": text}})], "tool_use")
    } else if model == "tool-call" && !in_tool_loop && body["tools"].as_array().is_some_and(|t| !t.is_empty()) {
        let mut blocks = vec![json!({"type": "text", "text": "Let me check."})];
        for (k, t) in body["tools"].as_array().into_iter().flatten().enumerate() {
            let no_args = t["input_schema"]["properties"].as_object().is_none_or(|p| p.is_empty());
            let input = if no_args { json!({}) } else { json!({"q": text}) };
            blocks.push(
                json!({"type": "tool_use", "id": format!("toolu_fake{k:02}"), "name": t["name"], "input": input}),
            );
        }
        (blocks, "tool_use")
    } else {
        let reason = match model {
            "max-tokens" => "max_tokens",
            "refusal" => "refusal",
            "stop-seq" => {
                stop_sequence = body["stop_sequences"][0].clone();
                "stop_sequence"
            }
            _ => "end_turn",
        };
        (vec![json!({"type": "text", "text": if text.is_empty() { "(empty)".to_string() } else { text }})], reason)
    };
    let mut blocks = blocks;
    if model == "thinking" || validate::thinking_on(body) {
        let thought =
            json!({"type": "thinking", "thinking": "Let me think about it.", "signature": validate::SIGNATURE});
        blocks.insert(0, thought);
    }
    if model == "thinking-redacted" {
        blocks.insert(0, json!({"type": "redacted_thinking", "data": validate::REDACTED}));
    }
    Answer { blocks, stop_reason, stop_sequence, usage }
}

/// `POST /v1/messages/count_tokens`: the same header and message checks as a call, without
/// `max_tokens` (which the endpoint does not take).
pub fn count_tokens(body: &Value, headers: &Value, guard: CallGuard) -> Response<FakeBody> {
    guard.finish();
    let mut as_call = body.clone();
    if body.get("max_tokens").is_some() || body.get("stream").is_some() {
        return error(400, "invalid_request_error", "max_tokens: Extra inputs are not permitted");
    }
    as_call["max_tokens"] = json!(1_000_000);
    if let Err((status, kind, message)) = validate(headers, &as_call) {
        return error(status, kind, &message);
    }
    let words = last_user_text(body).split_whitespace().count() as u64;
    json_resp(200, &json!({"input_tokens": 1000 + words}))
}

fn event(kind: &str, data: Value) -> Option<Bytes> {
    Some(Bytes::from(format!("event: {kind}\ndata: {data}\n\n")))
}

pub async fn messages(body: Value, headers: &Value, guard: CallGuard, stats: &Arc<Stats>) -> Response<FakeBody> {
    let model = body["model"].as_str().unwrap_or("").to_string();
    let guard = match faults::before_answer(&model, stats, guard, render).await {
        Ok(guard) => guard,
        Err(r) => return r,
    };
    if let Err((status, kind, message)) = validate(headers, &body) {
        guard.finish();
        return error(status, kind, &message);
    }
    let mut a = answer(&model, &body);
    match cache::usage(&body, &stats.anthropic_cache) {
        Err(message) => {
            guard.finish();
            return error(400, "invalid_request_error", &message);
        }
        Ok(Some(fields)) => {
            for (k, v) in fields.as_object().into_iter().flatten() {
                a.usage[k] = v.clone();
            }
        }
        Ok(None) => {}
    }
    let id = "msg_fake01";
    if body["stream"] != true {
        guard.finish();
        if model == "malformed" {
            return crate::raw_json(b"{\"id\": \"msg\", \"content\": [tru");
        }
        return json_resp(
            200,
            &json!({"id": id, "type": "message", "role": "assistant", "model": model, "content": a.blocks,
                    "stop_reason": a.stop_reason, "stop_sequence": a.stop_sequence, "usage": a.usage}),
        );
    }
    let mut start_usage = a.usage.clone();
    start_usage["output_tokens"] = json!(1);
    let mut events = vec![
        event(
            "message_start",
            json!({"type": "message_start", "message": {"id": id, "type": "message", "role": "assistant",
            "content": [], "model": model, "stop_reason": null, "stop_sequence": null, "usage": start_usage}}),
        ),
        event("ping", json!({"type": "ping"})),
    ];
    let mut interval = Duration::ZERO;
    match model.as_str() {
        "stream-overloaded" => {
            events.push(event(
                "error",
                json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
            ));
            return faults::sse(events, interval, guard);
        }
        "malformed" => {
            events.push(Some(Bytes::from_static(
                b"event: content_block_start\ndata: {\"type\": \"content_block_start\", [tru\n\n",
            )));
            return faults::sse(events, interval, guard);
        }
        "slow-stream" => interval = Duration::from_millis(50),
        _ => {}
    }
    for (index, b) in a.blocks.iter().enumerate() {
        match b["type"].as_str() {
            Some("text") => {
                let text = b["text"].as_str().unwrap_or("");
                events.push(event("content_block_start", json!({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}})));
                let words: Vec<String> = if model == "slow-stream" {
                    (0..200).map(|i| format!("tick{i} ")).collect()
                } else {
                    faults::words(text)
                };
                for (k, w) in words.iter().enumerate() {
                    events.push(event("content_block_delta", json!({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": w}})));
                    if k == 0 && model == "truncate" {
                        events.push(None);
                        return faults::sse(events, interval, guard);
                    }
                    if k == 0 && model == "stream-error" {
                        events.push(event(
                            "error",
                            json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
                        ));
                        return faults::sse(events, interval, guard);
                    }
                }
                events.push(event("content_block_stop", json!({"type": "content_block_stop", "index": index})));
            }
            Some("thinking") => {
                events.push(event(
                    "content_block_start",
                    json!({"type": "content_block_start", "index": index,
                    "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
                ));
                for w in faults::words(b["thinking"].as_str().unwrap_or("")) {
                    events.push(event(
                        "content_block_delta",
                        json!({"type": "content_block_delta", "index": index,
                        "delta": {"type": "thinking_delta", "thinking": w}}),
                    ));
                }
                events.push(event(
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": index,
                    "delta": {"type": "signature_delta", "signature": b["signature"]}}),
                ));
                events.push(event("content_block_stop", json!({"type": "content_block_stop", "index": index})));
            }
            Some("redacted_thinking") => {
                events.push(event(
                    "content_block_start",
                    json!({"type": "content_block_start", "index": index, "content_block": b}),
                ));
                events.push(event("content_block_stop", json!({"type": "content_block_stop", "index": index})));
            }
            Some("tool_use") => {
                events.push(event(
                    "content_block_start",
                    json!({"type": "content_block_start", "index": index,
                    "content_block": {"type": "tool_use", "id": b["id"], "name": b["name"], "input": {}}}),
                ));
                let args = b["input"].to_string();
                if args != "{}" {
                    // Fragments split mid-token, as Anthropic sends them.
                    let cut = args.len() / 2;
                    let cut = (0..=cut).rev().find(|c| args.is_char_boundary(*c)).unwrap_or(0);
                    for part in [&args[..cut], &args[cut..]] {
                        events.push(event(
                            "content_block_delta",
                            json!({"type": "content_block_delta", "index": index,
                            "delta": {"type": "input_json_delta", "partial_json": part}}),
                        ));
                    }
                }
                events.push(event("content_block_stop", json!({"type": "content_block_stop", "index": index})));
            }
            _ => {}
        }
    }
    events.push(event(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": a.stop_reason, "stop_sequence": a.stop_sequence},
        "usage": {"output_tokens": a.usage["output_tokens"]}}),
    ));
    events.push(event("message_stop", json!({"type": "message_stop"})));
    faults::sse(events, interval, guard)
}
