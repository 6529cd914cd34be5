//! The fault vocabulary shared by the Anthropic- and Gemini-shaped fakes (the model name picks
//! the behaviour, as for the OpenAI fake), and the streaming helper they use. Each vendor
//! renders an `ErrKind` in its own error format.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use hyper::Response;
use tokio::sync::mpsc;

use crate::{CallGuard, FakeBody, Stats};

/// A vendor error, before it is rendered in the vendor's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrKind {
    /// 500 and other server errors.
    Server(u16),
    /// Overloaded (Anthropic 529, Gemini 503).
    Overloaded,
    /// 429 rate limit; `true` = with a retry delay of 1 s.
    RateLimit(bool),
    /// 429 that retrying will not clear (quota / billing).
    Quota,
    /// Bad key.
    Auth,
    /// 400 invalid request.
    Invalid,
    /// 400 prompt too long.
    Context,
}

/// What the model name asks for before any answer is produced.
pub enum Pre {
    Fail(ErrKind),
    Reset,
    Answer,
}

/// Applies the shared model-name faults: waits (`hang`, `slow-first`), counts `flaky-N`.
pub async fn pre(model: &str, stats: &Arc<Stats>) -> Pre {
    if stats.down.load(Ordering::SeqCst) {
        return Pre::Fail(ErrKind::Server(503));
    }
    match model {
        "fail-500" => Pre::Fail(ErrKind::Server(500)),
        "fail-502" => Pre::Fail(ErrKind::Server(502)),
        "fail-503" | "fail-529" => Pre::Fail(ErrKind::Overloaded),
        "fail-429" => Pre::Fail(ErrKind::RateLimit(true)),
        "fail-429-bare" => Pre::Fail(ErrKind::RateLimit(false)),
        "quota-429" => Pre::Fail(ErrKind::Quota),
        "fail-401" => Pre::Fail(ErrKind::Auth),
        "bad-400" => Pre::Fail(ErrKind::Invalid),
        "context-400" => Pre::Fail(ErrKind::Context),
        "reset" => Pre::Reset,
        "hang" => std::future::pending().await,
        "slow-first" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            Pre::Answer
        }
        m if m.starts_with("flaky-") => {
            let n: u64 = m["flaky-".len()..].parse().unwrap_or(1);
            let seen = {
                let mut map = stats.flaky.lock().unwrap_or_else(|p| p.into_inner());
                let c = map.entry(m.to_string()).or_insert(0);
                *c += 1;
                *c
            };
            if seen <= n { Pre::Fail(ErrKind::Server(500)) } else { Pre::Answer }
        }
        _ => Pre::Answer,
    }
}

/// A connection closed without a response.
/// [`pre`] for a vendor that answers a failure with `render`: the call's guard back when the
/// model answers, else the response to send (the failure, or a cut connection).
pub async fn before_answer(
    model: &str,
    stats: &Arc<Stats>,
    guard: CallGuard,
    render: fn(ErrKind) -> Response<FakeBody>,
) -> Result<CallGuard, Response<FakeBody>> {
    match pre(model, stats).await {
        Pre::Fail(e) => {
            guard.finish();
            Err(render(e))
        }
        Pre::Reset => Err(reset(guard)),
        Pre::Answer => Ok(guard),
    }
}

pub fn reset(guard: CallGuard) -> Response<FakeBody> {
    drop(guard);
    let (tx, rx) = mpsc::channel(1);
    let _ = tx.try_send(None);
    Response::new(FakeBody::Chan(rx))
}

/// An SSE response sending `events` (a `None` cuts the connection) `interval` apart, then
/// ending the body. The call counts as completed once every frame was taken, as aborted if
/// the client left first.
pub fn sse(events: Vec<Option<Bytes>>, interval: Duration, guard: CallGuard) -> Response<FakeBody> {
    sse_then(events, interval, guard, StreamEnd::Close)
}

/// How a fake stream ends after its last event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    /// The body ends, as a real vendor's does.
    Close,
    /// Silence with the connection open until the client gives up (counted as aborted).
    Stall,
}

/// Like `sse`, with a choice of how the stream ends.
pub fn sse_then(
    events: Vec<Option<Bytes>>,
    interval: Duration,
    guard: CallGuard,
    end: StreamEnd,
) -> Response<FakeBody> {
    let (tx, rx) = mpsc::channel::<Option<Bytes>>(16);
    tokio::spawn(async move {
        for ev in events {
            let cut = ev.is_none();
            if cut {
                // let what was sent reach the client before the connection is cut
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            if tx.send(ev).await.is_err() {
                return; // client went away: guard drops unfinished -> aborted
            }
            if cut {
                return;
            }
            if !interval.is_zero() {
                tokio::time::sleep(interval).await;
            }
        }
        if end == StreamEnd::Stall {
            tx.closed().await;
            return;
        }
        // Close the body (Gemini streams end only there) once hyper took every frame; a
        // client that left first makes this an aborted call.
        let max = tx.max_capacity();
        while tx.capacity() < max {
            if tx.is_closed() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        guard.finish();
        drop(tx);
    });
    let mut r = Response::new(FakeBody::Chan(rx));
    r.headers_mut().insert("content-type", "text/event-stream".parse().expect("static header"));
    r
}

/// Words of `text`, each keeping its trailing whitespace (they concatenate back to `text`).
pub fn words(text: &str) -> Vec<String> {
    text.split_inclusive(char::is_whitespace).map(str::to_string).collect()
}
