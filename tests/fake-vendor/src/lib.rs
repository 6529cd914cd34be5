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
//! | `fail-429-60`    | 429 `rate_limit_exceeded`, `retry-after: 60` (chat completions only) |
//! | `stall`          | stream: one chunk, then silence with the connection open |
//! | `empty`          | 200 with `"choices": []`; stream: the role chunk, a `stop` chunk, `[DONE]` (no content) |
//! | `reasoner`       | the echo, with `reasoning_content` before it (as DeepSeek-style servers send) |
//! | `tool-call`      | with tools: "Let me check." and one call per tool, `finish_reason: "stop"` (as some compatible servers say) |
//! | `as-sent`        | whole: the echo with every required key in an order of its own, plus keys nobody models (`usage.queue_time`, `x_vendor`, `annotations`) |
//! | `sparse`         | whole: the echo without `object`, `logprobs` and `refusal` (as some compatible servers answer) |
//! | `reasoning-details` | whole: the echo with a `reasoning_details` block (OpenRouter's shape) |
//!
//! Prompt caching is reported as each vendor reports it: Anthropic's breakpoints write, then
//! read within their TTL (`anthropic::cache`); OpenAI's and Gemini's automatic caching read a
//! repeated prefix of 1024+ tokens (`auto_cache`). A request with reasoning on
//! (`reasoning_effort`, Gemini `thinkingConfig` with a budget) reports reasoning tokens.
//!
//! (Those answers are module `chat`.) The same server also speaks Anthropic (`POST /v1/messages`, module `anthropic`), Gemini
//! (`/v1beta/models/{model}:…`, module `gemini`), OpenAI's Responses API (`POST /v1/responses`,
//! module `responses`) and Azure OpenAI deployment URLs
//! (`/openai/deployments/{deployment}/…`, the deployment picks the behaviour), each with the
//! same fault vocabulary rendered in that vendor's error format (`faults`).
//!
//! Anything after a `#` in the model name is ignored (`fail-500#2` acts as `fail-500`), so
//! tests can make distinct deployments with the same behaviour.
//!
//! Chaos mode (`FakeVendor::start_chaos(seed)`): every chat call gets a behaviour picked at
//! random from a seeded sequence (module `chaos`; `GET /_fake/chaos` counts them).
//!
//! `GET /_fake/stats` returns `{"calls", "completed", "aborted"}`; `aborted` counts calls
//! whose client went away before the answer was finished. `GET /_fake/last` returns the last
//! request's path, query, body, `authorization` header and vendor auth headers (`headers`).

mod anthropic;
mod auto_cache;
pub mod chaos;
mod chat;
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
    /// Anthropic's prompt cache (breakpoint prefixes and their expiry).
    anthropic_cache: anthropic::cache::PromptCache,
    /// OpenAI's and Gemini's automatic prompt caches (prefixes seen).
    openai_cache: auto_cache::Seen,
    gemini_cache: auto_cache::Seen,
    /// Chaos mode: every chat call gets a seeded random fault (module `chaos`).
    chaos: std::sync::OnceLock<chaos::Chaos>,
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

    /// Starts in chaos mode on `127.0.0.1:port` (0 = any): every chat call gets a fault
    /// picked by the seeded sequence (module `chaos`).
    pub async fn start_chaos_on(port: u16, seed: u64) -> std::io::Result<Self> {
        let v = Self::start_on(port).await?;
        let _ = v.stats.chaos.set(chaos::Chaos::new(seed));
        Ok(v)
    }

    /// [`start_chaos_on`](Self::start_chaos_on) any free port.
    pub async fn start_chaos(seed: u64) -> std::io::Result<Self> {
        Self::start_chaos_on(0, seed).await
    }

    /// How often each chaos behaviour was picked (`{}` outside chaos mode).
    pub fn chaos_report(&self) -> Value {
        self.stats.chaos.get().map_or_else(|| json!({}), chaos::Chaos::report)
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
        "/_fake/chaos" => {
            return json_resp(200, &stats.chaos.get().map_or_else(|| json!({}), chaos::Chaos::report));
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
    // every request header as the vendor got it, for the `echo-headers` model
    let echoed: Vec<String> =
        req.headers().iter().map(|(k, v)| format!("{k}: {}", String::from_utf8_lossy(v.as_bytes()))).collect();
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
    if body["model"] == "echo-headers" {
        // a vendor (or a proxy in front of one) that echoes the request's headers in its error
        guard.finish();
        return error_resp(401, "invalid_request_error", "echo", &format!("rejected; you sent {}", echoed.join(", ")));
    }
    if let Some(c) = stats.chaos.get().filter(|_| path == "/v1/chat/completions") {
        let (fault, r) = c.pick();
        return chaos::respond(fault, r, &body, guard).await;
    }
    match path.as_str() {
        "/v1/chat/completions" | "/openai/v1/chat/completions" => chat::chat(body, guard, &stats).await,
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
            chat::chat(body, guard, &stats).await
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
