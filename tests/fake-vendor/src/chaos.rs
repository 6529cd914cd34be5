//! Chaos mode (`FakeVendor::start_chaos(seed)`, `fake-vendor --chaos SEED`): every chat call
//! (`POST /v1/chat/completions`) gets one behaviour picked at random from a seeded sequence,
//! so a soak run is repeatable: a normal answer, or a reset, a 5xx, a 429, a hang before the
//! headers, a hang after them, a stream cut before its first words, garbage, an empty 200, a
//! 200 whose body is an error, or a correct answer trickled a few bytes at a time.
//! `GET /_fake/chaos` returns how often each was picked.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use hyper::Response;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::{CallGuard, FakeBody, error_resp, faults, json_resp};

/// The behaviours, in the order `pick` numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Answer,
    Reset,
    ServerError,
    RateLimited,
    HangBeforeHeaders,
    HangAfterHeaders,
    CutStream,
    Garbage,
    Empty200,
    ErrorBody200,
    Trickle,
}

pub const FAULTS: [Fault; 11] = [
    Fault::Answer,
    Fault::Reset,
    Fault::ServerError,
    Fault::RateLimited,
    Fault::HangBeforeHeaders,
    Fault::HangAfterHeaders,
    Fault::CutStream,
    Fault::Garbage,
    Fault::Empty200,
    Fault::ErrorBody200,
    Fault::Trickle,
];

impl Fault {
    pub fn as_str(self) -> &'static str {
        match self {
            Fault::Answer => "answer",
            Fault::Reset => "reset",
            Fault::ServerError => "5xx",
            Fault::RateLimited => "429",
            Fault::HangBeforeHeaders => "hang_before_headers",
            Fault::HangAfterHeaders => "hang_after_headers",
            Fault::CutStream => "cut_stream",
            Fault::Garbage => "garbage",
            Fault::Empty200 => "empty_200",
            Fault::ErrorBody200 => "error_body_200",
            Fault::Trickle => "trickle",
        }
    }
}

/// The seeded sequence and what it picked so far.
pub struct Chaos {
    seed: u64,
    next: AtomicU64,
    picked: [AtomicU64; FAULTS.len()],
}

impl Chaos {
    pub fn new(seed: u64) -> Self {
        Chaos { seed, next: AtomicU64::new(0), picked: Default::default() }
    }

    /// The behaviour of the next call (the n-th call of a seed always gets the same one).
    pub fn pick(&self) -> (Fault, u64) {
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        let r = splitmix64(self.seed ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let i = (r % FAULTS.len() as u64) as usize;
        self.picked[i].fetch_add(1, Ordering::SeqCst);
        (FAULTS[i], r)
    }

    /// `{"answer": 12, "reset": 9, ...}`
    pub fn report(&self) -> Value {
        let m: serde_json::Map<String, Value> = FAULTS
            .iter()
            .zip(&self.picked)
            .map(|(f, n)| (f.as_str().to_string(), Value::from(n.load(Ordering::SeqCst))))
            .collect();
        Value::Object(m)
    }
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn user_text(body: &Value) -> String {
    let msgs = body["messages"].as_array().cloned().unwrap_or_default();
    msgs.iter().rev().find(|m| m["role"] == "user").and_then(|m| m["content"].as_str()).unwrap_or("").to_string()
}

fn chunk(delta: Value, finish: Value) -> Bytes {
    let v = json!({"id": "chatcmpl-chaos", "object": "chat.completion.chunk", "created": 1_700_000_000u64,
        "model": "chaos", "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]});
    Bytes::from(format!("data: {v}\n\n"))
}

fn whole(text: &str) -> Value {
    let words = faults::words(text).len() as u64;
    json!({"id": "chatcmpl-chaos", "object": "chat.completion", "created": 1_700_000_000u64, "model": "chaos",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": null, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": words.max(1), "completion_tokens": words, "total_tokens": words.max(1) + words}})
}

/// A body that sends `pieces` `interval` apart (a `None` cuts the connection), or, with no
/// pieces, stays silent until the client leaves.
fn chan(pieces: Vec<Option<Bytes>>, interval: Duration, content_type: &str, guard: CallGuard) -> Response<FakeBody> {
    let (tx, rx) = mpsc::channel::<Option<Bytes>>(4);
    tokio::spawn(async move {
        if pieces.is_empty() {
            tx.closed().await;
            drop(guard);
            return;
        }
        for p in pieces {
            if tx.send(p).await.is_err() {
                return;
            }
            tokio::time::sleep(interval).await;
        }
        guard.finish();
    });
    let mut r = Response::new(FakeBody::Chan(rx));
    r.headers_mut().insert("content-type", content_type.parse().expect("static header"));
    r
}

/// Answers one chat call with `fault` (`r`: the random word that picked it, for variants).
pub(crate) async fn respond(fault: Fault, r: u64, body: &Value, guard: CallGuard) -> Response<FakeBody> {
    let stream = body["stream"].as_bool().unwrap_or(false);
    let text = user_text(body);
    let (sse, json_type) = ("text/event-stream", "application/json");
    let role = || Some(chunk(json!({"role": "assistant", "content": ""}), Value::Null));
    match fault {
        Fault::Answer | Fault::Trickle => {
            let interval = if fault == Fault::Trickle { Duration::from_millis(3) } else { Duration::ZERO };
            if stream {
                let mut events = vec![role()];
                events.extend(faults::words(&text).iter().map(|w| Some(chunk(json!({"content": w}), Value::Null))));
                events.push(Some(chunk(json!({}), json!("stop"))));
                events.push(Some(Bytes::from_static(b"data: [DONE]\n\n")));
                if fault == Fault::Trickle {
                    // every event split in 7-byte pieces
                    let bytes: Vec<u8> = events.into_iter().flatten().flat_map(|b| b.to_vec()).collect();
                    let pieces = bytes.chunks(7).map(|c| Some(Bytes::copy_from_slice(c))).collect();
                    return chan(pieces, interval, sse, guard);
                }
                return faults::sse(events, interval, guard);
            }
            if fault == Fault::Answer {
                guard.finish();
                return json_resp(200, &whole(&text));
            }
            let bytes = whole(&text).to_string().into_bytes();
            let pieces = bytes.chunks(16).map(|c| Some(Bytes::copy_from_slice(c))).collect();
            chan(pieces, interval, json_type, guard)
        }
        Fault::Reset => faults::reset(guard),
        Fault::ServerError => {
            guard.finish();
            let status = [500, 502, 503][(r >> 8) as usize % 3];
            error_resp(status, "server_error", "server_error", "The server had an error (chaos)")
        }
        Fault::RateLimited => {
            guard.finish();
            let mut resp = error_resp(429, "requests", "rate_limit_exceeded", "Rate limit reached (chaos)");
            resp.headers_mut().insert("retry-after-ms", "50".parse().expect("static header"));
            resp
        }
        Fault::HangBeforeHeaders => {
            let _guard = guard; // aborted when the client leaves
            std::future::pending::<Response<FakeBody>>().await
        }
        Fault::HangAfterHeaders => chan(Vec::new(), Duration::ZERO, if stream { sse } else { json_type }, guard),
        Fault::CutStream => {
            if stream {
                chan(vec![role(), None], Duration::from_millis(20), sse, guard)
            } else {
                let half = Bytes::from_static(b"{\"id\": \"chatcmpl-chaos\", \"choices\": [{\"index\": 0, \"mess");
                chan(vec![Some(half), None], Duration::from_millis(20), json_type, guard)
            }
        }
        Fault::Garbage => {
            let junk = Bytes::from_static(b"\x00\xff<html>502 Bad Gateway</html>{{{\n\ndata: {\"choices\": [tru\n\n");
            chan(vec![Some(junk)], Duration::ZERO, if stream { sse } else { json_type }, guard)
        }
        Fault::Empty200 => {
            if stream {
                let events =
                    vec![role(), Some(chunk(json!({}), json!("stop"))), Some(Bytes::from_static(b"data: [DONE]\n\n"))];
                return faults::sse(events, Duration::ZERO, guard);
            }
            guard.finish();
            json_resp(
                200,
                &json!({"id": "chatcmpl-chaos", "object": "chat.completion", "created": 1_700_000_000u64, "model": "chaos", "choices": []}),
            )
        }
        Fault::ErrorBody200 => {
            let err = json!({"error": {"message": "The server had an error while processing your request (chaos)", "type": "server_error"}});
            if stream {
                return faults::sse(vec![Some(Bytes::from(format!("data: {err}\n\n")))], Duration::ZERO, guard);
            }
            guard.finish();
            json_resp(200, &err)
        }
    }
}
