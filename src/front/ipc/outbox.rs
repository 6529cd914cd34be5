//! The frames a native connection still has to write. Its requests (and the connection
//! itself: WELCOME, PONG, errors) encode whole frames straight into one buffer (no frame is
//! allocated on its own); the connection's own task writes
//! them out, as many as have gathered per write. Requests run on that same task (see
//! `connection`), so nothing here crosses tasks or threads: the lock is never contended.
//!
//! A frame is appended whole in one synchronous call, so cancelling a request (dropping its
//! future between two polls) can never leave half a frame on the socket for the others.
//!
//! Backpressure: once [`LIMIT`] bytes wait unwritten (a client that does not read its
//! answers), requests wait in [`Outbox::send`] and the connection stops reading new frames,
//! until the socket takes the backlog.

use std::io;
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::{Buf, BytesMut};
use tokio::io::AsyncWrite;

use crate::protocol::{Kind, encode_into};

/// Bytes waiting unwritten before requests wait (a frame is appended whole, so the backlog
/// can exceed this by one frame).
pub const LIMIT: usize = 256 * 1024;

/// The connection's peer is gone (a write failed): nothing more can be sent.
#[derive(Debug, thiserror::Error)]
#[error("the native connection is closed")]
pub struct Closed;

#[derive(Default)]
pub struct Outbox {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    buf: BytesMut,
    closed: bool,
    /// Requests waiting for the backlog to fall under [`LIMIT`].
    waiting: Vec<Waker>,
}

impl State {
    /// Writes as much of a non-empty backlog as the socket takes: Ready once it is all
    /// written, Pending when the socket is full. Requests waiting for room are woken once the
    /// backlog falls under the limit; a failed write closes the outbox and ends them.
    fn write_out<W: AsyncWrite + Unpin>(&mut self, w: &mut W, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let was_over = self.buf.len() >= LIMIT;
        let result = loop {
            if self.buf.is_empty() {
                break Poll::Ready(Ok(()));
            }
            match Pin::new(&mut *w).poll_write(cx, &self.buf) {
                Poll::Ready(Ok(0)) => break Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => self.buf.advance(n),
                Poll::Ready(Err(e)) => break Poll::Ready(Err(e)),
                Poll::Pending => break Poll::Pending,
            }
        };
        if matches!(result, Poll::Ready(Err(_))) {
            self.closed = true;
            self.buf.clear();
        }
        // After a burst past the limit, the grown buffer is given back once empty.
        if self.buf.is_empty() && self.buf.capacity() > LIMIT {
            self.buf = BytesMut::new();
        }
        if (was_over && self.buf.len() < LIMIT) || self.closed {
            for w in self.waiting.drain(..) {
                w.wake();
            }
        }
        result
    }
}

impl Outbox {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends a frame of the connection's own (WELCOME, PONG, an error), whatever the
    /// backlog: the connection reads no more frames while the backlog is over the limit, so
    /// these stay bounded.
    pub fn push(&self, kind: Kind, id: u64, body: &[u8]) {
        let mut st = self.state();
        if !st.closed {
            encode_into(&mut st.buf, kind, id, body);
        }
    }

    /// Appends a request's frame, first waiting while the backlog is over [`LIMIT`].
    pub async fn send(&self, kind: Kind, id: u64, body: &[u8]) -> Result<(), Closed> {
        std::future::poll_fn(|cx| {
            let mut st = self.state();
            if st.closed {
                return Poll::Ready(Err(Closed));
            }
            if st.buf.len() >= LIMIT {
                if !st.waiting.iter().any(|w| w.will_wake(cx.waker())) {
                    st.waiting.push(cx.waker().clone());
                }
                return Poll::Pending;
            }
            encode_into(&mut st.buf, kind, id, body);
            Poll::Ready(Ok(()))
        })
        .await
    }

    /// Whether the backlog is over the limit (the connection then stops reading).
    pub fn over_limit(&self) -> bool {
        self.state().buf.len() >= LIMIT
    }

    /// Writes the backlog until it is empty (Ready) or the socket is full (Pending, woken
    /// when it can take more). With nothing to write it stays Pending without arranging a
    /// wake-up: frames are appended only by the connection's own task, which polls this
    /// after polling its requests. A failed write closes the outbox.
    pub fn poll_write<W: AsyncWrite + Unpin>(&self, w: &mut W, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut st = self.state();
        if st.buf.is_empty() {
            return Poll::Pending;
        }
        st.write_out(w, cx)
    }

    /// The connection's writer, polled for as long as the connection lives: writes what
    /// has gathered and stays Pending, so writing a frame does not end the connection's
    /// wait (one poll per relayed chunk, not one turn of its loop). Ready when a write
    /// failed (Err), or when the backlog fell back under [`LIMIT`] (Ok), so that the
    /// connection reads frames again.
    pub fn poll_pump<W: AsyncWrite + Unpin>(&self, w: &mut W, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut st = self.state();
        if st.buf.is_empty() {
            return Poll::Pending;
        }
        let was_over = st.buf.len() >= LIMIT;
        match st.write_out(w, cx) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            _ if was_over && st.buf.len() < LIMIT => Poll::Ready(Ok(())),
            _ => Poll::Pending,
        }
    }

    /// Writes everything left (the connection is closing).
    pub async fn flush<W: AsyncWrite + Unpin>(&self, w: &mut W) -> io::Result<()> {
        if self.state().buf.is_empty() {
            return Ok(());
        }
        std::future::poll_fn(|cx| self.poll_write(w, cx)).await
    }

    /// No more frames: what is appended from now on is dropped, and waiting requests end.
    pub fn close(&self) {
        let mut st = self.state();
        st.closed = true;
        for w in st.waiting.drain(..) {
            w.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A socket that takes at most `room` bytes until given more.
    #[derive(Default)]
    struct Sink {
        room: usize,
        got: Vec<u8>,
        fail: bool,
    }

    impl AsyncWrite for Sink {
        fn poll_write(mut self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
            if self.fail {
                return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
            }
            let n = buf.len().min(self.room);
            if n == 0 {
                return Poll::Pending;
            }
            self.room -= n;
            self.got.extend_from_slice(&buf[..n]);
            Poll::Ready(Ok(n))
        }
        fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    fn poll_once<F: std::future::Future>(f: Pin<&mut F>) -> Poll<F::Output> {
        f.poll(&mut Context::from_waker(Waker::noop()))
    }

    /// The (id, body) of each frame in `bytes`, which must hold whole frames only.
    fn frames(bytes: &[u8]) -> Vec<(u64, Vec<u8>)> {
        let mut buf = BytesMut::from(bytes);
        let mut got = Vec::new();
        while let Ok(Some(f)) = crate::protocol::decode(&mut buf, 1 << 20) {
            got.push((f.id, f.body.to_vec()));
        }
        assert!(buf.is_empty(), "only whole frames");
        got
    }

    #[test]
    fn frames_are_written_whole_in_order_across_partial_writes() {
        let out = Outbox::default();
        out.push(Kind::Chunk, 1, b"one");
        out.push(Kind::Chunk, 2, b"two");
        let mut sink = Sink { room: 5, ..Sink::default() };
        let mut cx = Context::from_waker(Waker::noop());
        assert!(out.poll_write(&mut sink, &mut cx).is_pending(), "the socket took 5 bytes");
        out.push(Kind::End, 1, b"three");
        sink.room = 1000;
        assert!(matches!(out.poll_write(&mut sink, &mut cx), Poll::Ready(Ok(()))));
        let want = vec![(1, b"one".to_vec()), (2, b"two".to_vec()), (1, b"three".to_vec())];
        assert_eq!(frames(&sink.got), want);
        assert!(out.poll_write(&mut sink, &mut cx).is_pending(), "nothing to write");
    }

    #[test]
    fn a_request_waits_while_the_backlog_is_over_the_limit() {
        let out = Arc::new(Outbox::default());
        let big = vec![b'x'; LIMIT];
        let mut first = Box::pin(out.send(Kind::Chunk, 1, &big));
        assert!(matches!(poll_once(first.as_mut()), Poll::Ready(Ok(()))), "under the limit: taken at once");
        let mut second = Box::pin(out.send(Kind::Chunk, 1, b"next"));
        assert!(poll_once(second.as_mut()).is_pending(), "over the limit: waits");
        assert!(out.over_limit());
        let mut sink = Sink { room: LIMIT / 2, ..Sink::default() };
        let mut cx = Context::from_waker(Waker::noop());
        assert!(out.poll_write(&mut sink, &mut cx).is_pending());
        assert!(!out.over_limit());
        assert!(matches!(poll_once(second.as_mut()), Poll::Ready(Ok(()))), "room again");
    }

    #[test]
    fn the_pump_ends_its_wait_only_for_room_or_a_failure() {
        let out = Outbox::default();
        let mut sink = Sink { room: 1 << 30, ..Sink::default() };
        let mut cx = Context::from_waker(Waker::noop());
        out.push(Kind::Chunk, 1, b"small");
        assert!(out.poll_pump(&mut sink, &mut cx).is_pending(), "written, and still pumping");
        assert_eq!(frames(&sink.got).len(), 1);
        out.push(Kind::Chunk, 1, &vec![b'x'; LIMIT]);
        assert!(out.over_limit());
        assert!(matches!(out.poll_pump(&mut sink, &mut cx), Poll::Ready(Ok(()))), "room again: read again");
        out.push(Kind::Chunk, 2, b"more");
        sink.fail = true;
        assert!(matches!(out.poll_pump(&mut sink, &mut cx), Poll::Ready(Err(_))));
    }

    #[test]
    fn a_failed_write_closes_it_and_ends_waiting_requests() {
        let out = Outbox::default();
        out.push(Kind::Chunk, 1, &vec![b'x'; LIMIT]);
        let mut waiting = Box::pin(out.send(Kind::Chunk, 2, b"late"));
        assert!(poll_once(waiting.as_mut()).is_pending());
        let mut sink = Sink { fail: true, ..Sink::default() };
        assert!(matches!(out.poll_write(&mut sink, &mut Context::from_waker(Waker::noop())), Poll::Ready(Err(_))));
        assert!(matches!(poll_once(waiting.as_mut()), Poll::Ready(Err(Closed))));
        out.push(Kind::Chunk, 3, b"dropped");
        assert!(!out.over_limit());
    }
}
