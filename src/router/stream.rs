//! A committed stream on its way to the caller.
//!
//! `ChatStream` yields the first chunk (already received at the commit point), then relays
//! the vendor's chunks as they come. It keeps the usage for the log, drops the usage chunk
//! when the caller did not ask for it, and turns a vendor failure after the commit point into
//! one final error item: never a retry, never text spliced from another vendor.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::{Stream, StreamExt};

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
        struct St {
            source: ChunkItems,
            want_usage: bool,
            deadline: Option<tokio::time::Instant>,
            log: Tracked,
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
                            let e = GatewayError::TimedOut {
                                timeout: Timeout::Deadline,
                                message: "the request's deadline passed while streaming".into(),
                                attempts: Vec::new(),
                            };
                            return Some((Err(st.log.fail(e)), st));
                        }
                    },
                };
                match next {
                    None => {
                        st.done = true;
                        st.log.finish(End::Ok);
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
                                chunk.touch().usage = None;
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
                    let e = GatewayError::TimedOut {
                        timeout: Timeout::StreamIdle,
                        message: format!("vendor sent nothing for {} ms", st.idle.as_millis()),
                        attempts: Vec::new(),
                    };
                    return Some((Err(e), st));
                }
            },
        };
        match next {
            None => None,
            Some(Err(e)) => {
                st.done = true;
                st.ticket.settle(BreakerOutcome::Failure, None);
                let err = GatewayError::StreamBroken {
                    message: format!("vendor stream failed after it started: {}", e.message),
                };
                Some((Err(err), st))
            }
            Some(Ok(chunk)) => Some((Ok(chunk), st)),
        }
    }))
}

impl Stream for ChatStream {
    type Item = Result<ChatChunk, GatewayError>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}
