//! A committed stream on its way to the caller.
//!
//! `ChatStream` yields the first chunk (already received at the commit point), then relays
//! the vendor's chunks as they come. It keeps the usage for the log, drops the usage chunk
//! when the caller did not ask for it, and turns a vendor failure after the commit point into
//! one final error item: never a retry, never text spliced from another vendor.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::Stream;

use super::attempt::Committed;
use super::breaker::Outcome as BreakerOutcome;
use super::health::Ticket;
use super::meta::Meta;
use super::request::{End, Tracked};
use crate::api::ChatChunk;
use crate::api::error::{GatewayError, Timeout};

pub struct ChatStream {
    pub meta: Meta,
    inner: Pin<Box<dyn Stream<Item = Result<ChatChunk, GatewayError>> + Send>>,
}

/// Canonical chunks with failures already turned into one final `GatewayError` item.
pub type ChunkItems = Pin<Box<dyn Stream<Item = Result<ChatChunk, GatewayError>> + Send>>;

impl ChatStream {
    /// The caller's side of a stream whose chunks come from `source` (a vendor, a coalesced
    /// call shared with other callers, or a cached answer): the caller's own deadline, the
    /// usage chunk only when asked for, and the request's log line.
    pub(super) fn relay(
        meta: Meta,
        source: ChunkItems,
        want_usage: bool,
        deadline: Option<tokio::time::Instant>,
        log: Tracked,
    ) -> Self {
        let deadline = deadline.map(|d| Box::pin(tokio::time::sleep_until(d)));
        let relay = Relay { source, want_usage, deadline, log, done: false };
        ChatStream { meta, inner: Box::pin(relay) }
    }
}

/// [`ChatStream::relay`]'s state, polled in place: a stream combinator that moved it into a
/// future and back for every chunk, and a timer armed and dropped per chunk for the caller's
/// deadline, cost ~2k instructions a relayed chunk (issue 16). The deadline is one timer for
/// the whole stream.
struct Relay {
    source: ChunkItems,
    want_usage: bool,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    log: Tracked,
    done: bool,
}

impl Stream for Relay {
    type Item = Result<ChatChunk, GatewayError>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let st = &mut *self;
        loop {
            if st.done {
                return Poll::Ready(None);
            }
            let next = match st.source.as_mut().poll_next(cx) {
                Poll::Ready(next) => next,
                Poll::Pending => {
                    if let Some(d) = &mut st.deadline
                        && d.as_mut().poll(cx).is_ready()
                    {
                        st.done = true;
                        // The caller's own deadline: not the vendor's fault.
                        let e = GatewayError::TimedOut {
                            timeout: Timeout::Deadline,
                            message: "the request's deadline passed while streaming".into(),
                            attempts: Vec::new(),
                        };
                        return Poll::Ready(Some(Err(st.log.fail(e))));
                    }
                    return Poll::Pending;
                }
            };
            match next {
                None => {
                    st.done = true;
                    st.log.finish(End::Ok);
                    return Poll::Ready(None);
                }
                Some(Err(e)) => {
                    st.done = true;
                    return Poll::Ready(Some(Err(st.log.fail(e))));
                }
                Some(Ok(mut chunk)) => {
                    if let Some(u) = chunk.usage {
                        st.log.usage = Some(u);
                        if !st.want_usage {
                            if chunk.choices.is_empty() {
                                continue;
                            }
                            chunk.touch().usage = None;
                        }
                    }
                    return Poll::Ready(Some(Ok(chunk)));
                }
            }
        }
    }
}

/// The vendor's side of a committed stream: the first chunk (received at the commit point),
/// then the rest as they come, each within `idle` of the last. A vendor failure becomes one
/// final error item and counts against the deployment's breaker; `ticket` holds the
/// deployment's concurrency slot until the stream ends.
pub(super) fn vendor_chunks(c: Committed, idle: Duration, ticket: Ticket) -> ChunkItems {
    let timer = Box::pin(tokio::time::sleep(idle));
    Box::pin(VendorChunks { first: Some(c.first), rest: c.rest, idle, timer, waiting_since: None, ticket, done: false })
}

/// [`vendor_chunks`]' state, polled in place. The idle limit runs from the moment the next
/// chunk is asked for, as a per-chunk `timeout` did, but with one timer for the whole stream:
/// a chunk notes the time, and the timer, when it fires, is moved on to that time plus `idle`
/// unless the vendor really was quiet that long (a timer armed per chunk cost ~1k
/// instructions a chunk; issue 16).
struct VendorChunks {
    first: Option<ChatChunk>,
    rest: crate::providers::ChunkStream,
    idle: Duration,
    timer: Pin<Box<tokio::time::Sleep>>,
    /// When the chunk now awaited was first asked for; None between chunks.
    waiting_since: Option<tokio::time::Instant>,
    ticket: Ticket,
    done: bool,
}

impl VendorChunks {
    /// Whether the vendor has been quiet for `idle` since the awaited chunk was asked for (the
    /// first poll that found it pending); registers the timer for the end of that wait when not.
    fn idle_expired(&mut self, cx: &mut Context<'_>) -> bool {
        let since = *self.waiting_since.get_or_insert_with(tokio::time::Instant::now);
        loop {
            if self.timer.as_mut().poll(cx).is_pending() {
                return false;
            }
            let end = since + self.idle;
            if tokio::time::Instant::now() >= end {
                return true;
            }
            self.timer.as_mut().reset(end);
        }
    }
}

impl Stream for VendorChunks {
    type Item = Result<ChatChunk, GatewayError>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let st = &mut *self;
        if st.done {
            return Poll::Ready(None);
        }
        if let Some(c) = st.first.take() {
            return Poll::Ready(Some(Ok(c)));
        }
        let next = match st.rest.as_mut().poll_next(cx) {
            Poll::Ready(next) => next,
            Poll::Pending if st.idle_expired(cx) => {
                st.done = true;
                st.ticket.settle(BreakerOutcome::Failure, None);
                let e = GatewayError::TimedOut {
                    timeout: Timeout::StreamIdle,
                    message: format!("vendor sent nothing for {} ms", st.idle.as_millis()),
                    attempts: Vec::new(),
                };
                return Poll::Ready(Some(Err(e)));
            }
            Poll::Pending => return Poll::Pending,
        };
        st.waiting_since = None;
        match next {
            None => {
                st.done = true;
                Poll::Ready(None)
            }
            Some(Err(e)) => {
                st.done = true;
                st.ticket.settle(BreakerOutcome::Failure, None);
                let err = GatewayError::StreamBroken {
                    message: format!("vendor stream failed after it started: {}", e.message),
                };
                Poll::Ready(Some(Err(err)))
            }
            Some(Ok(chunk)) => Poll::Ready(Some(Ok(chunk))),
        }
    }
}

impl Stream for ChatStream {
    type Item = Result<ChatChunk, GatewayError>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}
