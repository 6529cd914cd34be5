//! OpenAI's Chat Completions (`POST /v1/chat/completions`, JSON and SSE) and Embeddings
//! (`POST /v1/embeddings`): the canonical shapes themselves, so the body is read as is and
//! the answer written as is (a whole chat answer as the vendor's own bytes while unchanged).

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use super::request::{JsonRequest, read_json, with_body_prompt};
use super::response::{json_bytes, json_response, sse_response};
use super::{Body, Failed, sse};
use crate::api::{ChatRequest, EmbeddingsRequest};
use crate::callers::Credential;
use crate::front::Ctx;
use crate::router::ChatAnswer;
use crate::wire::native::Dialect;

pub async fn chat(req: Request<Incoming>, cx: &Ctx, cred: &Credential, id: String) -> Result<Response<Body>, Failed> {
    let JsonRequest::<ChatRequest> { parts, body: mut chat, mut opts } =
        read_json(req, cx, cred, id, Dialect::OpenAiChat).await?;
    with_body_prompt(&mut opts, &parts, chat.extra.remove("prompt"));
    match cx.gateway.chat(chat, opts).await.map_err(Failed::Routed)? {
        ChatAnswer::Full(resp, meta) => Ok(json_bytes(StatusCode::OK, resp.to_json(), Some(&meta))),
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
    let JsonRequest::<EmbeddingsRequest> { parts, mut body, mut opts } =
        read_json(req, cx, cred, id, Dialect::OpenAiEmbeddings).await?;
    // Named so the router refuses it: it is never silently passed on or dropped.
    with_body_prompt(&mut opts, &parts, body.extra.remove("prompt"));
    let (value, meta) = cx.gateway.embeddings(body, opts).await.map_err(Failed::Routed)?;
    Ok(json_response(StatusCode::OK, &value, Some(&meta)))
}
