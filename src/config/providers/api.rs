//! `api = "chat" | "responses"`: which OpenAI endpoint an OpenAI-shaped provider (or one model
//! of it) is called through. Chat Completions is the default; the Responses API serves models
//! that need it (reasoning models with tools). Only the OpenAI-shaped kinds can speak either.

use super::ProviderKind;
use crate::config::context::ResolveCx;

/// The OpenAI endpoint a deployment is called through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum UpstreamApi {
    /// `POST {base_url}/chat/completions`.
    #[default]
    Chat,
    /// `POST {base_url}/responses`.
    Responses,
}

impl UpstreamApi {
    pub const ALL: [UpstreamApi; 2] = [UpstreamApi::Chat, UpstreamApi::Responses];

    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamApi::Chat => "chat",
            UpstreamApi::Responses => "responses",
        }
    }

    pub fn parse(s: &str) -> Option<UpstreamApi> {
        UpstreamApi::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

impl ProviderKind {
    /// Whether the kind is OpenAI-shaped, so it can be called through either OpenAI API.
    pub fn speaks_openai_apis(self) -> bool {
        matches!(self, ProviderKind::OpenAi | ProviderKind::OpenAiCompatible | ProviderKind::Azure)
    }
}

/// `raw` (the `api` key at `path`) checked against the provider's kind: None when unset or in
/// error (the error is recorded, naming the key).
pub(crate) fn resolve_api(
    cx: &mut ResolveCx<'_>,
    path: &[&str],
    kind: ProviderKind,
    raw: Option<&str>,
) -> Option<UpstreamApi> {
    let raw = raw?;
    if !kind.speaks_openai_apis() {
        cx.err(
            path,
            format!(
                "`api` only applies to kinds \"openai\", \"openai-compatible\" and \"azure\", not \"{}\"",
                kind.as_str()
            ),
        );
        return None;
    }
    let api = UpstreamApi::parse(raw);
    if api.is_none() {
        let known = UpstreamApi::ALL.map(UpstreamApi::as_str).join(", ");
        cx.err(path, format!("unknown api `{raw}` (known: {known})"));
    }
    api
}
