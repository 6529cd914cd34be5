//! Fleet usage (`[shared] usage_stream = true`): every ledger row is also appended to the
//! Redis stream `sidegate:usage` (trimmed to about `usage_stream_max` entries), with the host
//! that served it, so one collector (`sidegate usage --fleet`, or any stream consumer) sees
//! usage across hosts. Rows go through a bounded queue to one writer task that sends them in
//! pipelines; a full queue or an unreachable Redis drops rows (counted), never delays a
//! request. The local ledger stays the record of truth.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;

use super::USAGE_STREAM;
use super::connect::Link;
use crate::usage::Record;

/// Rows waiting for the writer, at most.
const QUEUE: usize = 10_000;
/// Rows per pipeline.
const BATCH: usize = 256;

type Fields = Vec<(&'static str, String)>;

pub struct UsageStream {
    host: String,
    tx: mpsc::Sender<Fields>,
    rx: std::sync::Mutex<Option<mpsc::Receiver<Fields>>>,
    pub dropped: Arc<AtomicU64>,
}

impl UsageStream {
    pub fn new(host: &str) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        UsageStream { host: host.to_string(), tx, rx: std::sync::Mutex::new(Some(rx)), dropped: Arc::default() }
    }

    /// Queues `r` for the stream (never waits).
    pub fn push(&self, r: &Record) {
        if self.tx.try_send(fields(&self.host, r)).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(super) fn start(&self, link: Arc<Link>, max_len: u64) {
        let Some(rx) = self.rx.lock().unwrap_or_else(|p| p.into_inner()).take() else { return };
        tokio::spawn(write(link, rx, max_len, self.dropped.clone()));
    }
}

async fn write(link: Arc<Link>, mut rx: mpsc::Receiver<Fields>, max_len: u64, dropped: Arc<AtomicU64>) {
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        let mut pipe = redis::pipe();
        for row in &batch {
            let cmd = pipe.cmd("XADD").arg(USAGE_STREAM).arg("MAXLEN").arg("~").arg(max_len).arg("*");
            for (k, v) in row {
                cmd.arg(*k).arg(v);
            }
            cmd.ignore();
        }
        if let Err(e) = link.query_pipe::<()>(&pipe).await {
            dropped.fetch_add(batch.len() as u64, Ordering::Relaxed);
            tracing::debug!(error = %e, rows = batch.len(), "fleet usage stream: rows not appended");
        }
        batch.clear();
    }
}

fn fields(host: &str, r: &Record) -> Fields {
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    vec![
        ("ts_ms", r.ts_ms.to_string()),
        ("host", host.to_string()),
        ("request_id", r.request_id.clone()),
        ("caller", r.caller.clone()),
        ("app", opt(&r.app)),
        ("route", r.route.clone()),
        ("deployment", r.deployment.clone()),
        ("provider", r.provider.clone()),
        ("prompt_tokens", r.prompt_tokens.to_string()),
        ("completion_tokens", r.completion_tokens.to_string()),
        ("cached_tokens", r.cached_tokens.to_string()),
        ("cache_write_tokens", r.cache_write_tokens.to_string()),
        ("cache_write_1h_tokens", r.cache_write_1h_tokens.to_string()),
        ("reasoning_tokens", r.reasoning_tokens.to_string()),
        ("cost_usd", r.cost_usd.map(|c| c.to_string()).unwrap_or_default()),
        ("latency_ms", r.latency_ms.to_string()),
        ("status", r.status.to_string()),
        ("outcome", r.outcome.clone()),
        ("cache", r.cache.clone()),
        ("dialect", r.dialect.to_string()),
        ("prompt", opt(&r.prompt)),
    ]
}
