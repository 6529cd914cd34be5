//! Messages request -> canonical request, for an Anthropic-shaped front. `system` becomes a
//! leading system message; each user turn's `tool_result` blocks become `tool` messages
//! (before the turn's other content, as Anthropic orders them); `tool_use` blocks become
//! `tool_calls`; `top_k` and fields not modelled here stay in `extra`. What the canonical
//! types cannot carry is either dropped (replayed thinking blocks, `cache_control`) or a
//! clear error (server tools, document URLs); docs/providers.md lists each.

use std::borrow::Cow;

use serde_json::{Value, json};

use super::super::DIALECT;
use super::super::types::{self as wire, Block, MessagesRequest, Source, ToolDef, Turn};
use crate::api::chat::{
    Content, ContentPart, FunctionCall, FunctionDef, ImageTag, ImageUrl, Message, Role, Stop, StreamOptions, TextTag,
    Tool, ToolCall,
};
use crate::api::{ChatRequest, Extra};
use crate::wire::WireError;

/// A Messages request body, read and converted; a body that is not a Messages request is
/// the caller's error, naming what serde found (an unknown block type, a missing field).
pub fn from_json(body: &[u8]) -> Result<ChatRequest, WireError> {
    let r: MessagesRequest<'_> =
        serde_json::from_slice(body).map_err(|e| WireError::invalid(format!("invalid request body: {e}")))?;
    to_canonical(r)
}

/// The canonical request a Messages request asks for.
pub fn to_canonical(r: MessagesRequest<'_>) -> Result<ChatRequest, WireError> {
    let mut messages = Vec::with_capacity(r.messages.len() + 1);
    if let Some(system) = r.system {
        messages.push(message(Role::System, Some(system_content(system)?)));
    }
    for (i, turn) in r.messages.into_iter().enumerate() {
        turn_messages(turn, i, &mut messages)?;
    }
    let (tool_choice, parallel_tool_calls) = tool_choice(r.tool_choice);
    let mut extra = r.extra;
    if let Some(k) = r.top_k {
        extra.insert("top_k".into(), json!(k));
    }
    let stream = r.stream.filter(|s| *s);
    Ok(ChatRequest {
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
        tools: tools(r.tools)?,
        tool_choice,
        parallel_tool_calls,
        response_format: None,
        user: r.metadata.and_then(|m| m.user_id).map(Cow::into_owned),
        extra,
        native: None,
    })
}

fn message(role: Role, content: Option<Content>) -> Message {
    Message { role, content, name: None, tool_calls: None, tool_call_id: None, extra: Extra::new() }
}

fn text_part(text: Cow<'_, str>) -> ContentPart {
    ContentPart::Text { kind: TextTag::Text, text: text.into_owned() }
}

/// One text part is plain text; anything else a list of parts.
fn content_of(mut parts: Vec<ContentPart>) -> Content {
    if let [ContentPart::Text { .. }] = parts.as_slice()
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
                    Block::Text { text } => parts.push(text_part(text)),
                    _ => return Err(WireError::invalid(format!("system[{j}]: only text blocks may appear here"))),
                }
            }
            Ok(content_of(parts))
        }
    }
}

fn turn_messages(turn: Turn<'_>, i: usize, out: &mut Vec<Message>) -> Result<(), WireError> {
    match turn.role {
        wire::Role::Assistant => out.push(assistant(turn.content, i)?),
        wire::Role::User => {
            let mut parts = Vec::new();
            for (j, b) in turn.content.into_iter().enumerate() {
                let at = format!("messages[{i}].content[{j}]");
                match b {
                    Block::ToolResult { tool_use_id, content, is_error } => {
                        out.push(tool_result(tool_use_id, content, is_error, &at)?);
                    }
                    b => parts.extend(user_part(b, &at)?),
                }
            }
            if !parts.is_empty() {
                out.push(message(Role::User, Some(content_of(parts))));
            }
        }
    }
    Ok(())
}

/// A user block as a canonical part; `None` for blocks that carry nothing for the model.
fn user_part(b: Block<'_>, at: &str) -> Result<Option<ContentPart>, WireError> {
    Ok(Some(match b {
        Block::Text { text } => text_part(text),
        Block::Image { source: Source::Base64 { media_type, data } } => {
            image(format!("data:{media_type};base64,{data}"))
        }
        Block::Image { source: Source::Url { url } } => image(url.into_owned()),
        Block::Document { source: Source::Base64 { media_type, data } } => ContentPart::Other(
            json!({"type": "file", "file": {"file_data": format!("data:{media_type};base64,{data}")}}),
        ),
        Block::Document { source: Source::Url { .. } } => {
            return Err(WireError::unsupported(DIALECT, format!("{at}: a document by URL (send it as base64)")));
        }
        Block::Thinking { .. } | Block::RedactedThinking {} => return Ok(None),
        Block::ToolUse { .. } => return Err(WireError::invalid(format!("{at}: `tool_use` in a user turn"))),
        Block::ToolResult { .. } => return Err(WireError::invalid(format!("{at}: misplaced `tool_result`"))),
    }))
}

fn image(url: String) -> ContentPart {
    ContentPart::ImageUrl { kind: ImageTag::ImageUrl, image_url: ImageUrl { url, detail: None } }
}

fn tool_result(
    id: Cow<'_, str>,
    content: Option<Vec<Block<'_>>>,
    is_error: Option<bool>,
    at: &str,
) -> Result<Message, WireError> {
    let mut parts = Vec::new();
    for (k, b) in content.into_iter().flatten().enumerate() {
        match b {
            Block::Text { .. } | Block::Image { .. } | Block::Document { .. } => {
                parts.extend(user_part(b, &format!("{at}.content[{k}]"))?)
            }
            _ => return Err(WireError::invalid(format!("{at}.content[{k}]: not text, an image or a document"))),
        }
    }
    let content = if parts.is_empty() { Content::Text(String::new()) } else { content_of(parts) };
    let mut m = message(Role::Tool, Some(content));
    m.tool_call_id = Some(id.into_owned());
    if is_error == Some(true) {
        // No canonical field: kept for the Anthropic adapter, which sends it back.
        m.extra.insert("is_error".into(), Value::Bool(true));
    }
    Ok(m)
}

fn assistant(blocks: Vec<Block<'_>>, i: usize) -> Result<Message, WireError> {
    let mut parts = Vec::new();
    let mut calls = Vec::new();
    for (j, b) in blocks.into_iter().enumerate() {
        match b {
            Block::Text { text } => parts.push(text_part(text)),
            Block::ToolUse { id, name, input } => calls.push(ToolCall {
                id: id.into_owned(),
                kind: "function".into(),
                function: FunctionCall { name: name.into_owned(), arguments: input.to_string() },
            }),
            // Replayed reasoning has no canonical home yet: dropped.
            Block::Thinking { .. } | Block::RedactedThinking {} => {}
            _ => {
                return Err(WireError::unsupported(
                    DIALECT,
                    format!("messages[{i}].content[{j}]: an assistant block other than text or tool_use"),
                ));
            }
        }
    }
    let mut m = message(Role::Assistant, (!parts.is_empty()).then(|| content_of(parts)));
    m.tool_calls = (!calls.is_empty()).then_some(calls);
    Ok(m)
}

fn tools(defs: Vec<ToolDef<'_>>) -> Result<Option<Vec<Tool>>, WireError> {
    if defs.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(defs.len());
    for (i, t) in defs.into_iter().enumerate() {
        if let Some(kind) = t.kind.as_deref()
            && kind != "custom"
        {
            return Err(WireError::unsupported(DIALECT, format!("tools[{i}]: server tool `{kind}`")));
        }
        let function = FunctionDef {
            name: t.name.into_owned(),
            description: t.description.map(Cow::into_owned),
            parameters: Some(t.input_schema.into_owned()).filter(|s| !s.is_null()),
            strict: None,
        };
        out.push(Tool { kind: "function".into(), function: Some(function), extra: Extra::new() });
    }
    Ok(Some(out))
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
