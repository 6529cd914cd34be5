//! Reading a request body under the front's limits: at most `max_body_bytes` (413), every
//! byte counted against the process-wide memory budget as it arrives (503 `overloaded` with
//! `retry-after` when the budget is spent), a gap longer than `header_timeout` between its
//! pieces ends it (408), and shutdown ends a body still arriving (503 `shutting_down`). The
//! budget bytes stay held until the answer is written ([`BodyHold`]).

use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use http_body_util::BodyExt;
use hyper::Request;
use hyper::body::Incoming;
use hyper::header::CONTENT_LENGTH;
use hyper::http::request::Parts;

use super::Body;
use crate::api::error::GatewayError;
use crate::front::Ctx;
use crate::front::budget::Held;

/// The budget bytes a request's body holds. `handle` puts one in the request's extensions
/// and keeps it until the answer's body is done; the endpoint's body read fills it.
#[derive(Clone, Default)]
pub struct BodyHold(Arc<Mutex<Held>>);

impl BodyHold {
    fn keep(&self, held: Held) {
        let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *slot = held;
    }

    /// Keeps the bytes held while `r`'s body streams (a whole body is written at once).
    pub fn keep_for(self, r: &mut hyper::Response<Body>) {
        if !matches!(r.body(), Body::Stream(_)) {
            return;
        }
        if let Body::Stream(s) = std::mem::replace(r.body_mut(), Body::Full(None)) {
            let hold = self;
            *r.body_mut() = Body::Stream(Box::pin(s.map(move |b| {
                let _ = &hold;
                b
            })));
        }
    }
}

/// Reads the whole request body under the limits (module docs).
pub async fn read_body(req: Request<Incoming>, cx: &Ctx) -> Result<(Parts, Bytes), GatewayError> {
    let (max, gap) = {
        let live = cx.gateway.current();
        (live.snapshot.server.max_body_bytes, live.snapshot.server.front.header_timeout)
    };
    if let Some(len) =
        req.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok())
        && len > max as u64
    {
        return Err(GatewayError::TooLarge { limit: max });
    }
    let (parts, mut body) = req.into_parts();
    let mut held = Held::default();
    let mut buf = Pieces::default();
    loop {
        let frame = tokio::select! {
            f = tokio::time::timeout(gap, body.frame()) => f,
            _ = cx.shutdown.cancelled() => {
                return Err(GatewayError::ShuttingDown { message: "sidegate is shutting down; retry on the restarted daemon" });
            }
        };
        let data = match frame {
            Err(_) => {
                return Err(GatewayError::ClientTimedOut {
                    message: format!("the request body stopped arriving for {gap:?} (server.header_timeout)"),
                });
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                return Err(GatewayError::invalid(format!("could not read the request body: {e}"), None));
            }
            Ok(Some(Ok(f))) => match f.into_data() {
                Ok(d) => d,
                Err(_) => continue, // trailers
            },
        };
        if buf.len + data.len() > max {
            return Err(GatewayError::TooLarge { limit: max });
        }
        if let Err(spent) = cx.budget.grow(&mut held, data.len()) {
            // Nothing of it is kept; the rest is read and dropped so the client, still
            // writing, gets to read its answer instead of a broken pipe.
            let left = max - buf.len - data.len();
            drop((buf, held, data));
            drain(&mut body, left, gap).await;
            return Err(spent.to_error());
        }
        buf.push(data);
    }
    if let Some(hold) = parts.extensions.get::<BodyHold>() {
        hold.keep(held);
    }
    Ok((parts, buf.finish()))
}

/// Reads and drops what is left of a refused body: at most `left` bytes, until a gap of `gap`.
async fn drain(body: &mut Incoming, mut left: usize, gap: std::time::Duration) {
    while let Ok(Some(Ok(f))) = tokio::time::timeout(gap, body.frame()).await {
        let n = f.data_ref().map_or(0, Bytes::len);
        if n > left {
            return;
        }
        left -= n;
    }
}

/// A body as its pieces arrive: one piece is kept as it is, more are copied into one buffer
/// that grows with them (never sized by what `content-length` claims).
#[derive(Default)]
struct Pieces {
    first: Option<Bytes>,
    rest: BytesMut,
    len: usize,
}

impl Pieces {
    fn push(&mut self, b: Bytes) {
        self.len += b.len();
        if self.first.is_none() && self.rest.is_empty() {
            self.first = Some(b);
            return;
        }
        if let Some(f) = self.first.take() {
            self.rest.extend_from_slice(&f);
        }
        self.rest.extend_from_slice(&b);
    }

    fn finish(self) -> Bytes {
        match self.first {
            Some(f) => f,
            None => self.rest.freeze(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_join_in_order() {
        let mut p = Pieces::default();
        assert_eq!(Pieces::default().finish(), Bytes::new());
        p.push(Bytes::from_static(b"ab"));
        assert_eq!(p.len, 2);
        p.push(Bytes::from_static(b"cd"));
        p.push(Bytes::from_static(b"e"));
        assert_eq!((p.len, p.finish()), (5, Bytes::from_static(b"abcde")));
    }
}
