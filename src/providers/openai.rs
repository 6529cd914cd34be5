//! OpenAI, OpenAI-compatible servers (with `preset` quirks) and Azure OpenAI: Chat
//! Completions and embeddings. The canonical types *are* OpenAI's, so translation is small:
//! swap in the vendor's model id, apply the server family's quirks (`presets`), ask for usage
//! on streams, classify errors, and check that what comes back has the promised shape.

use reqwest::header::HeaderMap;
use serde_json::Value;

use super::error::retry_after;
use super::http::{self, Auth, EventTranslator, Flow, Http};
use super::presets::{self, Quirks};
use super::sse::SseEvent;
use super::{ChunkStream, Failure, ProviderError};
use crate::api::chat::StreamOptions;
use crate::api::{ChatChunk, ChatRequest, ChatResponse, EmbeddingsRequest, Extra, Usage};
use crate::config::{HttpSettings, ProviderKind};

/// Where requests go: fixed URLs, or Azure's per-deployment URLs.
enum Urls {
    Fixed {
        chat: String,
        embeddings: String,
    },
    /// `{base}/openai/deployments/{deployment}/{op}?api-version={v}`; the body's model is ignored.
    AzureDeployment {
        base: String,
        api_version: String,
    },
}

pub struct OpenAi {
    http: Http,
    urls: Urls,
    quirks: Quirks,
}

impl OpenAi {
    pub fn new(cfg: &HttpSettings, kind: ProviderKind) -> Result<Self, String> {
        let (auth, urls, quirks) = match kind {
            ProviderKind::Azure => {
                let urls = match &cfg.api_version {
                    Some(v) => Urls::AzureDeployment { base: cfg.base_url.clone(), api_version: v.clone() },
                    None => Urls::Fixed {
                        chat: format!("{}/openai/v1/chat/completions", cfg.base_url),
                        embeddings: format!("{}/openai/v1/embeddings", cfg.base_url),
                    },
                };
                (Auth::Header("api-key"), urls, presets::azure(cfg.api_version.as_deref()))
            }
            _ => {
                let urls = Urls::Fixed {
                    chat: format!("{}/chat/completions", cfg.base_url),
                    embeddings: format!("{}/embeddings", cfg.base_url),
                };
                (Auth::Bearer, urls, cfg.preset.map_or_else(presets::openai, presets::preset))
            }
        };
        Ok(OpenAi { http: Http::new(cfg, auth, &[])?, urls, quirks })
    }

    /// Whether `n > 1` must be fanned out (the server rejects or ignores `n`).
    pub fn fans_out(&self) -> bool {
        self.quirks.fan_out_n
    }

    fn url(&self, model: &str, embeddings: bool) -> Result<String, ProviderError> {
        match &self.urls {
            Urls::Fixed { chat, embeddings: e } => Ok(if embeddings { e.clone() } else { chat.clone() }),
            Urls::AzureDeployment { base, api_version } => {
                // The deployment name goes into the path: nothing that could change the path.
                let ok = !model.is_empty()
                    && model != ".."
                    && model.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
                if !ok {
                    return Err(super::common::invalid(format!("`{model}` is not an Azure deployment name")));
                }
                let op = if embeddings { "embeddings" } else { "chat/completions" };
                Ok(format!("{base}/openai/deployments/{model}/{op}?api-version={api_version}"))
            }
        }
    }

    /// The vendor request: the caller's with the vendor's model id and the server's quirks
    /// applied; streams ask for usage (the gateway needs it; the router drops the usage
    /// chunk if the caller did not ask) where the server understands `stream_options`.
    pub fn wire_request(q: &Quirks, req: &ChatRequest, model: &str, stream: bool) -> ChatRequest {
        let mut out = req.clone();
        out.model = model.to_string();
        out.stream = stream.then_some(true);
        if stream && q.stream_options {
            let mut opts =
                out.stream_options.take().unwrap_or(StreamOptions { include_usage: None, extra: Extra::new() });
            opts.include_usage = Some(true);
            out.stream_options = Some(opts);
        } else {
            out.stream_options = None;
        }
        presets::apply(q, &mut out);
        out
    }

    pub async fn complete(&self, req: &ChatRequest, model: &str) -> Result<ChatResponse, ProviderError> {
        let body = http::encode(&Self::wire_request(&self.quirks, req, model, false))?;
        let resp = self.http.post(&self.url(model, false)?, body, error_from_http).await?;
        let bytes = self.http.read(resp).await?;
        serde_json::from_slice::<ChatResponse>(&bytes).map_err(|e| http::bad_response("chat completion", &e))
    }

    pub async fn stream(&self, req: &ChatRequest, model: &str) -> Result<ChunkStream, ProviderError> {
        let body = http::encode(&Self::wire_request(&self.quirks, req, model, true))?;
        let resp = self.http.post(&self.url(model, false)?, body, error_from_http).await?;
        let t = StreamState { x_groq: self.quirks.usage_in_x_groq };
        Ok(http::drive(resp.bytes_stream(), t, self.http.key().cloned()))
    }

    pub async fn embeddings(&self, req: &EmbeddingsRequest, model: &str) -> Result<Value, ProviderError> {
        let mut wire = req.clone();
        wire.model = model.to_string();
        let resp = self.http.post(&self.url(model, true)?, http::encode(&wire)?, error_from_http).await?;
        let bytes = self.http.read(resp).await?;
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(v) if v.get("data").is_some_and(Value::is_array) => Ok(v),
            Ok(_) => Err(ProviderError::new(Failure::BadResponse, "vendor sent an embeddings answer without `data`")),
            Err(e) => Err(ProviderError::new(Failure::BadResponse, format!("vendor sent invalid JSON: {e}"))),
        }
    }
}

fn error_from_http(status: u16, headers: &HeaderMap, body: &[u8]) -> ProviderError {
    let (code, message) = parse_error_body(body);
    // Azure sends its own retry header next to (or instead of) retry-after.
    let after = retry_after(headers).or_else(|| {
        headers
            .get("x-ms-retry-after-ms")
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v >= 0.0 && *v < 86_400_000.0)
            .map(|ms| std::time::Duration::from_secs_f64(ms / 1000.0))
    });
    ProviderError::from_status(status, code, message.unwrap_or_else(|| format!("vendor answered HTTP {status}")), after)
}

/// OpenAI SSE: `data: <chunk>` events ending with `data: [DONE]`; ending without it is a
/// broken stream, and an in-band `{"error": ...}` event is an error. Chunks with no choices
/// and no usage (Azure's `prompt_filter_results` opener) carry nothing and are skipped.
struct StreamState {
    /// Lift `x_groq.usage` into `usage` (older Groq streams).
    x_groq: bool,
}

impl EventTranslator for StreamState {
    fn on_event(&mut self, ev: SseEvent, out: &mut Vec<ChatChunk>) -> Result<Flow, ProviderError> {
        let data = ev.data.trim();
        if data == "[DONE]" {
            return Ok(Flow::Done);
        }
        let mut chunk = parse_chunk(data)?;
        if self.x_groq
            && chunk.usage.is_none()
            && let Some(u) = chunk.extra.get("x_groq").and_then(|x| x.get("usage"))
        {
            chunk.usage = serde_json::from_value::<Usage>(u.clone()).ok();
        }
        if !chunk.choices.is_empty() || chunk.usage.is_some() {
            out.push(chunk);
        }
        Ok(Flow::More)
    }

    fn on_end(&mut self, _out: &mut Vec<ChatChunk>) -> Result<(), ProviderError> {
        Err(ProviderError::new(Failure::StreamBroken, "vendor stream ended before [DONE]"))
    }
}

fn parse_chunk(data: &str) -> Result<ChatChunk, ProviderError> {
    if (data.starts_with("{\"error\"") || (data.contains("\"error\"") && !data.contains("\"choices\"")))
        && let Ok(v) = serde_json::from_str::<Value>(data)
        && v.get("error").is_some()
    {
        let (code, message) = parse_error_body(data.as_bytes());
        let mut e =
            ProviderError::new(Failure::StreamBroken, message.unwrap_or_else(|| "vendor sent an error event".into()));
        e.code = code;
        return Err(e);
    }
    serde_json::from_str::<ChatChunk>(data)
        .map_err(|e| ProviderError::new(Failure::BadResponse, format!("vendor sent an invalid stream chunk: {e}")))
}

/// `(code, message)` from an OpenAI-style error body, tolerating anything else.
fn parse_error_body(body: &[u8]) -> (Option<String>, Option<String>) {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        return (None, (!text.is_empty()).then(|| text.chars().take(500).collect()));
    };
    let err = v.get("error").unwrap_or(&v);
    let code =
        err.get("code").and_then(Value::as_str).or_else(|| err.get("type").and_then(Value::as_str)).map(str::to_string);
    let message = err.get("message").and_then(Value::as_str).map(str::to_string);
    (code, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies() {
        let (c, m) =
            parse_error_body(br#"{"error":{"message":"slow down","type":"requests","code":"rate_limit_exceeded"}}"#);
        assert_eq!((c.as_deref(), m.as_deref()), (Some("rate_limit_exceeded"), Some("slow down")));
        let (c, m) = parse_error_body(b"<html>bad gateway</html>");
        assert_eq!((c, m.as_deref()), (None, Some("<html>bad gateway</html>")));
    }

    #[test]
    fn in_band_error_event() {
        let e = parse_chunk(r#"{"error":{"message":"overloaded","type":"server_error"}}"#).unwrap_err();
        assert_eq!(e.failure, Failure::StreamBroken);
        assert_eq!(e.message, "overloaded");
    }

    fn events(t: &mut StreamState, data: &[&str]) -> Vec<ChatChunk> {
        let mut out = Vec::new();
        for d in data {
            t.on_event(SseEvent { event: None, data: d.to_string() }, &mut out).unwrap();
        }
        out
    }

    #[test]
    fn azure_filter_opener_skipped_and_groq_usage_lifted() {
        let mut t = StreamState { x_groq: true };
        let out = events(
            &mut t,
            &[
                r#"{"id":"","object":"","created":0,"model":"","choices":[],"prompt_filter_results":[{"prompt_index":0}]}"#,
                r#"{"id":"c","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}"#,
                r#"{"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"x_groq":{"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}}"#,
            ],
        );
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].usage, Some(Usage::new(3, 1)));
        assert_eq!(t.on_event(SseEvent { event: None, data: "[DONE]".into() }, &mut Vec::new()).unwrap(), Flow::Done);
    }

    #[test]
    fn azure_deployment_urls() {
        let cfg = HttpSettings {
            base_url: "https://res.openai.azure.com".into(),
            api_key: Some(crate::secret::Secret::new("k")),
            headers: vec![],
            connect_timeout: std::time::Duration::from_secs(1),
            preset: None,
            api_version: Some("2024-10-21".into()),
            default_max_tokens: None,
        };
        let a = OpenAi::new(&cfg, ProviderKind::Azure).unwrap();
        assert_eq!(
            a.url("gpt4o-prod", false).unwrap(),
            "https://res.openai.azure.com/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21"
        );
        assert!(a.url("../../x", false).is_err());
        let v1 = OpenAi::new(&HttpSettings { api_version: None, ..cfg }, ProviderKind::Azure).unwrap();
        assert_eq!(v1.url("gpt-4o", true).unwrap(), "https://res.openai.azure.com/openai/v1/embeddings");
    }
}
