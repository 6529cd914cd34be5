//! One native request: decode its `op` and body, call the router, write RESPONSE, or CHUNKs
//! then END, or ERROR. Request-level failures never close the connection.

use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::outbox::Outbox;
use crate::api::error::{GatewayError, from_json_error};
use crate::api::{ChatRequest, EmbeddingsRequest};
use crate::protocol::Kind;
use crate::protocol::messages::{RequestOptions, error_body};
use crate::router::{CallOptions, ChatAnswer, Gateway, Meta};
use crate::wire::native::Dialect;

/// A REQUEST body, owned so it can move into the request's task.
#[derive(Deserialize)]
pub struct OwnedRequest {
    op: String,
    #[serde(default)]
    body: Option<Box<RawValue>>,
    #[serde(default)]
    options: RequestOptions,
}

impl OwnedRequest {
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("REQUEST body: {e}"))
    }
}

/// What a native request needs from its connection.
pub struct Session<'a> {
    pub gw: &'a Gateway,
    pub reload: &'a crate::control::ReloadHandle,
    pub out: &'a Outbox,
}

pub async fn run(id: u64, req: OwnedRequest, s: Session<'_>, cred: crate::callers::Credential) {
    if let Err((e, meta)) = dispatch(id, req, &s, cred).await {
        let _ = s.out.send(Kind::Error, id, &error_body(&e, meta.as_ref())).await;
    }
}

/// A failed request and the meta its ERROR frame carries: the stream's, when it broke after
/// it started; else, when the router saw it, at least its `request_id` (its log line's id).
type Failed = (GatewayError, Option<serde_json::Value>);

fn routed(request_id: &str) -> impl Fn(GatewayError) -> Failed + '_ {
    move |e| (e, Some(serde_json::json!({ "request_id": request_id })))
}

/// The per-call options of a REQUEST (moved out of it: nothing is copied).
fn call_options(
    o: RequestOptions,
    credential: crate::callers::Credential,
    request_id: String,
    dialect: Dialect,
) -> Result<CallOptions, GatewayError> {
    let cache = match o.cache.as_deref() {
        None => crate::cache::Directive::Default,
        Some(v) => crate::front::cache_directive::from_option(v).ok_or_else(|| {
            GatewayError::invalid(
                format!("`options.cache` must be \"no-cache\" or \"no-store\", not {v:?}"),
                Some("options.cache"),
            )
        })?,
    };
    Ok(CallOptions {
        request_id,
        credential,
        route: o.route,
        timeout: o.timeout_ms.map(Duration::from_millis),
        label: o.label,
        regions: o.regions,
        cache,
        dialect,
        prompt: crate::front::prompt_option::read(o.prompt, None, None),
        episode: o.episode,
    })
}

async fn dispatch(
    id: u64,
    req: OwnedRequest,
    s: &Session<'_>,
    credential: crate::callers::Credential,
) -> Result<(), Failed> {
    let (gw, out) = (s.gw, s.out);
    let raw = req.body.as_ref().map_or("{}", |b| b.get());
    match req.op.as_str() {
        "chat" => {
            let mut chat: ChatRequest = serde_json::from_str(raw).map_err(|e| (from_json_error(&e), None))?;
            let request_id = crate::router::meta::request_id();
            let mut opts = call_options(req.options, credential, request_id.clone(), Dialect::OpenAiChat)
                .map_err(|e| (e, None))?;
            if let Some(p) = chat.extra.remove("prompt") {
                opts.prompt = match opts.prompt {
                    Some(_) => {
                        Some(Err("the prompt is named twice, in `options.prompt` and in the body: give one".into()))
                    }
                    None => crate::front::prompt_option::read(Some(p), None, None),
                };
            }
            match gw.chat(chat, opts).await.map_err(routed(&request_id))? {
                ChatAnswer::Full(resp, meta) => respond_with(id, out, Some(&meta), |f| resp.write_json(f)).await,
                ChatAnswer::Stream(stream) => relay(id, out, stream).await,
            }
        }
        "embeddings" => {
            let body: EmbeddingsRequest = serde_json::from_str(raw).map_err(|e| (from_json_error(&e), None))?;
            let request_id = crate::router::meta::request_id();
            let opts = call_options(req.options, credential, request_id.clone(), Dialect::OpenAiEmbeddings)
                .map_err(|e| (e, None))?;
            let (value, meta) = gw.embeddings(body, opts).await.map_err(routed(&request_id))?;
            respond(id, out, &value, Some(&meta)).await
        }
        "feedback" => {
            let body: serde_json::Value = serde_json::from_str(raw).map_err(|e| (from_json_error(&e), None))?;
            let request_id = crate::router::meta::request_id();
            let stored = gw.feedback(&body, &credential, &request_id).await.map_err(routed(&request_id))?;
            respond(id, out, &stored, None).await
        }
        "models" => respond(id, out, &gw.models(), None).await,
        "status" => respond(id, out, &gw.status(), None).await,
        "reload" => {
            let rec = s.reload.reload().await.map_err(|e| (e, None))?;
            let mut body = serde_json::to_value(&rec).unwrap_or_default();
            body["version"] = serde_json::Value::String(gw.current().snapshot.version.clone());
            respond(id, out, &body, None).await
        }
        other => Err((
            GatewayError::Invalid {
                message: format!("unknown op `{other}` (known: chat, embeddings, feedback, models, status, reload)"),
                param: Some("op".into()),
                code: Some("unknown_op"),
            },
            None,
        )),
    }
}

/// A committed stream as CHUNK frames, then END (or ERROR with the stream's meta).
async fn relay(id: u64, out: &Outbox, mut stream: crate::router::ChatStream) -> Result<(), Failed> {
    while let Some(item) = stream.next().await {
        match item {
            Ok(chunk) if chunk.is_native_only() => {}
            Ok(chunk) => {
                if out.send(Kind::Chunk, id, &chunk.to_json()).await.is_err() {
                    return Ok(()); // connection gone; dropping the stream cancels the vendor call
                }
            }
            Err(e) => return Err((e, Some(stream.meta.to_json()))),
        }
    }
    let body = serde_json::to_vec(&serde_json::json!({ "meta": stream.meta })).unwrap_or_default();
    let _ = out.send(Kind::End, id, &body).await;
    Ok(())
}

/// RESPONSE: `{"body": <body>, "meta": <meta>}` (no `meta` when there is none), the body's
/// JSON written into the frame by `body`: encoded, or a whole chat answer's own bytes.
async fn respond_with(
    id: u64,
    out: &Outbox,
    meta: Option<&Meta>,
    body: impl FnOnce(&mut Vec<u8>) -> serde_json::Result<()>,
) -> Result<(), Failed> {
    let cannot = |e: serde_json::Error| (GatewayError::internal(format!("cannot encode response: {e}")), None);
    let mut frame = Vec::with_capacity(1024);
    frame.extend_from_slice(b"{\"body\":");
    body(&mut frame).map_err(cannot)?;
    if let Some(meta) = meta {
        frame.extend_from_slice(b",\"meta\":");
        serde_json::to_writer(&mut frame, meta).map_err(cannot)?;
    }
    frame.push(b'}');
    let _ = out.send(Kind::Response, id, &frame).await;
    Ok(())
}

async fn respond<T: Serialize>(id: u64, out: &Outbox, body: &T, meta: Option<&Meta>) -> Result<(), Failed> {
    respond_with(id, out, meta, |frame| serde_json::to_writer(frame, body)).await
}
