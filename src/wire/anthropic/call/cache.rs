//! Prompt-cache breakpoints in a Messages request. The caller's canonical markers
//! (`wire::cache_control`) are moved onto the blocks they mark ([`mark`], per message, as its
//! blocks are made) and the system prompt ([`place`]); then, when the route asks for it
//! (`prompt_cache = "auto"`), breakpoints are added on the last tool, the system prompt and
//! the last user turn, never more than Anthropic's four with the caller's own (the caller's
//! come first and win). Every marker is normalized to a TTL Anthropic takes.

use serde_json::Value;

use super::super::types::{Block, MessagesRequest, Role as WireRole, System};
use crate::api::ChatRequest;
use crate::api::chat::{Content, ContentPart, Message, Role};
use crate::wire::cache_control::{self as markers, MAX_BREAKPOINTS};

impl Block<'_> {
    /// The block's prompt-cache breakpoint slot (None: a block type that takes none).
    pub fn cache_control_mut(&mut self) -> Option<&mut Option<Value>> {
        match self {
            Block::Text { cache_control, .. }
            | Block::Image { cache_control, .. }
            | Block::Document { cache_control, .. }
            | Block::ToolUse { cache_control, .. }
            | Block::ToolResult { cache_control, .. } => Some(cache_control),
            _ => None,
        }
    }

    /// The block's prompt-cache breakpoint, if it has one.
    pub fn cache_control(&self) -> Option<&Value> {
        match self {
            Block::Text { cache_control, .. }
            | Block::Image { cache_control, .. }
            | Block::Document { cache_control, .. }
            | Block::ToolUse { cache_control, .. }
            | Block::ToolResult { cache_control, .. } => cache_control.as_ref(),
            _ => None,
        }
    }
}

/// Moves the markers of canonical message `m` onto `blocks`, the blocks made from it: a
/// part's onto the block made from that part (parts and blocks in order; empty text parts
/// make no block), the message's own onto its last block that takes one. A tool message's
/// markers go on its `tool_result`.
pub fn mark(m: &Message, blocks: &mut [Block<'_>]) {
    if !markers::message_has_marker(m) {
        return;
    }
    if m.role != Role::Tool
        && let Some(Content::Parts(parts)) = &m.content
    {
        let marked_parts = parts.iter().filter(|p| !matches!(p, ContentPart::Text { text, .. } if text.is_empty()));
        let part_blocks = blocks
            .iter_mut()
            .filter(|b| matches!(b, Block::Text { .. } | Block::Image { .. } | Block::Document { .. }));
        for (p, b) in marked_parts.zip(part_blocks) {
            if let (Some(v), Some(slot)) = (markers::of_part(p), b.cache_control_mut()) {
                *slot = markers::for_anthropic(v);
            }
        }
    }
    let whole = markers::of_message(m).or_else(|| {
        // A tool result is one block: a marker on any of its parts marks it.
        let parts = match (&m.role, &m.content) {
            (Role::Tool, Some(Content::Parts(parts))) => parts.as_slice(),
            _ => &[],
        };
        parts.iter().find_map(markers::of_part)
    });
    if let Some(v) = whole
        && let Some(slot) = blocks.iter_mut().rev().find_map(Block::cache_control_mut)
    {
        *slot = markers::for_anthropic(v);
    }
}

/// The system prompt's marker (from any system or developer message or part), the tools'
/// markers, the breakpoint limit, and the automatic breakpoints when `auto`.
pub fn place(req: &ChatRequest, out: &mut MessagesRequest<'_>, auto: bool) {
    if !auto && !markers::has_markers(req) {
        return; // the common case: nothing to place, nothing to walk
    }
    let system_marker = req
        .messages
        .iter()
        .rev()
        .filter(|m| matches!(m.role, Role::System | Role::Developer))
        .filter_map(|m| {
            markers::of_message(m).or_else(|| match &m.content {
                Some(Content::Parts(parts)) => parts.iter().rev().find_map(markers::of_part),
                _ => None,
            })
        })
        .next()
        .and_then(markers::for_anthropic);
    if let Some(marker) = system_marker {
        set_system_marker(out, marker);
    }
    mark_tools(req, out);
    limit(out);
    if auto {
        auto_place(out);
    }
}

fn mark_tools(req: &ChatRequest, out: &mut MessagesRequest<'_>) {
    for t in req.tools.iter().flatten() {
        let (Some(v), Some(f)) = (t.extra.get(markers::FIELD), t.function.as_ref()) else { continue };
        if let Some(def) = out.tools.iter_mut().find(|d| d.name == f.name.as_str()) {
            def.cache_control = markers::for_anthropic(v);
        }
    }
}

/// Puts `marker` on the system prompt's last block (a plain-text system becomes one block).
fn set_system_marker(out: &mut MessagesRequest<'_>, marker: Value) {
    match out.system.take() {
        Some(System::Text(text)) => {
            out.system = Some(System::Blocks(vec![Block::Text { text, cache_control: Some(marker) }]));
        }
        Some(System::Blocks(mut blocks)) => {
            if let Some(slot) = blocks.iter_mut().rev().find_map(Block::cache_control_mut) {
                *slot = Some(marker);
            }
            out.system = Some(System::Blocks(blocks));
        }
        None => {}
    }
}

/// Every breakpoint slot of the request, in prompt order: tools, system, messages.
fn slots<'s>(out: &'s mut MessagesRequest<'_>) -> Vec<&'s mut Option<Value>> {
    let mut all: Vec<&mut Option<Value>> = out.tools.iter_mut().map(|t| &mut t.cache_control).collect();
    if let Some(System::Blocks(blocks)) = &mut out.system {
        all.extend(blocks.iter_mut().filter_map(Block::cache_control_mut));
    }
    for t in &mut out.messages {
        all.extend(t.content.iter_mut().filter_map(Block::cache_control_mut));
    }
    all
}

/// More than Anthropic's limit would be a 400: the first four (in prompt order) are kept.
fn limit(out: &mut MessagesRequest<'_>) {
    let mut seen = 0;
    for slot in slots(out).into_iter().filter(|s| s.is_some()) {
        seen += 1;
        if seen > MAX_BREAKPOINTS {
            tracing::debug!("cache_control dropped: Anthropic takes at most {MAX_BREAKPOINTS} breakpoints");
            *slot = None;
        }
    }
}

fn count(out: &mut MessagesRequest<'_>) -> usize {
    slots(out).into_iter().filter(|s| s.is_some()).count()
}

/// Breakpoints on the last tool, the system prompt and the last user turn's last block, each
/// where the caller set none, while fewer than four are set.
fn auto_place(out: &mut MessagesRequest<'_>) {
    let ephemeral = || serde_json::json!({"type": "ephemeral"});
    if count(out) < MAX_BREAKPOINTS
        && let Some(last) = out.tools.last_mut()
        && last.cache_control.is_none()
    {
        last.cache_control = Some(ephemeral());
    }
    let system_marked = matches!(&out.system, Some(System::Blocks(b)) if b.iter().any(|b| b.cache_control().is_some()));
    if count(out) < MAX_BREAKPOINTS && out.system.is_some() && !system_marked {
        set_system_marker(out, ephemeral());
    }
    if count(out) < MAX_BREAKPOINTS
        && let Some(turn) = out.messages.iter_mut().rev().find(|t| t.role == WireRole::User)
        && let Some(slot) = turn.content.iter_mut().rev().find_map(Block::cache_control_mut)
        && slot.is_none()
    {
        *slot = Some(ephemeral());
    }
}

/// `auto` for a Messages caller's own body (passthrough): the same breakpoints, placed in
/// the JSON as it will be sent (a plain-string system prompt or turn becomes one text block).
pub fn place_auto_json(body: &mut serde_json::Map<String, Value>) {
    let ephemeral = || serde_json::json!({"type": "ephemeral"});
    let mut count = json_markers(body);
    if count < MAX_BREAKPOINTS
        && let Some(Value::Object(tool)) =
            body.get_mut("tools").and_then(Value::as_array_mut).and_then(|t| t.last_mut())
        && !tool.contains_key(markers::FIELD)
    {
        tool.insert(markers::FIELD.into(), ephemeral());
        count += 1;
    }
    if count < MAX_BREAKPOINTS
        && let Some(system) = body.get_mut("system")
        && mark_json_content(system, false)
    {
        count += 1;
    }
    if count < MAX_BREAKPOINTS
        && let Some(turn) = body
            .get_mut("messages")
            .and_then(Value::as_array_mut)
            .and_then(|m| m.iter_mut().rev().find(|m| m["role"] == "user"))
        && let Some(content) = turn.get_mut("content")
    {
        mark_json_content(content, true);
    }
}

/// Marks the last block of a string or block list, unless a block is marked already (any
/// block for the system prompt, the last for a turn). Whether it added one.
fn mark_json_content(content: &mut Value, last_only: bool) -> bool {
    let ephemeral = serde_json::json!({"type": "ephemeral"});
    match content {
        Value::String(text) => {
            *content = serde_json::json!([{"type": "text", "text": text, "cache_control": ephemeral}]);
            true
        }
        Value::Array(blocks) => {
            let marked = |b: &Value| b.get(markers::FIELD).is_some();
            let already = if last_only { blocks.last().is_some_and(marked) } else { blocks.iter().any(marked) };
            // thinking blocks take no breakpoint
            let takes = |b: &serde_json::Map<String, Value>| {
                !matches!(b.get("type").and_then(Value::as_str), Some("thinking" | "redacted_thinking"))
            };
            match blocks.last_mut() {
                Some(Value::Object(b)) if !already && takes(b) => {
                    b.insert(markers::FIELD.into(), ephemeral);
                    true
                }
                _ => false,
            }
        }
        _ => false,
    }
}

/// Breakpoints already in a Messages body: tools, system blocks and message blocks.
fn json_markers(body: &serde_json::Map<String, Value>) -> usize {
    let marked = |v: Option<&Value>| {
        v.and_then(Value::as_array).map_or(0, |a| a.iter().filter(|b| b.get(markers::FIELD).is_some()).count())
    };
    let in_messages: usize =
        body.get("messages").and_then(Value::as_array).map_or(0, |m| m.iter().map(|m| marked(m.get("content"))).sum());
    marked(body.get("tools")) + marked(body.get("system")) + in_messages
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;
