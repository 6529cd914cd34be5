//! The fronts: the only code that knows sockets, HTTP and frames. One Unix socket serves both
//! the native protocol and OpenAI-compatible HTTP/1.1, told apart by the first byte; an
//! optional loopback TCP listener serves HTTP only. Both fronts decode into the canonical
//! types, call the router, and encode its answer (or its `ApiError`) back.

pub mod http;
pub mod ipc;
pub mod listener;
pub mod unix;
