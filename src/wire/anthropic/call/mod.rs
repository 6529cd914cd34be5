//! Calling Anthropic: canonical request -> Messages request ([`request`], [`tools`]),
//! Messages response -> canonical ([`response`]), Messages events -> canonical chunks
//! ([`stream`]), prompt-cache breakpoints ([`cache`]). No I/O.

pub mod cache;
pub mod request;
pub mod response;
pub mod stream;
#[cfg(test)]
mod tests;
mod thinking;
#[cfg(test)]
mod thinking_tests;
pub mod tools;

pub use request::{default_max_tokens, to_wire};
pub use response::{finish_reason, from_wire, usage};
pub use stream::StreamState;

/// Per-account translation settings.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// `max_tokens` for models missing from `MAX_OUTPUT`.
    pub default_max_tokens: Option<u64>,
    /// The reasoning to ask for, the effort table applied (`providers::reasoning`).
    pub reasoning: crate::api::reasoning::Resolved,
}

/// What translating the answer needs to know about the request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplyCtx {
    /// `JSON_TOOL` was offered: its input is the answer's content, not a tool call.
    pub json_tool: bool,
}
