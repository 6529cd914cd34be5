//! Accept loops. The Unix socket sniffs the first byte of each connection: `0x00` starts the
//! native protocol (docs/protocol.md), anything else is HTTP/1.1. The TCP listener is HTTP
//! only. Every connection runs as a tracked task, so shutdown can wait for them, and holds one
//! of its listener's `max_connections` slots (docs/operations.md).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::pressure::Pressure;
use super::unix::{self, UdsListener};
use super::{Ctx, http, ipc};
use crate::callers::{Credential, Peer};
use crate::protocol::PREFACE;

/// The same accept failure is logged at most this often (the rest are counted).
const ACCEPT_WARN_EVERY: Duration = Duration::from_secs(5);
/// Back-off after a failed accept (EMFILE and friends), doubling up to the ceiling.
const ACCEPT_BACKOFF_FIRST: Duration = Duration::from_millis(10);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Accepts on `listener` until `stop` (its own token: a reload that moves the socket stops
/// only this loop) or shutdown.
pub async fn serve_unix(listener: UdsListener, cx: Ctx, stop: CancellationToken) {
    accept_loop(
        "unix socket",
        &cx,
        &stop,
        || unix::accept(&listener),
        |stream, slot, cx| {
            cx.tasks.clone().spawn(async move {
                sniff_and_serve(stream, cx).await;
                drop(slot);
            });
        },
    )
    .await;
}

pub async fn serve_tcp(listener: TcpListener, cx: Ctx, stop: CancellationToken) {
    let accept = || async { listener.accept().await.map(|(s, _)| s) };
    accept_loop("tcp listener", &cx, &stop, accept, |stream, slot, cx| {
        let _ = stream.set_nodelay(true);
        // Over TCP a caller is known only by its bearer key, per request.
        cx.tasks.clone().spawn(async move {
            http::serve_connection(stream, cx, Credential::Anonymous).await;
            drop(slot);
        });
    })
    .await;
}

/// One listener's loop: take a connection slot, then accept. At `max_connections` it stops
/// accepting (new connections wait in the kernel's backlog) instead of taking descriptors it
/// cannot serve; a failing accept backs off and is logged at most every few seconds.
async fn accept_loop<S, A, F>(
    name: &'static str,
    cx: &Ctx,
    stop: &CancellationToken,
    mut accept: impl FnMut() -> A,
    mut serve: F,
) where
    A: Future<Output = io::Result<S>>,
    F: FnMut(S, OwnedSemaphorePermit, Ctx),
{
    let slots = Arc::new(Semaphore::new(cx.max_connections.max(1)));
    let mut cx = cx.clone();
    cx.pressure = Arc::new(Pressure::default());
    let cx = &cx;
    let (mut failures, mut full) = (RateLimited::default(), RateLimited::default());
    let mut backoff = ACCEPT_BACKOFF_FIRST;
    loop {
        let slot = match slots.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                if let Some(suppressed) = full.due() {
                    tracing::warn!(
                        listener = name,
                        max_connections = cx.max_connections,
                        suppressed,
                        "connection limit reached; new connections wait for a slot, unused ones are shed"
                    );
                }
                cx.pressure.set(true);
                let slot = tokio::select! {
                    p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
                    _ = cx.shutdown.cancelled() => break,
                    _ = stop.cancelled() => break,
                };
                cx.pressure.set(false);
                slot
            }
        };
        let conn = tokio::select! {
            c = accept() => c,
            _ = cx.shutdown.cancelled() => break,
            _ = stop.cancelled() => break,
        };
        match conn {
            Ok(stream) => {
                backoff = ACCEPT_BACKOFF_FIRST;
                serve(stream, slot, cx.clone());
            }
            Err(e) => {
                if let Some(suppressed) = failures.due() {
                    tracing::warn!(listener = name, error = %e, suppressed, "accept failed");
                }
                drop(slot);
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = cx.shutdown.cancelled() => break,
                    _ = stop.cancelled() => break,
                }
                backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
            }
        }
    }
}

/// A warning that repeats is logged once per [`ACCEPT_WARN_EVERY`]; the log line says how many
/// were left out since the last one.
#[derive(Default)]
struct RateLimited {
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimited {
    /// `Some(left out since the last line)` when this one is to be logged.
    fn due(&mut self) -> Option<u64> {
        let now = Instant::now();
        if self.last.is_some_and(|t| now.duration_since(t) < ACCEPT_WARN_EVERY) {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }
}

/// Reads the first byte (within `first_byte_timeout`; shutdown ends the wait at once, a full
/// listener after [`super::pressure::SHED_AFTER`]) and
/// hands the connection to the front it names.
async fn sniff_and_serve(mut stream: unix::UdsStream, cx: Ctx) {
    let limits = cx.gateway.current().snapshot.server.front;
    let connected = Instant::now();
    let mut first = [0u8; 1];
    tokio::select! {
        r = tokio::time::timeout(limits.first_byte_timeout, stream.read_exact(&mut first)) => match r {
            Ok(Ok(_)) => {}
            Ok(Err(_)) => return, // connected and left
            Err(_) => {
                tracing::debug!("connection closed: nothing sent within first_byte_timeout");
                return;
            }
        },
        _ = cx.shutdown.cancelled() => return,
        _ = cx.pressure.shed(connected) => {
            tracing::debug!("connection closed: nothing sent while the listener is full");
            return;
        }
    }
    let cred = peer_credential(&stream);
    if first[0] == PREFACE[0] {
        let mut rest = [0u8; 3];
        let preface = tokio::time::timeout(limits.header_timeout, stream.read_exact(&mut rest));
        if !matches!(preface.await, Ok(Ok(_))) || rest != PREFACE[1..] {
            tracing::debug!("connection closed: not the native protocol preface");
            return;
        }
        ipc::serve_connection(stream, cx, cred).await;
    } else {
        http::serve_connection(Rewind::new(first[0], stream), cx, cred).await;
    }
}

/// The kernel's credentials of a Unix-socket peer (pid, uid, gid) and its systemd unit.
fn peer_credential(stream: &unix::UdsStream) -> Credential {
    use interprocess::local_socket::traits::StreamCommon;
    match stream.peer_creds() {
        Ok(c) => match (c.euid(), c.egid()) {
            (Some(uid), Some(gid)) => {
                Credential::Peer(std::sync::Arc::new(Peer::new(c.pid().and_then(|p| u32::try_from(p).ok()), uid, gid)))
            }
            _ => Credential::Anonymous,
        },
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the peer's credentials");
            Credential::Anonymous
        }
    }
}

/// A stream with one already-read byte put back in front.
pub struct Rewind<S> {
    first: Option<u8>,
    inner: S,
}

impl<S> Rewind<S> {
    pub fn new(first: u8, inner: S) -> Self {
        Rewind { first: Some(first), inner }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewind<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if let Some(b) = self.first.take() {
            if buf.remaining() > 0 {
                buf.put_slice(&[b]);
                return Poll::Ready(Ok(()));
            }
            self.first = Some(b);
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewind<S> {
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
