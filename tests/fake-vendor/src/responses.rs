//! The OpenAI Responses-API fake: `POST /v1/responses` (and Azure's `/openai/v1/responses`,
//! `/openai/responses?api-version=…`), checked as the real API checks a request (unknown
//! top-level fields, `input` item shapes, flat function tools, `tool_choice`, ranges such as
//! `max_output_tokens >= 16`), answered with OpenAI's `Response` object, and streamed as the
//! real event sequence with `sequence_number`s. Each response has an id of its own
//! (`resp_fake01_<n>`, the same in every event of its stream). Behaviour by model name:
//!
//! | model            | behaviour |
//! |------------------|-----------|
//! | anything else    | echoes the last user text (function call outputs as `results: …`) |
//! | `tool-call`      | with tools: "Let me check." + one `function_call` per tool (parallel) |
//! | `reasoning`      | a `reasoning` item first (its summary with `reasoning.summary`, `encrypted_content` when `include`d), 7 reasoning tokens |
//! | `cache`          | usage with 2048 cached input tokens |
//! | `max-tokens`     | `status: incomplete`, reason `max_output_tokens` |
//! | `refusal`        | a `refusal` content part |
//! | `empty`          | `status: completed` with no output items |
//! | `stream-failed`  | stream: `response.created`, `response.in_progress`, then `response.failed` |
//! | faults           | `fail-500`, `fail-502`, `fail-503`, `fail-529`, `fail-429` (`retry-after: 1`), `fail-429-bare`, `quota-429`, `fail-401`, `bad-400`, `context-400`, `flaky-N`, `hang`, `slow-first`, `reset`, `malformed`, `truncate` (cut after the first delta), `stream-error` (an `error` event after the first delta), `stall`, `slow-stream` |
//!
//! `tool_choice: "required"` is obeyed like `tool-call`; a forced `{type: "function", name}`
//! answers that tool's call with arguments `{"answer": <last user text>}`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::Response;
use serde_json::{Value, json};

use crate::faults::{self, ErrKind};
use crate::{CallGuard, FakeBody, Stats, error_resp, json_resp};

mod validate;

const ID: &str = "fake01";
/// Numbers the responses: each gets an id of its own, as OpenAI mints them.
static RESPONSES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn next_response_id() -> String {
    format!("resp_{ID}_{}", RESPONSES.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}
const CREATED: u64 = 1_700_000_000;

fn render(e: ErrKind) -> Response<FakeBody> {
    match e {
        ErrKind::Server(s) => {
            error_resp(s, "server_error", "server_error", &format!("The server had an error (fake {s})"))
        }
        ErrKind::Overloaded => {
            error_resp(503, "server_error", "server_error", "The server is overloaded or not ready yet.")
        }
        ErrKind::RateLimit(with_retry) => {
            let mut r = error_resp(429, "requests", "rate_limit_exceeded", "Rate limit reached for requests");
            if with_retry {
                r.headers_mut().insert("retry-after", "1".parse().expect("static header"));
            }
            r
        }
        ErrKind::Quota => {
            error_resp(429, "insufficient_quota", "insufficient_quota", "You exceeded your current quota")
        }
        ErrKind::Auth => error_resp(401, "invalid_request_error", "invalid_api_key", "Incorrect API key provided"),
        ErrKind::Invalid => {
            error_resp(400, "invalid_request_error", "invalid_value", "Invalid value for 'temperature'")
        }
        ErrKind::Context => error_resp(
            400,
            "invalid_request_error",
            "context_length_exceeded",
            "Your input exceeds the context window of this model.",
        ),
    }
}

/// The last user text, or the function call outputs after it as `results: a; b`.
fn last_user_text(body: &Value) -> String {
    let items = match &body["input"] {
        Value::String(s) => return s.clone(),
        Value::Array(a) => a,
        _ => return String::new(),
    };
    let tail: Vec<&Value> =
        items.iter().rev().take_while(|i| i["type"] != "message" && i.get("role").is_none()).collect();
    let results: Vec<String> = tail
        .iter()
        .rev()
        .filter(|i| i["type"] == "function_call_output")
        .map(|i| match &i["output"] {
            Value::String(s) => s.clone(),
            Value::Array(a) => a.iter().filter_map(|p| p["text"].as_str()).collect(),
            _ => String::new(),
        })
        .collect();
    if !results.is_empty() {
        return format!("results: {}", results.join("; "));
    }
    let Some(m) = items.iter().rev().find(|i| i["role"] == "user") else { return String::new() };
    match &m["content"] {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect(),
        _ => String::new(),
    }
}

/// The output items (complete), the status and the usage of the answer.
struct Answer {
    output: Vec<Value>,
    incomplete: bool,
    usage: Value,
}

/// The `encrypted_content` the fake mints (with `include: ["reasoning.encrypted_content"]`)
/// and the only one it accepts back.
pub(crate) const ENCRYPTED: &str = "gAAAAABfake-encrypted-reasoning";

fn answer(model: &str, body: &Value) -> Answer {
    let text = last_user_text(body);
    let tools: Vec<&Value> =
        body["tools"].as_array().into_iter().flatten().filter(|t| t["type"] == "function").collect();
    let choice = &body["tool_choice"];
    let forced = (choice["type"] == "function").then(|| choice["name"].as_str()).flatten();
    let wants_calls = (model == "tool-call" && choice != "none") || choice == "required";
    let mut output = Vec::new();
    if model == "reasoning" {
        let mut item = json!({"type": "reasoning", "id": format!("rs_{ID}"), "summary": []});
        if !body["reasoning"]["summary"].is_null() {
            item["summary"] = json!([{"type": "summary_text", "text": "Weighing it."}]);
        }
        let include = body["include"].as_array().into_iter().flatten();
        if include.into_iter().any(|i| i == "reasoning.encrypted_content") {
            item["encrypted_content"] = json!(ENCRYPTED);
        }
        output.push(item);
    }
    let message = |part: Value| json!({"type": "message", "id": format!("msg_{ID}"), "status": "completed", "role": "assistant", "content": [part]});
    let text_part = |t: &str| json!({"type": "output_text", "annotations": [], "logprobs": [], "text": t});
    let call = |k: usize, name: &Value, args: Value| {
        json!({"type": "function_call", "id": format!("fc_{ID}_{k}"), "call_id": format!("call_{ID}_{k}"),
               "name": name, "arguments": args.to_string(), "status": "completed"})
    };
    if let Some(name) = forced {
        output.push(call(0, &json!(name), json!({"answer": text})));
    } else if wants_calls && !tools.is_empty() && !text.starts_with("results: ") {
        output.push(message(text_part("Let me check.")));
        for (k, t) in tools.iter().enumerate() {
            let no_args = t["parameters"]["properties"].as_object().is_none_or(|p| p.is_empty());
            output.push(call(k, &t["name"], if no_args { json!({}) } else { json!({"q": text}) }));
        }
    } else if model == "refusal" {
        output.push(message(json!({"type": "refusal", "refusal": "I can't help with that."})));
    } else if model != "empty" {
        output.push(message(text_part(if text.is_empty() { "(empty)" } else { &text })));
    }
    let input_tokens = text.split_whitespace().count().max(1) as u64;
    let reasoning = if model == "reasoning" { 7 } else { 0 };
    let output_tokens = faults::words(&text).len().max(1) as u64 + reasoning;
    let cached = if model == "cache" { 2048 } else { 0 };
    let usage = json!({"input_tokens": input_tokens + cached, "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": 0},
        "output_tokens": output_tokens, "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": input_tokens + cached + output_tokens});
    Answer { output, incomplete: model == "max-tokens", usage }
}

/// The `Response` object `id`: the request's settings echoed, `output` and `usage` as given.
fn response_object(id: &str, body: &Value, model: &str, status: &str, output: Value, usage: Value) -> Value {
    let or = |k: &str, d: Value| body.get(k).filter(|v| !v.is_null()).cloned().unwrap_or(d);
    let incomplete = (status == "incomplete").then(|| json!({"reason": "max_output_tokens"}));
    let completed_at = (status == "completed").then_some(CREATED + 1);
    let mut r = json!({
        "id": id, "object": "response", "created_at": CREATED, "status": status,
        "background": false, "completed_at": completed_at, "error": null, "incomplete_details": incomplete,
        "instructions": or("instructions", Value::Null), "max_output_tokens": or("max_output_tokens", Value::Null),
        "max_tool_calls": null, "model": model, "output": output,
        "parallel_tool_calls": or("parallel_tool_calls", json!(true)),
        "previous_response_id": or("previous_response_id", Value::Null),
        "reasoning": or("reasoning", json!({"effort": null, "summary": null})),
        "service_tier": "default", "store": or("store", json!(true)), "temperature": or("temperature", json!(1.0)),
        "text": or("text", json!({"format": {"type": "text"}, "verbosity": "medium"})),
        "tool_choice": or("tool_choice", json!("auto")), "tools": or("tools", json!([])),
        "top_logprobs": 0, "top_p": or("top_p", json!(1.0)), "truncation": "disabled",
        "usage": usage, "metadata": or("metadata", json!({})),
    });
    // `user` is a string when given and absent otherwise, as `usage` is before the end (the
    // schema has no null for either)
    if let Some(user) = body.get("user").filter(|u| u.is_string()) {
        r["user"] = user.clone();
    }
    if r["usage"].is_null()
        && let Some(o) = r.as_object_mut()
    {
        o.remove("usage");
    }
    // function tools come back with `strict` (the Responses API's default is true)
    for t in r["tools"].as_array_mut().into_iter().flatten() {
        if t["type"] == "function" && t.get("strict").is_none_or(Value::is_null) {
            t["strict"] = json!(true);
        }
    }
    r
}

pub async fn create(body: Value, has_key: bool, guard: CallGuard, stats: &Arc<Stats>) -> Response<FakeBody> {
    if !has_key {
        guard.finish();
        return error_resp(401, "invalid_request_error", "missing_api_key", "You didn't provide an API key.");
    }
    let model = body["model"].as_str().unwrap_or("").split('#').next().unwrap_or("").to_string();
    let guard = match faults::before_answer(&model, stats, guard, render).await {
        Ok(g) => g,
        Err(r) => return r,
    };
    if let Err(e) = validate::request(&body) {
        guard.finish();
        let err = json!({"message": e.message, "type": "invalid_request_error", "param": e.param, "code": e.code});
        return json_resp(400, &json!({"error": err}));
    }
    let a = answer(&model, &body);
    let status = if a.incomplete { "incomplete" } else { "completed" };
    if body["stream"] != true {
        guard.finish();
        if model == "malformed" {
            return crate::raw_json(b"{\"id\": \"resp_x\", \"output\": [tru");
        }
        return json_resp(200, &response_object(&next_response_id(), &body, &model, status, json!(a.output), a.usage));
    }
    stream(&body, &model, a, guard)
}

/// Numbers and frames events in order.
struct Events {
    frames: Vec<Option<Bytes>>,
    seq: u64,
}

impl Events {
    fn push(&mut self, kind: &str, mut data: Value) {
        data["type"] = json!(kind);
        data["sequence_number"] = json!(self.seq);
        self.seq += 1;
        self.frames.push(Some(Bytes::from(format!("event: {kind}\ndata: {data}\n\n"))));
    }
}

/// What a stream fault does once the first delta went out; None: the stream goes on.
fn after_first_delta(model: &str, ev: &mut Events) -> Option<faults::StreamEnd> {
    match model {
        "truncate" => ev.frames.push(None),
        "stream-error" => ev.push(
            "error",
            json!({"code": "server_error", "message": "The server had an error while processing your request", "param": null}),
        ),
        "stall" => return Some(faults::StreamEnd::Stall),
        _ => return None,
    }
    Some(faults::StreamEnd::Close)
}

fn stream(body: &Value, model: &str, a: Answer, guard: CallGuard) -> Response<FakeBody> {
    let mut ev = Events { frames: Vec::new(), seq: 0 };
    let id = next_response_id();
    let snapshot = |status: &str, output: Value, usage: Value| response_object(&id, body, model, status, output, usage);
    ev.push("response.created", json!({"response": snapshot("in_progress", json!([]), Value::Null)}));
    ev.push("response.in_progress", json!({"response": snapshot("in_progress", json!([]), Value::Null)}));
    let mut interval = Duration::ZERO;
    match model {
        "malformed" => {
            ev.frames.push(Some(Bytes::from_static(
                b"event: response.output_item.added\ndata: {\"type\": \"response.output_item.added\", [tru\n\n",
            )));
            return faults::sse(ev.frames, interval, guard);
        }
        "stream-failed" => {
            let mut r = snapshot("failed", json!([]), Value::Null);
            r["error"] = json!({"code": "server_error", "message": "The model failed to generate a response."});
            ev.push("response.failed", json!({"response": r}));
            return faults::sse(ev.frames, interval, guard);
        }
        "slow-stream" => interval = Duration::from_millis(50),
        _ => {}
    }
    let mut first_delta = true;
    for (i, item) in a.output.iter().enumerate() {
        let id = item["id"].clone();
        let mut added = item.clone();
        match item["type"].as_str() {
            Some("message") => {
                added["content"] = json!([]);
                added["status"] = json!("in_progress");
            }
            Some("function_call") => {
                added["arguments"] = json!("");
                added["status"] = json!("in_progress");
            }
            _ => {}
        }
        ev.push("response.output_item.added", json!({"output_index": i, "item": added}));
        for (c, part) in item["content"].as_array().into_iter().flatten().enumerate() {
            let at = json!({"item_id": id, "output_index": i, "content_index": c});
            let (kind, field) =
                if part["type"] == "refusal" { ("refusal", "refusal") } else { ("output_text", "text") };
            let mut empty = part.clone();
            empty[field] = json!("");
            ev.push("response.content_part.added", merge(&at, json!({"part": empty})));
            let whole = part[field].as_str().unwrap_or("");
            let pieces: Vec<String> = if model == "slow-stream" {
                (0..200).map(|k| format!("tick{k} ")).collect()
            } else {
                faults::words(whole)
            };
            for w in pieces {
                let mut d = merge(&at, json!({"delta": w}));
                if kind == "output_text" {
                    d["logprobs"] = json!([]);
                }
                ev.push(&format!("response.{kind}.delta"), d);
                if std::mem::take(&mut first_delta)
                    && let Some(end) = after_first_delta(model, &mut ev)
                {
                    return faults::sse_then(ev.frames, interval, guard, end);
                }
            }
            let mut done = merge(&at, json!({field: whole}));
            if kind == "output_text" {
                done["logprobs"] = json!([]);
            }
            ev.push(&format!("response.{kind}.done"), done);
            ev.push("response.content_part.done", merge(&at, json!({"part": part})));
        }
        if item["type"] == "function_call" {
            let args = item["arguments"].as_str().unwrap_or("");
            // Fragments split mid-token, as OpenAI sends them.
            let cut = (0..=args.len() / 2).rev().find(|c| args.is_char_boundary(*c)).unwrap_or(0);
            for part in [&args[..cut], &args[cut..]] {
                ev.push(
                    "response.function_call_arguments.delta",
                    json!({"item_id": id, "output_index": i, "delta": part, "obfuscation": "fake"}),
                );
            }
            ev.push(
                "response.function_call_arguments.done",
                json!({"item_id": id, "output_index": i, "name": item["name"], "arguments": args}),
            );
        }
        ev.push("response.output_item.done", json!({"output_index": i, "item": item}));
    }
    let (kind, status) =
        if a.incomplete { ("response.incomplete", "incomplete") } else { ("response.completed", "completed") };
    ev.push(kind, json!({"response": snapshot(status, json!(a.output), a.usage)}));
    faults::sse(ev.frames, interval, guard)
}

fn merge(a: &Value, b: Value) -> Value {
    let mut out = a.clone();
    if let (Some(o), Value::Object(extra)) = (out.as_object_mut(), b) {
        o.extend(extra);
    }
    out
}
