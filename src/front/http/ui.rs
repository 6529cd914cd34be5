//! `GET /ui`, `/ui/app.js`, `/ui/app.css` and `/ui/data`: the local dashboard, read-only. The
//! page and its data are behind the API's caller check (a peer on the socket, a key on TCP,
//! `?key=` for a browser, which the page passes on to its data requests); the script and style
//! are the binary's own static text, served to anyone who can reach the listener. On TCP the
//! `Host` must be a loopback name, so a page from elsewhere cannot read the data through DNS
//! rebinding.

use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::http::request::Parts;
use hyper::{Response, StatusCode};

use super::Body;
use super::request::call_options;
use crate::api::error::{GatewayError, Refusal};
use crate::callers::{Credential, identify};
use crate::front::Ctx;
use crate::wire::native::Dialect;

/// What the page may load and where it may connect: itself only.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; \
                   base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Serves one `/ui` path (`path` without a trailing slash).
pub fn serve(parts: &Parts, path: &str, cx: &Ctx, cred: &Credential) -> Result<Response<Body>, GatewayError> {
    let host = parts.headers.get("host").and_then(|h| h.to_str().ok());
    if matches!(cred, Credential::Anonymous) && !host.is_none_or(crate::dashboard::host_is_loopback) {
        return Err(GatewayError::CallerRefused {
            refusal: Refusal::UnknownCaller,
            message: "the dashboard answers only to a loopback Host (localhost, 127.0.0.1, [::1])".into(),
        });
    }
    let sub = path.strip_prefix("/ui").unwrap_or(path);
    if let Some(asset) = crate::dashboard::asset(sub) {
        return Ok(static_response(asset.content_type, asset.text));
    }
    let (page, data) = (sub.is_empty(), sub == "/data");
    let eval_run = sub.strip_prefix("/eval/").map(|id| id.parse::<i64>());
    if !page && !data && eval_run.is_none() {
        return Err(GatewayError::NoSuchEndpoint { method: "GET".into(), path: parts.uri.path().into() });
    }
    let credential = call_options(parts, cred, String::new(), Dialect::OpenAiChat).credential;
    identify(&credential, &cx.gateway.current().snapshot.callers)
        .map_err(|message| GatewayError::CallerRefused { refusal: Refusal::UnknownCaller, message })?;
    if let Some(id) = eval_run {
        let id = id.map_err(|_| GatewayError::invalid("an eval run is named by its number: /ui/eval/RUN", None))?;
        return eval_report(cx, id);
    }
    if page {
        return Ok(static_response("text/html; charset=utf-8", crate::dashboard::PAGE));
    }
    let body = serde_json::to_vec(&crate::dashboard::data(&cx.gateway)).unwrap_or_else(|_| b"{}".to_vec());
    let mut r = Response::new(Body::full(body));
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

/// `GET /ui/eval/RUN`: a stored eval run's HTML report. Its inline style and script carry a
/// fresh nonce, and the policy allows those and nothing else.
fn eval_report(cx: &Ctx, id: i64) -> Result<Response<Body>, GatewayError> {
    let nonce = format!("{:032x}", rand::random::<u128>());
    let state_dir = cx.gateway.current().snapshot.server.state_dir.clone();
    let html = crate::dashboard::evals::page(state_dir.as_deref(), id, &nonce)
        .map_err(|message| GatewayError::invalid(message, None))?;
    let csp = format!(
        "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; img-src data:; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    );
    let mut r = Response::new(Body::full(html));
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert("content-security-policy", v);
    }
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

fn static_response(content_type: &'static str, text: &'static str) -> Response<Body> {
    let mut r = Response::new(Body::full(text));
    *r.status_mut() = StatusCode::OK;
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert("content-security-policy", HeaderValue::from_static(CSP));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}
