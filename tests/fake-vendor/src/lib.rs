//! A fake OpenAI-shaped vendor on loopback for sidegate's tests and benchmarks: the real wire
//! format (JSON, SSE with `data: [DONE]`, OpenAI error bodies, `retry-after`), and every way
//! a real vendor fails, picked by the request's `model`:
//!
//! | model            | behaviour |
//! |------------------|-----------|
//! | anything else    | answers with the last user message (streamed word by word) |
//! | `fail-500`, `fail-502`, `fail-503`, `fail-529` | that status, OpenAI error body |
//! | `fail-429`       | 429 `rate_limit_exceeded`, `retry-after: 1` |
//! | `quota-429`      | 429 `insufficient_quota` |
//! | `fail-401`       | 401 `invalid_api_key` |
//! | `bad-400`        | 400 `invalid_request_error` |
//! | `context-400`    | 400 `context_length_exceeded` |
//! | `flaky-N`        | 500 for the first N calls with that model, then answers |
//! | `slow-stream`    | one chunk every 50 ms for 10 s |
//! | `slow-first`     | waits 3 s before answering |
//! | `hang`           | never answers |
//! | `malformed`      | 200 with invalid JSON (or an invalid SSE chunk) |
//! | `truncate`       | stream: two chunks, then the connection is cut (no `[DONE]`) |
//! | `stream-error`   | stream: one chunk, then an in-band `data: {"error": ...}` |
//! | `reset`          | connection closed without a response |
//! | `fail-429-bare`  | 429 `rate_limit_exceeded` without `retry-after` |
//! | `stall`          | stream: one chunk, then silence with the connection open |
//! | `tool-call`      | with tools: "Let me check." and one call per tool, `finish_reason: "stop"` (as some compatible servers say) |
//!
//! The same server also speaks Anthropic (`POST /v1/messages`, module `anthropic`), Gemini
//! (`/v1beta/models/{model}:…`, module `gemini`), OpenAI's Responses API (`POST /v1/responses`,
//! module `responses`) and Azure OpenAI deployment URLs
//! (`/openai/deployments/{deployment}/…`, the deployment picks the behaviour), each with the
//! same fault vocabulary rendered in that vendor's error format (`faults`).
//!
//! Anything after a `#` in the model name is ignored (`fail-500#2` acts as `fail-500`), so
//! tests can make distinct deployments with the same behaviour.
//!
//! `GET /_fake/stats` returns `{"calls", "completed", "aborted"}`; `aborted` counts calls
//! whose client went away before the answer was finished. `GET /_fake/last` returns the last
//! request's path, query, body, `authorization` header and vendor auth headers (`headers`).

mod anthropic;
mod faults;
mod gemini;
mod responses;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

#[derive(Default)]
pub struct Stats {
    pub calls: AtomicU64,
    pub completed: AtomicU64,
    pub aborted: AtomicU64,
    flaky: Mutex<HashMap<String, u64>>,
    last: Mutex<Value>,
    /// While set, every chat call gets a 503 (for flapping-vendor tests).
    down: std::sync::atomic::AtomicBool,
}

impl Stats {
    /// Takes the whole vendor down (503 on every chat call) or back up.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }
}

/// A running fake vendor. Dropping it stops accepting connections.
pub struct FakeVendor {
    pub addr: SocketAddr,
    pub stats: Arc<Stats>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeVendor {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeVendor {
    /// Starts on `127.0.0.1:port` (0 = any free port).
    pub async fn start_on(port: u16) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let stats = Arc::new(Stats::default());
        let st = stats.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    continue;
                };
                let _ = sock.set_nodelay(true);
                let st = st.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let st = st.clone();
                        async move { Ok::<_, Infallible>(handle(req, st).await) }
                    });
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(sock), svc).await;
                });
            }
        });
        Ok(FakeVendor { addr, stats, task })
    }

    pub async fn start() -> std::io::Result<Self> {
        Self::start_on(0).await
    }

    /// Base URL in OpenAI SDK convention (with `/v1`).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn calls(&self) -> u64 {
        self.stats.calls.load(Ordering::SeqCst)
    }
    pub fn aborted(&self) -> u64 {
        self.stats.aborted.load(Ordering::SeqCst)
    }
    pub fn completed(&self) -> u64 {
        self.stats.completed.load(Ordering::SeqCst)
    }
    pub fn last_request(&self) -> Value {
        self.stats.last.lock().map(|v| v.clone()).unwrap_or(Value::Null)
    }
}

/// Counts a call as aborted unless it was marked finished before being dropped.
struct CallGuard {
    stats: Arc<Stats>,
    finished: bool,
}

impl CallGuard {
    fn finish(mut self) {
        self.finished = true;
        self.stats.completed.fetch_add(1, Ordering::SeqCst);
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        if !self.finished {
            self.stats.aborted.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// Response body: whole, or frames from a channel (SSE); a `None` item cuts the connection.
pub enum FakeBody {
    Full(Option<Bytes>),
    Chan(mpsc::Receiver<Option<Bytes>>),
}

impl Body for FakeBody {
    type Data = Bytes;
    type Error = std::io::Error;
    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.get_mut() {
            FakeBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            FakeBody::Chan(rx) => match rx.poll_recv(cx) {
                Poll::Ready(Some(Some(b))) => Poll::Ready(Some(Ok(Frame::data(b)))),
                Poll::Ready(Some(None)) => Poll::Ready(Some(Err(std::io::Error::other("cut")))),
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            },
        }
    }
    fn size_hint(&self) -> SizeHint {
        match self {
            FakeBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            _ => SizeHint::default(),
        }
    }
}

fn json_resp(status: u16, v: &Value) -> Response<FakeBody> {
    let mut r = Response::new(FakeBody::Full(Some(Bytes::from(v.to_string()))));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert("content-type", "application/json".parse().expect("static header"));
    r
}

/// A 200 whose body is not the JSON it claims to be (the `malformed` fault).
fn raw_json(bytes: &'static [u8]) -> Response<FakeBody> {
    let mut r = Response::new(FakeBody::Full(Some(Bytes::from_static(bytes))));
    r.headers_mut().insert("content-type", "application/json".parse().expect("static header"));
    r
}

fn error_resp(status: u16, kind: &str, code: &str, message: &str) -> Response<FakeBody> {
    json_resp(status, &json!({"error": {"message": message, "type": kind, "param": null, "code": code}}))
}

async fn handle(req: Request<Incoming>, stats: Arc<Stats>) -> Response<FakeBody> {
    let path = req.uri().path().to_string();
    match path.as_str() {
        "/_fake/stats" => {
            return json_resp(
                200,
                &json!({
                    "calls": stats.calls.load(Ordering::SeqCst),
                    "completed": stats.completed.load(Ordering::SeqCst),
                    "aborted": stats.aborted.load(Ordering::SeqCst),
                }),
            );
        }
        "/_fake/last" => {
            return json_resp(200, &stats.last.lock().map(|v| v.clone()).unwrap_or(Value::Null));
        }
        "/v1/models" => {
            return json_resp(
                200,
                &json!({"object": "list", "data": [{"id": "fake-model", "object": "model", "created": 0, "owned_by": "fake"}]}),
            );
        }
        _ => {}
    }
    let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok()).map(str::to_string);
    let query = req.uri().query().map(str::to_string);
    let mut headers = serde_json::Map::new();
    for name in ["x-api-key", "anthropic-version", "anthropic-beta", "x-goog-api-key", "api-key"] {
        if let Some(v) = req.headers().get(name).and_then(|v| v.to_str().ok()) {
            headers.insert(name.into(), Value::String(v.to_string()));
        }
    }
    let headers = Value::Object(headers);
    let Ok(body) = req.into_body().collect().await else {
        return error_resp(400, "invalid_request_error", "bad_body", "could not read body");
    };
    let body: Value = match serde_json::from_slice(&body.to_bytes()) {
        Ok(v) => v,
        Err(e) => {
            return error_resp(400, "invalid_request_error", "invalid_json", &format!("invalid JSON: {e}"));
        }
    };
    stats.calls.fetch_add(1, Ordering::SeqCst);
    if let Ok(mut last) = stats.last.lock() {
        *last = json!({"path": path, "query": query, "body": body, "authorization": auth, "headers": headers});
    }
    let guard = CallGuard { stats: stats.clone(), finished: false };
    match path.as_str() {
        "/v1/chat/completions" | "/openai/v1/chat/completions" => chat(body, guard, &stats).await,
        "/v1/messages" => anthropic::messages(body, &headers, guard, &stats).await,
        "/v1/responses" | "/openai/v1/responses" | "/openai/responses" => {
            let has_key =
                auth.as_deref().is_some_and(|a| a.len() > "Bearer ".len()) || headers.get("api-key").is_some();
            responses::create(body, has_key, guard, &stats).await
        }
        "/v1/messages/count_tokens" => anthropic::count_tokens(&body, &headers, guard),
        p if p.starts_with("/v1beta/models/") => {
            gemini::handle(p, query.as_deref(), body, &headers, guard, &stats).await
        }
        p if p.starts_with("/openai/deployments/") && p.ends_with("/chat/completions") => {
            // Azure ignores the body's model: the deployment in the path picks the behaviour.
            let mut body = body;
            let dep = p["/openai/deployments/".len()..].trim_end_matches("/chat/completions");
            body["model"] = Value::String(dep.to_string());
            chat(body, guard, &stats).await
        }
        p if p == "/v1/embeddings" || (p.starts_with("/openai/") && p.ends_with("/embeddings")) => {
            let n = body["input"].as_array().map_or(1, Vec::len);
            let data: Vec<Value> =
                (0..n).map(|i| json!({"object": "embedding", "index": i, "embedding": [0.1, 0.2, i as f64]})).collect();
            guard.finish();
            json_resp(
                200,
                &json!({"object": "list", "model": body["model"], "data": data, "usage": {"prompt_tokens": n, "total_tokens": n}}),
            )
        }
        _ => {
            guard.finish();
            error_resp(404, "invalid_request_error", "unknown_url", &format!("Unknown request URL: {path}"))
        }
    }
}

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

async fn chat(body: Value, guard: CallGuard, stats: &Arc<Stats>) -> Response<FakeBody> {
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
    if model == "tool-call" && body["tools"].as_array().is_some_and(|t| !t.is_empty()) && !in_tool_loop(&body) {
        return tool_call_answer(&body, stream, guard);
    }
    let text = last_user_text(&body);
    let id = "chatcmpl-fake";
    let prompt_tokens = text.split_whitespace().count().max(1) as u64;
    let words: Vec<String> = text.split_inclusive(char::is_whitespace).map(str::to_string).collect();
    let usage = json!({"prompt_tokens": prompt_tokens, "completion_tokens": words.len(), "total_tokens": prompt_tokens + words.len() as u64});
    if !stream {
        if model == "malformed" {
            guard.finish();
            let mut r = Response::new(FakeBody::Full(Some(Bytes::from_static(b"{\"id\": \"x\", \"choices\": [tru"))));
            r.headers_mut().insert("content-type", "application/json".parse().expect("static header"));
            return r;
        }
        guard.finish();
        return json_resp(
            200,
            &json!({
                "id": id, "object": "chat.completion", "created": 1_700_000_000u64, "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": null}, "logprobs": null, "finish_reason": "stop"}],
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
        "malformed" => {
            events.clear();
            events.push(Some(Bytes::from_static(b"data: {\"id\": \"x\", \"choices\": [tru\n\n")));
        }
        _ => {}
    }
    let normal = !matches!(model.as_str(), "truncate" | "stream-error" | "malformed" | "stall");
    let stall = model == "stall";
    if normal {
        events.extend(words.iter().map(|w| Some(chunk(json!({"content": w}), Value::Null))));
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
