//! OpenAI, OpenAI-compatible servers (with `preset` quirks) and Azure OpenAI: Chat
//! Completions, the Responses API (`api = "responses"`, module `openai_responses`) and
//! embeddings. The canonical types *are* OpenAI's, so translation is small:
//! swap in the vendor's model id, apply the server family's quirks (`presets`), ask for usage
//! on streams, classify errors, and check that what comes back has the promised shape. The
//! answer, stream and error-body reading is the dialect's (`wire::openai_chat`); a whole
//! Chat Completions answer keeps the vendor's bytes for the OpenAI-shaped fronts.

use reqwest::header::HeaderMap;
use serde_json::Value;

use super::error::retry_after;
use super::http::{self, Auth, Http};
use super::presets::{self, Quirks};
use super::{ChunkStream, Failure, ProviderError};
use crate::api::chat::StreamOptions;
use crate::api::reasoning::{Effort, ReasoningAsk, Resolved};
use crate::api::{ChatRequest, ChatResponse, EmbeddingsRequest, Extra};
use crate::config::{HttpSettings, ProviderKind, UpstreamApi};
use crate::wire::WireError;
use crate::wire::openai_chat::{StreamState, error_fields, read_answer};

/// Which endpoint a call goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Chat,
    Responses,
    Embeddings,
}

/// Where requests go: fixed URLs, or Azure's per-deployment URLs.
enum Urls {
    Fixed {
        chat: String,
        responses: String,
        embeddings: String,
    },
    /// `{base}/openai/deployments/{deployment}/{op}?api-version={v}`; the body's model is
    /// ignored. The Responses API has no deployment URL: `{base}/openai/responses?api-version={v}`
    /// with the deployment as the body's model.
    AzureDeployment {
        base: String,
        api_version: String,
    },
}

pub struct OpenAi {
    http: Http,
    urls: Urls,
    /// The chat URL parsed once, when it is fixed: parsing it for every call cost ~6,700
    /// instructions per request (issue 16). None for Azure deployment URLs (the model is in
    /// the path) or a URL that does not parse (then each call reports it, as before).
    chat_url: Option<reqwest::Url>,
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
                        responses: format!("{}/openai/v1/responses", cfg.base_url),
                        embeddings: format!("{}/openai/v1/embeddings", cfg.base_url),
                    },
                };
                (Auth::Header("api-key"), urls, presets::azure(cfg.api_version.as_deref()))
            }
            _ => {
                let urls = Urls::Fixed {
                    chat: format!("{}/chat/completions", cfg.base_url),
                    responses: format!("{}/responses", cfg.base_url),
                    embeddings: format!("{}/embeddings", cfg.base_url),
                };
                (Auth::Bearer, urls, cfg.preset.map_or_else(presets::openai, presets::preset))
            }
        };
        let chat_url = match &urls {
            Urls::Fixed { chat, .. } => reqwest::Url::parse(chat).ok(),
            Urls::AzureDeployment { .. } => None,
        };
        Ok(OpenAi { http: Http::new(cfg, auth, &[])?, urls, chat_url, quirks })
    }

    /// Whether `n > 1` must be fanned out (the server rejects or ignores `n`; a Responses
    /// call has one output).
    pub fn fans_out(&self, api: UpstreamApi) -> bool {
        self.quirks.fan_out_n || api == UpstreamApi::Responses
    }

    /// POSTs a chat body to the chat URL (the parsed one when it is fixed).
    async fn post_chat(&self, model: &str, body: Vec<u8>) -> Result<reqwest::Response, ProviderError> {
        match &self.chat_url {
            Some(url) => self.http.post(url.clone(), body, error_from_http).await,
            None => self.http.post(self.url(model, Op::Chat)?, body, error_from_http).await,
        }
    }

    fn url(&self, model: &str, op: Op) -> Result<String, ProviderError> {
        match &self.urls {
            Urls::Fixed { chat, responses, embeddings } => Ok(match op {
                Op::Chat => chat.clone(),
                Op::Responses => responses.clone(),
                Op::Embeddings => embeddings.clone(),
            }),
            Urls::AzureDeployment { base, api_version } if op == Op::Responses => {
                Ok(format!("{base}/openai/responses?api-version={api_version}"))
            }
            Urls::AzureDeployment { base, api_version } => {
                // The deployment name goes into the path: nothing that could change the path.
                let ok = !model.is_empty()
                    && model != ".."
                    && model.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
                if !ok {
                    return Err(WireError::invalid(format!("`{model}` is not an Azure deployment name")).into());
                }
                let op = if op == Op::Embeddings { "embeddings" } else { "chat/completions" };
                Ok(format!("{base}/openai/deployments/{model}/{op}?api-version={api_version}"))
            }
        }
    }

    /// The vendor request: the caller's with the vendor's model id and the server's quirks
    /// applied; streams ask for usage (the gateway needs it; the router drops the usage
    /// chunk if the caller did not ask) where the server understands `stream_options`.
    pub fn wire_request(q: &Quirks, req: &ChatRequest, model: &str, stream: bool) -> ChatRequest {
        Self::build(q, req, model, stream, req.reasoning_effort)
    }

    /// [`Self::wire_request`] with `reasoning_effort` as the effort table resolved it.
    fn with_reasoning(q: &Quirks, req: &ChatRequest, model: &str, stream: bool, sent: Resolved) -> ChatRequest {
        let effort = match sent {
            Resolved::Level(e) => Some(e),
            Resolved::Off => Some(Effort::None),
            Resolved::Budget(b) => ReasoningAsk { budget_tokens: Some(b), ..ReasoningAsk::default() }.level(),
            Resolved::Unasked | Resolved::Adaptive => None,
        };
        Self::build(q, req, model, stream, effort)
    }

    fn build(q: &Quirks, req: &ChatRequest, model: &str, stream: bool, effort: Option<Effort>) -> ChatRequest {
        let mut out = req.clone();
        out.reasoning_effort = effort;
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
        // Reasoning blocks have no Chat Completions form (removed before, by
        // `reasoning::keep_own`); the extension ask is never sent.
        out.reasoning = None;
        for m in &mut out.messages {
            (m.reasoning_content, m.reasoning_details) = (None, None);
        }
        presets::apply(q, &mut out);
        crate::wire::cache_control::strip(&mut out);
        out
    }

    pub async fn complete(
        &self,
        req: &ChatRequest,
        model: &str,
        api: UpstreamApi,
        sent: Resolved,
    ) -> Result<ChatResponse, ProviderError> {
        if api == UpstreamApi::Responses {
            let url = self.url(model, Op::Responses)?;
            return super::openai_responses::complete(&self.http, &url, req, model, sent).await;
        }
        let body = http::encode(&Self::with_reasoning(&self.quirks, req, model, false, sent))?;
        let resp = self.post_chat(model, body).await?;
        let bytes = self.http.read(resp).await?;
        // The body is kept (not copied) as the answer's own JSON when it is spec-complete.
        read_answer(bytes).map_err(|e| http::bad_response("chat completion", &e))
    }

    pub async fn stream(
        &self,
        req: &ChatRequest,
        model: &str,
        api: UpstreamApi,
        sent: Resolved,
    ) -> Result<ChunkStream, ProviderError> {
        if api == UpstreamApi::Responses {
            let url = self.url(model, Op::Responses)?;
            return super::openai_responses::stream(&self.http, &url, req, model, sent).await;
        }
        let body = http::encode(&Self::with_reasoning(&self.quirks, req, model, true, sent))?;
        let resp = self.post_chat(model, body).await?;
        let t = StreamState { x_groq: self.quirks.usage_in_x_groq };
        Ok(http::drive(resp.bytes_stream(), t, self.http.redactor().cloned(), None))
    }

    pub async fn embeddings(&self, req: &EmbeddingsRequest, model: &str) -> Result<Value, ProviderError> {
        let mut wire = req.clone();
        wire.model = model.to_string();
        let resp = self.http.post(&self.url(model, Op::Embeddings)?, http::encode(&wire)?, error_from_http).await?;
        let bytes = self.http.read(resp).await?;
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(v) if v.get("data").is_some_and(Value::is_array) => Ok(v),
            Ok(_) => Err(ProviderError::new(Failure::BadResponse, "vendor sent an embeddings answer without `data`")),
            Err(e) => Err(ProviderError::new(Failure::BadResponse, format!("vendor sent invalid JSON: {e}"))),
        }
    }
}

/// An OpenAI error body (Chat Completions and Responses share it) classified for failover.
pub(super) fn error_from_http(status: u16, headers: &HeaderMap, body: &[u8]) -> ProviderError {
    let (code, message) = error_fields(body);
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

#[cfg(test)]
mod tests {
    use super::*;

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
            api: UpstreamApi::Chat,
        };
        let a = OpenAi::new(&cfg, ProviderKind::Azure).unwrap();
        assert_eq!(
            a.url("gpt4o-prod", Op::Chat).unwrap(),
            "https://res.openai.azure.com/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21"
        );
        assert!(a.url("../../x", Op::Chat).is_err());
        assert_eq!(
            a.url("gpt4o-prod", Op::Responses).unwrap(),
            "https://res.openai.azure.com/openai/responses?api-version=2024-10-21"
        );
        let v1 = OpenAi::new(&HttpSettings { api_version: None, ..cfg.clone() }, ProviderKind::Azure).unwrap();
        assert_eq!(v1.url("gpt-4o", Op::Embeddings).unwrap(), "https://res.openai.azure.com/openai/v1/embeddings");
        assert_eq!(v1.url("gpt-4o", Op::Responses).unwrap(), "https://res.openai.azure.com/openai/v1/responses");
        let o = OpenAi::new(&HttpSettings { base_url: "http://h/v1".into(), ..cfg }, ProviderKind::OpenAi).unwrap();
        assert_eq!(o.url("m", Op::Responses).unwrap(), "http://h/v1/responses");
        assert!(o.fans_out(UpstreamApi::Responses) && !o.fans_out(UpstreamApi::Chat));
    }
}
