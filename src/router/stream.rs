//! A committed stream on its way to the caller, and the one log line every request gets.
//!
//! `ChatStream` yields the first chunk (already received at the commit point), then relays
//! the vendor's chunks as they come. It keeps the usage for the log, drops the usage chunk
//! when the caller did not ask for it, and turns a vendor failure after the commit point into
//! one final error item: never a retry, never text spliced from another vendor.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::{Stream, StreamExt};

use super::attempt::Committed;
use super::breaker::Outcome as BreakerOutcome;
use super::health::Ticket;
use super::{Meta, Stats};
use crate::api::{ApiError, ChatChunk, Usage};

/// Time limits of a committed stream.
#[derive(Debug, Clone, Copy)]
pub struct StreamTiming {
    /// Longest silence between two chunks.
    pub idle: Duration,
    /// The caller's own deadline (`timeout_ms`, `x-sidegate-timeout-ms`), if it set one.
    pub deadline: Option<tokio::time::Instant>,
}

pub struct ChatStream {
    pub meta: Meta,
    inner: Pin<Box<dyn Stream<Item = Result<ChatChunk, ApiError>> + Send>>,
}

/// Canonical chunks with failures already turned into one final `ApiError` item.
pub type ChunkItems = Pin<Box<dyn Stream<Item = Result<ChatChunk, ApiError>> + Send>>;

impl ChatStream {
    pub(super) fn new(
        c: Committed,
        meta: Meta,
        want_usage: bool,
        timing: StreamTiming,
        log: RequestLog,
        ticket: Ticket,
    ) -> Self {
        Self::relay(meta, vendor_chunks(c, timing.idle, ticket), want_usage, timing.deadline, log)
    }

    /// The caller's side of a stream whose chunks come from `source` (a vendor, a coalesced
    /// call shared with other callers, or a cached answer): the caller's own deadline, the
    /// usage chunk only when asked for, and the request's log line.
    pub(super) fn relay(
        meta: Meta,
        source: ChunkItems,
        want_usage: bool,
        deadline: Option<tokio::time::Instant>,
        log: RequestLog,
    ) -> Self {
        struct St {
            source: ChunkItems,
            want_usage: bool,
            deadline: Option<tokio::time::Instant>,
            log: RequestLog,
            done: bool,
        }
        let st = St { source, want_usage, deadline, log, done: false };
        let inner = futures_util::stream::unfold(st, |mut st| async move {
            loop {
                if st.done {
                    return None;
                }
                let next = match st.deadline {
                    None => st.source.next().await,
                    Some(d) => match tokio::time::timeout_at(d, st.source.next()).await {
                        Ok(n) => n,
                        Err(_) => {
                            st.done = true;
                            // The caller's own deadline: not the vendor's fault.
                            let e = ApiError::new(
                                504,
                                "timeout_error",
                                Some("timeout"),
                                "the request's deadline passed while streaming",
                            );
                            return Some((Err(st.log.fail(e)), st));
                        }
                    },
                };
                match next {
                    None => {
                        st.done = true;
                        st.log.succeed();
                        return None;
                    }
                    Some(Err(e)) => {
                        st.done = true;
                        return Some((Err(st.log.fail(e)), st));
                    }
                    Some(Ok(mut chunk)) => {
                        if let Some(u) = chunk.usage {
                            st.log.usage = Some(u);
                            if !st.want_usage {
                                if chunk.choices.is_empty() {
                                    continue;
                                }
                                chunk.usage = None;
                            }
                        }
                        return Some((Ok(chunk), st));
                    }
                }
            }
        });
        ChatStream { meta, inner: Box::pin(inner) }
    }
}

/// The vendor's side of a committed stream: the first chunk (received at the commit point),
/// then the rest as they come, each within `idle` of the last. A vendor failure becomes one
/// final error item and counts against the deployment's breaker; `ticket` holds the
/// deployment's concurrency slot until the stream ends.
pub(super) fn vendor_chunks(c: Committed, idle: Duration, ticket: Ticket) -> ChunkItems {
    struct St {
        first: Option<ChatChunk>,
        rest: crate::providers::ChunkStream,
        idle: Duration,
        ticket: Ticket,
        done: bool,
    }
    let st = St { first: Some(c.first), rest: c.rest, idle, ticket, done: false };
    Box::pin(futures_util::stream::unfold(st, |mut st| async move {
        if st.done {
            return None;
        }
        let next = match st.first.take() {
            Some(c) => Some(Ok(c)),
            None => match tokio::time::timeout(st.idle, st.rest.next()).await {
                Ok(n) => n,
                Err(_) => {
                    st.done = true;
                    st.ticket.settle(BreakerOutcome::Failure, None);
                    let e = ApiError::new(
                        504,
                        "timeout_error",
                        Some("stream_idle_timeout"),
                        format!("vendor sent nothing for {} ms", st.idle.as_millis()),
                    );
                    return Some((Err(e), st));
                }
            },
        };
        match next {
            None => None,
            Some(Err(e)) => {
                st.done = true;
                st.ticket.settle(BreakerOutcome::Failure, None);
                let mut err = ApiError::new(
                    502,
                    "upstream_error",
                    Some(e.failure.label()),
                    format!("vendor stream failed after it started: {}", e.message),
                );
                err.code = Some("stream_broken".into());
                Some((Err(err), st))
            }
            Some(Ok(chunk)) => Some((Ok(chunk), st)),
        }
    }))
}

impl Stream for ChatStream {
    type Item = Result<ChatChunk, ApiError>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

/// The request's log line and counters: written once, when the request ends, however it
/// ends (success, error, or the caller going away, which drops this guard).
pub struct RequestLog {
    stats: Arc<Stats>,
    pub request_id: String,
    pub route: String,
    pub deployment: String,
    pub attempts: u32,
    pub usage: Option<Usage>,
    /// `hit`, `miss` or `bypass` (the response cache).
    pub cache: &'static str,
    pub label: Option<String>,
    pub stream: bool,
    pub started: std::time::Instant,
    pub outcome: Option<(u16, String)>,
    /// Who asked, what it reserved, and where the request's usage is recorded.
    pub account: super::accounting::Account,
}

impl RequestLog {
    pub fn start(stats: &Arc<Stats>, label: Option<String>, stream: bool) -> Self {
        stats.requests.fetch_add(1, Ordering::Relaxed);
        stats.in_flight.fetch_add(1, Ordering::Relaxed);
        RequestLog {
            stats: stats.clone(),
            request_id: super::meta::request_id(),
            route: String::new(),
            deployment: String::new(),
            attempts: 0,
            usage: None,
            cache: "bypass",
            label,
            stream,
            started: std::time::Instant::now(),
            outcome: None,
            account: super::accounting::Account::default(),
        }
    }

    pub fn succeed(&mut self) {
        self.outcome = Some((200, "ok".into()));
    }

    /// Records the error (passing it through, for `map_err`).
    pub fn fail(&mut self, e: ApiError) -> ApiError {
        self.outcome = Some((e.status, e.label().to_string()));
        self.attempts = self.attempts.max(e.attempts.len() as u32);
        e
    }
}

impl Drop for RequestLog {
    fn drop(&mut self) {
        self.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
        let (status, outcome) = self.outcome.take().unwrap_or((499, "cancelled".into()));
        if status >= 400 {
            self.stats.failures.fetch_add(1, Ordering::Relaxed);
        }
        let u = self.usage.unwrap_or_default();
        tracing::info!(
            target: "sidegate::request",
            request_id = %self.request_id,
            route = %self.route,
            deployment = %self.deployment,
            status,
            outcome = %outcome,
            stream = self.stream,
            attempts = self.attempts,
            cache = self.cache,
            latency_ms = (self.started.elapsed().as_secs_f64() * 1e6).round() / 1000.0,
            prompt_tokens = u.prompt_tokens,
            completion_tokens = u.completion_tokens,
            label = self.label.as_deref().unwrap_or(""),
            caller = %self.account.caller,
            "request"
        );
        super::accounting::finish(self, status, &outcome);
    }
}
