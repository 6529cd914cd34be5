//! Serving Anthropic-shaped callers: Messages request -> canonical ([`request`]), canonical
//! response and failures -> Messages response and error body ([`response`]), canonical
//! chunks -> the Messages event sequence ([`stream`]); what the canonical form does not
//! carry is kept for an Anthropic vendor ([`only`]). No I/O: the front is
//! `front::http::messages`.

pub mod only;
mod reasoning;
pub mod request;
pub mod response;
pub mod stream;
#[cfg(test)]
mod tests;

pub use request::{Served, from_json, read, to_canonical};
pub use response::{error_body, from_canonical, stop_reason};
pub use stream::StreamEncoder;
