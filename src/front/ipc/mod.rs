//! The native-protocol front (docs/protocol.md): one connection carries many requests at
//! once. `connection` reads and checks frames and owns the per-connection state; `session`
//! runs one request against the router and writes its frames back; `inbound` buffers what
//! arrives under the memory budget.

mod connection;
mod inbound;
mod session;

pub use connection::serve_connection;
