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
use crate::api::reasoning::{Effort, ReasoningAsk, Resolved, is_envelope};
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
fn body(req: &ChatRequest, model: &str, stream: bool, sent: Resolved) -> Result<Vec<u8>, ProviderError> {
    match native::of(&req.native, Dialect::OpenAiResponses) {
        Some(n) => match without_envelopes(&n.body) {
            Some(b) => http::encode(&native::BodyFor::new(&b, model, stream)),
            None => http::encode(&n.body_for(model, stream)),
        },
        None => {
            let mut out = wire_request(req, model, stream)?;
            reasoning(&mut out, req, sent);
            http::encode(&out)
        }
    }
}

/// A Responses caller's body without the reasoning items sidegate wrote for another vendor's
/// reasoning (an `encrypted_content` envelope, `api::reasoning::envelope`): OpenAI would
/// reject them. None (no copy) when there are none.
fn without_envelopes(
    body: &serde_json::Map<String, serde_json::Value>,
) -> Option<serde_json::Map<String, serde_json::Value>> {
    use serde_json::Value;
    let foreign = |i: &Value| {
        i.get("type").and_then(Value::as_str) == Some("reasoning")
            && i.get("encrypted_content").and_then(Value::as_str).is_some_and(is_envelope)
    };
    if !body.get("input").and_then(Value::as_array).is_some_and(|items| items.iter().any(foreign)) {
        return None;
    }
    let mut body = body.clone();
    if let Some(Value::Array(items)) = body.get_mut("input") {
        items.retain(|i| !foreign(i));
    }
    tracing::debug!("reasoning items of another vendor's reasoning removed before the Responses API");
    Some(body)
}

/// `reasoning.effort` as the effort table resolved it; with reasoning on, the encrypted
/// reasoning asked back (`include`), so the conversation can go on statelessly (`store` is
/// false) with its reasoning items replayed.
fn reasoning(out: &mut CreateResponse, req: &ChatRequest, sent: Resolved) {
    let effort = match sent {
        Resolved::Level(e) => Some(e),
        Resolved::Off => Some(Effort::None),
        Resolved::Budget(b) => ReasoningAsk { budget_tokens: Some(b), ..ReasoningAsk::default() }.level(),
        Resolved::Unasked | Resolved::Adaptive => None,
    };
    let summary = req.reasoning.as_ref().and_then(|r| r.summary.clone());
    let replays = req.messages.iter().any(|m| m.reasoning_details.as_ref().is_some_and(|d| !d.is_empty()));
    if effort.is_none() && summary.is_none() && !replays {
        out.reasoning = None;
        return;
    }
    let r = out.reasoning.get_or_insert_with(Default::default);
    r.effort = effort.map(|e| e.as_str().to_string());
    r.summary = summary.or(r.summary.take());
    if effort != Some(Effort::None) {
        let include = out.extra.entry("include").or_insert_with(|| serde_json::Value::Array(Vec::new()));
        if let Some(list) = include.as_array_mut()
            && !list.iter().any(|v| v == "reasoning.encrypted_content")
        {
            list.push("reasoning.encrypted_content".into());
        }
    }
}

/// A whole answer: `POST url` with the request, the `Response` read back (and kept verbatim
/// for a Responses caller).
pub async fn complete(
    http: &Http,
    url: &str,
    req: &ChatRequest,
    model: &str,
    sent: Resolved,
) -> Result<ChatResponse, ProviderError> {
    let resp = http.post(url, body(req, model, false, sent)?, super::openai::error_from_http).await?;
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
pub async fn stream(
    http: &Http,
    url: &str,
    req: &ChatRequest,
    model: &str,
    sent: Resolved,
) -> Result<ChunkStream, ProviderError> {
    let resp = http.post(url, body(req, model, true, sent)?, super::openai::error_from_http).await?;
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
