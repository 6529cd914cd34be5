//! What every HTTP endpoint reads from a request the same way: the body (under the front's
//! limits: [`super::inbound`]; for a JSON endpoint, parsed as one JSON object: [`read_json`]) and the
//! per-call options (`x-sidegate-*` headers, `cache-control`, the caller's key).

use std::time::Duration;

use hyper::Request;
use hyper::body::Incoming;
use hyper::header::HeaderName;
use hyper::http::request::Parts;

use serde::de::{DeserializeOwned, IgnoredAny};

use super::inbound::read_body;
use crate::api::error::{GatewayError, from_json_error};
use crate::callers::Credential;
use crate::front::Ctx;
use crate::router::CallOptions;
use crate::wire::native::Dialect;

/// A JSON endpoint's request, read: its head, its body and its call options.
pub struct JsonRequest<T> {
    pub parts: Parts,
    pub body: T,
    pub opts: CallOptions,
}

/// The prologue of every JSON endpoint: the body read (capped, 413 past the limit) and
/// parsed as one JSON object into `T`, and the call options of a `dialect` request. An empty
/// body, one that is not JSON or JSON that is not an object is a 400 that says which.
pub async fn read_json<T: DeserializeOwned>(
    req: Request<Incoming>,
    cx: &Ctx,
    cred: &Credential,
    request_id: String,
    dialect: Dialect,
) -> Result<JsonRequest<T>, GatewayError> {
    let (parts, bytes) = read_body(req, cx).await?;
    let body = json_object(&bytes)?;
    let opts = call_options(&parts, cred, request_id, dialect);
    Ok(JsonRequest { parts, body, opts })
}

/// `bytes` as one JSON object read into `T` (serde's message names what is wrong in one).
pub fn json_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, GatewayError> {
    let kind = match bytes.trim_ascii_start().first() {
        None => return Err(GatewayError::invalid("the request body is empty: send a JSON object", None)),
        Some(b'{') => return serde_json::from_slice(bytes).map_err(|e| from_json_error(&e)),
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        Some(_) => "a number",
    };
    // Not an object: say what it is when it is JSON, else what is wrong with it.
    serde_json::from_slice::<IgnoredAny>(bytes).map_err(|e| from_json_error(&e))?;
    Err(GatewayError::invalid(format!("the request body must be a JSON object, not {kind}"), None))
}

/// One request header as text, if present and visible ASCII.
pub fn header(parts: &Parts, name: impl hyper::header::AsHeaderName) -> Option<&str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok())
}

/// The key a TCP caller presents, in whichever way its SDK sends one: `Authorization:
/// Bearer` (OpenAI), `x-api-key` (Anthropic), `x-goog-api-key` or `?key=` (Gemini).
fn presented_key(parts: &Parts) -> Option<String> {
    let bearer = header(parts, hyper::header::AUTHORIZATION).and_then(|a| a.strip_prefix("Bearer "));
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
        // (`+` is a space in a query, not in a path; `%2B` is a plus in both)
        (k == name).then(|| percent_decode(&v.replace('+', " ")))
    })
}

/// `%XX` escapes decoded (a path segment's, or a query value's once `+` is a space); an
/// invalid escape is kept as it is, and bytes that are not UTF-8 become U+FFFD.
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
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The per-call options of a request of `dialect`. `cred` is the connection's credential:
/// the peer's on the Unix socket (a header cannot change it); on TCP, the key presented.
pub fn call_options(parts: &Parts, cred: &Credential, request_id: String, dialect: Dialect) -> CallOptions {
    use super::names::*;
    let h = |name: HeaderName| header(parts, name).map(str::to_string);
    let credential = match cred {
        Credential::Anonymous => match presented_key(parts) {
            Some(key) => Credential::Bearer(key),
            None => Credential::Anonymous,
        },
        known => known.clone(),
    };
    CallOptions {
        credential,
        route: h(X_SIDEGATE_ROUTE),
        timeout: h(X_SIDEGATE_TIMEOUT_MS).and_then(|v| v.parse::<u64>().ok()).map(Duration::from_millis),
        label: h(X_SIDEGATE_LABEL),
        regions: h(X_SIDEGATE_REGIONS)
            .map(|v| v.split(',').map(|r| r.trim().to_string()).filter(|r| !r.is_empty()).collect()),
        cache: {
            // Every `cache-control` line counts: `no-store` anywhere wins over `no-cache`.
            let all: Vec<&str> = parts.headers.get_all(CACHE_CONTROL).iter().filter_map(|v| v.to_str().ok()).collect();
            crate::front::cache_directive::from_cache_control(&all.join(","))
        },
        request_id,
        dialect,
        episode: h(X_SIDEGATE_EPISODE),
        // The body's `prompt` joins it in each endpoint (`with_body_prompt`).
        prompt: crate::front::prompt_option::read(
            None,
            header(parts, super::names::X_SIDEGATE_PROMPT),
            header(parts, super::names::X_SIDEGATE_PROMPT_VARIABLES),
        ),
    }
}

/// `opts` with the prompt the body names (its `prompt` field, taken out of it) joined with
/// the one the headers name.
pub fn with_body_prompt(opts: &mut CallOptions, parts: &Parts, body_prompt: Option<serde_json::Value>) {
    if body_prompt.is_some() {
        opts.prompt = crate::front::prompt_option::read(
            body_prompt,
            header(parts, super::names::X_SIDEGATE_PROMPT),
            header(parts, super::names::X_SIDEGATE_PROMPT_VARIABLES),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(bytes: &[u8]) -> String {
        match json_object::<serde_json::Map<String, serde_json::Value>>(bytes) {
            Ok(m) => panic!("accepted: {m:?}"),
            Err(e) => {
                assert_eq!(e.status(), 400, "{e}");
                e.to_string()
            }
        }
    }

    #[test]
    fn a_body_that_is_not_one_json_object_is_refused_saying_why() {
        assert!(refusal(b"").contains("empty"));
        assert!(refusal(b"  \n").contains("empty"));
        assert!(refusal(b"[1, 2]").contains("not an array"));
        assert!(refusal(b"\"hi\"").contains("not a string"));
        assert!(refusal(b"42").contains("not a number"));
        assert!(refusal(b"null").contains("not null"));
        assert!(refusal(b"not json").contains("invalid request body"));
        assert!(refusal(b"{\"a\": ").contains("invalid request body"));
        assert!(refusal(b"\xff\xfe{}").contains("invalid request body"));
        let ok = json_object::<serde_json::Map<String, serde_json::Value>>(b" {\"a\": 1}");
        assert_eq!(ok.ok().and_then(|m| m.get("a").cloned()), Some(serde_json::json!(1)));
    }

    #[test]
    fn query_params_are_found_and_decoded() {
        assert_eq!(query_param("alt=sse&key=a%2Fb+c", "key").as_deref(), Some("a/b c"));
        assert_eq!(query_param("alt=sse", "key"), None);
        assert_eq!(query_param("key", "key").as_deref(), Some(""));
        assert_eq!(query_param("key=%zz%4", "key").as_deref(), Some("%zz%4"));
        assert_eq!(query_param("key=a%2Bb+c", "key").as_deref(), Some("a+b c"));
    }

    #[test]
    fn percent_decoding_keeps_a_plus_and_never_panics() {
        assert_eq!(percent_decode("a+b%2Fc"), "a+b/c");
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("x%41"), "xA");
        assert_eq!(percent_decode("%ff%fe"), "\u{fffd}\u{fffd}");
        assert_eq!(percent_decode("%e2%82"), "\u{fffd}");
        assert_eq!(percent_decode("é%"), "é%");
    }
}
