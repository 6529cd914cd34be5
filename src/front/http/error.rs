//! The HTTP front's one mapping of a `GatewayError`: its status, `retry-after`, the attempt
//! count and log, and the error body of the dialect the caller speaks (OpenAI's
//! `{"error": {...}}`, Anthropic's `{"type": "error", "error": {...}}`, or google.rpc.Status).
//! (`handle` adds the request id to every answer.)

use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};

use super::Body;
use crate::api::error::GatewayError;
use crate::wire::native::Dialect;

/// The answer for `e`, shaped for a caller speaking `dialect`.
pub fn error_response(dialect: Dialect, e: &GatewayError) -> Response<Body> {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = match dialect {
        Dialect::OpenAiChat | Dialect::OpenAiEmbeddings | Dialect::OpenAiResponses => e.openai_body(),
        Dialect::AnthropicMessages => {
            serde_json::to_vec(&crate::wire::anthropic::serve::error_body(e.status(), e.to_string()))
                .unwrap_or_default()
        }
        Dialect::Gemini => serde_json::to_vec(&crate::wire::gemini::serve::error::error_body(e)).unwrap_or_default(),
    };
    let mut r = Response::new(Body::full(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(secs) = e.retry_after_secs() {
        h.insert(super::names::RETRY_AFTER, HeaderValue::from(secs));
    }
    h.insert(super::names::X_SIDEGATE_ATTEMPTS, HeaderValue::from(e.attempts().len() as u64));
    let log = crate::router::meta::attempt_header(e.attempts());
    if !log.is_empty()
        && let Ok(v) = HeaderValue::from_str(&log)
    {
        h.insert(super::names::X_SIDEGATE_ATTEMPT_LOG, v);
    }
    r
}
