//! Calling Gemini: canonical request -> generateContent body ([`request`], [`parts`],
//! [`tools`]), generateContent response -> canonical ([`response`]), stream events ->
//! canonical chunks ([`stream`]), embeddings ([`embed`]). No I/O.

pub mod embed;
pub mod parts;
pub mod request;
pub mod response;
pub mod stream;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod thought_tests;
pub mod thoughts;
pub mod tools;

pub use embed::{EMBED_BATCH, embed_from_wire, embed_wire};
pub use request::to_wire;
pub use response::{finish_reason, from_wire, usage};
pub use stream::StreamState;
