//! One native-protocol connection, on one task: a loop that reads and checks frames,
//! polls the connection's requests in flight (each a future in a `FuturesUnordered`, not a
//! task of its own) and writes the frames they produce. A protocol violation gets an ERROR
//! frame with id 0 and the connection is closed; nothing here can affect another
//! connection. A client that disconnects cancels all its requests.
//!
//! Why one task (issue 16): a task per request and a writer task cost each request a spawn,
//! two channel sends and two wake-ups, often on the other core. Here a request's answer is
//! written by the task that read it, in the same poll. The cost is that one connection's
//! requests share one core; a client that needs more opens more connections (each gets its
//! own task, spread over the runtime's workers).

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;

use futures_util::StreamExt;
use futures_util::future::{AbortHandle, Abortable};
use futures_util::stream::FuturesUnordered;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use super::inbound::{Inbound, Refused};
use super::outbox::Outbox;
use super::session::{self, OwnedRequest};
use crate::api::GatewayError;
use crate::config::FrontLimits;
use crate::front::Ctx;
use crate::front::budget::Held;
use crate::front::unix::UdsStream;
use crate::protocol::messages::{Hello, Welcome, error_body};
use crate::protocol::{Frame, FrameError, Kind, VERSION};

/// A request in flight: resolves to its id when it has written its last frame.
type InFlight = Abortable<Pin<Box<dyn std::future::Future<Output = u64> + Send>>>;

/// How long a closing connection may take to write its last frames to a peer that does not
/// read them.
const CLOSE_FLUSH: std::time::Duration = std::time::Duration::from_secs(5);

pub async fn serve_connection(stream: UdsStream, cx: Ctx, cred: crate::callers::Credential) {
    let (mut rd, mut wr) = crate::front::unix::split(stream);
    let out = Arc::new(Outbox::default());
    let mut conn = Conn { cx: cx.clone(), out: out.clone(), in_flight: HashMap::new(), greeted: false, cred };
    let mut requests = FuturesUnordered::<InFlight>::new();
    // Limits come from the config at connect time; a reload applies to new connections.
    let (max_frame, limits) = {
        let live = cx.gateway.current();
        (live.snapshot.server.max_frame_bytes, live.snapshot.server.front)
    };
    let mut inbound = Inbound::new(max_frame, cx.budget.clone());
    let mut quiet = Quiet::new(limits);
    let mut draining = false;
    // Made once and polled again each turn of the loop: a cancellation wait or a timer made
    // per turn registers and deregisters itself every time (issue 16).
    let hard_stop = cx.hard_stop.cancelled();
    let shutdown = cx.shutdown.cancelled();
    let quiet_timer = tokio::time::sleep_until(Instant::now());
    tokio::pin!(hard_stop, shutdown, quiet_timer);

    let fatal: Option<GatewayError> = 'conn: loop {
        // Take every whole frame already buffered.
        loop {
            match inbound.next_frame() {
                Ok(Some((frame, held))) => {
                    if let Err(e) = conn.on_frame(frame, held, &mut requests, draining) {
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
        if let Some(at) = deadline
            && (quiet_timer.deadline() != at || quiet_timer.is_elapsed())
        {
            quiet_timer.as_mut().reset(at);
        }
        // Biased: the requests are polled before the writer, so what they appended in this
        // poll is written in the same poll (the writer arranges no wake-up of its own while
        // there is nothing to write, and ends the wait only for a failure or for room).
        tokio::select! {
            biased;
            _ = &mut hard_stop => {
                // Grace period over: tell each caller why its request ends here.
                let e = GatewayError::ShuttingDown { message: "sidegate stopped before this request finished" };
                for (id, h) in conn.in_flight.drain() {
                    h.abort();
                    out.push(Kind::Error, id, &error_body(&e, None));
                }
                break None;
            }
            Some(done) = requests.next(), if !requests.is_empty() => {
                if let Ok(id) = done {
                    conn.in_flight.remove(&id);
                }
                quiet.heard();
            }
            pumped = std::future::poll_fn(|c| out.poll_pump(&mut wr, c)) => {
                if pumped.is_err() {
                    break None; // the peer is gone
                }
            }
            n = rd.read_buf(&mut inbound.buf), if !out.over_limit() => match n {
                Ok(0) | Err(_) => break None, // closed; a frame cut short is dropped
                Ok(_) => {
                    quiet.heard();
                    if let Err(refused) = inbound.account() {
                        conn.refuse(refused);
                    }
                }
            },
            _ = &mut quiet_timer, if deadline.is_some() => match quiet.expired(conn.greeted) {
                Expired::Handshake => break Some(protocol_error("handshake_timeout",
                    "no HELLO within server.header_timeout of the preface")),
                Expired::Ping => out.push(Kind::Ping, 0, b"idle"),
                Expired::Silent => {
                    tracing::debug!("closing an idle native connection that did not answer PING");
                    break None;
                }
            },
            _ = cx.pressure.shed(quiet.since), if conn.in_flight.is_empty() => {
                tracing::debug!("closing an unused native connection: the listener is full");
                break None;
            }
            _ = &mut shutdown, if !draining => { draining = true; }
        }
    };
    // Requests still running belong to a connection that is going away: dropping their
    // futures cancels them (and their vendor calls).
    drop(requests);
    close(conn, wr, rd, fatal).await;
}

/// Sends the ERROR frame of a protocol violation, writes what is left, and closes.
async fn close(
    conn: Conn,
    mut wr: crate::front::unix::Half,
    mut rd: crate::front::unix::Half,
    fatal: Option<GatewayError>,
) {
    if let Some(err) = &fatal {
        tracing::debug!(code = %err.label(), error = %err, "closing native connection after a protocol error");
        conn.out.push(Kind::Error, 0, &error_body(err, None));
    }
    let _ = tokio::time::timeout(CLOSE_FLUSH, conn.out.flush(&mut wr)).await;
    conn.out.close();
    let _ = wr.shutdown().await;
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
    out: Arc<Outbox>,
    in_flight: HashMap<u64, AbortHandle>,
    greeted: bool,
    /// The peer's credential, for every request on this connection.
    cred: crate::callers::Credential,
}

impl Conn {
    fn on_frame(
        &mut self,
        f: Frame,
        held: Held,
        requests: &mut FuturesUnordered<InFlight>,
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
            self.out.push(Kind::Welcome, 0, &serde_json::to_vec(&welcome).unwrap_or_default());
            return Ok(());
        }
        match f.kind {
            Kind::Request => self.on_request(f, held, requests, draining),
            Kind::Cancel => {
                if let Some(h) = self.in_flight.remove(&f.id) {
                    h.abort();
                }
                Ok(())
            }
            Kind::Ping => {
                self.out.push(Kind::Pong, f.id, &f.body);
                Ok(())
            }
            Kind::Pong => Ok(()),
            other => Err(protocol_error("unexpected_frame", &format!("a client may not send {other:?}"))),
        }
    }

    /// `held`: the budget bytes of the frame, kept until the request ends.
    fn on_request(
        &mut self,
        f: Frame,
        held: Held,
        requests: &mut FuturesUnordered<InFlight>,
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
            self.out.push(Kind::Error, f.id, &error_body(&e, None));
            return Ok(());
        }
        let (id, out, gw, cred) = (f.id, self.out.clone(), self.cx.gateway.clone(), self.cred.clone());
        let reload = self.cx.reload.clone();
        // Boxed: the request's future is large, and moving it into the set by value would
        // copy it (issue 16 measured ~2,500 instructions of memcpy per request when it was
        // a task's); a box is one allocation and pointer moves.
        let run: Pin<Box<dyn std::future::Future<Output = u64> + Send>> = Box::pin(async move {
            session::run(id, req, session::Session { gw: &gw, reload: &reload, out: &out }, cred).await;
            drop(held);
            id
        });
        let (handle, registration) = AbortHandle::new_pair();
        requests.push(Abortable::new(run, registration));
        self.in_flight.insert(id, handle);
        Ok(())
    }

    /// A frame the memory budget could not take: a REQUEST gets its ERROR (503, retry).
    fn refuse(&self, r: Refused) {
        tracing::debug!(id = r.id, request = r.request, "native frame dropped: {}", r.why);
        if r.request && r.id != 0 {
            self.out.push(Kind::Error, r.id, &error_body(&r.why.to_error(), None));
        }
    }
}

fn protocol_error(code: &'static str, message: &str) -> GatewayError {
    GatewayError::Protocol { code, message: message.to_string() }
}

fn frame_error(e: &FrameError) -> GatewayError {
    protocol_error(e.code(), &e.to_string())
}
