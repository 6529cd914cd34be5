//! Anthropic Messages API adapter: `POST {base_url}/v1/messages` with `x-api-key` and
//! `anthropic-version`. The dialect (types and pure conversions) is `wire::anthropic`; this
//! module is the HTTP calls (messages, count_tokens) and the classification of Anthropic's
//! error objects. Anthropic
//! has no `n` (the `Provider` wrapper fans out) and no embeddings endpoint.

#[cfg(test)]
mod tests;

use reqwest::header::HeaderMap;

use super::error::retry_after;
use super::http::{self, Auth, Http};
use super::{ChunkStream, Failure, ProviderError};
use crate::api::reasoning::{Resolved, is_envelope};
use crate::api::{ChatRequest, ChatResponse, ids};
use crate::config::HttpSettings;
use crate::wire::anthropic::call::{self, Options, ReplyCtx};
use crate::wire::anthropic::types::{ErrorBody, ErrorObject, MessagesResponse};
use crate::wire::native::{self, Dialect, NativeBytes, NativeRequest};

pub const API_VERSION: &str = "2023-06-01";

/// The dialect a Messages caller's request is passed through in.
const DIALECT: Dialect = Dialect::AnthropicMessages;

pub struct Anthropic {
    http: Http,
    url: String,
    /// `{base_url}/v1/messages/count_tokens`.
    count_url: String,
    opts: Options,
}

impl Anthropic {
    pub fn new(cfg: &HttpSettings) -> Result<Self, String> {
        let http = Http::new(cfg, Auth::Header("x-api-key"), &[("anthropic-version", API_VERSION)])?;
        let opts = Options { default_max_tokens: cfg.default_max_tokens, ..Options::default() };
        let (url, count_url) =
            (format!("{}/v1/messages", cfg.base_url), format!("{}/v1/messages/count_tokens", cfg.base_url));
        Ok(Anthropic { http, url, count_url, opts })
    }

    pub async fn complete(
        &self,
        req: &ChatRequest,
        model: &str,
        sent: Resolved,
    ) -> Result<ChatResponse, ProviderError> {
        let (resp, ctx) = self.send(req, model, false, sent).await?;
        let bytes = self.http.read(resp).await?;
        let parsed: MessagesResponse =
            serde_json::from_slice(&bytes).map_err(|e| http::bad_response("Anthropic message", &e))?;
        let mut out = call::from_wire(parsed, ctx, ids::unix_now());
        if native::of(&req.native, DIALECT).is_some() {
            out.native = Some(NativeBytes { dialect: DIALECT, bytes });
        }
        Ok(out)
    }

    pub async fn stream(&self, req: &ChatRequest, model: &str, sent: Resolved) -> Result<ChunkStream, ProviderError> {
        let (resp, ctx) = self.send(req, model, true, sent).await?;
        let state = call::StreamState::new(ctx, ids::unix_now());
        let passthrough = native::of(&req.native, DIALECT).map(|n| n.dialect);
        Ok(http::drive(resp.bytes_stream(), state, self.http.redactor().cloned(), passthrough))
    }

    /// `POST /v1/messages/count_tokens` with a Messages caller's own request (only `model`
    /// set) and headers: Anthropic's answer body, `{"input_tokens": N}`, as it came.
    pub async fn count_tokens(&self, n: &NativeRequest, model: &str) -> Result<bytes::Bytes, ProviderError> {
        let body = http::encode(&n.body_for(model, false))?;
        let resp = self.http.post_with(&self.count_url, body, &n.headers, error_from_http).await?;
        self.http.read(resp).await
    }

    /// The one HTTP call. A caller that spoke Messages itself has its request sent as it
    /// came (only `model` and `stream` set), with its `anthropic-version`/`anthropic-beta`
    /// headers; any other request is translated.
    async fn send(
        &self,
        req: &ChatRequest,
        model: &str,
        stream: bool,
        sent: Resolved,
    ) -> Result<(reqwest::Response, ReplyCtx), ProviderError> {
        if let Some(n) = native::of(&req.native, DIALECT) {
            let stripped = without_envelopes(&n.body);
            let body = match (req.prompt_cache, stripped) {
                (true, s) => http::encode(&auto_cached(s.as_ref().unwrap_or(&n.body), model, stream))?,
                (false, Some(b)) => http::encode(&native::BodyFor::new(&b, model, stream))?,
                (false, None) => http::encode(&n.body_for(model, stream))?,
            };
            let resp = self.http.post_with(&self.url, body, &n.headers, error_from_http).await?;
            return Ok((resp, ReplyCtx::default()));
        }
        let opts = Options { reasoning: sent, ..self.opts };
        let (wire, ctx) = call::to_wire(req, model, stream, &opts)?;
        Ok((self.http.post(&self.url, http::encode(&wire)?, error_from_http).await?, ctx))
    }
}

/// A Messages caller's body with `model` and `stream` set and the route's automatic
/// prompt-cache breakpoints placed (a copy: only `prompt_cache = "auto"` routes pay for it).
fn auto_cached(
    body: &serde_json::Map<String, serde_json::Value>,
    model: &str,
    stream: bool,
) -> serde_json::Map<String, serde_json::Value> {
    let mut body = body.clone();
    body.insert("model".into(), model.into());
    if stream {
        body.insert("stream".into(), true.into());
    } else {
        body.remove("stream");
    }
    call::cache::place_auto_json(&mut body);
    body
}

/// A Messages caller's body with the thinking blocks sidegate wrote for another vendor's
/// reasoning (a signature that is an envelope, `api::reasoning::envelope`) removed: Anthropic
/// would reject them ("Invalid `signature` in `thinking` block").
/// None (no copy) when there are none.
fn without_envelopes(
    body: &serde_json::Map<String, serde_json::Value>,
) -> Option<serde_json::Map<String, serde_json::Value>> {
    use serde_json::Value;
    let foreign = |b: &Value| {
        b.get("type").and_then(Value::as_str) == Some("thinking")
            && b.get("signature").and_then(Value::as_str).is_some_and(is_envelope)
    };
    let turns = body.get("messages").and_then(Value::as_array)?;
    if !turns.iter().any(|t| t.get("content").and_then(Value::as_array).is_some_and(|bs| bs.iter().any(foreign))) {
        return None;
    }
    let mut body = body.clone();
    let Some(Value::Array(turns)) = body.get_mut("messages") else { return None };
    let mut removed = 0;
    for t in turns.iter_mut() {
        if let Some(serde_json::Value::Array(blocks)) = t.get_mut("content") {
            let before = blocks.len();
            blocks.retain(|b| !foreign(b));
            removed += before - blocks.len();
        }
    }
    tracing::debug!(removed, "thinking blocks of another vendor's reasoning removed before Anthropic");
    Some(body)
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

/// An Anthropic error object (HTTP body or stream `error` event) classified for failover.
/// Without an HTTP status (a stream event), the error type's documented status stands in.
pub fn classify(e: ErrorObject, status: Option<u16>, retry_after: Option<std::time::Duration>) -> ProviderError {
    let status = status.or(match e.kind.as_str() {
        "overloaded_error" => Some(529),
        "api_error" => Some(500),
        "rate_limit_error" => Some(429),
        "timeout_error" => Some(504),
        _ => None,
    });
    let message = if e.message.is_empty() { format!("Anthropic error `{}`", e.kind) } else { e.message };
    let Some(status) = status else {
        let mut err = ProviderError::new(Failure::StreamBroken, message);
        err.code = Some(e.kind);
        return err;
    };
    let billing = e.kind == "billing_error";
    let mut err = ProviderError::from_status(status, Some(e.kind), message, retry_after);
    if billing {
        err.failure = Failure::Quota;
    }
    err
}

/// `{"type":"error","error":{"type":"overloaded_error","message":"…"}}` on a non-2xx answer.
fn error_from_http(status: u16, headers: &HeaderMap, body: &[u8]) -> ProviderError {
    let after = retry_after(headers);
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(b) => classify(b.error, Some(status), after),
        Err(_) => http::unparsed_error(status, body, after),
    }
}
