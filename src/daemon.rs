//! `sidegate serve`: binds the listeners, serves until SIGTERM/SIGINT, then drains: stop
//! accepting, let requests in flight finish within the grace period, cancel the rest.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Snapshot;
use crate::front::listener::{self, Ctx};
use crate::front::unix;
use crate::router::{Gateway, Live};

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("cannot listen on {path}: {source}")]
    Bind { path: String, source: std::io::Error },
    #[error("cannot build providers: {0}")]
    Build(String),
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
}

pub async fn run(snapshot: Snapshot) -> Result<(), DaemonError> {
    let server = snapshot.server.clone();
    let source = snapshot.source.to_string();
    if server.socket.as_os_str().is_empty() {
        return Err(DaemonError::Bind {
            path: String::new(),
            source: std::io::Error::other(
                "no socket path: set server.socket or SIDEGATE_SOCKET (XDG_RUNTIME_DIR is not set)",
            ),
        });
    }
    let live = Live::build(snapshot).map_err(DaemonError::Build)?;
    let gateway = Arc::new(Gateway::new(live));
    let bind_err = |path: String| move |source| DaemonError::Bind { path, source };

    let uds =
        unix::bind(&server.socket, server.socket_mode).await.map_err(bind_err(server.socket.display().to_string()))?;
    let tcp = match server.http {
        Some(addr) => Some(TcpListener::bind(addr).await.map_err(bind_err(addr.to_string()))?),
        None => None,
    };
    let mut term = signal(SignalKind::terminate()).map_err(DaemonError::Signals)?;
    let mut int = signal(SignalKind::interrupt()).map_err(DaemonError::Signals)?;

    let shutdown = CancellationToken::new();
    let tasks = TaskTracker::new();
    let cx = Ctx {
        gateway,
        shutdown: shutdown.clone(),
        tasks: tasks.clone(),
        max_body: server.max_body_bytes,
        max_frame: server.max_frame_bytes,
    };
    tasks.spawn(listener::serve_unix(uds, cx.clone()));
    if let Some(tcp) = tcp {
        tasks.spawn(listener::serve_tcp(tcp, cx.clone()));
    }
    tracing::info!(socket = %server.socket.display(), http = ?server.http, config = %source, "sidegate listening");

    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: draining"),
        _ = int.recv() => tracing::info!("SIGINT: draining"),
    }
    shutdown.cancel();
    tasks.close();
    tokio::select! {
        _ = tasks.wait() => tracing::info!("all requests finished; exiting"),
        _ = tokio::time::sleep(server.shutdown_grace) => tracing::warn!(grace_ms = server.shutdown_grace.as_millis() as u64, "grace period over; cancelling the requests still running"),
        _ = term.recv() => tracing::warn!("second signal: exiting now"),
        _ = int.recv() => tracing::warn!("second signal: exiting now"),
    }
    Ok(())
}
