//! Canonical (OpenAI) <-> Anthropic Messages, both directions, no I/O. Requests: system and
//! developer text to `system`, same-role turns merged, tool results batched first in one user
//! turn, ids sanitized, `max_tokens` filled per model, JSON modes by a forced tool. Responses
//! and stream events: finish reasons, usage with cache tokens, tool-call indexes counted per
//! tool (not per content block). The rules and their reasons are in docs/providers.md.

use std::borrow::Cow;

use serde_json::{Value, json};

use super::wire::{self, Block, MessagesRequest, RespBlock, Source, StreamEvent, ToolDef, Turn, WireUsage};
use crate::api::chat::{Content, ContentPart, FunctionCall, Message, ResponseFormat, Role, ToolCall};
use crate::api::response::{
    Choice, ChunkChoice, Delta, FunctionDelta, PromptTokensDetails, ResponseMessage, ToolCallDelta,
};
use crate::api::{ChatChunk, ChatRequest, ChatResponse, Extra, Usage};
use crate::providers::common::{self, ExtraRule, ToolMode, invalid, safe_tool_id, unsupported};
use crate::providers::http::{EventTranslator, Flow};
use crate::providers::sse::SseEvent;
use crate::providers::{Failure, ProviderError};

pub const VENDOR: &str = "Anthropic";
/// The tool that carries `response_format` answers (forced-tool technique).
pub const JSON_TOOL: &str = "sidegate_json_output";

/// Per-account translation settings.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// `max_tokens` for models missing from `MAX_OUTPUT`.
    pub default_max_tokens: Option<u64>,
}

/// What translating the answer needs to know about the request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplyCtx {
    /// `JSON_TOOL` was offered: its input is the answer's content, not a tool call.
    pub json_tool: bool,
}

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
) -> Result<(MessagesRequest<'a>, ReplyCtx), ProviderError> {
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
        model,
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
            .map(|user_id| wire::Metadata { user_id }),
    };
    let ctx = tools(req, &mut out)?;
    Ok((out, ctx))
}

/// `messages` -> (`system`, alternating turns).
fn turns(req: &ChatRequest) -> Result<(Option<String>, Vec<Turn<'_>>), ProviderError> {
    let mut system: Vec<Cow<'_, str>> = Vec::new();
    let mut turns: Vec<Turn<'_>> = Vec::new();
    for (i, m) in req.messages.iter().enumerate() {
        let (role, blocks) = match m.role {
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
        if let Some(Block::Text { text }) = last.content.last_mut() {
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
        turns.insert(0, Turn { role: wire::Role::User, content: vec![Block::Text { text: Cow::Borrowed("…") }] });
    }
    if turns.is_empty() {
        return Err(invalid("Anthropic needs at least one user or assistant message with content"));
    }
    let system = (!system.is_empty()).then(|| system.join("\n\n"));
    Ok((system, turns))
}

fn text_block(s: &str) -> Option<Block<'_>> {
    (!s.is_empty()).then_some(Block::Text { text: Cow::Borrowed(s) })
}

fn image_block<'a>(url: &'a str, at: &str) -> Result<Block<'a>, ProviderError> {
    if let Some((media_type, data)) = common::data_url(url) {
        if !matches!(media_type, "image/jpeg" | "image/png" | "image/gif" | "image/webp") {
            return Err(unsupported(VENDOR, format!("{at}: image type `{media_type}` (jpeg, png, gif, webp)")));
        }
        return Ok(Block::Image { source: Source::Base64 { media_type, data } });
    }
    if url.starts_with("https://") || url.starts_with("http://") {
        return Ok(Block::Image { source: Source::Url { url } });
    }
    Err(invalid(format!("{at}: image_url.url must be an http(s) URL or a data:<mime>;base64 URL")))
}

fn user_blocks(m: &Message, i: usize) -> Result<Vec<Block<'_>>, ProviderError> {
    common::content_parts(m, i, text_block, image_block, other_part)
}

/// `file` parts carrying a PDF become documents; everything else has no Anthropic form.
fn other_part<'a>(v: &'a Value, at: &str) -> Result<Block<'a>, ProviderError> {
    let kind = v.get("type").and_then(Value::as_str).unwrap_or("?");
    if kind == "file"
        && let Some(url) = v.pointer("/file/file_data").and_then(Value::as_str)
        && let Some((media_type @ "application/pdf", data)) = common::data_url(url)
    {
        return Ok(Block::Document { source: Source::Base64 { media_type, data } });
    }
    Err(unsupported(VENDOR, format!("{at}: content part `{kind}`")))
}

fn assistant_blocks(m: &Message, i: usize) -> Result<Vec<Block<'_>>, ProviderError> {
    let mut out = Vec::new();
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
        out.push(Block::ToolUse { id: safe_tool_id(&c.id), name: &c.function.name, input });
    }
    Ok(out)
}

fn tool_result(m: &Message, i: usize) -> Result<Block<'_>, ProviderError> {
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
    Ok(Block::ToolResult { tool_use_id: safe_tool_id(id), content: (!content.is_empty()).then_some(content) })
}

/// Every tool_use needs its tool_result in the very next (user) turn, and every tool_result
/// must answer a tool_use of the turn before. A missing result is a 400, never invented.
fn check_tool_pairs(turns: &[Turn<'_>]) -> Result<(), ProviderError> {
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

/// Tools, `tool_choice`, `parallel_tool_calls` and `response_format`.
fn tools<'a>(req: &'a ChatRequest, out: &mut MessagesRequest<'a>) -> Result<ReplyCtx, ProviderError> {
    let choice = common::tool_choice(VENDOR, req.tool_choice.as_ref())?;
    for (i, t) in req.tools.iter().flatten().enumerate() {
        if t.kind != "function" {
            return Err(unsupported(VENDOR, format!("tools[{i}]: tool type `{}`", t.kind)));
        }
        let f = t.function.as_ref().ok_or_else(|| invalid(format!("tools[{i}]: `function` is missing")))?;
        if choice.allowed.as_ref().is_some_and(|a| !a.contains(&f.name)) {
            continue;
        }
        let input_schema = match &f.parameters {
            Some(p) => Cow::Borrowed(p),
            None => Cow::Owned(json!({"type": "object", "properties": {}})),
        };
        out.tools.push(ToolDef { name: &f.name, description: f.description.as_deref(), input_schema });
    }
    if let ToolMode::Named(n) = &choice.mode
        && !out.tools.iter().any(|t| t.name == n)
    {
        return Err(invalid(format!("tool_choice names `{n}`, which is not in `tools`")));
    }
    let disable = (req.parallel_tool_calls == Some(false)).then_some(true);
    let has_tools = !out.tools.is_empty();
    out.tool_choice = match (&choice.mode, has_tools) {
        (_, false) => None,
        (ToolMode::Default, true) => disable.map(|d| wire::ToolChoice::Auto { disable_parallel_tool_use: Some(d) }),
        (ToolMode::None, true) => Some(wire::ToolChoice::None),
        (ToolMode::Auto, true) => Some(wire::ToolChoice::Auto { disable_parallel_tool_use: disable }),
        (ToolMode::Required, true) => Some(wire::ToolChoice::Any { disable_parallel_tool_use: disable }),
        (ToolMode::Named(_), true) => out
            .tools
            .iter()
            .find(|t| Some(t.name) == named(&choice.mode))
            .map(|t| wire::ToolChoice::Tool { name: t.name, disable_parallel_tool_use: disable }),
    };

    let (schema, description) = match &req.response_format {
        None | Some(ResponseFormat::Text) => return Ok(ReplyCtx::default()),
        Some(ResponseFormat::JsonObject) => (Cow::Owned(json!({"type": "object"})), None),
        Some(ResponseFormat::JsonSchema { json_schema }) => (
            json_schema.get("schema").map_or_else(|| Cow::Owned(json!({"type": "object"})), Cow::Borrowed),
            json_schema.get("description").and_then(Value::as_str),
        ),
    };
    if out.tools.iter().any(|t| t.name == JSON_TOOL) {
        return Err(invalid(format!("the tool name `{JSON_TOOL}` is reserved for response_format")));
    }
    let caller_may_call = has_tools && !matches!(choice.mode, ToolMode::None);
    if !caller_may_call {
        out.tools.clear();
    }
    out.tools.push(ToolDef {
        name: JSON_TOOL,
        description: Some(description.unwrap_or("Give the whole answer as this tool's input, as JSON.")),
        input_schema: schema,
    });
    if !caller_may_call {
        out.tool_choice = Some(wire::ToolChoice::Tool { name: JSON_TOOL, disable_parallel_tool_use: None });
    }
    Ok(ReplyCtx { json_tool: true })
}

fn named(m: &ToolMode) -> Option<&str> {
    match m {
        ToolMode::Named(n) => Some(n),
        _ => None,
    }
}

// ---- responses ------------------------------------------------------------------------------

/// stop_reason -> finish_reason (PROVIDERS.md §2.6).
pub fn finish_reason(stop: Option<&str>, has_tool_calls: bool) -> &'static str {
    match stop {
        Some("end_turn" | "stop_sequence" | "pause_turn") => "stop",
        Some("max_tokens" | "model_context_window_exceeded") => "length",
        // A tool_use that was only the JSON tool is a finished answer.
        Some("tool_use") if has_tool_calls => "tool_calls",
        Some("tool_use") => "stop",
        Some("refusal") => "content_filter",
        other => {
            tracing::debug!(stop_reason = ?other, "unknown Anthropic stop_reason; reported as stop");
            if has_tool_calls { "tool_calls" } else { "stop" }
        }
    }
}

/// Anthropic counts cache reads and writes outside `input_tokens`; OpenAI's prompt includes them.
pub fn usage(u: &WireUsage) -> Usage {
    let (input, write, read) = (
        u.input_tokens.unwrap_or(0),
        u.cache_creation_input_tokens.unwrap_or(0),
        u.cache_read_input_tokens.unwrap_or(0),
    );
    let mut out = Usage::new(input + write + read, u.output_tokens.unwrap_or(0));
    if u.cache_creation_input_tokens.is_some() || u.cache_read_input_tokens.is_some() {
        out.prompt_tokens_details = Some(PromptTokensDetails {
            cached_tokens: read,
            audio_tokens: None,
            cache_creation_tokens: (write > 0).then_some(write),
        });
    }
    out
}

fn arguments_of(input: &Value) -> String {
    match input {
        Value::Null => "{}".to_string(),
        v => v.to_string(),
    }
}

pub fn from_wire(r: wire::MessagesResponse, ctx: ReplyCtx, created: u64) -> ChatResponse {
    let mut text = String::new();
    let mut calls = Vec::new();
    for b in r.content {
        match b {
            RespBlock::Text { text: t } => text.push_str(&t),
            RespBlock::ToolUse { input, name, .. } if ctx.json_tool && name == JSON_TOOL => {
                text.push_str(&arguments_of(&input));
            }
            RespBlock::ToolUse { id, name, input } => calls.push(ToolCall {
                id,
                kind: "function".into(),
                function: FunctionCall { arguments: arguments_of(&input), name },
            }),
            RespBlock::Thinking { .. } | RespBlock::Other => {}
        }
    }
    let finish = finish_reason(r.stop_reason.as_deref(), !calls.is_empty());
    let content = if text.is_empty() && !calls.is_empty() { None } else { Some(text) };
    ChatResponse {
        id: r.id,
        object: "chat.completion".into(),
        created,
        model: r.model,
        choices: vec![Choice {
            index: 0,
            message: ResponseMessage {
                role: "assistant".into(),
                content,
                refusal: None,
                tool_calls: (!calls.is_empty()).then_some(calls),
                extra: Extra::new(),
            },
            finish_reason: Some(finish.into()),
            logprobs: None,
            extra: Extra::new(),
        }],
        usage: Some(usage(&r.usage)),
        extra: Extra::new(),
    }
}

/// A vendor error object (HTTP body or stream `error` event) classified for failover.
pub fn error(e: wire::WireError, status: Option<u16>, retry_after: Option<std::time::Duration>) -> ProviderError {
    let status = status.or(match e.kind.as_str() {
        "overloaded_error" => Some(529),
        "api_error" => Some(500),
        "rate_limit_error" => Some(429),
        "timeout_error" => Some(504),
        _ => None,
    });
    let message = if e.message.is_empty() { format!("Anthropic error `{}`", e.kind) } else { e.message };
    let Some(status) = status else {
        let mut err = ProviderError::new(Failure::StreamBroken, message);
        err.code = Some(e.kind);
        return err;
    };
    let billing = e.kind == "billing_error";
    let mut err = ProviderError::from_status(status, Some(e.kind), message, retry_after);
    if billing {
        err.failure = Failure::Quota;
    }
    err
}

// ---- streams --------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum BlockKind {
    Text,
    /// A caller tool: its OpenAI `tool_calls[].index`, and whether arguments arrived.
    Tool {
        index: u32,
        got_args: bool,
    },
    /// The JSON tool: its arguments are the answer's content.
    Json {
        got: bool,
    },
    Ignored,
}

/// Anthropic stream events -> OpenAI chunks. The role chunk is held back until the first
/// content (or the end), so a stream that fails right after `message_start` fails before
/// the router's commit point and can still fail over.
pub struct StreamState {
    ctx: ReplyCtx,
    id: String,
    model: String,
    created: u64,
    role_sent: bool,
    /// Content-block index -> what it is (block indexes count text blocks too).
    blocks: Vec<(u32, BlockKind)>,
    next_tool: u32,
    usage: WireUsage,
    stop_reason: Option<String>,
}

impl StreamState {
    pub fn new(ctx: ReplyCtx, created: u64) -> Self {
        StreamState {
            ctx,
            id: String::new(),
            model: String::new(),
            created,
            role_sent: false,
            blocks: Vec::new(),
            next_tool: 0,
            usage: WireUsage::default(),
            stop_reason: None,
        }
    }

    fn chunk(&self, delta: Delta, finish: Option<&str>) -> ChatChunk {
        ChatChunk {
            id: self.id.clone(),
            object: "chat.completion.chunk".into(),
            created: self.created,
            model: self.model.clone(),
            choices: vec![ChunkChoice {
                index: 0,
                delta,
                finish_reason: finish.map(str::to_string),
                logprobs: None,
                extra: Extra::new(),
            }],
            usage: None,
            extra: Extra::new(),
        }
    }

    fn role(&mut self, out: &mut Vec<ChatChunk>) {
        if !self.role_sent {
            self.role_sent = true;
            let d = Delta { role: Some("assistant".into()), content: Some(String::new()), ..Delta::default() };
            out.push(self.chunk(d, None));
        }
    }

    fn text(&self, t: String) -> ChatChunk {
        self.chunk(Delta { content: Some(t), ..Delta::default() }, None)
    }

    fn tool_delta(&self, index: u32, id: Option<String>, name: Option<String>, args: String) -> ChatChunk {
        let kind = id.as_ref().map(|_| "function".to_string());
        let call = ToolCallDelta { index, id, kind, function: Some(FunctionDelta { name, arguments: Some(args) }) };
        self.chunk(Delta { tool_calls: Some(vec![call]), ..Delta::default() }, None)
    }

    fn kind_of(&mut self, index: u32) -> Option<&mut BlockKind> {
        self.blocks.iter_mut().find(|(i, _)| *i == index).map(|(_, k)| k)
    }

    /// One parsed event; `Done` after `message_stop`.
    pub fn on(&mut self, ev: StreamEvent, out: &mut Vec<ChatChunk>) -> Result<Flow, ProviderError> {
        match ev {
            StreamEvent::MessageStart { message } => {
                self.id = message.id;
                self.model = message.model;
                self.usage.update(&message.usage);
            }
            StreamEvent::ContentBlockStart { index, content_block } => {
                let kind = match content_block {
                    RespBlock::Text { text } => {
                        self.role(out);
                        if !text.is_empty() {
                            out.push(self.text(text));
                        }
                        BlockKind::Text
                    }
                    RespBlock::ToolUse { name, .. } if self.ctx.json_tool && name == JSON_TOOL => {
                        self.role(out);
                        BlockKind::Json { got: false }
                    }
                    // `input` here is always `{}`: the arguments are the partial_json deltas.
                    RespBlock::ToolUse { id, name, .. } => {
                        self.role(out);
                        let k = self.next_tool;
                        self.next_tool += 1;
                        out.push(self.tool_delta(k, Some(id), Some(name), String::new()));
                        BlockKind::Tool { index: k, got_args: false }
                    }
                    RespBlock::Thinking { .. } | RespBlock::Other => BlockKind::Ignored,
                };
                self.blocks.push((index, kind));
            }
            StreamEvent::ContentBlockDelta { index, delta } => {
                let kind = self.kind_of(index).copied();
                match (kind, delta) {
                    (Some(BlockKind::Text), wire::BlockDelta::TextDelta { text }) if !text.is_empty() => {
                        out.push(self.text(text));
                    }
                    (Some(BlockKind::Tool { index: k, .. }), wire::BlockDelta::InputJsonDelta { partial_json })
                        if !partial_json.is_empty() =>
                    {
                        out.push(self.tool_delta(k, None, None, partial_json));
                        if let Some(BlockKind::Tool { got_args, .. }) = self.kind_of(index) {
                            *got_args = true;
                        }
                    }
                    (Some(BlockKind::Json { .. }), wire::BlockDelta::InputJsonDelta { partial_json })
                        if !partial_json.is_empty() =>
                    {
                        out.push(self.text(partial_json));
                        if let Some(BlockKind::Json { got }) = self.kind_of(index) {
                            *got = true;
                        }
                    }
                    _ => {} // thinking, signatures, citations, empty fragments
                }
            }
            StreamEvent::ContentBlockStop { index } => match self.kind_of(index).copied() {
                // A tool without arguments sends no partial_json: its arguments are `{}`.
                Some(BlockKind::Tool { index: k, got_args: false }) => {
                    out.push(self.tool_delta(k, None, None, "{}".into()))
                }
                Some(BlockKind::Json { got: false }) => out.push(self.text("{}".into())),
                _ => {}
            },
            StreamEvent::MessageDelta { delta, usage } => {
                if delta.stop_reason.is_some() {
                    self.stop_reason = delta.stop_reason;
                }
                if let Some(u) = usage {
                    self.usage.update(&u);
                }
            }
            StreamEvent::MessageStop => {
                self.role(out);
                let finish = finish_reason(self.stop_reason.as_deref(), self.next_tool > 0);
                out.push(self.chunk(Delta::default(), Some(finish)));
                out.push(ChatChunk::usage_only(&self.id, self.created, &self.model, usage(&self.usage)));
                return Ok(Flow::Done);
            }
            StreamEvent::Ping | StreamEvent::Unknown => {}
            StreamEvent::Error { error: e } => return Err(error(e, None, None)),
        }
        Ok(Flow::More)
    }
}

impl EventTranslator for StreamState {
    fn on_event(&mut self, ev: SseEvent, out: &mut Vec<ChatChunk>) -> Result<Flow, ProviderError> {
        let parsed: StreamEvent = serde_json::from_str(&ev.data).map_err(|e| {
            ProviderError::new(Failure::BadResponse, format!("vendor sent an invalid stream event: {e}"))
        })?;
        self.on(parsed, out)
    }

    fn on_end(&mut self, _out: &mut Vec<ChatChunk>) -> Result<(), ProviderError> {
        Err(ProviderError::new(Failure::StreamBroken, "Anthropic stream ended before message_stop"))
    }
}
