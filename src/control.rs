//! Reloads asked for from outside the daemon's own loop: the fronts hold a `ReloadHandle`
//! (native `reload` op, `sidegate reload`), the daemon's control loop answers each request
//! with the `ReloadRecord` of the reload it ran. Also the record itself, shown by `status`.

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::api::error::GatewayError;

/// What started a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReloadCause {
    Sighup,
    /// A change event on the config file (or a key file it names).
    File,
    /// `sidegate reload` (the native `reload` op).
    Admin,
    /// The periodic digest check found a change no event reported.
    Poll,
}

impl ReloadCause {
    pub fn as_str(self) -> &'static str {
        match self {
            ReloadCause::Sighup => "sighup",
            ReloadCause::File => "file",
            ReloadCause::Admin => "admin",
            ReloadCause::Poll => "poll",
        }
    }
}

/// What a reload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReloadResult {
    Applied,
    /// The file's content is what is running already.
    Unchanged,
    /// Validation or a build step failed: the running config stays.
    Failed,
}

impl ReloadResult {
    pub fn as_str(self) -> &'static str {
        match self {
            ReloadResult::Applied => "applied",
            ReloadResult::Unchanged => "unchanged",
            ReloadResult::Failed => "failed",
        }
    }
}

/// What the last reload did, for `status`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReloadRecord {
    /// Unix time (seconds).
    pub at: u64,
    pub cause: ReloadCause,
    pub result: ReloadResult,
    /// Validation or build errors, each `file:line:col: key: message`.
    pub errors: Vec<String>,
    /// Keys (`section.key`) whose new values take effect at the next start; the running
    /// values are kept until then.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restart_needed: Vec<String>,
}

/// A request to reload now; the daemon answers on the channel when the reload is done.
pub type ReloadRequest = oneshot::Sender<ReloadRecord>;

/// How a front asks the daemon for a reload.
#[derive(Clone, Default)]
pub struct ReloadHandle {
    tx: Option<mpsc::Sender<ReloadRequest>>,
}

impl ReloadHandle {
    /// A handle and the receiving end the daemon's control loop reads.
    pub fn channel() -> (Self, mpsc::Receiver<ReloadRequest>) {
        let (tx, rx) = mpsc::channel(8);
        (ReloadHandle { tx: Some(tx) }, rx)
    }

    /// Asks for a reload and waits for its result.
    pub async fn reload(&self) -> Result<ReloadRecord, GatewayError> {
        let tx = self.tx.as_ref().ok_or_else(|| GatewayError::internal("this daemon cannot reload"))?;
        let (reply, wait) = oneshot::channel();
        tx.send(reply).await.map_err(|_| GatewayError::internal("the reload loop is gone"))?;
        wait.await.map_err(|_| GatewayError::internal("the reload was abandoned"))
    }
}
