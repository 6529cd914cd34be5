//! Google Gemini API adapter: `POST {base_url}/v1beta/models/{model}:generateContent`,
//! `:streamGenerateContent?alt=sse` and `:batchEmbedContents`, key in `x-goog-api-key`.
//! The dialect (types, schema conversion, pure conversions) is `wire::gemini`; this module
//! is the HTTP calls, the model id in the URL path and the classification of Gemini's
//! google.rpc.Status errors. `n` maps to `candidateCount`. A caller that spoke Gemini itself
//! (a native request of dialect Gemini) has its body sent as it came, only the model in the
//! URL being the vendor's, and gets the vendor's answer and events verbatim; `:countTokens`
//! serves the Gemini front's token counts.

#[cfg(test)]
mod tests;

use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::{Map, Value};

use super::error::retry_after;
use super::http::{self, Auth, Http};
use super::{ChunkStream, Failure, ProviderError};
use crate::api::reasoning::{Resolved, is_envelope};
use crate::api::{ChatRequest, ChatResponse, EmbeddingsRequest, ids};
use crate::config::HttpSettings;
use crate::wire::WireError;
use crate::wire::gemini::call;
use crate::wire::gemini::types::{BatchEmbedResponse, ErrorBody, GenerateResponse, Status};
use crate::wire::native::{self, Dialect, NativeBytes};

/// The dialect a Gemini caller's request is passed through in.
const DIALECT: Dialect = Dialect::Gemini;

pub struct Gemini {
    http: Http,
    base: String,
}

impl Gemini {
    pub fn new(cfg: &HttpSettings) -> Result<Self, String> {
        let http = Http::new(cfg, Auth::Header("x-goog-api-key"), &[])?;
        Ok(Gemini { http, base: format!("{}/v1beta/models", cfg.base_url) })
    }

    pub async fn complete(
        &self,
        req: &ChatRequest,
        model: &str,
        sent: Resolved,
    ) -> Result<ChatResponse, ProviderError> {
        let m = model_path(model)?;
        let resp = self.send(req, &format!("{}/{m}:generateContent", self.base), sent).await?;
        let bytes = self.http.read(resp).await?;
        let parsed: GenerateResponse =
            serde_json::from_slice(&bytes).map_err(|e| http::bad_response("Gemini response", &e))?;
        let mut out = call::from_wire(parsed, m, ids::unix_now())?;
        if native::of(&req.native, DIALECT).is_some() {
            out.native = Some(NativeBytes { dialect: DIALECT, bytes });
        }
        Ok(out)
    }

    /// Always SSE from the vendor (`alt=sse`); a Gemini front re-frames the events as the
    /// JSON array its caller asked for, when it did.
    pub async fn stream(&self, req: &ChatRequest, model: &str, sent: Resolved) -> Result<ChunkStream, ProviderError> {
        let m = model_path(model)?;
        let resp = self.send(req, &format!("{}/{m}:streamGenerateContent?alt=sse", self.base), sent).await?;
        let state = call::StreamState::new(m, ids::unix_now());
        let passthrough = native::of(&req.native, DIALECT).map(|n| n.dialect);
        Ok(http::drive(resp.bytes_stream(), state, self.http.redactor().cloned(), passthrough))
    }

    /// The one generate call: a Gemini caller's body as it came (the model is in the URL, so
    /// the body needs no change), any other request translated.
    async fn send(&self, req: &ChatRequest, url: &str, sent: Resolved) -> Result<reqwest::Response, ProviderError> {
        let body = match native::of(&req.native, DIALECT) {
            Some(n) => match without_envelopes(&n.body) {
                Some(body) => http::encode(&body)?,
                None => http::encode(&n.body)?,
            },
            None => {
                let mut wire = call::to_wire(req)?;
                let include = req.reasoning.as_ref().and_then(|r| r.include_thoughts);
                call::thoughts::apply(&mut wire, sent, include);
                http::encode(&wire)?
            }
        };
        self.http.post(url, body, error_from_http).await
    }

    /// countTokens with a Gemini caller's own body; the answer as Gemini sent it. A
    /// `generateContentRequest.model` names the vendor's model (Gemini checks it).
    pub async fn count_tokens(&self, body: &Map<String, Value>, model: &str) -> Result<bytes::Bytes, ProviderError> {
        let m = model_path(model)?;
        let mut body = body.clone();
        if let Some(Value::Object(inner)) = body.get_mut("generateContentRequest") {
            inner.insert("model".into(), Value::String(format!("models/{m}")));
        }
        let url = format!("{}/{m}:countTokens", self.base);
        let resp = self.http.post(&url, http::encode(&body)?, error_from_http).await?;
        self.http.read(resp).await
    }

    /// batchEmbedContents, in batches of `EMBED_BATCH`, answered in OpenAI's list shape.
    pub async fn embeddings(&self, req: &EmbeddingsRequest, model: &str) -> Result<Value, ProviderError> {
        let m = model_path(model)?;
        let model_ref = format!("models/{m}");
        let url = format!("{}/{m}:batchEmbedContents", self.base);
        let mut vectors = Vec::new();
        for batch in call::embed_wire(req, &model_ref)? {
            let want = batch.requests.len();
            let resp = self.http.post(&url, http::encode(&batch)?, error_from_http).await?;
            let bytes = self.http.read(resp).await?;
            let parsed: BatchEmbedResponse =
                serde_json::from_slice(&bytes).map_err(|e| http::bad_response("Gemini embeddings answer", &e))?;
            if parsed.embeddings.len() != want {
                return Err(ProviderError::new(
                    Failure::BadResponse,
                    format!("Gemini returned {} embeddings for {want} inputs", parsed.embeddings.len()),
                ));
            }
            vectors.extend(parsed.embeddings.into_iter().map(|e| e.values));
        }
        Ok(call::embed_from_wire(vectors, req, m))
    }
}

/// The model id as it goes into the URL path: `models/` stripped, and only characters that
/// cannot change the path (a caller picks `provider/model`, so this is a security check).
pub fn model_path(model: &str) -> Result<&str, ProviderError> {
    let m = model.strip_prefix("models/").unwrap_or(model);
    let ok = !m.is_empty() && m.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) && m != "..";
    if ok { Ok(m) } else { Err(WireError::invalid(format!("`{model}` is not a Gemini model id")).into()) }
}

/// A google.rpc.Status classified for failover: a bad key (400 API_KEY_INVALID) is an auth
/// failure; a per-minute RESOURCE_EXHAUSTED is a rate limit with its RetryInfo delay, a
/// daily one is quota. `http_status` 0 means none (an in-band error): the body's code stands.
pub fn classify(http_status: u16, s: Status, header_retry: Option<Duration>) -> ProviderError {
    let status = if http_status == 0 { s.code } else { http_status };
    let status = if status == 0 { 500 } else { status };
    let detail = |key: &str| -> Option<&str> { s.details.iter().find_map(|d| d.get(key).and_then(Value::as_str)) };
    let retry = detail("retryDelay").and_then(parse_delay).or(header_retry);
    let reason = detail("reason").unwrap_or("").to_string();
    let daily = s.details.iter().any(|d| d.to_string().contains("PerDay"))
        || s.message.to_ascii_lowercase().contains("per day");
    let message = if s.message.is_empty() { format!("Gemini answered {status} {}", s.status) } else { s.message };
    let code = if s.status.is_empty() { None } else { Some(s.status.clone()) };
    let mut e = ProviderError::from_status(status, code, message, retry);
    match (status, s.status.as_str()) {
        (400, _) if reason == "API_KEY_INVALID" => e.failure = Failure::Auth,
        (400, "FAILED_PRECONDITION") => e.failure = Failure::Auth,
        (429, _) => e.failure = if daily { Failure::Quota } else { Failure::RateLimited },
        _ => {}
    }
    e
}

/// `"32s"` / `"1.5s"` -> Duration.
fn parse_delay(s: &str) -> Option<Duration> {
    let secs: f64 = s.strip_suffix('s')?.parse().ok()?;
    (secs.is_finite() && (0.0..86_400.0).contains(&secs)).then(|| Duration::from_secs_f64(secs))
}

/// google.rpc.Status on a non-2xx answer; anything else is classified by status alone.
fn error_from_http(status: u16, headers: &HeaderMap, body: &[u8]) -> ProviderError {
    let after = retry_after(headers);
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(b) => classify(status, b.error, after),
        Err(_) => http::unparsed_error(status, body, after),
    }
}

/// A Gemini caller's body without the signatures sidegate wrote for another vendor's
/// reasoning (`api::reasoning::envelope`): such thought parts are removed, a text part keeps
/// its text without the signature. Gemini would reject them as corrupted. None (no copy)
/// when there are none.
fn without_envelopes(
    body: &serde_json::Map<String, serde_json::Value>,
) -> Option<serde_json::Map<String, serde_json::Value>> {
    use serde_json::Value;
    let enveloped = |p: &Value| p.get("thoughtSignature").and_then(Value::as_str).is_some_and(is_envelope);
    let parts_of = |c: &Value| c.get("parts").and_then(Value::as_array).is_some_and(|ps| ps.iter().any(enveloped));
    if !body.get("contents").and_then(Value::as_array).is_some_and(|cs| cs.iter().any(parts_of)) {
        return None;
    }
    let mut body = body.clone();
    let Some(Value::Array(contents)) = body.get_mut("contents") else { return None };
    for c in contents.iter_mut() {
        let Some(Value::Array(parts)) = c.get_mut("parts") else { continue };
        parts.retain(|p| {
            let carries = p.get("text").and_then(Value::as_str).is_some_and(|t| !t.is_empty())
                && p.get("thought") != Some(&Value::Bool(true));
            !enveloped(p) || carries || p.get("functionCall").is_some()
        });
        for p in parts.iter_mut() {
            if enveloped(p)
                && let Some(o) = p.as_object_mut()
            {
                o.remove("thoughtSignature");
            }
        }
    }
    tracing::debug!("thought signatures of another vendor's reasoning removed before Gemini");
    Some(body)
}
