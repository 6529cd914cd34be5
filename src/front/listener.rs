//! Accept loops. The Unix socket sniffs the first byte of each connection: `0x00` starts the
//! native protocol (docs/protocol.md), anything else is HTTP/1.1. The TCP listener is HTTP
//! only. Every connection runs as a tracked task, so shutdown can wait for them.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::unix::{self, UdsListener};
use super::{Ctx, http, ipc};
use crate::callers::{Credential, Peer};
use crate::protocol::PREFACE;

/// Accepts on `listener` until `stop` (its own token: a reload that moves the socket stops
/// only this loop) or shutdown.
pub async fn serve_unix(listener: UdsListener, cx: Ctx, stop: CancellationToken) {
    loop {
        let conn = tokio::select! {
            c = unix::accept(&listener) => c,
            _ = cx.shutdown.cancelled() => break,
            _ = stop.cancelled() => break,
        };
        match conn {
            Ok(stream) => {
                let cx2 = cx.clone();
                cx.tasks.spawn(async move { sniff_and_serve(stream, cx2).await });
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept failed on the unix socket");
                // EMFILE and friends: back off instead of spinning.
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

pub async fn serve_tcp(listener: TcpListener, cx: Ctx, stop: CancellationToken) {
    loop {
        let conn = tokio::select! {
            c = listener.accept() => c,
            _ = cx.shutdown.cancelled() => break,
            _ = stop.cancelled() => break,
        };
        match conn {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                let cx2 = cx.clone();
                // Over TCP a caller is known only by its bearer key, per request.
                cx.tasks.spawn(async move { http::serve_connection(stream, cx2, Credential::Anonymous).await });
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept failed on the tcp listener");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

async fn sniff_and_serve(mut stream: unix::UdsStream, cx: Ctx) {
    let mut first = [0u8; 1];
    match stream.read_exact(&mut first).await {
        Ok(_) => {}
        Err(_) => return, // connected and left
    }
    let cred = peer_credential(&stream);
    if first[0] == PREFACE[0] {
        let mut rest = [0u8; 3];
        if stream.read_exact(&mut rest).await.is_err() || rest != PREFACE[1..] {
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
