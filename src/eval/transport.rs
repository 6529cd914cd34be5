//! How an eval reaches the gateway: HTTP/1.1 over the running daemon's Unix socket, or, when
//! none runs, the gateway built in-process from the same config (as `sidegate serve` builds
//! it) and served the same HTTP over in-memory pipes, so both paths run the very same front,
//! router and vendor code. Every call streams, so latency and time to first token are
//! measured the same way for both; usage comes from the stream's last chunk and the cost from
//! the answering deployment's price (a cache hit costs nothing).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::EvalError;
use super::scorers::ToolCall;
use crate::callers::prices::{Price, price_of};
use crate::callers::{Credential, Peer};
use crate::config::Snapshot;
use crate::front::Ctx;
use crate::router::{Gateway, Live};

/// One answer as the eval records it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Answer {
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
    pub latency_ms: f64,
    /// Until the first content or tool-call delta (None: the answer had none).
    pub ttft_ms: Option<f64>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// None: the deployment's price is unknown.
    pub cost_usd: Option<f64>,
    /// The deployment that answered (`x-sidegate-model`).
    pub model: String,
    /// The call failed: why (the item scores 0).
    pub error: Option<String>,
}

enum Mode {
    Daemon(PathBuf),
    InProcess { cx: Ctx, cred: Credential },
}

/// Calls to the gateway, over a small pool of kept-alive connections.
pub struct Transport {
    mode: Mode,
    idle: Mutex<Vec<SendRequest<Full<Bytes>>>>,
    prices: BTreeMap<String, Option<Price>>,
}

impl Transport {
    /// The daemon on `socket`, when one answers there.
    pub async fn daemon(socket: &Path, snapshot: &Snapshot) -> Option<Transport> {
        let stream = tokio::net::UnixStream::connect(socket).await.ok()?;
        drop(stream);
        Some(Transport { mode: Mode::Daemon(socket.to_path_buf()), idle: Mutex::default(), prices: prices(snapshot) })
    }

    /// The gateway of `snapshot` built here, with its ledger (no daemon holds it).
    pub fn in_process(snapshot: Snapshot) -> Result<Transport, EvalError> {
        let prices = prices(&snapshot);
        let ledger = match &snapshot.ledger.path {
            Some(p) => crate::usage::Ledger::open(p, snapshot.ledger.retention)
                .map_err(|e| EvalError::Config(format!("the usage ledger {}: {e}", p.display())))
                .map(Some)?,
            None => None,
        };
        let front = snapshot.server.front;
        let live =
            Live::build(snapshot, None).map_err(|e| EvalError::Config(format!("cannot build providers: {e}")))?;
        let responses = crate::response_store::ResponseStore::open(&live.snapshot.responses);
        let gateway = Arc::new(Gateway::new(live, ledger).with_response_store(responses));
        let (reload, _) = crate::control::ReloadHandle::channel();
        let cx = Ctx {
            gateway,
            reload,
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            hard_stop: CancellationToken::new(),
            max_connections: front.max_connections,
            budget: crate::front::budget::MemoryBudget::new(front.max_inflight_body_bytes),
            pressure: Arc::default(),
        };
        // The caller is this process's user, as the daemon would see it over its socket.
        let me =
            Peer::new(Some(std::process::id()), rustix::process::getuid().as_raw(), rustix::process::getgid().as_raw());
        let cred = Credential::Peer(Arc::new(me));
        Ok(Transport { mode: Mode::InProcess { cx, cred }, idle: Mutex::default(), prices })
    }

    /// `daemon at PATH` or `in-process`.
    pub fn describe(&self) -> String {
        match &self.mode {
            Mode::Daemon(p) => format!("the daemon at {}", p.display()),
            Mode::InProcess { .. } => "the gateway in-process (no daemon answers on the config's socket)".into(),
        }
    }

    /// Ends an in-process gateway cleanly: its usage rows reach the ledger.
    pub async fn close(self) {
        if let Mode::InProcess { cx, .. } = self.mode {
            cx.shutdown.cancel();
            cx.tasks.close();
            let g = cx.gateway.clone();
            let _ = tokio::task::spawn_blocking(move || g.flush_cache(std::time::Duration::from_secs(2))).await;
            if let Some(l) = &cx.gateway.accounting.ledger {
                l.close();
            }
        }
    }

    async fn connection(&self) -> Result<SendRequest<Full<Bytes>>, String> {
        let reused = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        if let Some(c) = reused
            && c.is_ready()
        {
            return Ok(c);
        }
        match &self.mode {
            Mode::Daemon(path) => {
                let s = tokio::net::UnixStream::connect(path).await.map_err(|e| format!("{}: {e}", path.display()))?;
                handshake(s).await
            }
            Mode::InProcess { cx, cred } => {
                let (client, server) = tokio::io::duplex(64 * 1024);
                tokio::spawn(crate::front::http::serve_connection(server, cx.clone(), cred.clone()));
                handshake(client).await
            }
        }
    }

    /// Sends one Chat Completions body (streaming) and reads the answer; a failure is the
    /// answer's `error`.
    pub async fn chat(&self, body: &Value) -> Answer {
        let started = Instant::now();
        let mut a = match self.exchange(body, started).await {
            Ok(a) => a,
            Err(e) => Answer { error: Some(e), ..Answer::default() },
        };
        a.latency_ms = started.elapsed().as_secs_f64() * 1e3;
        a
    }

    async fn exchange(&self, body: &Value, started: Instant) -> Result<Answer, String> {
        let mut conn = self.connection().await?;
        let req = hyper::Request::post("/v1/chat/completions")
            .header("host", "sidegate")
            .header("content-type", "application/json")
            .header("x-sidegate-label", "eval")
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|e| e.to_string())?;
        let resp = conn.send_request(req).await.map_err(|e| format!("the gateway closed the connection: {e}"))?;
        let header = |n: &str| resp.headers().get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
        let (model, cache, cost) =
            (header("x-sidegate-model"), header("x-sidegate-cache"), header("x-sidegate-cost-usd"));
        let status = resp.status();
        let mut body = resp.into_body();
        if !status.is_success() {
            let bytes = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            self.give_back(conn);
            return Err(error_text(status.as_u16(), &bytes));
        }
        let mut read = StreamRead::default();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| format!("the answer was cut off: {e}"))?;
            if let Some(data) = frame.data_ref() {
                read.feed(data, started)?;
            }
        }
        self.give_back(conn);
        if !read.done {
            return Err("the answer ended without `[DONE]`".into());
        }
        let mut a = read.answer;
        a.model = model.unwrap_or_default();
        a.cost_usd = match (cost.and_then(|c| c.parse::<f64>().ok()), cache.as_deref()) {
            (Some(c), _) => Some(c),
            (None, Some("hit")) => Some(0.0),
            (None, _) => self.cost(&a.model, read.usage.as_ref()),
        };
        Ok(a)
    }

    fn give_back(&self, conn: SendRequest<Full<Bytes>>) {
        if conn.is_ready() {
            self.idle.lock().unwrap_or_else(|p| p.into_inner()).push(conn);
        }
    }

    fn cost(&self, deployment: &str, usage: Option<&crate::api::Usage>) -> Option<f64> {
        let price = self.prices.get(deployment).copied().flatten()?;
        Some(price.cost(usage?))
    }
}

fn prices(snapshot: &Snapshot) -> BTreeMap<String, Option<Price>> {
    snapshot.models.iter().map(|(name, m)| (name.clone(), price_of(m))).collect()
}

async fn handshake<S>(io: S) -> Result<SendRequest<Full<Bytes>>, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (send, conn) = http1::handshake(TokioIo::new(io)).await.map_err(|e| format!("HTTP handshake: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(send)
}

/// `HTTP 429: <the error's message>`.
fn error_text(status: u16, body: &[u8]) -> String {
    let message = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(200).collect());
    format!("HTTP {status}: {message}")
}

/// A Chat Completions event stream read as it arrives.
#[derive(Default)]
struct StreamRead {
    buf: Vec<u8>,
    answer: Answer,
    /// Tool calls by index: name and the arguments' text so far.
    calls: Vec<(String, String)>,
    usage: Option<crate::api::Usage>,
    done: bool,
}

impl StreamRead {
    fn feed(&mut self, data: &Bytes, started: Instant) -> Result<(), String> {
        self.buf.extend_from_slice(data);
        while let Some(end) = self.buf.windows(2).position(|w| w == b"\n\n") {
            let event: Vec<u8> = self.buf.drain(..end + 2).collect();
            let text = String::from_utf8_lossy(&event);
            for line in text.lines() {
                if let Some(d) = line.strip_prefix("data:") {
                    self.data(d.trim(), started)?;
                }
            }
        }
        Ok(())
    }

    fn data(&mut self, d: &str, started: Instant) -> Result<(), String> {
        if d == "[DONE]" {
            self.done = true;
            self.answer.tool_calls = std::mem::take(&mut self.calls)
                .into_iter()
                .map(|(name, args)| ToolCall {
                    name,
                    arguments: serde_json::from_str(&args).unwrap_or(Value::String(args)),
                })
                .collect();
            return Ok(());
        }
        let chunk: Value = serde_json::from_str(d).map_err(|e| format!("an event that is not JSON: {e}"))?;
        if let Some(e) = chunk.get("error") {
            return Err(format!("the stream failed: {}", e["message"].as_str().unwrap_or("unknown error")));
        }
        if let Some(u) = chunk.get("usage").filter(|u| !u.is_null()) {
            self.usage = serde_json::from_value(u.clone()).ok();
            self.answer.prompt_tokens = u["prompt_tokens"].as_u64().unwrap_or(0);
            self.answer.completion_tokens = u["completion_tokens"].as_u64().unwrap_or(0);
        }
        let delta = &chunk["choices"][0]["delta"];
        let mut seen = false;
        if let Some(t) = delta["content"].as_str().filter(|t| !t.is_empty()) {
            self.answer.text.push_str(t);
            seen = true;
        }
        for c in delta["tool_calls"].as_array().into_iter().flatten() {
            let i = c["index"].as_u64().unwrap_or(0) as usize;
            if self.calls.len() <= i {
                self.calls.resize(i + 1, (String::new(), String::new()));
            }
            if let Some(n) = c["function"]["name"].as_str() {
                self.calls[i].0.push_str(n);
            }
            if let Some(a) = c["function"]["arguments"].as_str() {
                self.calls[i].1.push_str(a);
            }
            seen = true;
        }
        if seen && self.answer.ttft_ms.is_none() {
            self.answer.ttft_ms = Some(started.elapsed().as_secs_f64() * 1e3);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_stream_split_anywhere_reads_the_same() {
        let events = concat!(
            "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\"Hello \"}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\"Ada\",\"tool_calls\":[{\"index\":0,\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"q\\\":\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"1}\"}}]}}]}\n\n",
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,\"total_tokens\":7}}\n\n",
            "data: [DONE]\n\n"
        );
        for cut in [1, 7, 50, events.len() - 3] {
            let mut r = StreamRead::default();
            let t = Instant::now();
            r.feed(&Bytes::copy_from_slice(&events.as_bytes()[..cut]), t).unwrap();
            r.feed(&Bytes::copy_from_slice(&events.as_bytes()[cut..]), t).unwrap();
            assert!(r.done);
            assert_eq!(r.answer.text, "Hello Ada");
            assert_eq!(
                r.answer.tool_calls,
                vec![ToolCall { name: "f".into(), arguments: serde_json::json!({"q": 1}) }]
            );
            assert_eq!((r.answer.prompt_tokens, r.answer.completion_tokens), (5, 2));
            assert!(r.answer.ttft_ms.is_some());
        }
    }

    #[test]
    fn an_in_band_error_fails_the_answer() {
        let mut r = StreamRead::default();
        let e = r.feed(&Bytes::from_static(b"data: {\"error\": {\"message\": \"vendor gone\"}}\n\n"), Instant::now());
        assert_eq!(e.unwrap_err(), "the stream failed: vendor gone");
        assert_eq!(error_text(429, b"{\"error\": {\"message\": \"slow down\"}}"), "HTTP 429: slow down");
    }
}
