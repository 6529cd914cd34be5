//! The OpenAI-compatible HTTP/1.1 front: `POST /v1/chat/completions` (JSON and SSE),
//! `POST /v1/embeddings`, `GET /v1/models`, `GET /healthz`. Every answer carries the
//! `x-sidegate-*` headers; every failure is an OpenAI error body with a fitting status.

mod body;
mod error;
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
pub use error::error_response;

use super::Ctx;
use crate::api::error::{GatewayError, from_json_error};
use crate::api::{ChatRequest, EmbeddingsRequest};
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

/// Every answer, errors included, carries the request's id (`x-sidegate-request-id`), the
/// same id its log line has.
async fn handle(req: Request<Incoming>, cx: &Ctx, cred: &Credential) -> Response<Body> {
    let request_id = crate::router::meta::request_id();
    let header = HeaderValue::from_str(&request_id).ok();
    // (cheap clones: a standard method is a tag, a Uri shares its bytes)
    let (method, uri) = (req.method().clone(), req.uri().clone());
    let mut r = match route(req, cx, cred, request_id).await {
        Ok(r) => r,
        Err(Failed::Routed(e)) => error_response(&e),
        Err(Failed::Front(e)) => {
            // The router never saw it (an unknown endpoint, a body it could not read), so it
            // has no request log line: this is its line.
            let id = header.as_ref().and_then(|h| h.to_str().ok()).unwrap_or("");
            tracing::info!(target: "sidegate::request", request_id = %id, method = %method, path = %uri.path(),
                status = e.status(), outcome = %e.label(), caller = %caller_name(cx, cred), "request");
            error_response(&e)
        }
    };
    if let Some(v) = header {
        r.headers_mut().insert("x-sidegate-request-id", v);
    }
    r
}

async fn route(
    req: Request<Incoming>,
    cx: &Ctx,
    cred: &Credential,
    request_id: String,
) -> Result<Response<Body>, Failed> {
    let path = req.uri().path().trim_end_matches('/');
    let path = path.strip_prefix("/v1").unwrap_or(path);
    match (req.method(), path) {
        (&Method::POST, "/chat/completions") => chat(req, cx, cred, request_id).await,
        (&Method::POST, "/embeddings") => embeddings(req, cx, cred, request_id).await,
        (&Method::GET, "/models") => Ok(json_response(StatusCode::OK, &cx.gateway.models(), None)),
        (&Method::GET, p) if p.starts_with("/models/") => {
            let id = &p["/models/".len()..];
            match cx.gateway.model(id) {
                Some(m) => Ok(json_response(StatusCode::OK, &m, None)),
                None => Err(Failed::Front(GatewayError::UnknownModel {
                    message: format!("unknown model `{id}` (GET /v1/models lists them)"),
                })),
            }
        }
        (&Method::GET, "/metrics") => Ok(metrics_response(cx)),
        (&Method::GET, "/healthz") => Ok(json_response(StatusCode::OK, &serde_json::json!({"status": "ok"}), None)),
        (&Method::GET, "/status") => Ok(json_response(StatusCode::OK, &cx.gateway.status(), None)),
        (m, "/chat/completions" | "/embeddings" | "/models" | "/healthz" | "/status" | "/metrics") => {
            Err(Failed::Front(GatewayError::MethodNotAllowed { method: m.to_string(), path: req.uri().path().into() }))
        }
        (m, _) => {
            Err(Failed::Front(GatewayError::NoSuchEndpoint { method: m.to_string(), path: req.uri().path().into() }))
        }
    }
}

/// A request that failed, and where: in the router (which wrote its log line) or in the front
/// before the router saw it (which writes none).
enum Failed {
    Routed(GatewayError),
    Front(GatewayError),
}

impl From<GatewayError> for Failed {
    fn from(e: GatewayError) -> Self {
        Failed::Front(e)
    }
}

/// The caller a connection's credential names (for the log line of a request the router
/// never saw).
fn caller_name(cx: &Ctx, cred: &Credential) -> String {
    let live = cx.gateway.current();
    match crate::callers::identify(cred, &live.snapshot.callers) {
        Ok(c) => c.name().to_string(),
        Err(_) => "denied".to_string(),
    }
}

/// Reads the whole request body, refusing more than the configured limit with 413.
async fn read_body(req: Request<Incoming>, max: usize) -> Result<(hyper::http::request::Parts, Bytes), GatewayError> {
    if let Some(len) =
        req.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok())
        && len > max as u64
    {
        return Err(GatewayError::TooLarge { limit: max });
    }
    let (parts, body) = req.into_parts();
    match Limited::new(body, max).collect().await {
        Ok(c) => Ok((parts, c.to_bytes())),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(GatewayError::TooLarge { limit: max }),
        Err(e) => Err(GatewayError::invalid(format!("could not read the request body: {e}"), None)),
    }
}

fn call_options(parts: &hyper::http::request::Parts, cred: &Credential, request_id: String) -> CallOptions {
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
            super::cache_directive::from_cache_control(&all.join(","))
        },
        request_id,
    }
}

async fn chat(req: Request<Incoming>, cx: &Ctx, cred: &Credential, id: String) -> Result<Response<Body>, Failed> {
    let (parts, bytes) = read_body(req, cx.gateway.current().snapshot.server.max_body_bytes).await?;
    let chat: ChatRequest = serde_json::from_slice(&bytes).map_err(|e| from_json_error(&e))?;
    match cx.gateway.chat(chat, call_options(&parts, cred, id)).await.map_err(Failed::Routed)? {
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

async fn embeddings(req: Request<Incoming>, cx: &Ctx, cred: &Credential, id: String) -> Result<Response<Body>, Failed> {
    let (parts, bytes) = read_body(req, cx.gateway.current().snapshot.server.max_body_bytes).await?;
    let body: EmbeddingsRequest = serde_json::from_slice(&bytes).map_err(|e| from_json_error(&e))?;
    let (value, meta) = cx.gateway.embeddings(body, call_options(&parts, cred, id)).await.map_err(Failed::Routed)?;
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
    put("x-sidegate-cache", m.cache.as_str());
    put("x-sidegate-attempts", &m.attempts.to_string());
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
