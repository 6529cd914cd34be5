//! Wire dialects: for each vendor API, the serde types of its wire format and pure
//! conversions between that dialect and the canonical types ([`crate::api`]). No HTTP, no
//! config, no routing: this layer depends on `crate::api` and serde only, so a front and an
//! adapter can share one dialect's types.
//!
//! A *dialect* is one API's request/response/stream shape. Each has up to two directions,
//! and the folder tree says which is which:
//! - `call/`: sidegate *calls* the vendor. Canonical request -> dialect request; dialect
//!   response and stream events -> canonical response and chunks. The provider adapters use
//!   these around their one HTTP call.
//! - `serve/`: sidegate *serves* a caller speaking the dialect. Dialect request -> canonical
//!   request; canonical response, chunks and errors -> dialect response, events and error
//!   body. A dialect-shaped front sits on these.
//!
//! Dialects: [`anthropic`] (Messages, both directions), [`gemini`] (generateContent, both
//! directions), [`openai_chat`] (what Chat Completions needs beyond the canonical types, which are
//! already its shape), [`openai_responses`] (the Responses API, both directions, in one folder
//! of its own for now). [`canonical`] holds what the non-OpenAI dialects share when reading a
//! canonical request; [`sse`] is the event framing the streaming dialects use.
//!
//! Conversions of every dialect, both directions, fail with [`WireError`], which says *what
//! kind* of problem it is (a field the dialect cannot express, a malformed request or body, a
//! stream cut short, an error the vendor reported in-band) and where in the request, so the
//! adapter can classify it for failover and a front can answer it
//! ([`WireError::to_gateway_error`]). Every streaming dialect reads through [`StreamDecoder`]
//! and writes its events with [`sse::encode`].

#[cfg(test)]
mod answer_proptests;
pub mod anthropic;
pub mod cache_control;
pub mod canonical;
mod error;
pub mod gemini;
pub mod native;
pub mod native_prompt;
pub mod openai_chat;
pub mod openai_responses;
#[cfg(test)]
mod proptests;
pub mod sse;
#[cfg(test)]
pub(crate) mod test_support;
#[cfg(test)]
mod usage_tests;

use crate::api::ChatChunk;
pub use error::{VendorReport, WireError};
use sse::SseEvent;

/// Whether a stream decoder wants more events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    More,
    /// The dialect's terminal event arrived: the stream is complete.
    Done,
}

/// A dialect's stream, read: one SSE event in, zero or more canonical chunks out. Pure; the
/// adapter feeds it the vendor's bytes through [`sse::SseParser`].
pub trait StreamDecoder: Send + 'static {
    fn on_event(&mut self, ev: SseEvent, out: &mut Vec<ChatChunk>) -> Result<Flow, WireError>;
    /// The body ended without a terminal event: finish (Gemini has no sentinel) or fail.
    fn on_end(&mut self, out: &mut Vec<ChatChunk>) -> Result<(), WireError>;
}

/// Parses one stream event's JSON; a parse failure is a malformed event.
pub(crate) fn parse_event<'a, T: serde::Deserialize<'a>>(data: &'a str) -> Result<T, WireError> {
    serde_json::from_str(data).map_err(|e| WireError::Malformed(format!("vendor sent an invalid stream event: {e}")))
}
