//! OpenAI and OpenAI-compatible servers (Chat Completions, embeddings). The canonical types
//! *are* OpenAI's, so translation is small: swap in the vendor's model id, ask for usage on
//! streams, classify errors, and check that what comes back has the promised shape.

use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use super::error::retry_after;
use super::sse::SseParser;
use super::{ChunkStream, Failure, ProviderError};
use crate::api::chat::StreamOptions;
use crate::api::{ChatChunk, ChatRequest, ChatResponse, EmbeddingsRequest, Extra};
use crate::config::HttpSettings;
use crate::secret::Secret;

pub struct OpenAi {
    http: reqwest::Client,
    chat_url: String,
    embeddings_url: String,
    key: Option<Secret>,
}

impl OpenAi {
    pub fn new(cfg: &HttpSettings) -> Result<Self, String> {
        let mut headers = HeaderMap::new();
        for (k, v) in &cfg.headers {
            let name =
                HeaderName::from_bytes(k.as_bytes()).map_err(|e| format!("header {k}: {e}"))?;
            let value = HeaderValue::from_str(v).map_err(|e| format!("header {k}: {e}"))?;
            headers.insert(name, value);
        }
        if let Some(key) = &cfg.api_key {
            let mut v = HeaderValue::from_str(&format!("Bearer {}", key.expose()))
                .map_err(|_| "api_key contains invalid characters")?;
            v.set_sensitive(true);
            headers.insert(AUTHORIZATION, v);
        }
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(cfg.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_keepalive(Duration::from_secs(30))
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build HTTP client: {e}"))?;
        Ok(OpenAi {
            http,
            chat_url: format!("{}/chat/completions", cfg.base_url),
            embeddings_url: format!("{}/embeddings", cfg.base_url),
            key: cfg.api_key.clone(),
        })
    }

    fn redact(&self, text: &str) -> String {
        match &self.key {
            Some(k) => k.redact(text),
            None => text.to_string(),
        }
    }

    /// The vendor request: the caller's, with the vendor's model id; streams always ask for
    /// usage (the gateway needs it) and the router drops the usage chunk if the caller did not.
    fn wire_request(req: &ChatRequest, model: &str, stream: bool) -> ChatRequest {
        let mut out = req.clone();
        out.model = model.to_string();
        out.stream = stream.then_some(true);
        if stream {
            let mut opts = out.stream_options.take().unwrap_or(StreamOptions {
                include_usage: None,
                extra: Extra::new(),
            });
            opts.include_usage = Some(true);
            out.stream_options = Some(opts);
        } else {
            out.stream_options = None;
        }
        out
    }

    async fn post(&self, url: &str, body: Vec<u8>) -> Result<reqwest::Response, ProviderError> {
        let resp = self
            .http
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| self.transport_error(&e))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        Err(self.error_from_response(resp).await)
    }

    fn transport_error(&self, e: &reqwest::Error) -> ProviderError {
        let failure = if e.is_timeout() {
            Failure::Timeout
        } else {
            Failure::Connect
        };
        // reqwest's Display includes the URL but never headers, so the key cannot appear.
        ProviderError::new(
            failure,
            self.redact(&format!("vendor unreachable: {}", error_chain(e))),
        )
    }

    async fn error_from_response(&self, resp: reqwest::Response) -> ProviderError {
        let status = resp.status().as_u16();
        let after = retry_after(resp.headers());
        let body = resp.bytes().await.unwrap_or_default();
        let (code, message) = parse_error_body(&body);
        let message =
            self.redact(&message.unwrap_or_else(|| format!("vendor answered HTTP {status}")));
        ProviderError::from_status(status, code, message, after)
    }

    pub async fn complete(
        &self,
        req: &ChatRequest,
        model: &str,
    ) -> Result<ChatResponse, ProviderError> {
        let body = serde_json::to_vec(&Self::wire_request(req, model, false)).map_err(|e| {
            ProviderError::new(
                Failure::InvalidRequest,
                format!("cannot encode request: {e}"),
            )
        })?;
        let resp = self.post(&self.chat_url, body).await?;
        let bytes = resp.bytes().await.map_err(|e| {
            ProviderError::new(Failure::StreamBroken, format!("response cut short: {e}"))
        })?;
        serde_json::from_slice::<ChatResponse>(&bytes).map_err(|e| {
            ProviderError::new(
                Failure::BadResponse,
                format!("vendor sent an invalid chat completion: {e}"),
            )
        })
    }

    pub async fn stream(
        &self,
        req: &ChatRequest,
        model: &str,
    ) -> Result<ChunkStream, ProviderError> {
        let body = serde_json::to_vec(&Self::wire_request(req, model, true)).map_err(|e| {
            ProviderError::new(
                Failure::InvalidRequest,
                format!("cannot encode request: {e}"),
            )
        })?;
        let resp = self.post(&self.chat_url, body).await?;
        Ok(Box::pin(chunks(resp.bytes_stream())))
    }

    pub async fn embeddings(
        &self,
        req: &EmbeddingsRequest,
        model: &str,
    ) -> Result<Value, ProviderError> {
        let mut wire = req.clone();
        wire.model = model.to_string();
        let body = serde_json::to_vec(&wire).map_err(|e| {
            ProviderError::new(
                Failure::InvalidRequest,
                format!("cannot encode request: {e}"),
            )
        })?;
        let resp = self.post(&self.embeddings_url, body).await?;
        let bytes = resp.bytes().await.map_err(|e| {
            ProviderError::new(Failure::StreamBroken, format!("response cut short: {e}"))
        })?;
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(v) if v.get("data").is_some_and(Value::is_array) => Ok(v),
            Ok(_) => Err(ProviderError::new(
                Failure::BadResponse,
                "vendor sent an embeddings answer without `data`",
            )),
            Err(e) => Err(ProviderError::new(
                Failure::BadResponse,
                format!("vendor sent invalid JSON: {e}"),
            )),
        }
    }
}

/// Translates an OpenAI SSE byte stream into canonical chunks. The stream must end with
/// `data: [DONE]`; ending without it is a broken stream, and an in-band `{"error": ...}`
/// event becomes an error.
fn chunks(
    bytes: impl Stream<Item = reqwest::Result<Bytes>> + Send + 'static,
) -> impl Stream<Item = Result<ChatChunk, ProviderError>> + Send {
    struct St<S> {
        bytes: S,
        parser: SseParser,
        done: bool,
    }
    let st = St {
        bytes: Box::pin(bytes),
        parser: SseParser::default(),
        done: false,
    };
    futures_util::stream::unfold(st, |mut st| async move {
        if st.done {
            return None;
        }
        loop {
            match st.parser.next_event() {
                Ok(Some(ev)) => {
                    let data = ev.data.trim();
                    if data == "[DONE]" {
                        return None;
                    }
                    let item = parse_chunk(data);
                    if item.is_err() {
                        st.done = true;
                    }
                    return Some((item, st));
                }
                Ok(None) => {}
                Err(e) => {
                    st.done = true;
                    return Some((
                        Err(ProviderError::new(Failure::BadResponse, e.to_string())),
                        st,
                    ));
                }
            }
            match st.bytes.next().await {
                Some(Ok(b)) => st.parser.push(&b),
                Some(Err(e)) => {
                    st.done = true;
                    return Some((
                        Err(ProviderError::new(
                            Failure::StreamBroken,
                            format!("vendor stream broke: {}", error_chain(&e)),
                        )),
                        st,
                    ));
                }
                None => {
                    st.done = true;
                    return Some((
                        Err(ProviderError::new(
                            Failure::StreamBroken,
                            "vendor stream ended before [DONE]",
                        )),
                        st,
                    ));
                }
            }
        }
    })
}

fn parse_chunk(data: &str) -> Result<ChatChunk, ProviderError> {
    if (data.starts_with("{\"error\"")
        || (data.contains("\"error\"") && !data.contains("\"choices\"")))
        && let Ok(v) = serde_json::from_str::<Value>(data)
        && v.get("error").is_some()
    {
        let (code, message) = parse_error_body(data.as_bytes());
        let mut e = ProviderError::new(
            Failure::StreamBroken,
            message.unwrap_or_else(|| "vendor sent an error event".into()),
        );
        e.code = code;
        return Err(e);
    }
    serde_json::from_str::<ChatChunk>(data).map_err(|e| {
        ProviderError::new(
            Failure::BadResponse,
            format!("vendor sent an invalid stream chunk: {e}"),
        )
    })
}

/// `(code, message)` from an OpenAI-style error body, tolerating anything else.
fn parse_error_body(body: &[u8]) -> (Option<String>, Option<String>) {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        return (
            None,
            (!text.is_empty()).then(|| text.chars().take(500).collect()),
        );
    };
    let err = v.get("error").unwrap_or(&v);
    let code = err
        .get("code")
        .and_then(Value::as_str)
        .or_else(|| err.get("type").and_then(Value::as_str))
        .map(str::to_string);
    let message = err
        .get("message")
        .and_then(Value::as_str)
        .map(str::to_string);
    (code, message)
}

/// reqwest errors hide the cause (refused, reset) in their source chain.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies() {
        let (c, m) = parse_error_body(
            br#"{"error":{"message":"slow down","type":"requests","code":"rate_limit_exceeded"}}"#,
        );
        assert_eq!(
            (c.as_deref(), m.as_deref()),
            (Some("rate_limit_exceeded"), Some("slow down"))
        );
        let (c, m) = parse_error_body(b"<html>bad gateway</html>");
        assert_eq!((c, m.as_deref()), (None, Some("<html>bad gateway</html>")));
    }

    #[test]
    fn in_band_error_event() {
        let e =
            parse_chunk(r#"{"error":{"message":"overloaded","type":"server_error"}}"#).unwrap_err();
        assert_eq!(e.failure, Failure::StreamBroken);
        assert_eq!(e.message, "overloaded");
    }
}
