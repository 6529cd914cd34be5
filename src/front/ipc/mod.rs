//! The native-protocol front (docs/protocol.md): one connection carries many requests at
//! once. `connection` reads and checks frames, owns the per-connection state and runs the
//! connection's requests on its task; `session` runs one request against the router and
//! appends its frames to the connection's `outbox`; `inbound` buffers what arrives under
//! the memory budget.

mod connection;
mod inbound;
mod outbox;
mod session;

pub use connection::serve_connection;
