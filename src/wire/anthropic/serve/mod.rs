//! Serving Anthropic-shaped callers: Messages request -> canonical ([`request`]), canonical
//! response and failures -> Messages response and error body ([`response`]), canonical
//! chunks -> the Messages event sequence ([`stream`]). No I/O; the front that uses these is
//! not built yet.

pub mod request;
pub mod response;
pub mod stream;
#[cfg(test)]
mod tests;

pub use request::{from_json, to_canonical};
pub use response::{error_body, from_canonical, stop_reason};
pub use stream::StreamEncoder;
