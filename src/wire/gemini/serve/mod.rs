//! Serving Gemini-shaped callers: generateContent request -> canonical ([`request`],
//! [`contents`], [`schema`], read with [`types`]), canonical response -> GenerateContentResponse
//! ([`response`]), canonical chunks -> streamGenerateContent events ([`stream`]), a failure ->
//! google.rpc.Status ([`error`]), embedContent / batchEmbedContents / countTokens ([`embed`]).
//! No I/O: the front is `front::http::gemini`.

pub mod contents;
pub mod embed;
pub mod error;
pub mod request;
pub mod response;
pub mod schema;
pub mod stream;
#[cfg(test)]
mod tests;
mod thoughts;
pub mod types;

pub use error::{error_body, gateway_status, status_name};
pub use request::{from_json, from_object, to_canonical};
pub use response::{finish_reason, from_canonical};
pub use stream::{JsonArray, StreamEncoder, encode};

/// Who refuses what a Gemini caller asks for and sidegate cannot carry (in error messages:
/// Gemini itself may support it).
pub const FRONT: &str = "sidegate's Gemini API";
