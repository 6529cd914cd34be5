//! An OpenAI-shaped provider called through the Responses API (`api = "responses"`): the
//! canonical request converted by the pure dialect (`wire::openai_responses`), `POST
//! {base_url}/responses`, the answer or the event stream converted back. Errors are OpenAI's
//! error bodies, classified as the Chat Completions path classifies them. sidegate keeps its
//! own state, so `store: false` is sent unless the caller asked otherwise. A completed answer
//! with no output, or a stream that completes without any, is a classified failure (the
//! router fails over), never an empty success.

#[cfg(test)]
mod tests;

use super::http::{self, Http};
use super::{ChunkStream, Failure, ProviderError};
use crate::api::{ChatRequest, ChatResponse};
use crate::wire::WireError;
use crate::wire::native::{self, Dialect, NativeBytes};
use crate::wire::openai_responses::{
    self as dialect, ChunkReader, Converted, CreateResponse, DIALECT, Response, Status,
};

/// The smallest `max_output_tokens` the Responses API accepts.
pub const MIN_OUTPUT_TOKENS: u64 = 16;

/// The Responses request for a canonical one. What the Responses API cannot express is
/// `Failure::Unsupported` (the router tries a deployment that can); what it has no field for
/// and does not change the answer is left out with a debug log.
pub fn wire_request(req: &ChatRequest, model: &str, stream: bool) -> Result<CreateResponse, ProviderError> {
    if let Some(max) = req.max_output_tokens().filter(|m| *m < MIN_OUTPUT_TOKENS) {
        return Err(WireError::unsupported_at(
            DIALECT,
            "max_completion_tokens",
            format!("an output limit of {max} tokens (the Responses API takes at least {MIN_OUTPUT_TOKENS})"),
        )
        .into());
    }
    let Converted { value: mut out, mut dropped } = dialect::to_create_response(req, model, stream)?;
    // Chat-only: `modalities` has no Responses field; text-only output is what it gives anyway.
    if let Some(m) = out.extra.remove("modalities") {
        let text_only = m.is_null() || m.as_array().is_some_and(|a| a.iter().all(|v| v == "text"));
        if !text_only {
            return Err(WireError::unsupported_at(DIALECT, "modalities", format!("`modalities` {m}")).into());
        }
        dropped.push("modalities".into());
    }
    out.store.get_or_insert(false);
    if !dropped.is_empty() {
        tracing::debug!(fields = ?dropped, "request fields the Responses API has no form for were dropped");
    }
    Ok(out)
}

/// The request body: a Responses caller's own request as it came (only `model` and `stream`
/// set: passthrough), any other converted.
fn body(req: &ChatRequest, model: &str, stream: bool) -> Result<Vec<u8>, ProviderError> {
    match native::of(&req.native, Dialect::OpenAiResponses) {
        Some(n) => http::encode(&n.body_for(model, stream)),
        None => http::encode(&wire_request(req, model, stream)?),
    }
}

/// A whole answer: `POST url` with the request, the `Response` read back (and kept verbatim
/// for a Responses caller).
pub async fn complete(http: &Http, url: &str, req: &ChatRequest, model: &str) -> Result<ChatResponse, ProviderError> {
    let resp = http.post(url, body(req, model, false)?, super::openai::error_from_http).await?;
    let bytes = http.read(resp).await?;
    let parsed: Response =
        serde_json::from_slice(&bytes).map_err(|e| http::bad_response("Responses API answer", &e))?;
    let mut out = answer(&parsed)?;
    if native::of(&req.native, Dialect::OpenAiResponses).is_some() {
        out.native = Some(NativeBytes { dialect: Dialect::OpenAiResponses, bytes });
    }
    Ok(out)
}

/// A stream: `POST url` with `stream: true`, events read by [`ChunkReader`] (held back until the first output by
/// `providers::output`, like every vendor's stream, and relayed
/// verbatim to a Responses caller).
pub async fn stream(http: &Http, url: &str, req: &ChatRequest, model: &str) -> Result<ChunkStream, ProviderError> {
    let resp = http.post(url, body(req, model, true)?, super::openai::error_from_http).await?;
    let passthrough = native::of(&req.native, Dialect::OpenAiResponses).map(|n| n.dialect);
    Ok(http::drive(resp.bytes_stream(), ChunkReader::default(), http.redactor().cloned(), passthrough))
}

/// The canonical answer for a vendor `Response`; a completed one with nothing in it fails.
pub fn answer(resp: &Response) -> Result<ChatResponse, ProviderError> {
    let out = dialect::to_chat_response(resp)?;
    let empty = out.choices.iter().all(|c| {
        let m = &c.message;
        m.content.as_deref().is_none_or(str::is_empty)
            && m.refusal.as_deref().is_none_or(str::is_empty)
            && m.tool_calls.as_ref().is_none_or(Vec::is_empty)
    });
    if empty && resp.status == Status::Completed {
        let items: Vec<&str> = resp.output.iter().map(|i| i.kind()).collect();
        return Err(ProviderError::new(
            Failure::BadResponse,
            format!("vendor sent a completed response with no text or function call (output items: {items:?})"),
        ));
    }
    Ok(out)
}
