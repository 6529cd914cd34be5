//! How long an HTTP connection may wait for a request head. hyper runs its header-read timer
//! from the moment the connection is ready for the next request, which would make one number
//! both the keep-alive idle limit and the slowloris limit; this timer (hyper's `Timer`, given
//! to its `header_read_timeout`) tells the two apart with a count of the bytes read:
//!
//! - before any byte of a head: `first_byte_timeout` on a new connection, `idle_timeout` on a
//!   kept-alive one;
//! - from its first byte: `header_timeout` for the whole head;
//! - while the listener is full: [`crate::front::pressure::SHED_AFTER`] for the whole wait,
//!   the head included (on a local socket a head takes microseconds; one still incomplete
//!   after that is a slowloris, and its slot goes to a connection that waits for one);
//! - once the daemon is shutting down: now (an idle or half-read connection closes at once;
//!   a request already read is not waiting on this timer and finishes).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::rt::{Sleep, Timer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::sync::CancellationToken;

use crate::config::FrontLimits;
use crate::front::pressure::Pressure;

/// Bytes read on one connection so far, shared by its stream and its timer.
#[derive(Default)]
struct ReadCount(AtomicU64);

impl ReadCount {
    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// `io` with its reads counted, and the timer that reads the count.
pub fn watch<S>(
    io: S,
    limits: FrontLimits,
    shutdown: CancellationToken,
    pressure: Arc<Pressure>,
) -> (Counted<S>, HeadTimer) {
    let count = Arc::new(ReadCount::default());
    let first = Arc::new(AtomicBool::new(true));
    let timer = HeadTimer { count: count.clone(), limits, first, shutdown, pressure };
    (Counted { inner: io, count }, timer)
}

/// A stream that counts the bytes read from it.
pub struct Counted<S> {
    inner: S,
    count: Arc<ReadCount>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        if n > 0 {
            self.count.0.fetch_add(n as u64, Ordering::Relaxed);
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// hyper's header-read timer for one connection (it is used for nothing else on HTTP/1).
pub struct HeadTimer {
    count: Arc<ReadCount>,
    limits: FrontLimits,
    /// No head has been waited for yet: the first wait is the connection's first byte.
    first: Arc<AtomicBool>,
    shutdown: CancellationToken,
    pressure: Arc<Pressure>,
}

impl Timer for HeadTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        self.head_wait(duration)
    }

    /// hyper asks for "now + header_read_timeout" when it starts waiting for a head; the wait
    /// is worked out here instead (module docs).
    fn sleep_until(&self, _deadline: std::time::Instant) -> Pin<Box<dyn Sleep>> {
        let before_first = if self.first.swap(false, Ordering::Relaxed) {
            self.limits.first_byte_timeout
        } else {
            self.limits.idle_timeout
        };
        self.head_wait(before_first)
    }
}

impl HeadTimer {
    fn head_wait(&self, before_first: Duration) -> Pin<Box<dyn Sleep>> {
        let (pressure, since) = (self.pressure.clone(), tokio::time::Instant::now());
        Box::pin(HeadWait {
            shed: Box::pin(async move { pressure.shed(since).await }),
            count: self.count.clone(),
            read_at_start: self.count.get(),
            started: false,
            header_timeout: self.limits.header_timeout,
            sleep: Box::pin(tokio::time::sleep(before_first)),
            shutdown: self.shutdown.clone(),
        })
    }
}

/// One wait for a request head.
struct HeadWait {
    count: Arc<ReadCount>,
    read_at_start: u64,
    /// A byte of the head has arrived: the sleep is now `header_timeout` from it.
    started: bool,
    header_timeout: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
    shutdown: CancellationToken,
    /// Resolves when the listener is full ([`Pressure::shed`]).
    shed: Pin<Box<dyn Future<Output = ()> + Send + Sync>>,
}

impl Future for HeadWait {
    type Output = ();

    // (hyper polls this whenever the head it waits for is still incomplete, so a byte that
    // arrives is seen at the next poll without a wakeup of its own; shutdown polls the
    // connection through its graceful shutdown)
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.shutdown.is_cancelled() {
            return Poll::Ready(());
        }
        if !this.started && this.count.get() != this.read_at_start {
            this.started = true;
            this.sleep.as_mut().reset(tokio::time::Instant::now() + this.header_timeout);
        }
        if this.shed.as_mut().poll(cx).is_ready() {
            return Poll::Ready(());
        }
        this.sleep.as_mut().poll(cx)
    }
}

impl Sleep for HeadWait {}
