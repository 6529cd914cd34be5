//! Callers: who is on the other end of a connection (identity), what they may use, and how
//! much (limits, budgets, prices). The fronts establish a `Credential` per connection; the
//! router turns it into a `Caller`, checks the route, and admits the request.

pub mod identity;
pub mod limits;
mod local_share;
pub mod prices;
pub mod shared;

pub use identity::{Caller, Credential, Peer, identify};
pub use limits::{Admission, CallerBook};
