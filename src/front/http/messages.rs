//! Anthropic's Messages API: `POST /v1/messages` (JSON and SSE) and `POST
//! /v1/messages/count_tokens`. The body is read with the dialect's serving conversion
//! (`wire::anthropic::serve`) into a canonical request that carries the caller's own request
//! (`NativeRequest`: the body, its `anthropic-version`/`anthropic-beta` headers, and the
//! fields the canonical form does not carry), so an Anthropic vendor gets it as sent and its
//! answer comes back byte for byte; any other vendor's answer, a cache hit or a coalesced
//! follower is converted to the Messages shapes. Errors are Anthropic's
//! `{"type":"error","error":{...}}` (`error::error_response`), in the stream as an `error`
//! event.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use hyper::body::Incoming;
use hyper::http::request::Parts;
use hyper::{Request, Response, StatusCode};
use serde_json::{Value, json};

use super::request::{JsonRequest, read_json, with_body_prompt};
use super::response::{count_response, json_bytes, json_response, sse_response};
use super::{Body, Failed};
use crate::api::ChatRequest;
use crate::api::error::GatewayError;
use crate::callers::Credential;
use crate::front::Ctx;
use crate::router::{ChatAnswer, ChatStream};
use crate::wire::anthropic::serve::{self, StreamEncoder, stream::encode as encode_event};
use crate::wire::native::{Dialect, NativeBytes, NativeRequest};

const DIALECT: Dialect = Dialect::AnthropicMessages;
/// The request headers an Anthropic vendor must see as the caller sent them.
const FORWARDED: [&str; 2] = ["anthropic-version", "anthropic-beta"];

pub async fn messages(
    req: Request<Incoming>,
    cx: &Ctx,
    cred: &Credential,
    id: String,
) -> Result<Response<Body>, Failed> {
    let JsonRequest::<Value> { parts, mut body, mut opts } = read_json(req, cx, cred, id, DIALECT).await?;
    with_body_prompt(&mut opts, &parts, body.as_object_mut().and_then(|o| o.remove("prompt")));
    let served = serve::read(&body).map_err(|e| Failed::Front(e.to_gateway_error()))?;
    let chat = canonical(&parts, body, served)?;
    match cx.gateway.chat(chat, opts).await.map_err(Failed::Routed)? {
        ChatAnswer::Full(resp, meta) => {
            if let Some(b) = NativeBytes::of(&resp.native, DIALECT) {
                return Ok(json_bytes(StatusCode::OK, b.clone(), Some(&meta)));
            }
            let m = serve::from_canonical(&resp).map_err(|e| Failed::Routed(e.to_gateway_error()))?;
            Ok(json_response(StatusCode::OK, &m, Some(&meta)))
        }
        ChatAnswer::Stream(stream) => {
            let meta = stream.meta.clone();
            Ok(sse_response(events(stream), &meta))
        }
    }
}

/// `{"input_tokens": N}`: Anthropic's own count when the route's first eligible Anthropic
/// deployment can give it (the request passed through), else sidegate's estimate;
/// `x-sidegate-count` says which (`vendor`, `estimate`).
pub async fn count_tokens(
    req: Request<Incoming>,
    cx: &Ctx,
    cred: &Credential,
    id: String,
) -> Result<Response<Body>, Failed> {
    let JsonRequest::<Value> { parts, mut body, mut opts } = read_json(req, cx, cred, id, DIALECT).await?;
    with_body_prompt(&mut opts, &parts, body.as_object_mut().and_then(|o| o.remove("prompt")));
    // A count has no `max_tokens`; the conversion needs one (it changes no count).
    let mut reading = body.clone();
    if let Some(o) = reading.as_object_mut() {
        o.entry("max_tokens").or_insert(json!(1));
    }
    let served = serve::read(&reading).map_err(|e| Failed::Front(e.to_gateway_error()))?;
    let chat = canonical(&parts, body, served)?;
    let count = cx.gateway.count_tokens(&chat, opts).await.map_err(Failed::Routed)?;
    Ok(count_response(count, |n| json!({"input_tokens": n})))
}

/// The canonical request `served` read from `body`, carrying the caller's request as it came.
fn canonical(parts: &Parts, body: Value, served: serve::Served) -> Result<ChatRequest, GatewayError> {
    // (`read_json` read one object; serde read the rest of `body` as a Messages request)
    let Value::Object(map) = body else {
        return Err(GatewayError::invalid("the request body must be a JSON object", None));
    };
    let mut native = NativeRequest::new(DIALECT, map);
    native.headers = forwarded_headers(parts);
    native.only = served.only;
    native.required = served.required;
    let mut chat = served.chat;
    chat.native = Some(Arc::new(native));
    Ok(chat)
}

/// `anthropic-version` and `anthropic-beta` as the caller sent them (repeated headers joined
/// with commas, as HTTP allows).
fn forwarded_headers(parts: &Parts) -> Vec<(String, String)> {
    FORWARDED
        .iter()
        .filter_map(|name| {
            let values: Vec<&str> = parts.headers.get_all(*name).iter().filter_map(|v| v.to_str().ok()).collect();
            (!values.is_empty()).then(|| (name.to_string(), values.join(",")))
        })
        .collect()
}

/// How a stream is written: as it came from an Anthropic vendor, or encoded from canonical
/// chunks. The first chunk decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Undecided,
    Native,
    Encoded,
}

struct Writer {
    stream: ChatStream,
    mode: Mode,
    enc: StreamEncoder,
}

/// The Messages event stream for a canonical stream; a failure after the stream started is
/// an `error` event, and the stream ends there (without `message_stop`).
fn events(stream: ChatStream) -> impl Stream<Item = Bytes> + Send {
    let w = Writer { stream, mode: Mode::Undecided, enc: StreamEncoder::new() };
    futures_util::stream::unfold(Some(w), |state| async move {
        let mut w = state?;
        loop {
            let next = w.stream.next().await;
            match next {
                Some(Ok(chunk)) => {
                    if w.mode == Mode::Undecided {
                        let native = NativeBytes::of(&chunk.native, DIALECT).is_some();
                        w.mode = if native { Mode::Native } else { Mode::Encoded };
                    }
                    if w.mode == Mode::Native {
                        match NativeBytes::of(&chunk.native, DIALECT) {
                            Some(b) => return Some((b.clone(), Some(w))),
                            None => continue,
                        }
                    }
                    if chunk.is_native_only() {
                        continue;
                    }
                    let mut out = Vec::new();
                    if let Err(e) = w.enc.on_chunk(&chunk, &mut out) {
                        let mut bytes = encoded(&out);
                        bytes.extend(encode_event(&StreamEncoder::error(500, e.to_string())));
                        return Some((Bytes::from(bytes), None));
                    }
                    if !out.is_empty() {
                        return Some((Bytes::from(encoded(&out)), Some(w)));
                    }
                }
                Some(Err(e)) => {
                    let ev = StreamEncoder::error(e.status(), e.to_string());
                    return Some((Bytes::from(encode_event(&ev)), None));
                }
                None if w.mode == Mode::Native => return None,
                None => {
                    let mut out = Vec::new();
                    w.enc.finish(&mut out);
                    return Some((Bytes::from(encoded(&out)), None));
                }
            }
        }
    })
}

fn encoded(events: &[crate::wire::anthropic::types::StreamEvent]) -> Vec<u8> {
    events.iter().flat_map(encode_event).collect()
}
