//! A native-protocol client: what `sidegate chat` / `sidegate status` use, and what the Rust
//! tests and the benchmark drive the daemon with. One connection, many requests in flight:
//! a reader task routes frames to each request by id. Dropping an unfinished stream sends
//! CANCEL.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::front::unix;
use crate::protocol::messages::Hello;
use crate::protocol::{DEFAULT_MAX_FRAME, Frame, Kind, PREFACE, VERSION, decode, encode};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to {path}: {source} (is `sidegate serve` running?)")]
    Connect { path: String, source: std::io::Error },
    #[error("connection to the daemon closed")]
    Closed,
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The daemon answered with an ERROR frame.
    #[error("{status}: {message}")]
    Api { status: u16, message: String, body: Value },
}

type Pending = Arc<Mutex<HashMap<u64, mpsc::UnboundedSender<Frame>>>>;

pub struct Client {
    tx: mpsc::Sender<Bytes>,
    pending: Pending,
    next_id: AtomicU64,
}

/// A whole answer: the RESPONSE body and its meta.
#[derive(Debug)]
pub struct Reply {
    pub body: Value,
    pub meta: Value,
}

impl Client {
    pub async fn connect(path: &Path) -> Result<Self, ClientError> {
        let err = |source| ClientError::Connect { path: path.display().to_string(), source };
        let mut stream = unix::connect(path).await.map_err(err)?;
        let hello = Hello { protocol: VERSION, client: format!("sidegate-rs/{}", env!("CARGO_PKG_VERSION")) };
        let mut first = PREFACE.to_vec();
        first.extend_from_slice(&encode(Kind::Hello, 0, &serde_json::to_vec(&hello).unwrap_or_default()));
        stream.write_all(&first).await.map_err(err)?;

        let (mut rd, mut wr) = unix::split(stream);
        let mut buf = BytesMut::with_capacity(16 * 1024);
        let welcome = loop {
            if let Some(f) = decode(&mut buf, DEFAULT_MAX_FRAME).map_err(|e| ClientError::Protocol(e.to_string()))? {
                break f;
            }
            if rd.read_buf(&mut buf).await.map_err(|_| ClientError::Closed)? == 0 {
                return Err(ClientError::Closed);
            }
        };
        if welcome.kind != Kind::Welcome {
            return Err(ClientError::Protocol(format!(
                "expected WELCOME, got {:?}: {}",
                welcome.kind,
                String::from_utf8_lossy(&welcome.body)
            )));
        }
        let (tx, mut rx) = mpsc::channel::<Bytes>(256);
        tokio::spawn(async move {
            while let Some(f) = rx.recv().await {
                if wr.write_all(&f).await.is_err() {
                    break;
                }
            }
        });
        let pending: Pending = Arc::default();
        let routes = pending.clone();
        // (weak: the writer, and so the socket, still ends when the Client is dropped)
        let pong_tx = tx.downgrade();
        tokio::spawn(async move {
            loop {
                loop {
                    match decode(&mut buf, usize::MAX >> 1) {
                        Ok(Some(f)) if f.kind == Kind::Ping => {
                            // (the daemon pings a connection that has been idle a while)
                            if let Some(tx) = pong_tx.upgrade() {
                                let _ = tx.try_send(encode(Kind::Pong, f.id, &f.body));
                            }
                        }
                        Ok(Some(f)) => {
                            let map = routes.lock().unwrap_or_else(|p| p.into_inner());
                            if let Some(s) = map.get(&f.id) {
                                let _ = s.send(f);
                            }
                        }
                        Ok(None) => break,
                        Err(_) => return,
                    }
                }
                match rd.read_buf(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
            routes.lock().unwrap_or_else(|p| p.into_inner()).clear();
        });
        Ok(Client { tx, pending, next_id: AtomicU64::new(1) })
    }

    async fn start(
        &self,
        op: &str,
        body: &Value,
        options: &Value,
    ) -> Result<(u64, mpsc::UnboundedReceiver<Frame>), ClientError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (stx, srx) = mpsc::unbounded_channel();
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).insert(id, stx);
        let req = serde_json::json!({"op": op, "body": body, "options": options});
        let bytes = serde_json::to_vec(&req).map_err(|e| ClientError::Protocol(e.to_string()))?;
        self.tx.send(encode(Kind::Request, id, &bytes)).await.map_err(|_| ClientError::Closed)?;
        Ok((id, srx))
    }

    fn finish(&self, id: u64) {
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
    }

    /// A request answered by one RESPONSE (chat without stream, models, status, embeddings).
    pub async fn call(&self, op: &str, body: &Value, options: &Value) -> Result<Reply, ClientError> {
        let (id, mut rx) = self.start(op, body, options).await?;
        let f = rx.recv().await;
        self.finish(id);
        let f = f.ok_or(ClientError::Closed)?;
        let v: Value = serde_json::from_slice(&f.body).map_err(|e| ClientError::Protocol(e.to_string()))?;
        match f.kind {
            Kind::Response => Ok(Reply { body: v["body"].clone(), meta: v["meta"].clone() }),
            Kind::Error => Err(api_error(v)),
            other => Err(ClientError::Protocol(format!("unexpected {other:?} frame"))),
        }
    }

    /// A streaming chat: chunks as they arrive.
    pub async fn stream(&self, body: &Value, options: &Value) -> Result<ReplyStream<'_>, ClientError> {
        let (id, rx) = self.start("chat", body, options).await?;
        Ok(ReplyStream { client: self, id, rx, meta: None, finished: false })
    }
}

fn api_error(v: Value) -> ClientError {
    let status = v["status"].as_u64().unwrap_or(0) as u16;
    let message = v["error"]["message"].as_str().unwrap_or("").to_string();
    ClientError::Api { status, message, body: v }
}

pub struct ReplyStream<'c> {
    client: &'c Client,
    id: u64,
    rx: mpsc::UnboundedReceiver<Frame>,
    /// The END frame's meta, once the stream finished.
    pub meta: Option<Value>,
    finished: bool,
}

impl ReplyStream<'_> {
    /// The next chunk; `None` after END.
    pub async fn next(&mut self) -> Option<Result<Value, ClientError>> {
        if self.finished {
            return None;
        }
        let Some(f) = self.rx.recv().await else {
            self.finished = true;
            return Some(Err(ClientError::Closed));
        };
        let v: Value = match serde_json::from_slice(&f.body) {
            Ok(v) => v,
            Err(e) => return Some(Err(ClientError::Protocol(e.to_string()))),
        };
        match f.kind {
            Kind::Chunk => Some(Ok(v)),
            Kind::End => {
                self.finished = true;
                self.meta = Some(v["meta"].clone());
                None
            }
            Kind::Error => {
                self.finished = true;
                Some(Err(api_error(v)))
            }
            other => Some(Err(ClientError::Protocol(format!("unexpected {other:?} frame")))),
        }
    }
}

impl Drop for ReplyStream<'_> {
    fn drop(&mut self) {
        self.client.finish(self.id);
        if !self.finished {
            let _ = self.client.tx.try_send(encode(Kind::Cancel, self.id, b""));
        }
    }
}
