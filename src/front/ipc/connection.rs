//! One native-protocol connection: a reader loop (frames in, checks, dispatch), a writer task
//! (frames out, batched into few syscalls), and one task per request in flight. A protocol
//! violation gets an ERROR frame with id 0 and the connection is closed; nothing here can
//! affect another connection. A client that disconnects cancels all its requests.

use std::collections::HashMap;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use super::session::{self, OwnedRequest};
use crate::api::GatewayError;
use crate::front::Ctx;
use crate::front::unix::UdsStream;
use crate::protocol::messages::{Hello, Welcome, error_body};
use crate::protocol::{Frame, FrameError, Kind, VERSION, decode, encode};

/// Frames queued for the writer before request tasks wait (backpressure on slow readers).
const WRITE_QUEUE: usize = 256;

pub async fn serve_connection(stream: UdsStream, cx: Ctx, cred: crate::callers::Credential) {
    let (mut rd, wr) = crate::front::unix::split(stream);
    let (tx, rx) = mpsc::channel::<Bytes>(WRITE_QUEUE);
    let writer = tokio::spawn(write_loop(wr, rx));
    let mut conn = Conn { cx: cx.clone(), tx, in_flight: HashMap::new(), greeted: false, cred };
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<u64>();
    let mut buf = BytesMut::with_capacity(8 * 1024);
    // Limits come from the config at connect time; a reload applies to new connections.
    let max_frame = cx.gateway.current().snapshot.server.max_frame_bytes;
    let mut draining = false;

    let fatal: Option<GatewayError> = 'conn: loop {
        // Take every whole frame already buffered.
        loop {
            match decode(&mut buf, max_frame) {
                Ok(Some(frame)) => {
                    if let Err(e) = conn.on_frame(frame, &done_tx, draining).await {
                        break 'conn Some(e);
                    }
                }
                Ok(None) => break,
                Err(e) => break 'conn Some(frame_error(&e)),
            }
        }
        if draining && conn.in_flight.is_empty() {
            break None;
        }
        tokio::select! {
            n = rd.read_buf(&mut buf) => match n {
                Ok(0) | Err(_) => break None, // closed; a frame cut short is dropped
                Ok(_) => {}
            },
            Some(id) = done_rx.recv() => { conn.in_flight.remove(&id); }
            _ = cx.shutdown.cancelled(), if !draining => { draining = true; }
            _ = cx.hard_stop.cancelled() => {
                // Grace period over: tell each caller why its request ends here.
                let e = GatewayError::ShuttingDown { message: "sidegate stopped before this request finished" };
                for (id, h) in conn.in_flight.drain() {
                    h.abort();
                    let _ = conn.tx.send(encode(Kind::Error, id, &error_body(&e, None))).await;
                }
                break None;
            }
        }
    };

    if let Some(err) = &fatal {
        tracing::debug!(code = %err.label(), error = %err, "closing native connection after a protocol error");
        let _ = conn.tx.send(encode(Kind::Error, 0, &error_body(err, None))).await;
    }
    // Requests still running belong to a connection that is going away: cancel them.
    for (_, h) in conn.in_flight.drain() {
        h.abort();
    }
    drop(conn);
    let _ = writer.await;
    if fatal.is_some() {
        // Lingering close: closing with unread input makes the kernel reset the connection,
        // and the client could lose the ERROR frame. Read (and drop) what it still sends.
        let linger = async {
            let mut sink = vec![0u8; 16 * 1024];
            let mut total = 0usize;
            while let Ok(n @ 1..) = rd.read(&mut sink).await {
                total += n;
                if total > LINGER_MAX_BYTES {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(LINGER, linger).await;
    }
}

/// How long, and how much, a connection closed for a protocol error keeps draining input.
const LINGER: std::time::Duration = std::time::Duration::from_millis(500);
const LINGER_MAX_BYTES: usize = 1 << 20;

struct Conn {
    cx: Ctx,
    tx: mpsc::Sender<Bytes>,
    in_flight: HashMap<u64, AbortHandle>,
    greeted: bool,
    /// The peer's credential, for every request on this connection.
    cred: crate::callers::Credential,
}

impl Conn {
    async fn on_frame(
        &mut self,
        f: Frame,
        done: &mpsc::UnboundedSender<u64>,
        draining: bool,
    ) -> Result<(), GatewayError> {
        if !self.greeted {
            if f.kind != Kind::Hello {
                return Err(protocol_error("handshake_required", "the first frame must be HELLO"));
            }
            let hello: Hello = serde_json::from_slice(&f.body)
                .map_err(|e| protocol_error("invalid_frame_body", &format!("HELLO body: {e}")))?;
            if hello.protocol != VERSION {
                return Err(protocol_error(
                    "unsupported_protocol",
                    &format!("protocol {} is not supported; this daemon speaks {VERSION}", hello.protocol),
                ));
            }
            self.greeted = true;
            let welcome = Welcome {
                protocol: VERSION,
                server: format!("sidegate/{}", env!("CARGO_PKG_VERSION")),
                max_frame: self.cx.gateway.current().snapshot.server.max_frame_bytes,
            };
            self.send(encode(Kind::Welcome, 0, &serde_json::to_vec(&welcome).unwrap_or_default())).await;
            return Ok(());
        }
        match f.kind {
            Kind::Request => self.on_request(f, done, draining).await,
            Kind::Cancel => {
                if let Some(h) = self.in_flight.remove(&f.id) {
                    h.abort();
                }
                Ok(())
            }
            Kind::Ping => {
                self.send(encode(Kind::Pong, f.id, &f.body)).await;
                Ok(())
            }
            Kind::Pong => Ok(()),
            other => Err(protocol_error("unexpected_frame", &format!("a client may not send {other:?}"))),
        }
    }

    async fn on_request(
        &mut self,
        f: Frame,
        done: &mpsc::UnboundedSender<u64>,
        draining: bool,
    ) -> Result<(), GatewayError> {
        if f.id == 0 || self.in_flight.contains_key(&f.id) {
            return Err(protocol_error(
                "duplicate_request_id",
                &format!("request id {} is 0 or already in flight", f.id),
            ));
        }
        let req = OwnedRequest::parse(&f.body).map_err(|e| protocol_error("invalid_frame_body", &e))?;
        if draining {
            let e = GatewayError::ShuttingDown { message: "sidegate is shutting down; retry on the restarted daemon" };
            self.send(encode(Kind::Error, f.id, &error_body(&e, None))).await;
            return Ok(());
        }
        let (id, tx, gw, done, cred) =
            (f.id, self.tx.clone(), self.cx.gateway.clone(), done.clone(), self.cred.clone());
        let reload = self.cx.reload.clone();
        let handle = self.cx.tasks.spawn(async move {
            session::run(id, req, session::Session { gw: &gw, reload: &reload, tx: &tx }, cred).await;
            let _ = done.send(id);
        });
        self.in_flight.insert(id, handle.abort_handle());
        Ok(())
    }

    async fn send(&self, frame: Bytes) {
        let _ = self.tx.send(frame).await;
    }
}

async fn write_loop<W: tokio::io::AsyncWrite + Unpin>(wr: W, mut rx: mpsc::Receiver<Bytes>) {
    let mut w = BufWriter::with_capacity(64 * 1024, wr);
    while let Some(frame) = rx.recv().await {
        if w.write_all(&frame).await.is_err() {
            return;
        }
        while let Ok(more) = rx.try_recv() {
            if w.write_all(&more).await.is_err() {
                return;
            }
        }
        if w.flush().await.is_err() {
            return;
        }
    }
    let _ = w.shutdown().await;
}

fn protocol_error(code: &'static str, message: &str) -> GatewayError {
    GatewayError::Protocol { code, message: message.to_string() }
}

fn frame_error(e: &FrameError) -> GatewayError {
    protocol_error(e.code(), &e.to_string())
}
