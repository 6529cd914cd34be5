//! The HTTP/1.1 front: one connection loop and one routing table for every dialect's
//! endpoints (one file each: [`openai`] for Chat Completions and Embeddings, [`messages`]
//! for Anthropic Messages, [`responses`] for OpenAI Responses, [`gemini`] for Gemini's
//! `models/{model}:{method}` calls), plus `GET
//! /v1/models`, `/metrics`, `/healthz`, `/status`, and the dashboard under `/ui` ([`ui`]). Every answer carries the request id and,
//! when routed, the `x-sidegate-*` headers; every failure is an error body of the caller's
//! dialect with a fitting status.

mod body;
mod error;
mod gemini;
mod inbound;
mod messages;
mod names;
mod openai;
mod request;
mod response;
mod responses;
mod responses_passthrough;
mod responses_sse;
mod sse;
mod timer;
mod ui;

use std::convert::Infallible;

use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

pub use body::Body;
pub use error::error_response;

use super::Ctx;
use crate::api::error::GatewayError;
use crate::callers::Credential;
use crate::wire::native::Dialect;
use response::json_response;

/// Serves one HTTP/1.1 connection until the client closes it, it waits too long for a request
/// head ([`timer`]) or shutdown drains it.
/// `cred` is the connection's credential: the peer's, on the Unix socket (a request header
/// cannot change it), or `Anonymous` on TCP (where each request may carry a bearer key).
pub async fn serve_connection<S>(io: S, cx: Ctx, cred: Credential)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let limits = cx.gateway.current().snapshot.server.front;
    let (io, timer) = timer::watch(io, limits, cx.shutdown.clone(), cx.pressure.clone());
    let cx2 = cx.clone();
    let svc = service_fn(move |req| {
        let (cx, cred) = (cx2.clone(), cred.clone());
        async move { Ok::<_, Infallible>(handle(req, &cx, &cred).await) }
    });
    let conn = http1::Builder::new()
        .keep_alive(true)
        .timer(timer)
        .header_read_timeout(limits.header_timeout)
        .serve_connection(TokioIo::new(io), svc);
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
/// same id its log line has; an error is shaped for the dialect the path belongs to.
async fn handle(mut req: Request<Incoming>, cx: &Ctx, cred: &Credential) -> Response<Body> {
    let hold = inbound::BodyHold::default();
    req.extensions_mut().insert(hold.clone());
    let request_id = crate::router::meta::request_id();
    let header = HeaderValue::from_str(&request_id).ok();
    // (cheap clones: a standard method is a tag, a Uri shares its bytes)
    let (method, uri) = (req.method().clone(), req.uri().clone());
    let dialect = dialect_of(uri.path());
    let mut r = match route(req, cx, cred, request_id).await {
        Ok(r) => r,
        Err(Failed::Routed(e)) => error_response(dialect, &e),
        Err(Failed::Front(e)) => {
            // The router never saw it (an unknown endpoint, a body it could not read), so it
            // has no request log line: this is its line.
            let id = header.as_ref().and_then(|h| h.to_str().ok()).unwrap_or("");
            tracing::info!(target: "sidegate::request", request_id = %id, method = %method, path = %uri.path(),
                status = e.status(), outcome = %e.label(), dialect = dialect.as_str(),
                caller = %caller_name(cx, cred), "request");
            error_response(dialect, &e)
        }
    };
    if let Some(v) = header {
        if dialect == Dialect::AnthropicMessages {
            // The Anthropic SDKs name this header's id in their errors.
            r.headers_mut().insert(names::REQUEST_ID, v.clone());
        }
        r.headers_mut().insert(names::X_SIDEGATE_REQUEST_ID, v);
    }
    hold.keep_for(&mut r);
    r
}

/// The dialect a path belongs to, for the shape of its errors (an unknown path under
/// `/v1/messages` still gets an Anthropic-shaped 404, which the Anthropic SDK can read).
fn dialect_of(path: &str) -> Dialect {
    let p = path.strip_prefix("/v1").unwrap_or(path);
    if p.starts_with("/messages") {
        Dialect::AnthropicMessages
    } else if p.starts_with("/responses") {
        Dialect::OpenAiResponses
    } else if path.starts_with("/v1beta/") || (p.starts_with("/models/") && p.contains(':')) {
        Dialect::Gemini
    } else {
        Dialect::OpenAiChat
    }
}

async fn route(
    req: Request<Incoming>,
    cx: &Ctx,
    cred: &Credential,
    request_id: String,
) -> Result<Response<Body>, Failed> {
    if let Some(target) = gemini::target(req.uri().path()) {
        return gemini::serve(req, cx, cred, request_id, target).await;
    }
    let path = req.uri().path().trim_end_matches('/');
    let path = path.strip_prefix("/v1").unwrap_or(path);
    match (req.method(), path) {
        (&Method::POST, "/chat/completions") => openai::chat(req, cx, cred, request_id).await,
        (&Method::POST, "/embeddings") => openai::embeddings(req, cx, cred, request_id).await,
        (&Method::POST, "/messages") => messages::messages(req, cx, cred, request_id).await,
        (&Method::POST, "/messages/count_tokens") => messages::count_tokens(req, cx, cred, request_id).await,
        (&Method::POST, "/responses") => responses::create(req, cx, cred, request_id).await,
        (&Method::POST, "/responses/input_tokens") => responses::input_tokens(req, cx, cred, request_id).await,
        (&Method::GET, "/responses") if is_websocket_upgrade(&req) => Ok(responses::websocket_refused()),
        (m @ (&Method::GET | &Method::DELETE), p) if p.starts_with("/responses/") && !p[11..].contains('/') => {
            let (id, delete) = (p["/responses/".len()..].to_string(), m == Method::DELETE);
            let (parts, _) = req.into_parts();
            responses::by_id(&parts, cx, cred, &id, request_id, delete).await
        }
        (&Method::POST, "/feedback") => feedback(req, cx, cred, request_id).await,
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
        (&Method::GET, p) if p == "/ui" || p.starts_with("/ui/") => {
            let p = p.to_string();
            Ok(ui::serve(&req.into_parts().0, &p, cx, cred)?)
        }
        (
            m,
            "/chat/completions"
            | "/embeddings"
            | "/messages"
            | "/messages/count_tokens"
            | "/responses"
            | "/feedback"
            | "/models"
            | "/healthz"
            | "/status"
            | "/metrics"
            | "/ui"
            | "/ui/data",
        ) => {
            Err(Failed::Front(GatewayError::MethodNotAllowed { method: m.to_string(), path: req.uri().path().into() }))
        }
        (m, _) => {
            Err(Failed::Front(GatewayError::NoSuchEndpoint { method: m.to_string(), path: req.uri().path().into() }))
        }
    }
}

/// `Connection: upgrade` with `Upgrade: websocket` (the WebSocket mode of an endpoint).
fn is_websocket_upgrade(req: &Request<Incoming>) -> bool {
    let has = |name: &str, token: &str| {
        req.headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    };
    has("upgrade", "websocket")
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

/// `POST /v1/feedback`: an outcome for an answered request (src/router/feedback.rs).
async fn feedback(req: Request<Incoming>, cx: &Ctx, cred: &Credential, id: String) -> Result<Response<Body>, Failed> {
    let r = request::read_json::<serde_json::Value>(req, cx, cred, id, Dialect::OpenAiChat).await?;
    let stored = cx.gateway.feedback(&r.body, &r.opts.credential, &r.opts.request_id).await?;
    Ok(json_response(StatusCode::OK, &stored, None))
}

fn metrics_response(cx: &Ctx) -> Response<Body> {
    let text = cx.gateway.metrics_text();
    let mut r = Response::new(Body::full(text));
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(crate::usage::metrics::CONTENT_TYPE));
    r
}
