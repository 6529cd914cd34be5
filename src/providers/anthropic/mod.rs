//! Anthropic Messages API adapter: `POST {base_url}/v1/messages` with `x-api-key` and
//! `anthropic-version`. Translation lives in `translate` (pure, fixture-tested), the wire
//! types in `wire`; this file is only the HTTP call and error parsing. Anthropic has no `n`
//! (the `Provider` wrapper fans out) and no embeddings endpoint.

pub mod translate;
pub mod wire;

#[cfg(test)]
mod tests;

use reqwest::header::HeaderMap;

use super::error::retry_after;
use super::http::{self, Auth, Http};
use super::{ChunkStream, Failure, ProviderError};
use crate::api::{ChatRequest, ChatResponse};
use crate::config::HttpSettings;

pub const API_VERSION: &str = "2023-06-01";

pub struct Anthropic {
    http: Http,
    url: String,
    opts: translate::Options,
}

impl Anthropic {
    pub fn new(cfg: &HttpSettings) -> Result<Self, String> {
        let http = Http::new(cfg, Auth::Header("x-api-key"), &[("anthropic-version", API_VERSION)])?;
        let opts = translate::Options { default_max_tokens: cfg.default_max_tokens };
        Ok(Anthropic { http, url: format!("{}/v1/messages", cfg.base_url), opts })
    }

    pub async fn complete(&self, req: &ChatRequest, model: &str) -> Result<ChatResponse, ProviderError> {
        let (wire, ctx) = translate::to_wire(req, model, false, &self.opts)?;
        let resp = self.http.post(&self.url, http::encode(&wire)?, error_from_http).await?;
        let bytes = self.http.read(resp).await?;
        let parsed: wire::MessagesResponse =
            serde_json::from_slice(&bytes).map_err(|e| http::bad_response("Anthropic message", &e))?;
        Ok(translate::from_wire(parsed, ctx, super::mock::now()))
    }

    pub async fn stream(&self, req: &ChatRequest, model: &str) -> Result<ChunkStream, ProviderError> {
        let (wire, ctx) = translate::to_wire(req, model, true, &self.opts)?;
        let resp = self.http.post(&self.url, http::encode(&wire)?, error_from_http).await?;
        let state = translate::StreamState::new(ctx, super::mock::now());
        Ok(http::drive(resp.bytes_stream(), state, self.http.key().cloned()))
    }
}

/// Embeddings: Anthropic has none (it points to Voyage AI). A route that mixes vendors
/// filters by capability before calling this.
pub fn no_embeddings() -> ProviderError {
    let mut e = ProviderError::new(
        Failure::Unsupported,
        "Anthropic has no embeddings endpoint; route embeddings to an OpenAI, OpenAI-compatible or Gemini model",
    );
    e.code = Some("unsupported_endpoint".into());
    e
}

/// `{"type":"error","error":{"type":"overloaded_error","message":"…"}}` on a non-2xx answer.
fn error_from_http(status: u16, headers: &HeaderMap, body: &[u8]) -> ProviderError {
    let after = retry_after(headers);
    match serde_json::from_slice::<wire::ErrorBody>(body) {
        Ok(b) => translate::error(b.error, Some(status), after),
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            let message = if text.is_empty() {
                format!("vendor answered HTTP {status}")
            } else {
                text.chars().take(500).collect()
            };
            ProviderError::from_status(status, None, message, after)
        }
    }
}
