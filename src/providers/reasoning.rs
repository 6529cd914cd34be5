//! Reasoning per vendor: the effort table (which control each model family takes, so a
//! caller's level or budget becomes what that model accepts, the nearest one when it cannot
//! do the level asked, with a log line), and the reasoning blocks of a conversation (each
//! tagged with the provider that minted it on the way out; on the way in, blocks another
//! vendor minted are removed before a request is sent, never replayed to a vendor that
//! would reject them). docs/providers.md "Reasoning" has the table.

use std::borrow::Cow;

use crate::api::chat::{Content, Role};
use crate::api::reasoning::{
    Control, Effort, FORMAT_ANTHROPIC, FORMAT_GEMINI, FORMAT_OPENAI, ForeignReasoning, ReasoningAsk, Resolved,
};
use crate::api::{ChatChunk, ChatRequest, ChatResponse};
use crate::config::{Preset, ProviderKind};

use Effort::{High, Low, Medium, Minimal, None as Off, Xhigh};

/// A family's control, by model-id prefix, most specific first.
type Family = (&'static str, fn() -> Control);

fn levels(l: &[Effort]) -> Control {
    Control::Levels(l.to_vec())
}

/// Anthropic: adaptive thinking with an effort on 4.6 and later (`Xhigh` is sent as `max`);
/// a `budget_tokens` from 1024 on earlier thinking models; none before 3.7.
pub const ANTHROPIC: &[Family] = &[
    ("claude-opus-4-7", || levels(&[Off, Low, Medium, High, Xhigh])),
    ("claude-opus-4-6", || levels(&[Off, Low, Medium, High, Xhigh])),
    ("claude-sonnet-4-6", || levels(&[Off, Low, Medium, High])),
    ("claude-opus-4", || Control::Budget { min: 1_024, max: 31_999, can_off: true }),
    ("claude-sonnet-4", || Control::Budget { min: 1_024, max: 63_999, can_off: true }),
    ("claude-haiku-4", || Control::Budget { min: 1_024, max: 63_999, can_off: true }),
    ("claude-3-7-sonnet", || Control::Budget { min: 1_024, max: 63_999, can_off: true }),
    ("claude-3", || Control::None),
];

/// OpenAI reasoning models (`reasoning_effort` / `reasoning.effort`); other models none.
pub const OPENAI: &[Family] = &[
    ("gpt-5.1-codex-max", || levels(&[Low, Medium, High, Xhigh])),
    ("gpt-5.2", || levels(&[Off, Low, Medium, High, Xhigh])),
    ("gpt-5.1", || levels(&[Off, Low, Medium, High])),
    ("gpt-5-pro", || levels(&[High])),
    ("gpt-5-chat", || Control::None),
    ("gpt-5", || levels(&[Minimal, Low, Medium, High])),
    ("o1-mini", || Control::None),
    ("o1", || levels(&[Low, Medium, High])),
    ("o3", || levels(&[Low, Medium, High])),
    ("o4-mini", || levels(&[Low, Medium, High])),
    ("gpt-4", || Control::None),
    ("gpt-3.5", || Control::None),
];

/// Gemini: `thinkingLevel` on 3, `thinkingBudget` on 2.5 (Pro cannot turn thinking off).
pub const GEMINI: &[Family] = &[
    ("gemini-3-flash", || levels(&[Minimal, Low, Medium, High])),
    ("gemini-3", || levels(&[Low, High])),
    ("gemini-2.5-pro", || Control::Budget { min: 128, max: 32_768, can_off: false }),
    ("gemini-2.5-flash-lite", || Control::Budget { min: 512, max: 24_576, can_off: true }),
    ("gemini-2.5-flash", || Control::Budget { min: 1, max: 24_576, can_off: true }),
    ("gemini-2", || Control::None),
    ("gemini-1", || Control::None),
];

/// Every level: a model no table knows is sent the level asked.
fn any_level() -> Control {
    levels(&Effort::ALL)
}

/// The control of `model` at a vendor of `kind` (`preset` for OpenAI-compatible servers):
/// the deployment's configured one, else the table's.
pub fn control(kind: ProviderKind, preset: Option<Preset>, model: &str, configured: Option<&Control>) -> Control {
    if let Some(c) = configured {
        return c.clone();
    }
    let table = match kind {
        ProviderKind::Anthropic => ANTHROPIC,
        ProviderKind::Gemini => GEMINI,
        ProviderKind::OpenAi | ProviderKind::Azure => OPENAI,
        ProviderKind::OpenAiCompatible => return compatible(preset),
        ProviderKind::Mock => return any_level(),
    };
    let bare = model.rsplit('/').next().unwrap_or(model);
    table.iter().find(|(prefix, _)| bare.starts_with(prefix)).map_or_else(
        || match kind {
            // An unknown Claude is a newer one: adaptive thinking.
            ProviderKind::Anthropic => levels(&[Off, Low, Medium, High, Xhigh]),
            _ => any_level(),
        },
        |(_, c)| c(),
    )
}

/// OpenAI-compatible servers take `reasoning_effort` (Groq, Together, vLLM and Ollama pass it
/// to reasoning models: low, medium, high); Mistral and DeepSeek have no such field.
fn compatible(preset: Option<Preset>) -> Control {
    match preset {
        Some(Preset::Mistral | Preset::DeepSeek) => Control::None,
        Some(Preset::Groq | Preset::Together | Preset::Vllm | Preset::Ollama) => levels(&[Low, Medium, High]),
        None => any_level(),
    }
}

/// `ask` resolved against `control`, with a log line when what is sent differs from what
/// was asked (a level the model cannot do, a budget out of bounds, no control at all).
pub fn resolve(ask: &ReasoningAsk, control: &Control, model: &str) -> Resolved {
    let sent = control.resolve(ask);
    let same = match (ask.effort, ask.budget_tokens, sent) {
        (_, _, Resolved::Unasked) => ask.effort.is_none() && ask.budget_tokens.is_none() && !ask.adaptive,
        (Some(e), _, Resolved::Level(l)) => e == l,
        (Some(Off), _, Resolved::Off) | (None, Some(0), Resolved::Off) => true,
        (None, Some(b), Resolved::Budget(s)) => b == s,
        (None, None, Resolved::Adaptive) => true,
        _ => false,
    };
    if !same {
        tracing::info!(model, asked = ?ask, sent = ?sent, "reasoning: the model cannot do the level asked; sent the nearest");
    }
    sent
}

/// OpenAI models whose Chat Completions endpoint rejects function tools with reasoning on
/// (their 400 says to use `/v1/responses`).
const CHAT_TOOLS_NEED_RESPONSES: &[&str] = &["gpt-5.1", "gpt-5.2"];

/// A call the vendor would answer with a 400 for its combination of fields: reasoning with
/// function tools on Chat Completions for the models that take that only through the
/// Responses API. `Unsupported`, so the router tries the next deployment (one with
/// `api = "responses"` serves it).
pub fn check_combination(
    kind: ProviderKind,
    api: crate::config::UpstreamApi,
    model: &str,
    req: &ChatRequest,
    sent: Resolved,
) -> Result<(), super::ProviderError> {
    let reasons = matches!(sent, Resolved::Level(e) if e != Off);
    let openai_chat =
        matches!(kind, ProviderKind::OpenAi | ProviderKind::Azure) && api == crate::config::UpstreamApi::Chat;
    let tools = req.tools.as_ref().is_some_and(|t| !t.is_empty());
    let bare = model.rsplit('/').next().unwrap_or(model);
    if reasons && openai_chat && tools && CHAT_TOOLS_NEED_RESPONSES.iter().any(|p| bare.starts_with(p)) {
        return Err(super::ProviderError::new(
            super::Failure::Unsupported,
            format!(
                "{model} takes function tools with reasoning only through the Responses API (a deployment with api = \"responses\")"
            ),
        ));
    }
    Ok(())
}

/// The `reasoning_details` format a vendor kind mints and accepts.
pub fn format_of(kind: ProviderKind) -> Option<&'static str> {
    match kind {
        ProviderKind::Anthropic => Some(FORMAT_ANTHROPIC),
        ProviderKind::Gemini => Some(FORMAT_GEMINI),
        ProviderKind::OpenAi | ProviderKind::Azure => Some(FORMAT_OPENAI),
        ProviderKind::OpenAiCompatible | ProviderKind::Mock => None,
    }
}

/// `req` with every reasoning block that `provider` (a vendor of `format`) did not mint
/// removed; `foreign` says whether their visible text stays as plain text of the turn.
/// Borrowed when there is nothing to remove (the usual case: no clone).
pub fn keep_own<'a>(
    req: &'a ChatRequest,
    format: Option<&str>,
    provider: &str,
    foreign: ForeignReasoning,
) -> Cow<'a, ChatRequest> {
    let own = |d: &crate::api::reasoning::ReasoningDetail| format.is_some_and(|f| d.is_for(f, provider));
    let foreign_in = |m: &crate::api::Message| {
        m.reasoning_content.is_some() || m.reasoning_details.iter().flatten().any(|d| !own(d))
    };
    if !req.messages.iter().any(foreign_in) {
        return Cow::Borrowed(req);
    }
    let mut out = req.clone();
    let mut removed = 0usize;
    for m in out.messages.iter_mut().filter(|m| m.role == Role::Assistant) {
        let mut text = Vec::new();
        if let Some(details) = m.reasoning_details.take() {
            let (mine, theirs): (Vec<_>, Vec<_>) = details.into_iter().partition(|d| own(d));
            removed += theirs.len();
            text.extend(theirs.iter().filter_map(|d| d.visible_text().map(str::to_string)));
            m.reasoning_details = (!mine.is_empty()).then_some(mine);
        }
        // `reasoning_content` is a copy of the thinking text for display; a detail of this
        // vendor carries its own.
        if let Some(t) = m.reasoning_content.take()
            && text.is_empty()
            && m.reasoning_details.is_none()
        {
            text.push(t);
        }
        if foreign == ForeignReasoning::Text && !text.is_empty() {
            prepend_text(m, &text.join("\n\n"));
        }
    }
    tracing::debug!(
        provider,
        removed,
        kept_as_text = foreign == ForeignReasoning::Text,
        "reasoning blocks another vendor minted were removed"
    );
    Cow::Owned(out)
}

fn prepend_text(m: &mut crate::api::Message, thought: &str) {
    m.content = Some(match m.content.take() {
        None => Content::Text(thought.to_string()),
        Some(Content::Text(t)) if t.is_empty() => Content::Text(thought.to_string()),
        Some(Content::Text(t)) => Content::Text(format!("{thought}\n\n{t}")),
        Some(Content::Parts(mut p)) => {
            let part = crate::api::ContentPart::Text {
                kind: crate::api::chat::TextTag::Text,
                text: thought.to_string(),
                cache_control: None,
            };
            p.insert(0, part);
            Content::Parts(p)
        }
    });
}

/// Tags every reasoning block of a whole answer with the provider that minted it.
pub fn tag_answer(resp: &mut ChatResponse, provider: &str) {
    if resp.choices.iter().any(|c| c.message.reasoning_details.as_ref().is_some_and(|d| !d.is_empty())) {
        resp.touch();
    }
    for c in &mut resp.choices {
        for d in c.message.reasoning_details.iter_mut().flatten() {
            d.provider = Some(provider.to_string());
        }
    }
}

/// Tags every reasoning block of a stream chunk with the provider that minted it.
pub fn tag_chunk(chunk: &mut ChatChunk, provider: &str) {
    if chunk.choices.iter().any(|c| c.delta.reasoning_details.as_ref().is_some_and(|d| !d.is_empty())) {
        chunk.touch();
    }
    for c in &mut chunk.choices {
        for d in c.delta.reasoning_details.iter_mut().flatten() {
            d.provider = Some(provider.to_string());
        }
    }
}

#[cfg(test)]
#[path = "reasoning_tests.rs"]
mod tests;
