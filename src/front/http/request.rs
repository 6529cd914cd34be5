//! What every HTTP endpoint reads from a request the same way: the body (capped at
//! `max_body_bytes`) and the per-call options (`x-sidegate-*` headers, `cache-control`, the
//! caller's key).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::Request;
use hyper::body::Incoming;
use hyper::header::CONTENT_LENGTH;
use hyper::http::request::Parts;

use crate::api::error::GatewayError;
use crate::callers::Credential;
use crate::router::CallOptions;
use crate::wire::native::Dialect;

/// Reads the whole request body, refusing more than the configured limit with 413.
pub async fn read_body(req: Request<Incoming>, max: usize) -> Result<(Parts, Bytes), GatewayError> {
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

/// One request header as text, if present and visible ASCII.
pub fn header<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok())
}

/// The key a TCP caller presents, in whichever way its SDK sends one: `Authorization:
/// Bearer` (OpenAI), `x-api-key` (Anthropic), `x-goog-api-key` or `?key=` (Gemini).
fn presented_key(parts: &Parts) -> Option<String> {
    let bearer = header(parts, "authorization").and_then(|a| a.strip_prefix("Bearer "));
    let key = bearer.or_else(|| header(parts, "x-api-key")).or_else(|| header(parts, "x-goog-api-key"));
    match key {
        Some(k) => Some(k.trim().to_string()),
        None => query_param(parts.uri.query()?, "key"),
    }
}

/// A query parameter's value, percent-decoded.
pub fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| percent_decode(v))
    })
}

/// `%XX` escapes (and `+`, in a query) decoded; an invalid escape is kept as it is.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The per-call options of a request of `dialect`. `cred` is the connection's credential:
/// the peer's on the Unix socket (a header cannot change it); on TCP, the key presented.
pub fn call_options(parts: &Parts, cred: &Credential, request_id: String, dialect: Dialect) -> CallOptions {
    let h = |name: &str| header(parts, name).map(str::to_string);
    let credential = match cred {
        Credential::Anonymous => match presented_key(parts) {
            Some(key) => Credential::Bearer(key),
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
            crate::front::cache_directive::from_cache_control(&all.join(","))
        },
        request_id,
        dialect,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_params_are_found_and_decoded() {
        assert_eq!(query_param("alt=sse&key=a%2Fb+c", "key").as_deref(), Some("a/b c"));
        assert_eq!(query_param("alt=sse", "key"), None);
        assert_eq!(query_param("key", "key").as_deref(), Some(""));
        assert_eq!(query_param("key=%zz%4", "key").as_deref(), Some("%zz%4"));
    }
}
