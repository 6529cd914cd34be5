//! The fronts: the only code that knows sockets, HTTP and frames. One Unix socket serves both
//! the native protocol and OpenAI-compatible HTTP/1.1, told apart by the first byte; an
//! optional loopback TCP listener serves HTTP only. Both fronts decode into the canonical
//! types, call the router, and encode its answer (or its `GatewayError`, mapped once per front) back.

pub mod budget;
pub mod cache_directive;
pub mod http;
pub mod ipc;
pub mod listener;
pub mod pressure;
pub mod prompt_option;
pub mod unix;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::control::ReloadHandle;
use crate::router::Gateway;

/// Shared by every connection task.
#[derive(Clone)]
pub struct Ctx {
    pub gateway: Arc<Gateway>,
    /// Where `reload` requests go (the daemon's control loop).
    pub reload: ReloadHandle,
    pub shutdown: CancellationToken,
    pub tasks: TaskTracker,
    /// Cancelled when the grace period is over: what is still running is cut off (native
    /// requests get an ERROR frame first).
    pub hard_stop: CancellationToken,
    /// Connections each listener holds at most (`server.max_connections`, within the
    /// process's file-descriptor limit); read at start.
    pub max_connections: usize,
    /// Bytes of request bodies and frames in flight (`server.max_inflight_body_bytes`); read
    /// at start.
    pub budget: budget::MemoryBudget,
    /// The connection's listener is full: unused connections give their slots back
    /// ([`pressure`]). Each accept loop sets its own.
    pub pressure: Arc<pressure::Pressure>,
}
