//! The settings of a vendor reached over HTTP (`openai`, `openai-compatible`, `azure`,
//! `anthropic`, `gemini`): URL, key, headers, timeouts and the keys that belong to one kind.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::{Preset, ProviderKind, UpstreamApi, resolve_api};
use crate::config::context::ResolveCx;
use crate::config::secrets::{SecretSource, resolve_secret};
use crate::secret::Secret;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpProviderFile {
    pub api_key: Option<SecretSource>,
    pub base_url: Option<String>,
    pub region: Option<String>,
    /// Extra headers sent with every call (e.g. an organization id).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// TCP/TLS connect timeout.
    pub connect_timeout: Option<String>,
    /// `openai-compatible` only: the server family ("mistral", "groq", "deepseek", "together",
    /// "vllm", "ollama"), which picks its quirks and a default `base_url`.
    pub preset: Option<String>,
    /// `azure` only: `api-version` for classic deployment URLs; omitted = the v1 API.
    pub api_version: Option<String>,
    /// `anthropic` only: `max_tokens` sent when the caller set none and the model is not in
    /// the built-in table of documented output limits.
    pub default_max_tokens: Option<u64>,
    /// `openai`, `openai-compatible`, `azure`: "chat" (default) or "responses", the endpoint
    /// the provider's models are called through unless a model sets its own.
    pub api: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HttpSettings {
    pub base_url: String,
    pub api_key: Option<Secret>,
    /// Extra headers; their values are secrets (an organization id, a gateway token).
    pub headers: Vec<(String, Secret)>,
    pub connect_timeout: Duration,
    /// `openai-compatible`: the server family whose quirks the adapter applies.
    pub preset: Option<Preset>,
    /// `azure`: `api-version` (classic deployment URLs); None = the v1 API.
    pub api_version: Option<String>,
    /// `anthropic`: `max_tokens` for models missing from the built-in table.
    pub default_max_tokens: Option<u64>,
    /// The OpenAI endpoint the provider's models use unless a model sets `api` itself.
    pub api: UpstreamApi,
}

/// The settings, and why the provider is unavailable when its key cannot be read. None when
/// the provider is in error (no usable `base_url`). Keys that belong to another kind are errors.
pub(super) fn resolve_http(
    cx: &mut ResolveCx<'_>,
    name: &str,
    kind: ProviderKind,
    h: &HttpProviderFile,
) -> Option<(HttpSettings, Option<String>)> {
    check_kind_keys(cx, name, kind, h);
    let preset = resolve_preset(cx, name, kind, h.preset.as_deref());
    let api = resolve_api(cx, &["providers", name, "api"], kind, h.api.as_deref()).unwrap_or_default();
    if h.default_max_tokens == Some(0) {
        cx.err(&["providers", name, "default_max_tokens"], "must be at least 1");
    }
    if let Some(v) = &h.api_version
        && (v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
    {
        cx.err(&["providers", name, "api_version"], format!("`{v}` is not an api-version like \"2024-10-21\""));
    }
    let base_url = resolve_base_url(cx, name, kind, preset, h.base_url.as_deref())?;
    let (api_key, unavailable) = resolve_api_key(cx, name, kind, preset, h.api_key.as_ref());
    for k in h.headers.keys() {
        if reqwest::header::HeaderName::from_bytes(k.as_bytes()).is_err() {
            cx.err(&["providers", name, "headers", k], format!("`{k}` is not a valid header name"));
        }
    }
    let connect_timeout =
        cx.duration(&["providers", name, "connect_timeout"], &h.connect_timeout, Duration::from_secs(5));
    for v in h.headers.values() {
        cx.note_sensitive(v);
    }
    for v in crate::secret::url_secrets(&base_url) {
        cx.note_sensitive(&v);
    }
    let headers = h.headers.iter().map(|(k, v)| (k.clone(), Secret::new(v.clone()))).collect();
    let settings = HttpSettings {
        base_url,
        api_key,
        headers,
        connect_timeout,
        preset,
        api_version: h.api_version.clone(),
        default_max_tokens: h.default_max_tokens,
        api,
    };
    Some((settings, unavailable))
}

/// `preset`, `api_version` and `default_max_tokens` each belong to one kind.
fn check_kind_keys(cx: &mut ResolveCx<'_>, name: &str, kind: ProviderKind, h: &HttpProviderFile) {
    let owned = [
        ("preset", h.preset.is_some(), ProviderKind::OpenAiCompatible),
        ("api_version", h.api_version.is_some(), ProviderKind::Azure),
        ("default_max_tokens", h.default_max_tokens.is_some(), ProviderKind::Anthropic),
    ];
    for (key, set, owner) in owned {
        if set && kind != owner {
            cx.err(
                &["providers", name, key],
                format!("`{key}` only applies to kind = \"{}\", not \"{}\"", owner.as_str(), kind.as_str()),
            );
        }
    }
}

fn resolve_preset(cx: &mut ResolveCx<'_>, name: &str, kind: ProviderKind, raw: Option<&str>) -> Option<Preset> {
    let p = raw.filter(|_| kind == ProviderKind::OpenAiCompatible)?;
    let preset = Preset::parse(p);
    if preset.is_none() {
        let known = Preset::ALL.map(Preset::as_str).join(", ");
        cx.err(&["providers", name, "preset"], format!("unknown preset `{p}` (known: {known})"));
    }
    preset
}

fn resolve_base_url(
    cx: &mut ResolveCx<'_>,
    name: &str,
    kind: ProviderKind,
    preset: Option<Preset>,
    raw: Option<&str>,
) -> Option<String> {
    let default_url = match kind {
        ProviderKind::OpenAi => Some("https://api.openai.com/v1"),
        ProviderKind::Anthropic => Some("https://api.anthropic.com"),
        ProviderKind::Gemini => Some("https://generativelanguage.googleapis.com"),
        ProviderKind::OpenAiCompatible => preset.and_then(Preset::default_base_url),
        ProviderKind::Azure | ProviderKind::Mock => None,
    };
    let base_url = match (raw, default_url) {
        (Some(u), _) => u.trim_end_matches('/').to_string(),
        (None, Some(d)) => d.to_string(),
        (None, None) => {
            let example = match kind {
                ProviderKind::Azure => "\"https://my-resource.openai.azure.com\"",
                _ => "\"http://127.0.0.1:8000/v1\"",
            };
            cx.err(&["providers", name], format!("a {} provider needs `base_url` (e.g. {example})", kind.as_str()));
            return None;
        }
    };
    if !(base_url.starts_with("http://") || base_url.starts_with("https://")) || reqwest::Url::parse(&base_url).is_err()
    {
        let shown = crate::secret::redact_url(&base_url);
        cx.err(&["providers", name, "base_url"], format!("`{shown}` is not an http(s) URL"));
    }
    Some(base_url)
}

/// The key, and the reason the provider is unavailable when it names one that cannot be read.
/// A kind that needs a key and names none is an error.
fn resolve_api_key(
    cx: &mut ResolveCx<'_>,
    name: &str,
    kind: ProviderKind,
    preset: Option<Preset>,
    src: Option<&SecretSource>,
) -> (Option<Secret>, Option<String>) {
    let Some(src) = src else {
        let key_required = match kind {
            ProviderKind::OpenAi | ProviderKind::Azure | ProviderKind::Anthropic | ProviderKind::Gemini => true,
            ProviderKind::OpenAiCompatible => preset.is_some_and(Preset::needs_key),
            ProviderKind::Mock => false,
        };
        if key_required {
            let var = match kind {
                ProviderKind::Anthropic => "ANTHROPIC_API_KEY",
                ProviderKind::Gemini => "GEMINI_API_KEY",
                ProviderKind::Azure => "AZURE_OPENAI_API_KEY",
                _ => "OPENAI_API_KEY",
            };
            let what = preset.map_or(kind.as_str(), Preset::as_str);
            cx.err(&["providers", name], format!("a {what} provider needs `api_key` (e.g. {{ env = \"{var}\" }})"));
        }
        return (None, None);
    };
    let path = ["providers", name, "api_key"];
    match resolve_secret(cx, &path, src, &format!("provider `{name}` is unavailable")) {
        Ok(key) => (Some(key), None),
        Err(reason) => (None, Some(format!("{reason} ({})", path.join(".")))),
    }
}
