//! Messages request -> canonical request, for an Anthropic-shaped front. `system` becomes a
//! leading system message; each user turn's `tool_result` blocks become `tool` messages
//! (before the turn's other content, as Anthropic orders them); `tool_use` blocks become
//! `tool_calls`; plain-text documents and search results become text. What the canonical
//! types cannot carry goes to the native request's `only` ([`super::only`]): `top_k`,
//! `thinking`, `output_config`, `service_tier` and unknown fields, replayed thinking blocks
//! and `is_error` (an Anthropic vendor gets them in the body; others drop them), and what
//! another vendor cannot be given at all (server tools, documents by URL or file id), which
//! makes a vendor of another dialect refuse the request so the router fails over.
//! `cache_control` breakpoints become the canonical `cache_control` extension on the part,
//! message or tool they mark, so a translated call to Anthropic keeps them (other vendors
//! never see them: `wire::cache_control`). docs/providers.md lists each.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::super::types::{self as wire, Block, MessagesRequest, Source, ToolDef, Turn};
use super::only::Left;
use crate::api::chat::{
    Content, ContentPart, FunctionCall, FunctionDef, ImageTag, ImageUrl, Message, Role, Stop, StreamOptions, TextTag,
    Tool, ToolCall,
};
use crate::api::{ChatRequest, Extra};
use crate::wire::WireError;

/// A Messages request read for serving: its canonical form, the fields only a vendor
/// speaking Messages gets (the native request's `only`), and what only such a vendor can
/// serve at all (its `required`).
#[derive(Debug)]
pub struct Served {
    pub chat: ChatRequest,
    pub only: Map<String, Value>,
    pub required: Vec<crate::wire::native::Required>,
}

/// A Messages request body, read and converted; a body that is not a Messages request is
/// the caller's error, naming what serde found (an unknown block type, a missing field).
pub fn from_json(body: &[u8]) -> Result<ChatRequest, WireError> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| WireError::invalid(format!("invalid request body: {e}")))?;
    read(&v).map(|s| s.chat)
}

/// The canonical request and the `only` fields of a Messages request body.
pub fn read(body: &Value) -> Result<Served, WireError> {
    let r = MessagesRequest::deserialize(body).map_err(|e| WireError::invalid(format!("invalid request body: {e}")))?;
    to_canonical(r, body)
}

/// The canonical request a Messages request asks for; `body` is the request as sent (the
/// `only` fields are copied from it).
pub fn to_canonical(r: MessagesRequest<'_>, body: &Value) -> Result<Served, WireError> {
    let mut left = Left::default();
    let mut messages = Vec::with_capacity(r.messages.len() + 1);
    if let Some(system) = r.system {
        messages.push(Message::new(Role::System, Some(system_content(system)?)));
    }
    for (i, turn) in r.messages.into_iter().enumerate() {
        turn_messages(turn, i, &mut messages, &mut left)?;
    }
    let (tool_choice, parallel_tool_calls) = tool_choice(r.tool_choice);
    let tools = tools(r.tools, &mut left);
    let reasoning = super::reasoning::ask(r.thinking.as_ref(), r.output_config.as_ref());
    let mut extra = r.extra;
    // Read into `reasoning` for other vendors; an Anthropic vendor gets them in the body.
    for (k, v) in [("thinking", json!(r.thinking)), ("output_config", json!(r.output_config))] {
        if !v.is_null() {
            extra.insert(k.into(), v);
        }
    }
    let (only, required) = left.into_only(extra, r.top_k, body);
    let stream = r.stream.filter(|s| *s);
    let chat = ChatRequest {
        model: r.model.into_owned(),
        messages,
        stream,
        // The Messages stream ends with usage, so the canonical stream must carry it.
        stream_options: stream.map(|_| StreamOptions { include_usage: Some(true), extra: Extra::new() }),
        max_tokens: Some(r.max_tokens),
        max_completion_tokens: None,
        temperature: r.temperature,
        top_p: r.top_p,
        n: None,
        stop: (!r.stop_sequences.is_empty())
            .then(|| Stop::Many(r.stop_sequences.into_iter().map(Cow::into_owned).collect())),
        seed: None,
        tools,
        tool_choice,
        parallel_tool_calls,
        response_format: None,
        user: r.metadata.and_then(|m| m.user_id).map(Cow::into_owned),
        reasoning_effort: None,
        reasoning,
        // Nothing of the caller's reaches another vendor as an unknown field.
        extra: Extra::new(),
        native: None,
        prompt: None,
        prompt_cache: false,
    };
    Ok(Served { chat, only, required })
}

fn text_part(text: Cow<'_, str>, cache_control: Option<Value>) -> ContentPart {
    ContentPart::Text { kind: TextTag::Text, text: text.into_owned(), cache_control }
}

/// One text part without a cache breakpoint is plain text; anything else a list of parts.
fn content_of(mut parts: Vec<ContentPart>) -> Content {
    if let [ContentPart::Text { cache_control: None, .. }] = parts.as_slice()
        && let Some(ContentPart::Text { text, .. }) = parts.pop()
    {
        return Content::Text(text);
    }
    Content::Parts(parts)
}

fn system_content(s: wire::System<'_>) -> Result<Content, WireError> {
    match s {
        wire::System::Text(t) => Ok(Content::Text(t.into_owned())),
        wire::System::Blocks(blocks) => {
            let mut parts = Vec::with_capacity(blocks.len());
            for (j, b) in blocks.into_iter().enumerate() {
                match b {
                    Block::Text { text, cache_control } => parts.push(text_part(text, cache_control)),
                    _ => return Err(WireError::invalid(format!("system[{j}]: only text blocks may appear here"))),
                }
            }
            Ok(content_of(parts))
        }
    }
}

fn turn_messages(turn: Turn<'_>, i: usize, out: &mut Vec<Message>, left: &mut Left) -> Result<(), WireError> {
    match turn.role {
        wire::Role::Assistant => out.push(assistant(turn.content, i, left)?),
        wire::Role::User => {
            let mut parts = Vec::new();
            for (j, b) in turn.content.into_iter().enumerate() {
                let at = format!("messages[{i}].content[{j}]");
                match b {
                    Block::ToolResult { tool_use_id, content, is_error, cache_control } => {
                        if is_error == Some(true) {
                            left.errors.push(tool_use_id.to_string());
                        }
                        let mut m = tool_result(tool_use_id, content, &at, left)?;
                        if let Some(c) = cache_control {
                            m.extra.insert(crate::wire::cache_control::FIELD.into(), c);
                        }
                        out.push(m);
                    }
                    b => user_part(b, &at, &mut parts, left)?,
                }
            }
            if !parts.is_empty() {
                out.push(Message::new(Role::User, Some(content_of(parts))));
            }
        }
    }
    Ok(())
}

/// A user block as canonical parts (none for blocks that carry nothing any vendor but
/// Anthropic can read: those are noted in `left`).
fn user_part(b: Block<'_>, at: &str, parts: &mut Vec<ContentPart>, left: &mut Left) -> Result<(), WireError> {
    match b {
        Block::Text { text, cache_control } => parts.push(text_part(text, cache_control)),
        Block::Image { source: Source::Base64 { media_type, data }, cache_control } => {
            parts.push(image(format!("data:{media_type};base64,{data}"), cache_control))
        }
        Block::Image { source: Source::Url { url }, cache_control } => {
            parts.push(image(url.into_owned(), cache_control))
        }
        Block::Document { source: Source::Base64 { media_type, data }, cache_control } => {
            let mut file = json!({"type": "file", "file": {"file_data": format!("data:{media_type};base64,{data}")}});
            if let (Some(c), Some(o)) = (cache_control, file.as_object_mut()) {
                o.insert(crate::wire::cache_control::FIELD.into(), c);
            }
            parts.push(ContentPart::Other(file))
        }
        Block::Document { source: Source::Text { data }, cache_control } => parts.push(text_part(data, cache_control)),
        Block::Document { source: Source::Content { content }, .. } => {
            for (k, inner) in content.into_iter().enumerate() {
                user_part(inner, &format!("{at}.source.content[{k}]"), parts, left)?;
            }
        }
        Block::Document { source: Source::Url { .. }, .. } => {
            left.unsupported(at, "a document by URL (send it as base64)")
        }
        Block::Document { source: Source::File { .. }, .. } => left.unsupported(at, "a document by Files API id"),
        Block::Image { source: Source::File { .. }, .. } => left.unsupported(at, "an image by Files API id"),
        Block::Image { source: Source::Text { .. } | Source::Content { .. }, .. } => {
            return Err(WireError::invalid(format!("{at}.source: an image source is base64, url or file")));
        }
        Block::SearchResult { source, title, content } => {
            let texts: Vec<String> = content
                .into_iter()
                .filter_map(|b| match b {
                    Block::Text { text, .. } => Some(text.into_owned()),
                    _ => None,
                })
                .collect();
            parts.push(text_part(Cow::Owned(format!("{title}\n{source}\n\n{}", texts.join("\n"))), None));
        }
        Block::Thinking { .. } | Block::RedactedThinking { .. } => left.thinking.push(at.to_string()),
        Block::ToolUse { .. } => return Err(WireError::invalid(format!("{at}: `tool_use` in a user turn"))),
        Block::ToolResult { .. } => return Err(WireError::invalid(format!("{at}: misplaced `tool_result`"))),
    }
    Ok(())
}

fn image(url: String, cache_control: Option<Value>) -> ContentPart {
    ContentPart::ImageUrl { kind: ImageTag::ImageUrl, image_url: ImageUrl { url, detail: None }, cache_control }
}

fn tool_result(
    id: Cow<'_, str>,
    content: Option<Vec<Block<'_>>>,
    at: &str,
    left: &mut Left,
) -> Result<Message, WireError> {
    let mut parts = Vec::new();
    for (k, b) in content.into_iter().flatten().enumerate() {
        let inner = format!("{at}.content[{k}]");
        match b {
            Block::Text { .. } | Block::Image { .. } | Block::Document { .. } | Block::SearchResult { .. } => {
                user_part(b, &inner, &mut parts, left)?
            }
            _ => return Err(WireError::invalid(format!("{inner}: not text, an image, a document or a search result"))),
        }
    }
    let content = if parts.is_empty() { Content::Text(String::new()) } else { content_of(parts) };
    let mut m = Message::new(Role::Tool, Some(content));
    m.tool_call_id = Some(id.into_owned());
    Ok(m)
}

fn assistant(blocks: Vec<Block<'_>>, i: usize, left: &mut Left) -> Result<Message, WireError> {
    let mut parts = Vec::new();
    let mut calls = Vec::new();
    // A breakpoint on a tool_use block has no canonical slot of its own: it marks the message.
    let mut call_marker = None;
    let mut details = Vec::new();
    for (j, b) in blocks.into_iter().enumerate() {
        match b {
            Block::Text { text, cache_control } => parts.push(text_part(text, cache_control)),
            Block::ToolUse { id, name, input, cache_control } => {
                call_marker = cache_control.or(call_marker);
                calls.push(ToolCall {
                    id: id.into_owned(),
                    kind: "function".into(),
                    function: FunctionCall { name: name.into_owned(), arguments: input.to_string() },
                })
            }
            // Replayed reasoning: the vendor that minted it gets it back (an Anthropic one
            // in the body as sent; another from the envelope sidegate wrote it in).
            Block::Thinking { thinking, signature } => {
                left.thinking.push(format!("messages[{i}].content[{j}]"));
                details.push(super::reasoning::replayed(&thinking, &signature, details.len() as u32));
            }
            Block::RedactedThinking { data } => {
                left.thinking.push(format!("messages[{i}].content[{j}]"));
                details.push(super::reasoning::redacted(&data, details.len() as u32));
            }
            _ => left.unsupported(
                &format!("messages[{i}].content[{j}]"),
                "an assistant block other than text, tool_use or thinking",
            ),
        }
    }
    let mut m = Message::new(Role::Assistant, (!parts.is_empty()).then(|| content_of(parts)));
    m.tool_calls = (!calls.is_empty()).then_some(calls);
    if let Some(c) = call_marker {
        m.extra.insert(crate::wire::cache_control::FIELD.into(), c);
    }
    m.reasoning_details = (!details.is_empty()).then_some(details);
    Ok(m)
}

/// Client tools as canonical function tools; a server tool is Anthropic's alone.
fn tools(defs: Vec<ToolDef<'_>>, left: &mut Left) -> Option<Vec<Tool>> {
    let mut out = Vec::with_capacity(defs.len());
    for (i, t) in defs.into_iter().enumerate() {
        if let Some(kind) = t.kind.as_deref()
            && kind != "custom"
        {
            left.unsupported(&format!("tools[{i}]"), &format!("server tool `{kind}`"));
            continue;
        }
        let function = FunctionDef {
            name: t.name.into_owned(),
            description: t.description.map(Cow::into_owned),
            parameters: Some(t.input_schema.into_owned()).filter(|s| !s.is_null()),
            strict: None,
        };
        let mut extra = Extra::new();
        if let Some(c) = t.cache_control {
            extra.insert(crate::wire::cache_control::FIELD.into(), c);
        }
        out.push(Tool { kind: "function".into(), function: Some(function), extra });
    }
    (!out.is_empty()).then_some(out)
}

/// `tool_choice` and its `disable_parallel_tool_use` -> (`tool_choice`, `parallel_tool_calls`).
fn tool_choice(c: Option<wire::ToolChoice<'_>>) -> (Option<Value>, Option<bool>) {
    let parallel = |d: Option<bool>| d.filter(|d| *d).map(|_| false);
    match c {
        None => (None, None),
        Some(wire::ToolChoice::None) => (Some(json!("none")), None),
        Some(wire::ToolChoice::Auto { disable_parallel_tool_use: d }) => (Some(json!("auto")), parallel(d)),
        Some(wire::ToolChoice::Any { disable_parallel_tool_use: d }) => (Some(json!("required")), parallel(d)),
        Some(wire::ToolChoice::Tool { name, disable_parallel_tool_use: d }) => {
            (Some(json!({"type": "function", "function": {"name": name}})), parallel(d))
        }
    }
}
