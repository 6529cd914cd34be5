//! `[providers.NAME]`: vendor accounts. `kind` picks the adapter and each kind takes only its
//! own keys; the HTTP vendors' settings are in `http`, the server-family presets in `preset`.
//! A provider whose key cannot be read is kept, marked `unavailable` with the reason: the
//! config stays valid and routing goes around it.

mod api;
mod http;
mod preset;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::context::ResolveCx;
pub use api::UpstreamApi;
pub(crate) use api::resolve_api;
pub use http::{HttpProviderFile, HttpSettings};
pub use preset::Preset;

/// A vendor account. `kind` picks the adapter; each kind takes only its own keys.
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ProviderFile {
    Openai(HttpProviderFile),
    OpenaiCompatible(HttpProviderFile),
    /// Azure OpenAI: deployment URLs, `api-version`, `api-key` header.
    Azure(HttpProviderFile),
    /// Anthropic Messages API.
    Anthropic(HttpProviderFile),
    /// Google Gemini API (generateContent).
    Gemini(HttpProviderFile),
    Mock(MockProviderFile),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MockProviderFile {
    /// "echo" repeats the last user message; anything else is answered verbatim.
    pub reply: Option<String>,
    /// Delay before the first token.
    pub latency: Option<String>,
    /// Delay between stream chunks.
    pub token_interval: Option<String>,
    /// When > 0, the answer is exactly this many tokens (words): the reply repeated or cut.
    pub tokens: Option<u32>,
    /// Fraction (0..=1) of calls that fail with a vendor-style 503.
    pub failure_rate: Option<f64>,
    pub region: Option<String>,
    /// Not a mock key: accepted only to be refused with a clear error (the OpenAI kinds' key).
    pub api: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    OpenAi,
    OpenAiCompatible,
    Azure,
    Anthropic,
    Gemini,
    Mock,
}

impl ProviderKind {
    /// Whether the vendor has an embeddings endpoint (Anthropic has none).
    pub fn can_embed(self) -> bool {
        self.as_str() != "anthropic"
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "openai",
            ProviderKind::OpenAiCompatible => "openai-compatible",
            ProviderKind::Azure => "azure",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Gemini => "gemini",
            ProviderKind::Mock => "mock",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProviderSettings {
    pub name: String,
    pub kind: ProviderKind,
    pub region: Option<String>,
    pub http: Option<HttpSettings>,
    pub mock: Option<MockSettings>,
    /// Why this provider cannot be called, e.g. "environment variable `OPENAI_API_KEY` is
    /// not set (providers.openai.api_key)"; None when it can. Plans skip its deployments.
    pub unavailable: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MockSettings {
    /// None = echo the last user message.
    pub reply: Option<String>,
    pub latency: Duration,
    pub token_interval: Duration,
    pub tokens: u32,
    pub failure_rate: f64,
}

/// Every provider of the file; one in error is left out (its error is recorded).
pub(super) fn resolve_providers(
    cx: &mut ResolveCx<'_>,
    raw: &BTreeMap<String, ProviderFile>,
) -> BTreeMap<String, Arc<ProviderSettings>> {
    let mut providers = BTreeMap::new();
    for (name, p) in raw {
        cx.check_name(&["providers", name], name);
        if let Some(ps) = resolve_provider(cx, name, p) {
            providers.insert(name.clone(), Arc::new(ps));
        }
    }
    providers
}

fn resolve_provider(cx: &mut ResolveCx<'_>, name: &str, p: &ProviderFile) -> Option<ProviderSettings> {
    let (kind, http) = match p {
        ProviderFile::Openai(h) => (ProviderKind::OpenAi, h),
        ProviderFile::OpenaiCompatible(h) => (ProviderKind::OpenAiCompatible, h),
        ProviderFile::Azure(h) => (ProviderKind::Azure, h),
        ProviderFile::Anthropic(h) => (ProviderKind::Anthropic, h),
        ProviderFile::Gemini(h) => (ProviderKind::Gemini, h),
        ProviderFile::Mock(m) => {
            resolve_api(cx, &["providers", name, "api"], ProviderKind::Mock, m.api.as_deref());
            let mock = Some(resolve_mock(cx, name, m));
            let region = m.region.clone();
            return Some(ProviderSettings {
                name: name.to_string(),
                kind: ProviderKind::Mock,
                region,
                http: None,
                mock,
                unavailable: None,
            });
        }
    };
    let (settings, unavailable) = http::resolve_http(cx, name, kind, http)?;
    Some(ProviderSettings {
        name: name.to_string(),
        kind,
        region: http.region.clone(),
        http: Some(settings),
        mock: None,
        unavailable,
    })
}

fn resolve_mock(cx: &mut ResolveCx<'_>, name: &str, m: &MockProviderFile) -> MockSettings {
    let failure_rate = m.failure_rate.unwrap_or(0.0);
    if !(0.0..=1.0).contains(&failure_rate) {
        cx.err(&["providers", name, "failure_rate"], "must be between 0 and 1");
    }
    MockSettings {
        reply: m.reply.clone().filter(|r| r != "echo"),
        latency: cx.duration(&["providers", name, "latency"], &m.latency, Duration::ZERO),
        token_interval: cx.duration(&["providers", name, "token_interval"], &m.token_interval, Duration::ZERO),
        tokens: m.tokens.unwrap_or(0),
        failure_rate,
    }
}
