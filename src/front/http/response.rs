//! The answer shapes every HTTP endpoint shares: a JSON body, an SSE stream, and the
//! `x-sidegate-*` headers that say who answered and at what cost.

use bytes::Bytes;
use futures_util::Stream;
use hyper::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use hyper::{Response, StatusCode};

use super::Body;
use super::names::*;
use crate::router::{Meta, TokenCount};

/// A JSON body (already encoded) with `status` and, for a routed answer, its meta headers.
pub fn json_bytes(status: StatusCode, bytes: impl Into<Bytes>, meta: Option<&Meta>) -> Response<Body> {
    let mut r = Response::new(Body::full(bytes));
    *r.status_mut() = status;
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(m) = meta {
        meta_headers(&mut r, m);
    }
    r
}

pub fn json_response(status: StatusCode, value: &impl serde::Serialize, meta: Option<&Meta>) -> Response<Body> {
    json_bytes(status, serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec()), meta)
}

/// A server-sent-event stream with the answer's meta headers.
pub fn sse_response(events: impl Stream<Item = Bytes> + Send + 'static, meta: &Meta) -> Response<Body> {
    let mut r = Response::new(Body::Stream(Box::pin(events)));
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    meta_headers(&mut r, meta);
    r
}

/// A token count's answer: the vendor's body as it came (`x-sidegate-model` names the
/// deployment that counted) or sidegate's estimate in the dialect's shape (`estimate`);
/// `x-sidegate-count` says which (`vendor`, `estimate`).
pub fn count_response(count: TokenCount, estimate: impl FnOnce(u64) -> serde_json::Value) -> Response<Body> {
    let (mut r, how) = match count {
        TokenCount::Vendor { body, deployment } => {
            let mut r = json_bytes(StatusCode::OK, body, None);
            if let Ok(v) = HeaderValue::from_str(&deployment) {
                r.headers_mut().insert(X_SIDEGATE_MODEL, v);
            }
            (r, "vendor")
        }
        TokenCount::Estimate(n) => (json_response(StatusCode::OK, &estimate(n), None), "estimate"),
    };
    r.headers_mut().insert(X_SIDEGATE_COUNT, HeaderValue::from_static(how));
    r
}

pub fn meta_headers(r: &mut Response<Body>, m: &Meta) {
    let h = r.headers_mut();
    // Room for all of them at once: growing the map on the way rehashes it (issue 16).
    h.reserve(10);
    let mut put = |name: HeaderName, v: &str| {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(name, v);
        }
    };
    put(X_SIDEGATE_PROVIDER, &m.provider);
    put(X_SIDEGATE_MODEL, &m.model);
    put(X_SIDEGATE_ATTEMPT_LOG, &m.attempt_header());
    put(X_SIDEGATE_CALLER, &m.caller);
    if let Some(v) = &m.variant {
        put(X_SIDEGATE_VARIANT, v);
    }
    if let Some(c) = m.cost_usd {
        put(X_SIDEGATE_COST_USD, &format!("{c:.8}"));
    }
    h.insert(X_SIDEGATE_CACHE, HeaderValue::from_static(m.cache.as_str()));
    h.insert(X_SIDEGATE_ATTEMPTS, HeaderValue::from(m.attempts));
}
