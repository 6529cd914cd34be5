//! Google Gemini API adapter: `POST {base_url}/v1beta/models/{model}:generateContent`,
//! `:streamGenerateContent?alt=sse` and `:batchEmbedContents`, key in `x-goog-api-key`.
//! Translation lives in `translate` and `schema` (pure, fixture-tested), wire types in
//! `wire`; this file is the HTTP calls and error parsing. `n` maps to `candidateCount`.

pub mod schema;
pub mod translate;
pub mod wire;

#[cfg(test)]
mod tests;

use reqwest::header::HeaderMap;
use serde_json::Value;

use super::error::retry_after;
use super::http::{self, Auth, Http};
use super::{ChunkStream, ProviderError};
use crate::api::{ChatRequest, ChatResponse, EmbeddingsRequest};
use crate::config::HttpSettings;

pub struct Gemini {
    http: Http,
    base: String,
}

impl Gemini {
    pub fn new(cfg: &HttpSettings) -> Result<Self, String> {
        let http = Http::new(cfg, Auth::Header("x-goog-api-key"), &[])?;
        Ok(Gemini { http, base: format!("{}/v1beta/models", cfg.base_url) })
    }

    pub async fn complete(&self, req: &ChatRequest, model: &str) -> Result<ChatResponse, ProviderError> {
        let m = translate::model_path(model)?;
        let body = http::encode(&translate::to_wire(req)?)?;
        let resp = self.http.post(&format!("{}/{m}:generateContent", self.base), body, error_from_http).await?;
        let bytes = self.http.read(resp).await?;
        let parsed: wire::GenerateResponse =
            serde_json::from_slice(&bytes).map_err(|e| http::bad_response("Gemini response", &e))?;
        translate::from_wire(parsed, m, super::mock::now())
    }

    pub async fn stream(&self, req: &ChatRequest, model: &str) -> Result<ChunkStream, ProviderError> {
        let m = translate::model_path(model)?;
        let body = http::encode(&translate::to_wire(req)?)?;
        let url = format!("{}/{m}:streamGenerateContent?alt=sse", self.base);
        let resp = self.http.post(&url, body, error_from_http).await?;
        let state = translate::StreamState::new(m, super::mock::now());
        Ok(http::drive(resp.bytes_stream(), state, self.http.key().cloned()))
    }

    /// batchEmbedContents, in batches of `EMBED_BATCH`, answered in OpenAI's list shape.
    pub async fn embeddings(&self, req: &EmbeddingsRequest, model: &str) -> Result<Value, ProviderError> {
        let m = translate::model_path(model)?;
        let model_ref = format!("models/{m}");
        let url = format!("{}/{m}:batchEmbedContents", self.base);
        let mut vectors = Vec::new();
        for batch in translate::embed_wire(req, &model_ref)? {
            let want = batch.requests.len();
            let resp = self.http.post(&url, http::encode(&batch)?, error_from_http).await?;
            let bytes = self.http.read(resp).await?;
            let parsed: wire::BatchEmbedResponse =
                serde_json::from_slice(&bytes).map_err(|e| http::bad_response("Gemini embeddings answer", &e))?;
            if parsed.embeddings.len() != want {
                return Err(ProviderError::new(
                    super::Failure::BadResponse,
                    format!("Gemini returned {} embeddings for {want} inputs", parsed.embeddings.len()),
                ));
            }
            vectors.extend(parsed.embeddings.into_iter().map(|e| e.values));
        }
        Ok(translate::embed_from_wire(vectors, req, m))
    }
}

/// google.rpc.Status on a non-2xx answer; anything else is classified by status alone.
fn error_from_http(status: u16, headers: &HeaderMap, body: &[u8]) -> ProviderError {
    let after = retry_after(headers);
    match serde_json::from_slice::<wire::ErrorBody>(body) {
        Ok(b) => translate::error(status, b.error, after),
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
