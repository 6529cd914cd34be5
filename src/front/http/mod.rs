//! The OpenAI-compatible HTTP/1.1 front: `POST /v1/chat/completions` (JSON and SSE),
//! `POST /v1/embeddings`, `GET /v1/models`, `GET /healthz`. Every answer carries the
//! `x-sidegate-*` headers; every failure is an OpenAI error body with a fitting status.

mod body;
mod sse;

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

pub use body::Body;

use super::listener::Ctx;
use crate::api::error::from_json_error;
use crate::api::{ApiError, ChatRequest, EmbeddingsRequest};
use crate::callers::Credential;
use crate::router::{CallOptions, ChatAnswer, Meta};

/// Serves one HTTP/1.1 connection until the client closes it or shutdown drains it.
/// `cred` is the connection's credential: the peer's, on the Unix socket (a request header
/// cannot change it), or `Anonymous` on TCP (where each request may carry a bearer key).
pub async fn serve_connection<S>(io: S, cx: Ctx, cred: Credential)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let cx2 = cx.clone();
    let svc = service_fn(move |req| {
        let (cx, cred) = (cx2.clone(), cred.clone());
        async move { Ok::<_, Infallible>(handle(req, &cx, &cred).await) }
    });
    let conn = http1::Builder::new().keep_alive(true).serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);
    tokio::select! {
        res = conn.as_mut() => {
            if let Err(e) = res {
                tracing::debug!(error = %e, "http connection ended with an error");
            }
        }
        _ = cx.shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

async fn handle(req: Request<Incoming>, cx: &Ctx, cred: &Credential) -> Response<Body> {
    let path = req.uri().path().trim_end_matches('/');
    let path = path.strip_prefix("/v1").unwrap_or(path);
    match (req.method(), path) {
        (&Method::POST, "/chat/completions") => chat(req, cx, cred).await.unwrap_or_else(error_response),
        (&Method::POST, "/embeddings") => embeddings(req, cx, cred).await.unwrap_or_else(error_response),
        (&Method::GET, "/models") => json_response(StatusCode::OK, &cx.gateway.models(), None),
        (&Method::GET, "/metrics") => metrics_response(cx),
        (&Method::GET, "/healthz") => json_response(StatusCode::OK, &serde_json::json!({"status": "ok"}), None),
        (&Method::GET, "/status") => json_response(StatusCode::OK, &cx.gateway.status(), None),
        (_, "/chat/completions" | "/embeddings" | "/models" | "/healthz" | "/status" | "/metrics") => {
            error_response(ApiError::new(
                405,
                "invalid_request_error",
                Some("method_not_allowed"),
                format!("{} is not allowed on {}", req.method(), req.uri().path()),
            ))
        }
        _ => error_response(ApiError::not_found(format!("no such endpoint: {} {}", req.method(), req.uri().path()))),
    }
}

/// Reads the whole request body, refusing more than the configured limit with 413.
async fn read_body(req: Request<Incoming>, max: usize) -> Result<(hyper::http::request::Parts, Bytes), ApiError> {
    if let Some(len) =
        req.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok())
        && len > max as u64
    {
        return Err(ApiError::too_large(max));
    }
    let (parts, body) = req.into_parts();
    match Limited::new(body, max).collect().await {
        Ok(c) => Ok((parts, c.to_bytes())),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(ApiError::too_large(max)),
        Err(e) => Err(ApiError::invalid(format!("could not read the request body: {e}"), None)),
    }
}

fn call_options(parts: &hyper::http::request::Parts, cred: &Credential) -> CallOptions {
    let h = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let credential = match cred {
        Credential::Anonymous => match h("authorization").as_deref().and_then(|a| a.strip_prefix("Bearer ")) {
            Some(key) => Credential::Bearer(key.trim().to_string()),
            None => Credential::Anonymous,
        },
        known => known.clone(),
    };
    CallOptions {
        credential,
        route: h("x-sidegate-route"),
        timeout: h("x-sidegate-timeout-ms").and_then(|v| v.parse::<u64>().ok()).map(Duration::from_millis),
        label: h("x-sidegate-label"),
        regions: h("x-sidegate-regions")
            .map(|v| v.split(',').map(|r| r.trim().to_string()).filter(|r| !r.is_empty()).collect()),
        cache: {
            // Every `cache-control` line counts: `no-store` anywhere wins over `no-cache`.
            let all: Vec<&str> =
                parts.headers.get_all("cache-control").iter().filter_map(|v| v.to_str().ok()).collect();
            crate::cache::Directive::from_cache_control(&all.join(","))
        },
    }
}

async fn chat(req: Request<Incoming>, cx: &Ctx, cred: &Credential) -> Result<Response<Body>, ApiError> {
    let (parts, bytes) = read_body(req, cx.gateway.current().snapshot.server.max_body_bytes).await?;
    let chat: ChatRequest = serde_json::from_slice(&bytes).map_err(|e| from_json_error(&e))?;
    match cx.gateway.chat(chat, call_options(&parts, cred)).await? {
        ChatAnswer::Full(resp, meta) => Ok(json_response(StatusCode::OK, &resp, Some(&meta))),
        ChatAnswer::Stream(stream) => {
            let meta = stream.meta.clone();
            let mut r = Response::new(Body::Stream(Box::pin(sse::encode(stream))));
            let h = r.headers_mut();
            h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
            h.insert("cache-control", HeaderValue::from_static("no-cache"));
            meta_headers(&mut r, &meta);
            Ok(r)
        }
    }
}

async fn embeddings(req: Request<Incoming>, cx: &Ctx, cred: &Credential) -> Result<Response<Body>, ApiError> {
    let (parts, bytes) = read_body(req, cx.gateway.current().snapshot.server.max_body_bytes).await?;
    let body: EmbeddingsRequest = serde_json::from_slice(&bytes).map_err(|e| from_json_error(&e))?;
    let (value, meta) = cx.gateway.embeddings(body, call_options(&parts, cred)).await?;
    Ok(json_response(StatusCode::OK, &value, Some(&meta)))
}

fn json_response(status: StatusCode, value: &impl serde::Serialize, meta: Option<&Meta>) -> Response<Body> {
    let bytes = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    let mut r = Response::new(Body::full(bytes));
    *r.status_mut() = status;
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(m) = meta {
        meta_headers(&mut r, m);
    }
    r
}

fn meta_headers(r: &mut Response<Body>, m: &Meta) {
    let h = r.headers_mut();
    let mut put = |name: &'static str, v: &str| {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(name, v);
        }
    };
    put("x-sidegate-provider", &m.provider);
    put("x-sidegate-model", &m.model);
    put("x-sidegate-cache", m.cache);
    put("x-sidegate-attempts", &m.attempts.to_string());
    put("x-sidegate-request-id", &m.request_id);
    put("x-sidegate-attempt-log", &m.attempt_header());
    put("x-sidegate-caller", &m.caller);
    if let Some(c) = m.cost_usd {
        put("x-sidegate-cost-usd", &format!("{c:.8}"));
    }
}

fn metrics_response(cx: &Ctx) -> Response<Body> {
    let text = cx.gateway.metrics_text();
    let mut r = Response::new(Body::full(text));
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(crate::usage::metrics::CONTENT_TYPE));
    r
}

pub fn error_response(e: ApiError) -> Response<Body> {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = Response::new(Body::full(e.body()));
    *r.status_mut() = status;
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let h = r.headers_mut();
    if let Some(secs) = e.retry_after_secs() {
        h.insert("retry-after", HeaderValue::from(secs));
    }
    h.insert("x-sidegate-attempts", HeaderValue::from(e.attempts.len() as u64));
    r
}
