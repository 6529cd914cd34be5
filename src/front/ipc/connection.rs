//! One native-protocol connection: a reader loop (frames in, checks, dispatch), a writer task
//! (frames out, batched into few syscalls), and one task per request in flight. A protocol
//! violation gets an ERROR frame with id 0 and the connection is closed; nothing here can
//! affect another connection. A client that disconnects cancels all its requests.

use std::collections::HashMap;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio::time::Instant;

use super::inbound::{Inbound, Refused};
use super::session::{self, OwnedRequest};
use crate::api::GatewayError;
use crate::config::FrontLimits;
use crate::front::Ctx;
use crate::front::budget::Held;
use crate::front::unix::UdsStream;
use crate::protocol::messages::{Hello, Welcome, error_body};
use crate::protocol::{Frame, FrameError, Kind, VERSION, encode};

/// Frames queued for the writer before request tasks wait (backpressure on slow readers).
const WRITE_QUEUE: usize = 256;

pub async fn serve_connection(stream: UdsStream, cx: Ctx, cred: crate::callers::Credential) {
    let (mut rd, wr) = crate::front::unix::split(stream);
    let (tx, rx) = mpsc::channel::<Bytes>(WRITE_QUEUE);
    let writer = tokio::spawn(write_loop(wr, rx));
    let mut conn = Conn { cx: cx.clone(), tx, in_flight: HashMap::new(), greeted: false, cred };
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<u64>();
    // Limits come from the config at connect time; a reload applies to new connections.
    let (max_frame, limits) = {
        let live = cx.gateway.current();
        (live.snapshot.server.max_frame_bytes, live.snapshot.server.front)
    };
    let mut inbound = Inbound::new(max_frame, cx.budget.clone());
    let mut quiet = Quiet::new(limits);
    let mut draining = false;

    let fatal: Option<GatewayError> = 'conn: loop {
        // Take every whole frame already buffered.
        loop {
            match inbound.next_frame() {
                Ok(Some((frame, held))) => {
                    if let Err(e) = conn.on_frame(frame, held, &done_tx, draining).await {
                        break 'conn Some(e);
                    }
                }
                Ok(None) => break,
                Err(e) => break 'conn Some(frame_error(&e)),
            }
        }
        if draining && conn.in_flight.is_empty() {
            break None; // a partial frame or an idle connection is not a request in flight
        }
        let deadline = quiet.deadline(conn.greeted, conn.in_flight.is_empty());
        tokio::select! {
            n = rd.read_buf(&mut inbound.buf) => match n {
                Ok(0) | Err(_) => break None, // closed; a frame cut short is dropped
                Ok(_) => {
                    quiet.heard();
                    if let Err(refused) = inbound.account() {
                        conn.refuse(refused).await;
                    }
                }
            },
            Some(id) = done_rx.recv() => {
                conn.in_flight.remove(&id);
                quiet.heard();
            }
            _ = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => match quiet.expired(conn.greeted) {
                Expired::Handshake => break Some(protocol_error("handshake_timeout",
                    "no HELLO within server.header_timeout of the preface")),
                Expired::Ping => conn.send(encode(Kind::Ping, 0, b"idle")).await,
                Expired::Silent => {
                    tracing::debug!("closing an idle native connection that did not answer PING");
                    break None;
                }
            },
            _ = cx.pressure.shed(quiet.since), if conn.in_flight.is_empty() => {
                tracing::debug!("closing an unused native connection: the listener is full");
                break None;
            }
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
    close(conn, writer, rd, fatal).await;
}

/// Sends the ERROR frame of a protocol violation, cancels what still runs, and closes.
async fn close(
    mut conn: Conn,
    writer: tokio::task::JoinHandle<()>,
    mut rd: crate::front::unix::Half,
    fatal: Option<GatewayError>,
) {
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

/// When a connection has been quiet too long: HELLO must follow the preface within
/// `header_timeout`; a connection with nothing in flight that stays silent for `idle_timeout`
/// is sent a PING, and closed when nothing comes back within `header_timeout` more.
struct Quiet {
    limits: FrontLimits,
    since: Instant,
    pinged: bool,
}

enum Expired {
    Handshake,
    Ping,
    Silent,
}

impl Quiet {
    fn new(limits: FrontLimits) -> Self {
        Quiet { limits, since: Instant::now(), pinged: false }
    }

    /// Bytes came in, or a request finished: the quiet starts over.
    fn heard(&mut self) {
        self.since = Instant::now();
        self.pinged = false;
    }

    /// None while requests are in flight: their own deadlines bound them.
    fn deadline(&self, greeted: bool, idle: bool) -> Option<Instant> {
        let wait = match (greeted, idle, self.pinged) {
            (false, _, _) | (true, true, true) => self.limits.header_timeout,
            (true, true, false) => self.limits.idle_timeout,
            (true, false, _) => return None,
        };
        Some(self.since + wait)
    }

    fn expired(&mut self, greeted: bool) -> Expired {
        if !greeted {
            return Expired::Handshake;
        }
        if self.pinged {
            return Expired::Silent;
        }
        self.pinged = true;
        self.since = Instant::now();
        Expired::Ping
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
        held: Held,
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
            Kind::Request => self.on_request(f, held, done, draining).await,
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

    /// `held`: the budget bytes of the frame, kept until the request ends.
    async fn on_request(
        &mut self,
        f: Frame,
        held: Held,
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
        // Boxed: the request's future is large, and tokio copies an unboxed one into the
        // task and its whole stage again on completion (issue 16: ~2,500 instructions of
        // memcpy per native request); a box is one allocation and pointer moves.
        let handle = self.cx.tasks.spawn(Box::pin(async move {
            session::run(id, req, session::Session { gw: &gw, reload: &reload, tx: &tx }, cred).await;
            drop(held);
            let _ = done.send(id);
        }));
        self.in_flight.insert(id, handle.abort_handle());
        Ok(())
    }

    /// A frame the memory budget could not take: a REQUEST gets its ERROR (503, retry).
    async fn refuse(&self, r: Refused) {
        tracing::debug!(id = r.id, request = r.request, "native frame dropped: {}", r.why);
        if r.request && r.id != 0 {
            self.send(encode(Kind::Error, r.id, &error_body(&r.why.to_error(), None))).await;
        }
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
