//! The OpenAI Responses API dialect (`POST /v1/responses`): its serde types and pure
//! conversions to and from the canonical, Chat-Completions-shaped types in [`crate::api`].
//!
//! - requests: [`to_chat_request`] (Responses ingress) and [`to_create_response`] (a
//!   Responses upstream); what has no equivalent is an error or named in `dropped`.
//! - whole answers: [`to_response`] and [`to_chat_response`].
//! - streams: [`EventStream`] (canonical chunks -> Responses events, a state machine) and
//!   [`ChunkReader`] (Responses events -> canonical chunks, a [`crate::wire::StreamDecoder`]).
//! - errors: conversions fail with [`crate::wire::WireError`]; [`error_body`] and
//!   [`response_error`] are its shapes on the Responses wire.
//!
//! No I/O, no clock, no configuration: ids and timestamps come from the canonical values.

pub mod error;
pub mod events;
pub mod output;
pub mod reasoning;
pub mod request_in;
pub mod request_out;
pub mod response;
pub mod stream_in;
pub mod stream_out;
pub mod types;

/// The dialect's name in error messages.
pub const DIALECT: &str = "OpenAI Responses";

#[cfg(test)]
mod tests;

pub use error::{error_body, response_error};
pub use events::{EventBody, StreamEvent, parse_event};
pub use output::{Response, ResponseEcho, ResponseUsage, Status};
pub use request_in::{Converted, Ingress, RESPONSES_ONLY_FIELDS, to_chat_request};
pub use request_out::to_create_response;
pub use response::{to_chat_response, to_response};
pub use stream_in::ChunkReader;
pub use stream_out::EventStream;
pub use types::CreateResponse;
