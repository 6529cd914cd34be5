//! Provider adapters: pure translation between the canonical (OpenAI-shaped) types and each
//! vendor's wire format, plus the one HTTP call. A closed set of kinds, matched, not boxed.
//! Adapters know nothing of routing, fronts or config reloads.

pub mod error;
pub mod mock;
pub mod openai;
pub mod sse;

use std::pin::Pin;
use std::sync::Arc;

use futures_util::Stream;
use serde_json::Value;

use crate::api::{ChatChunk, ChatRequest, ChatResponse, EmbeddingsRequest};
use crate::config::{ProviderKind, ProviderSettings};
pub use error::{Action, Failure, ProviderError};

/// A vendor stream, already translated to canonical chunks. Dropping it aborts the call.
pub type ChunkStream = Pin<Box<dyn Stream<Item = Result<ChatChunk, ProviderError>> + Send>>;

/// One configured vendor account, ready to call.
pub enum Provider {
    OpenAi(openai::OpenAi),
    Mock(mock::Mock),
}

impl Provider {
    /// Builds the adapter (and its HTTP connection pool) for an account.
    pub fn build(settings: &Arc<ProviderSettings>) -> Result<Self, String> {
        match settings.kind {
            ProviderKind::OpenAi | ProviderKind::OpenAiCompatible => {
                let http = settings.http.as_ref().ok_or("http settings missing")?;
                Ok(Provider::OpenAi(openai::OpenAi::new(http)?))
            }
            ProviderKind::Mock => {
                let m = settings.mock.clone().ok_or("mock settings missing")?;
                Ok(Provider::Mock(mock::Mock::new(m)))
            }
        }
    }

    /// A whole (non-streaming) completion from `model` (the vendor's model id).
    pub async fn complete(
        &self,
        req: &ChatRequest,
        model: &str,
    ) -> Result<ChatResponse, ProviderError> {
        match self {
            Provider::OpenAi(p) => p.complete(req, model).await,
            Provider::Mock(p) => p.complete(req, model).await,
        }
    }

    /// Starts a stream; resolves once the vendor accepted the call (headers received).
    pub async fn stream(
        &self,
        req: &ChatRequest,
        model: &str,
    ) -> Result<ChunkStream, ProviderError> {
        match self {
            Provider::OpenAi(p) => p.stream(req, model).await,
            Provider::Mock(p) => p.stream(req, model).await,
        }
    }

    /// Embeddings, answered in OpenAI's `list` shape.
    pub async fn embeddings(
        &self,
        req: &EmbeddingsRequest,
        model: &str,
    ) -> Result<Value, ProviderError> {
        match self {
            Provider::OpenAi(p) => p.embeddings(req, model).await,
            Provider::Mock(p) => p.embeddings(req, model).await,
        }
    }
}
