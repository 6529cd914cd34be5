//! Canonical request -> Messages request: system and developer text to `system`, same-role
//! turns merged, tool results batched first in one user turn, ids sanitized, `max_tokens`
//! filled per model. Tools and JSON modes are in `tools`. The rules and their reasons are in
//! docs/providers.md.

use std::borrow::Cow;

use serde_json::Value;

use super::super::DIALECT as VENDOR;
use super::super::types::{self as wire, Block, MessagesRequest, Source, Turn};
use super::tools::tools;
use super::{Options, ReplyCtx};
use crate::api::ChatRequest;
use crate::api::chat::{Content, ContentPart, Message, Role};
use crate::wire::WireError;
use crate::wire::canonical::{self as common, ExtraRule, invalid, safe_tool_id, unsupported};

/// Documented maximum output tokens per model family, most specific prefix first. Used when
/// the caller sets no `max_tokens` (Anthropic requires one; a low constant truncates).
const MAX_OUTPUT: &[(&str, u64)] = &[
    ("claude-opus-4-5", 64_000),
    ("claude-sonnet-4-5", 64_000),
    ("claude-haiku-4-5", 64_000),
    ("claude-opus-4-1", 32_000),
    ("claude-opus-4", 32_000),
    ("claude-sonnet-4", 64_000),
    ("claude-3-7-sonnet", 64_000),
    ("claude-3-5-sonnet", 8_192),
    ("claude-3-5-haiku", 8_192),
    ("claude-3-opus", 4_096),
    ("claude-3-sonnet", 4_096),
    ("claude-3-haiku", 4_096),
];
const FALLBACK_MAX_TOKENS: u64 = 4_096;

pub fn default_max_tokens(model: &str, opts: &Options) -> u64 {
    MAX_OUTPUT
        .iter()
        .find(|(prefix, _)| model.starts_with(prefix))
        .map(|(_, n)| *n)
        .or(opts.default_max_tokens)
        .unwrap_or(FALLBACK_MAX_TOKENS)
}

fn extra_rule(k: &str, v: &Value) -> ExtraRule {
    match k {
        "top_k" | "safety_identifier" => ExtraRule::Translated,
        _ => common::common_extra_rule(k, v),
    }
}

/// The Messages request for `req`, addressed to `model`.
pub fn to_wire<'a>(
    req: &'a ChatRequest,
    model: &'a str,
    stream: bool,
    opts: &Options,
) -> Result<(MessagesRequest<'a>, ReplyCtx), WireError> {
    common::check_extras(VENDOR, &req.extra, extra_rule)?;
    if req.n.is_some_and(|n| n > 1) {
        return Err(unsupported(VENDOR, "`n` above 1 in one call"));
    }
    if let Some(t) = req.temperature
        && !(0.0..=1.0).contains(&t)
    {
        return Err(unsupported(VENDOR, format!("temperature {t} (Anthropic's range is 0 to 1)")));
    }
    // Newer Claude models reject temperature and top_p together; temperature wins.
    let top_p = match (req.temperature, req.top_p) {
        (Some(_), Some(_)) => {
            tracing::debug!("top_p dropped: Anthropic takes temperature or top_p, not both");
            None
        }
        (_, p) => p,
    };
    if req.seed.is_some() {
        tracing::debug!("seed dropped: Anthropic has no seed (OpenAI's is best-effort too)");
    }
    let (system, messages) = turns(req)?;
    let mut out = MessagesRequest {
        model: Cow::Borrowed(model),
        max_tokens: req.max_output_tokens().unwrap_or_else(|| default_max_tokens(model, opts)),
        messages,
        system,
        temperature: req.temperature,
        top_p,
        top_k: req.extra.get("top_k").and_then(Value::as_u64),
        stop_sequences: common::stop_sequences(req),
        stream: stream.then_some(true),
        tools: Vec::new(),
        tool_choice: None,
        metadata: req
            .user
            .as_deref()
            .or_else(|| req.extra.get("safety_identifier").and_then(Value::as_str))
            .map(|user_id| wire::Metadata { user_id: Some(Cow::Borrowed(user_id)) }),
        thinking: None,
        output_config: None,
        extra: crate::api::Extra::new(),
    };
    let ctx = tools(req, &mut out)?;
    super::cache::place(req, &mut out, req.prompt_cache);
    super::thinking::apply(&mut out, model, opts);
    Ok((out, ctx))
}

/// `messages` -> (`system`, alternating turns).
fn turns(req: &ChatRequest) -> Result<(Option<wire::System<'_>>, Vec<Turn<'_>>), WireError> {
    let mut system: Vec<Cow<'_, str>> = Vec::new();
    let mut turns: Vec<Turn<'_>> = Vec::new();
    for (i, m) in req.messages.iter().enumerate() {
        let (role, mut blocks) = match m.role {
            Role::System | Role::Developer => {
                let t = common::system_text(VENDOR, m, i)?;
                if !t.is_empty() {
                    system.push(t);
                }
                continue;
            }
            Role::User => (wire::Role::User, user_blocks(m, i)?),
            Role::Tool => (wire::Role::User, vec![tool_result(m, i)?]),
            Role::Assistant => (wire::Role::Assistant, assistant_blocks(m, i)?),
            Role::Function => {
                return Err(unsupported(VENDOR, format!("messages[{i}]: role `function` (deprecated; use tools)")));
            }
        };
        super::cache::mark(m, &mut blocks);
        if blocks.is_empty() {
            continue; // an empty message carries nothing; Anthropic rejects empty blocks
        }
        match turns.last_mut() {
            Some(t) if t.role == role => t.content.extend(blocks),
            _ => turns.push(Turn { role, content: blocks }),
        }
    }
    for t in &mut turns {
        if t.role == wire::Role::User {
            // tool_result blocks must open the user turn; stable, so their order is kept
            t.content.sort_by_key(|b| !b.is_tool_result());
        }
    }
    check_tool_pairs(&turns)?;
    if let Some(last) = turns.last_mut()
        && last.role == wire::Role::Assistant
    {
        // A final assistant turn is a prefill, which must not end in whitespace.
        if let Some(Block::Text { text, .. }) = last.content.last_mut() {
            let trimmed = text.trim_end();
            if trimmed.len() != text.len() {
                *text = Cow::Owned(trimmed.to_string());
            }
            if text.is_empty() {
                last.content.pop();
            }
        }
        if last.content.is_empty() {
            turns.pop();
        }
    }
    if turns.first().is_some_and(|t| t.role == wire::Role::Assistant) {
        // The conversation must open with a user turn (strict hosts reject anything else).
        turns.insert(0, Turn { role: wire::Role::User, content: vec![Block::text("…")] });
    }
    if turns.is_empty() {
        return Err(invalid("Anthropic needs at least one user or assistant message with content"));
    }
    let system = (!system.is_empty()).then(|| wire::System::Text(Cow::Owned(system.join("\n\n"))));
    Ok((system, turns))
}

fn text_block(s: &str) -> Option<Block<'_>> {
    (!s.is_empty()).then(|| Block::text(s))
}

fn image_block<'a>(url: &'a str, at: &str) -> Result<Block<'a>, WireError> {
    if let Some((media_type, data)) = common::data_url(url) {
        if !matches!(media_type, "image/jpeg" | "image/png" | "image/gif" | "image/webp") {
            return Err(unsupported(VENDOR, format!("{at}: image type `{media_type}` (jpeg, png, gif, webp)")));
        }
        let source = Source::Base64 { media_type: media_type.into(), data: data.into() };
        return Ok(Block::Image { source, cache_control: None });
    }
    if url.starts_with("https://") || url.starts_with("http://") {
        return Ok(Block::Image { source: Source::Url { url: url.into() }, cache_control: None });
    }
    Err(invalid(format!("{at}: image_url.url must be an http(s) URL or a data:<mime>;base64 URL")))
}

fn user_blocks(m: &Message, i: usize) -> Result<Vec<Block<'_>>, WireError> {
    common::content_parts(m, i, text_block, image_block, other_part)
}

/// `file` parts carrying a PDF become documents; everything else has no Anthropic form.
fn other_part<'a>(v: &'a Value, at: &str) -> Result<Block<'a>, WireError> {
    let kind = v.get("type").and_then(Value::as_str).unwrap_or("?");
    if kind == "file"
        && let Some(url) = v.pointer("/file/file_data").and_then(Value::as_str)
        && let Some((media_type @ "application/pdf", data)) = common::data_url(url)
    {
        let source = Source::Base64 { media_type: media_type.into(), data: data.into() };
        return Ok(Block::Document { source, cache_control: None });
    }
    Err(unsupported(VENDOR, format!("{at}: content part `{kind}`")))
}

fn assistant_blocks(m: &Message, i: usize) -> Result<Vec<Block<'_>>, WireError> {
    // Reasoning opens the turn, signed blocks verbatim (required back in tool turns).
    let mut out = super::thinking::replayed(m);
    match &m.content {
        None => {}
        Some(Content::Text(s)) => out.extend(text_block(s)),
        Some(Content::Parts(parts)) => {
            for p in parts {
                // text parts only; `refusal` parts are the model's own earlier refusal text
                if let ContentPart::Text { text, .. } = p {
                    out.extend(text_block(text));
                }
            }
        }
    }
    for (j, c) in m.tool_calls.iter().flatten().enumerate() {
        let at = format!("messages[{i}].tool_calls[{j}]");
        if c.kind != "function" {
            return Err(unsupported(VENDOR, format!("{at}: tool call type `{}`", c.kind)));
        }
        let input = common::arguments(&c.function.arguments, &at)?;
        let name = Cow::Borrowed(c.function.name.as_str());
        out.push(Block::ToolUse { id: safe_tool_id(&c.id), name, input, cache_control: None });
    }
    Ok(out)
}

fn tool_result(m: &Message, i: usize) -> Result<Block<'_>, WireError> {
    let id = m
        .tool_call_id
        .as_deref()
        .ok_or_else(|| invalid(format!("messages[{i}]: tool message without tool_call_id")))?;
    let content = match &m.content {
        None => Vec::new(),
        Some(Content::Text(s)) => text_block(s).into_iter().collect(),
        Some(Content::Parts(parts)) => {
            let mut out = Vec::new();
            for (j, p) in parts.iter().enumerate() {
                let at = format!("messages[{i}].content[{j}]");
                match p {
                    ContentPart::Text { text, .. } => out.extend(text_block(text)),
                    ContentPart::ImageUrl { image_url, .. } => out.push(image_block(&image_url.url, &at)?),
                    ContentPart::Other(v) => out.push(other_part(v, &at)?),
                }
            }
            out
        }
    };
    // `is_error` has no canonical field: a caller speaking Messages keeps it in `extra`.
    let is_error = m.extra.get("is_error").and_then(Value::as_bool).filter(|e| *e);
    let content = (!content.is_empty()).then_some(content);
    Ok(Block::ToolResult { tool_use_id: safe_tool_id(id), content, is_error, cache_control: None })
}

/// Every tool_use needs its tool_result in the very next (user) turn, and every tool_result
/// must answer a tool_use of the turn before. A missing result is a 400, never invented.
fn check_tool_pairs(turns: &[Turn<'_>]) -> Result<(), WireError> {
    let ids = |t: &Turn<'_>, results: bool| -> Vec<String> {
        t.content
            .iter()
            .filter_map(|b| match b {
                Block::ToolUse { id, .. } if !results => Some(id.to_string()),
                Block::ToolResult { tool_use_id, .. } if results => Some(tool_use_id.to_string()),
                _ => None,
            })
            .collect()
    };
    for (k, t) in turns.iter().enumerate() {
        match t.role {
            wire::Role::Assistant => {
                let calls = ids(t, false);
                let answered = turns.get(k + 1).map(|n| ids(n, true)).unwrap_or_default();
                if let Some(missing) = calls.iter().find(|c| !answered.contains(c)) {
                    return Err(invalid(format!(
                        "messages: tool call `{missing}` has no tool message right after its assistant message"
                    )));
                }
            }
            wire::Role::User => {
                let asked = match k.checked_sub(1).map(|p| &turns[p]) {
                    Some(prev) if prev.role == wire::Role::Assistant => ids(prev, false),
                    _ => Vec::new(),
                };
                if let Some(stray) = ids(t, true).iter().find(|r| !asked.contains(r)) {
                    return Err(invalid(format!(
                        "messages: tool message for `{stray}` does not follow an assistant tool call with that id"
                    )));
                }
            }
        }
    }
    Ok(())
}
