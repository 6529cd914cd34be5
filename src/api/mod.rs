//! Vendor-neutral, OpenAI-shaped types: what both fronts decode requests into and what every
//! provider adapter translates to and from. OpenAI Chat Completions semantics are the lingua
//! franca; fields sidegate does not model are kept in `extra` maps and passed through to
//! OpenAI-style vendors, so nothing a caller sends is silently dropped.

pub mod chat;
pub mod embeddings;
pub mod error;
pub mod ids;
pub mod reasoning;
pub mod required_keys;
pub mod response;
#[cfg(test)]
mod response_tests;

pub use chat::{ChatRequest, Content, ContentPart, Message, Role};
pub use embeddings::EmbeddingsRequest;
pub use error::GatewayError;
pub use response::{ChatChunk, ChatResponse, Usage};

/// JSON object used for pass-through fields.
pub type Extra = serde_json::Map<String, serde_json::Value>;
