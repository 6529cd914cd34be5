//! The HTTP side every vendor adapter shares: one pooled client per account with the vendor's
//! auth header, a POST that turns non-2xx answers into classified `ProviderError`s (keys
//! redacted), and `drive`, which runs a vendor's SSE byte stream through the dialect's pure
//! [`StreamDecoder`] and yields canonical chunks. No vendor format is known here.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde::Serialize;

use super::{ChunkStream, Failure, ProviderError};
use crate::api::ChatChunk;
use crate::config::HttpSettings;
use crate::secret::{Redactor, url_secrets};
use crate::wire::native::{Dialect, NativeBytes};
use crate::wire::sse::{self, SseParser};
use crate::wire::{Flow, StreamDecoder};

/// How the account key travels.
#[derive(Debug, Clone, Copy)]
pub enum Auth {
    /// `Authorization: Bearer <key>` (OpenAI and most compatible servers).
    Bearer,
    /// The key alone in a named header (`x-api-key`, `x-goog-api-key`, `api-key`).
    Header(&'static str),
}

/// Classifies a vendor's non-2xx answer: status, headers, body.
pub type ErrorParser = fn(u16, &HeaderMap, &[u8]) -> ProviderError;

pub struct Http {
    client: reqwest::Client,
    /// The account's key, its extra headers' values and its URL's userinfo (with the Basic
    /// auth value derived from it): hidden in every error message built here.
    redactor: Redactor,
}

impl Http {
    /// A client with the account's headers, its key under `auth`, and `fixed` vendor headers
    /// (e.g. `anthropic-version`) that configured headers may override.
    pub fn new(cfg: &HttpSettings, auth: Auth, fixed: &[(&'static str, &'static str)]) -> Result<Self, String> {
        let mut headers = HeaderMap::new();
        for (k, v) in fixed {
            headers.insert(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        for (k, v) in &cfg.headers {
            let name = HeaderName::from_bytes(k.as_bytes()).map_err(|e| format!("header {k}: {e}"))?;
            let mut value =
                HeaderValue::from_str(v.expose()).map_err(|_| format!("header {k}: the value is not valid HTTP"))?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        if let Some(key) = &cfg.api_key {
            let (name, value) = match auth {
                Auth::Bearer => (AUTHORIZATION, format!("Bearer {}", key.expose())),
                Auth::Header(h) => (HeaderName::from_static(h), key.expose().to_string()),
            };
            let mut v = HeaderValue::from_str(&value).map_err(|_| "api_key contains invalid characters")?;
            v.set_sensitive(true);
            headers.insert(name, v);
        }
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(crate::tls::client_config()?)
            .default_headers(headers)
            .connect_timeout(cfg.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_keepalive(Duration::from_secs(30))
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build HTTP client: {e}"))?;
        let secrets = cfg.api_key.iter().map(|k| k.expose().to_string());
        let secrets = secrets.chain(cfg.headers.iter().map(|(_, v)| v.expose().to_string()));
        let redactor = Redactor::new(secrets.chain(url_secrets(&cfg.base_url)));
        Ok(Http { client, redactor })
    }

    /// `text` with the account's secrets hidden.
    pub fn redact(&self, text: &str) -> String {
        self.redactor.redact(text)
    }

    /// The account's secrets, for [`drive`] to hide in a stream's errors.
    pub fn redactor(&self) -> Option<&Redactor> {
        Some(&self.redactor)
    }

    /// POSTs a JSON body; a non-2xx answer becomes the error `on_error` classifies.
    pub async fn post(
        &self,
        url: impl reqwest::IntoUrl,
        body: Vec<u8>,
        on_error: ErrorParser,
    ) -> Result<reqwest::Response, ProviderError> {
        self.post_with(url, body, &[], on_error).await
    }

    /// [`post`](Self::post) with request headers of the caller's (`anthropic-beta`, say) over
    /// the account's; a header that is not valid HTTP is a request error.
    pub async fn post_with(
        &self,
        url: impl reqwest::IntoUrl,
        body: Vec<u8>,
        headers: &[(String, String)],
        on_error: ErrorParser,
    ) -> Result<reqwest::Response, ProviderError> {
        let mut rb = self.client.post(url).header(CONTENT_TYPE, "application/json");
        for (k, v) in headers {
            let name = HeaderName::from_bytes(k.as_bytes());
            let value = HeaderValue::from_str(v);
            let (Ok(name), Ok(value)) = (name, value) else {
                return Err(ProviderError::new(Failure::InvalidRequest, format!("header `{k}` is not valid HTTP")));
            };
            rb = rb.header(name, value);
        }
        let resp = rb.body(body).send().await.map_err(|e| self.transport_error(&e))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.unwrap_or_default();
        let mut err = on_error(status, &headers, &body);
        err.message = self.redact(&err.message);
        err.code = err.code.map(|c| self.redact(&c));
        Err(err)
    }

    /// The whole body of a 2xx answer.
    pub async fn read(&self, resp: reqwest::Response) -> Result<Bytes, ProviderError> {
        resp.bytes()
            .await
            .map_err(|e| ProviderError::new(Failure::StreamBroken, self.redact(&format!("response cut short: {e}"))))
    }

    fn transport_error(&self, e: &reqwest::Error) -> ProviderError {
        let failure = if e.is_timeout() { Failure::Timeout } else { Failure::Connect };
        // reqwest's Display includes the URL but never headers, so the key cannot appear.
        ProviderError::new(failure, self.redact(&format!("vendor unreachable: {}", error_chain(e))))
    }
}

/// Gives the events gathered in `raw` to the first of the chunks they produced; at the end
/// of the stream, events that produced none travel in an empty chunk of their own.
fn attach_native(dialect: Dialect, raw: &mut Vec<u8>, chunks: &mut Vec<ChatChunk>, done: bool) {
    if raw.is_empty() {
        return;
    }
    if chunks.is_empty() && done {
        chunks.push(ChatChunk::native_only());
    }
    if let Some(first) = chunks.first_mut() {
        first.native = Some(NativeBytes { dialect, bytes: Bytes::from(std::mem::take(raw)) });
    }
}

/// Serializes a wire request; failure is a gateway bug surfaced as a 400-class error.
pub fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, ProviderError> {
    serde_json::to_vec(v)
        .map_err(|e| ProviderError::new(Failure::InvalidRequest, format!("cannot encode request: {e}")))
}

/// A 200 body that does not parse as the vendor's documented shape.
pub fn bad_response(what: &str, e: &serde_json::Error) -> ProviderError {
    ProviderError::new(Failure::BadResponse, format!("vendor sent an invalid {what}: {e}"))
}

/// A non-2xx body that is not the vendor's error shape (a proxy's HTML page, nothing):
/// classified by status alone, its text (the first 500 characters) as the message.
pub fn unparsed_error(status: u16, body: &[u8], retry_after: Option<Duration>) -> ProviderError {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let message =
        if text.is_empty() { format!("vendor answered HTTP {status}") } else { text.chars().take(500).collect() };
    ProviderError::from_status(status, None, message, retry_after)
}

/// reqwest errors hide the cause (refused, reset) in their source chain.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Runs a vendor byte stream through `t`. The first error ends the stream; vendor text in
/// error messages is redacted with `key` (the account's [`Redactor`]). With `native` (the caller speaks the vendor's own
/// dialect), each chunk also carries the vendor's events it was read from, verbatim, and
/// events after the last chunk (Anthropic's `message_stop`) come in one chunk of their own
/// with no choices.
pub fn drive<T, S>(bytes: S, t: T, key: Option<Redactor>, native: Option<Dialect>) -> ChunkStream
where
    T: StreamDecoder,
    S: Stream<Item = reqwest::Result<Bytes>> + Send + 'static,
{
    Box::pin(Drive {
        bytes: Box::pin(bytes),
        parser: SseParser::default(),
        t,
        ready: VecDeque::new(),
        scratch: Vec::new(),
        key,
        pending_err: None,
        finished: false,
        native,
        raw: Vec::new(),
    })
}

/// [`drive`]'s state, polled in place (a stream combinator moved it into a future and back
/// for every chunk; issue 16).
struct Drive<S, T> {
    bytes: std::pin::Pin<Box<S>>,
    parser: SseParser,
    t: T,
    ready: VecDeque<ChatChunk>,
    scratch: Vec<ChatChunk>,
    key: Option<Redactor>,
    pending_err: Option<ProviderError>,
    finished: bool,
    native: Option<Dialect>,
    /// Vendor events not yet attached to a chunk (`native` only).
    raw: Vec<u8>,
}

// Nothing in `Drive` is pinned structurally (the byte stream is boxed), so it may move.
impl<S, T> Unpin for Drive<S, T> {}

impl<S, T> Stream for Drive<S, T>
where
    T: StreamDecoder,
    S: Stream<Item = reqwest::Result<Bytes>> + Send + 'static,
{
    type Item = Result<ChatChunk, ProviderError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let st = &mut *self;
        loop {
            // Chunks translated before a failure reach the caller first, then the error.
            if let Some(c) = st.ready.pop_front() {
                return Poll::Ready(Some(Ok(c)));
            }
            if let Some(e) = st.pending_err.take() {
                return Poll::Ready(Some(Err(e)));
            }
            if st.finished {
                return Poll::Ready(None);
            }
            let step = match st.parser.next_event() {
                Ok(Some(ev)) => {
                    if st.native.is_some() {
                        st.raw.extend_from_slice(&sse::reencode(&ev));
                    }
                    st.t.on_event(ev, &mut st.scratch).map_err(ProviderError::from)
                }
                Ok(None) => match ready!(st.bytes.as_mut().poll_next(cx)) {
                    Some(Ok(b)) => {
                        st.parser.push(&b);
                        Ok(Flow::More)
                    }
                    Some(Err(e)) => Err(ProviderError::new(
                        Failure::StreamBroken,
                        format!("vendor stream broke: {}", error_chain(&e)),
                    )),
                    None => st.t.on_end(&mut st.scratch).map(|()| Flow::Done).map_err(ProviderError::from),
                },
                Err(e) => Err(ProviderError::new(Failure::BadResponse, e.to_string())),
            };
            if let Some(dialect) = st.native {
                attach_native(dialect, &mut st.raw, &mut st.scratch, step.as_ref().is_ok_and(|f| *f == Flow::Done));
            }
            st.ready.extend(st.scratch.drain(..));
            match step {
                Ok(Flow::More) => {}
                Ok(Flow::Done) => st.finished = true,
                Err(mut e) => {
                    if let Some(k) = &st.key {
                        e.message = k.redact(&e.message);
                    }
                    st.pending_err = Some(e);
                    st.finished = true;
                }
            }
        }
    }
}
