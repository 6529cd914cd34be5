//! OpenAI's Responses API: `POST /v1/responses` (JSON and SSE), `GET` and `DELETE
//! /v1/responses/{id}`, `POST /v1/responses/input_tokens`, and the refusal of the WebSocket
//! mode (`426`, which Codex-style clients take as "use HTTP" at once: docs/providers.md).
//!
//! A request is expanded first (`previous_response_id`: the stored conversation, whatever
//! vendor served it, goes before the new input), converted to the canonical request with the
//! caller's body beside it (`native`: a Responses upstream gets it as sent, with the expanded
//! input), and its answer converted back ([`super::responses_sse`] for streams) and stored
//! unless the caller said `store: false`.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::http::request::Parts;
use hyper::{Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::request::{JsonRequest, call_options, read_json, with_body_prompt};
use super::response::{count_response, json_bytes, json_response, sse_response};
use super::{Body, Failed, responses_sse};
use crate::api::error::{GatewayError, Refusal, from_json_error};
use crate::api::ids::unix_now;
use crate::api::{ChatRequest, ChatResponse};
use crate::callers::Credential;
use crate::front::Ctx;
use crate::response_store::{ResponseStore, Stored, owner_of};
use crate::router::{CallOptions, ChatAnswer};
use crate::wire::native::{Dialect, NativeBytes, NativeRequest};
use crate::wire::openai_responses::{CreateResponse, ResponseEcho, Status, to_chat_request, to_response};

const DIALECT: Dialect = Dialect::OpenAiResponses;

/// Fields sidegate itself answers for (the store), not the model: not part of the cache key.
const HANDLED_HERE: &[&str] = &["store", "metadata", "previous_response_id"];

/// What a finished answer is stored as, when the caller asked for it.
pub struct Keep {
    pub store: Arc<ResponseStore>,
    pub owner: String,
    /// The conversation before the answer (earlier turns, then this request's input).
    pub input: Vec<Value>,
    pub ttl_secs: u64,
}

impl Keep {
    /// Stores the finished `response` (a serialized Response object).
    pub fn put(self, response: Value) {
        let output = match response.get("output") {
            Some(Value::Array(items)) => items.clone(),
            _ => Vec::new(),
        };
        let Some(id) = response.get("id").and_then(Value::as_str).map(str::to_owned) else { return };
        let created = unix_now();
        let expires = created.saturating_add(self.ttl_secs);
        let (input, owner) = (self.input, self.owner);
        self.store.put(Stored { id, owner, created, expires, input, output, response });
    }
}

/// A Responses request, expanded and converted.
struct Prepared {
    chat: ChatRequest,
    echo: ResponseEcho,
    keep: Option<Keep>,
}

/// `POST /v1/responses`.
pub async fn create(req: Request<Incoming>, cx: &Ctx, cred: &Credential, id: String) -> Result<Response<Body>, Failed> {
    let JsonRequest::<Map<String, Value>> { parts, mut body, mut opts } = read_json(req, cx, cred, id, DIALECT).await?;
    with_body_prompt(&mut opts, &parts, body.remove("prompt"));
    let owner = owner(cx, &opts)?;
    let p = prepare(cx, body, &owner).await?;
    let response_id = format!("resp_{}{}", crate::api::ids::nonce(), crate::api::ids::nonce());
    match cx.gateway.chat(p.chat, opts).await.map_err(Failed::Routed)? {
        ChatAnswer::Full(resp, meta) => {
            if let Some(native) = NativeBytes::of(&resp.native, DIALECT) {
                let native = native.clone();
                if let (Some(keep), Ok(v)) = (p.keep, serde_json::from_slice::<Value>(&native)) {
                    keep.put(v);
                }
                return Ok(json_bytes(StatusCode::OK, native, Some(&meta)));
            }
            let out = whole(*resp, &response_id, p.echo).map_err(Failed::Routed)?;
            if let Some(keep) = p.keep {
                keep.put(out.clone());
            }
            Ok(json_response(StatusCode::OK, &out, Some(&meta)))
        }
        ChatAnswer::Stream(stream) => {
            let meta = stream.meta.clone();
            Ok(sse_response(responses_sse::encode(stream, response_id, p.echo, p.keep), &meta))
        }
    }
}

/// The Response object for a whole canonical answer, under `response_id`.
fn whole(mut resp: ChatResponse, response_id: &str, echo: ResponseEcho) -> Result<Value, GatewayError> {
    resp.touch().id = response_id.to_string();
    if resp.created == 0 {
        resp.created = unix_now();
    }
    let mut out = to_response(&resp, echo).map_err(|e| e.to_gateway_error())?;
    if out.status == Status::Completed {
        out.completed_at = Some(unix_now());
    }
    serde_json::to_value(&out).map_err(|e| GatewayError::internal(format!("response encoding: {e}")))
}

/// `POST /v1/responses/input_tokens`: the input's token count through the router's one token
/// count (the caller and route checked, a log line), after `previous_response_id` is expanded.
pub async fn input_tokens(
    req: Request<Incoming>,
    cx: &Ctx,
    cred: &Credential,
    id: String,
) -> Result<Response<Body>, Failed> {
    let JsonRequest::<Map<String, Value>> { parts, mut body, mut opts } = read_json(req, cx, cred, id, DIALECT).await?;
    with_body_prompt(&mut opts, &parts, body.remove("prompt"));
    let owner = owner(cx, &opts)?;
    let p = prepare(cx, body, &owner).await?;
    let count = cx.gateway.count_tokens(&p.chat, opts).await.map_err(Failed::Routed)?;
    Ok(count_response(count, |n| json!({"object": "response.input_tokens", "input_tokens": n})))
}

/// `GET` (`delete: false`) or `DELETE /v1/responses/{id}`: the caller's own stored response
/// (another's is not found). The store answers, not the router, so this is the request's log
/// line.
pub async fn by_id(
    parts: &Parts,
    cx: &Ctx,
    cred: &Credential,
    id: &str,
    request_id: String,
    delete: bool,
) -> Result<Response<Body>, Failed> {
    let opts = call_options(parts, cred, request_id, DIALECT);
    let owner = owner(cx, &opts)?;
    let now = unix_now();
    let r = if delete {
        match cx.gateway.responses.delete(id, &owner, now).await {
            true => json_response(StatusCode::OK, &json!({"id": id, "object": "response", "deleted": true}), None),
            false => not_found(id),
        }
    } else {
        match cx.gateway.responses.get(id, &owner, now).await {
            Some(s) => json_response(StatusCode::OK, &s.response, None),
            None => not_found(id),
        }
    };
    tracing::info!(target: "sidegate::request", request_id = %opts.request_id, method = %parts.method,
        path = %parts.uri.path(), status = r.status().as_u16(), dialect = DIALECT.as_str(), caller = %owner, "request");
    Ok(r)
}

/// A WebSocket upgrade of `/v1/responses`: refused with 426, the one refusal Codex-style
/// clients answer by switching the session to HTTP at once (any other status, or a closed
/// connection, they retry first).
pub fn websocket_refused() -> Response<Body> {
    let body = json!({"error": {"message": "the WebSocket mode of /v1/responses is not served; use HTTP (POST /v1/responses, stream: true)",
        "type": "invalid_request_error", "param": null, "code": "upgrade_required"}});
    json_bytes(StatusCode::UPGRADE_REQUIRED, serde_json::to_vec(&body).unwrap_or_default(), None)
}

/// OpenAI's 404 for an unknown response id.
fn not_found(id: &str) -> Response<Body> {
    let body = json!({"error": {"message": format!("Response with id '{id}' not found."),
        "type": "invalid_request_error", "param": null, "code": null}});
    json_bytes(StatusCode::NOT_FOUND, serde_json::to_vec(&body).unwrap_or_default(), None)
}

/// The caller's owner key for the store (the router checks the same identity again).
fn owner(cx: &Ctx, opts: &CallOptions) -> Result<String, GatewayError> {
    let live = cx.gateway.current();
    match crate::callers::identify(&opts.credential, &live.snapshot.callers) {
        Ok(c) => Ok(owner_of(&c, &opts.credential)),
        Err(message) => Err(GatewayError::CallerRefused { refusal: Refusal::UnknownCaller, message }),
    }
}

/// The caller's input as a list of items (a string is one user message).
fn input_items(body: &Map<String, Value>) -> Vec<Value> {
    match body.get("input") {
        Some(Value::String(s)) => vec![json!({"type": "message", "role": "user", "content": s})],
        Some(Value::Array(items)) => items.clone(),
        _ => Vec::new(),
    }
}

/// Expands `previous_response_id`, converts, and sets the native request. The body is read
/// into the Responses types once, borrowed (no copy of it); a second time only when the
/// stored conversation was put in front of its input.
async fn prepare(cx: &Ctx, body: Map<String, Value>, owner: &str) -> Result<Prepared, GatewayError> {
    let mut body = Value::Object(body);
    let original = CreateResponse::deserialize(&body).map_err(|e| from_json_error(&e))?;
    let own = body.as_object().map(input_items).unwrap_or_default();
    let expanded_owned;
    let (expanded, input) = match &original.previous_response_id {
        None => (&original, own),
        Some(prev) => {
            let Some(stored) = cx.gateway.responses.get(prev, owner, unix_now()).await else {
                return Err(GatewayError::Invalid {
                    message: format!("Previous response with id '{prev}' not found."),
                    param: Some("previous_response_id".into()),
                    code: Some("previous_response_not_found"),
                });
            };
            let mut input = stored.conversation();
            input.extend(own);
            if let Some(o) = body.as_object_mut() {
                o.insert("input".into(), Value::Array(input.clone()));
                o.remove("previous_response_id");
            }
            expanded_owned = CreateResponse::deserialize(&body).map_err(|e| from_json_error(&e))?;
            (&expanded_owned, input)
        }
    };
    let ingress = to_chat_request(expanded).map_err(|e| e.to_gateway_error())?;
    if ingress.chat.messages.is_empty() {
        return Err(GatewayError::invalid("`input` must contain at least one item", Some("input")));
    }
    let mut only = ingress.only;
    for k in HANDLED_HERE {
        only.remove(*k);
    }
    let dropped: Vec<&str> =
        ingress.dropped.iter().map(String::as_str).chain(only.keys().map(String::as_str)).collect();
    if !dropped.is_empty() {
        tracing::debug!(fields = ?dropped, "responses request: reaches only an OpenAI Responses upstream");
    }
    let mut chat = ingress.chat;
    let required = ingress.required;
    let Value::Object(body) = body else {
        return Err(GatewayError::internal("a Responses body stopped being an object"));
    };
    chat.native = Some(Arc::new(NativeRequest { dialect: DIALECT, body, headers: Vec::new(), only, required }));
    let store = original.store.unwrap_or(true);
    let mut echo = ResponseEcho::of(&original);
    echo.store = Some(store);
    let keep = store.then(|| Keep {
        store: cx.gateway.responses.clone(),
        owner: owner.to_string(),
        input,
        ttl_secs: cx.gateway.current().snapshot.responses.ttl.as_secs(),
    });
    Ok(Prepared { chat, echo, keep })
}
