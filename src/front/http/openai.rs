//! OpenAI's Chat Completions (`POST /v1/chat/completions`, JSON and SSE) and Embeddings
//! (`POST /v1/embeddings`): the canonical shapes themselves, so the body is read as is and
//! the answer written as is.

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use super::request::{call_options, read_body};
use super::response::{json_response, sse_response};
use super::{Body, Failed, sse};
use crate::api::error::from_json_error;
use crate::api::{ChatRequest, EmbeddingsRequest};
use crate::callers::Credential;
use crate::front::Ctx;
use crate::router::ChatAnswer;
use crate::wire::native::Dialect;

pub async fn chat(req: Request<Incoming>, cx: &Ctx, cred: &Credential, id: String) -> Result<Response<Body>, Failed> {
    let (parts, bytes) = read_body(req, cx.gateway.current().snapshot.server.max_body_bytes).await?;
    let chat: ChatRequest = serde_json::from_slice(&bytes).map_err(|e| from_json_error(&e))?;
    let opts = call_options(&parts, cred, id, Dialect::OpenAiChat);
    match cx.gateway.chat(chat, opts).await.map_err(Failed::Routed)? {
        ChatAnswer::Full(resp, meta) => Ok(json_response(StatusCode::OK, &resp, Some(&meta))),
        ChatAnswer::Stream(stream) => {
            let meta = stream.meta.clone();
            Ok(sse_response(sse::encode(stream), &meta))
        }
    }
}

pub async fn embeddings(
    req: Request<Incoming>,
    cx: &Ctx,
    cred: &Credential,
    id: String,
) -> Result<Response<Body>, Failed> {
    let (parts, bytes) = read_body(req, cx.gateway.current().snapshot.server.max_body_bytes).await?;
    let body: EmbeddingsRequest = serde_json::from_slice(&bytes).map_err(|e| from_json_error(&e))?;
    let opts = call_options(&parts, cred, id, Dialect::OpenAiEmbeddings);
    let (value, meta) = cx.gateway.embeddings(body, opts).await.map_err(Failed::Routed)?;
    Ok(json_response(StatusCode::OK, &value, Some(&meta)))
}
