//! Messages stream events -> canonical chunks: one role chunk held back until content,
//! tool-call indexes counted per tool (not per content block), usage at the end.

use super::super::JSON_TOOL;
use super::super::types::{self as wire, RespBlock, StreamEvent, WireUsage};
use super::ReplyCtx;
use super::response::{finish_reason, usage};
use crate::api::ChatChunk;
use crate::api::response::{Delta, FunctionDelta, ToolCallDelta};
use crate::wire::sse::SseEvent;
use crate::wire::{Flow, StreamDecoder, VendorReport, WireError};

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
    /// A thinking or redacted_thinking block: the `thinking` entry of this index holds it.
    Thinking,
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
    /// Reasoning blocks so far, the open one last (text, signature or data gathered).
    thinking: Vec<(u32, crate::api::reasoning::ReasoningDetail)>,
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
            thinking: Vec::new(),
            usage: WireUsage::default(),
            stop_reason: None,
        }
    }

    fn chunk(&self, delta: Delta, finish: Option<&str>) -> ChatChunk {
        ChatChunk::delta(&self.id, self.created, &self.model, 0, delta, finish)
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

    fn reasoning(&self, t: String) -> ChatChunk {
        self.chunk(Delta { reasoning_content: Some(t), ..Delta::default() }, None)
    }

    fn open_thinking(&mut self, index: u32) -> Option<&mut crate::api::reasoning::ReasoningDetail> {
        self.thinking.iter_mut().rev().find(|(i, _)| *i == index).map(|(_, d)| d)
    }

    fn kind_of(&mut self, index: u32) -> Option<&mut BlockKind> {
        self.blocks.iter_mut().find(|(i, _)| *i == index).map(|(_, k)| k)
    }

    /// One parsed event; `Done` after `message_stop`.
    pub fn on(&mut self, ev: StreamEvent, out: &mut Vec<ChatChunk>) -> Result<Flow, WireError> {
        match ev {
            StreamEvent::MessageStart { message } => {
                let message = *message;
                self.id = message.id;
                self.model = message.model;
                self.usage.update(&message.usage);
            }
            StreamEvent::ContentBlockStart { index, content_block } => self.block_start(index, content_block, out),
            StreamEvent::ContentBlockDelta { index, delta } => self.block_delta(index, delta, out),
            StreamEvent::ContentBlockStop { index } => self.block_stop(index, out),
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
            StreamEvent::Error { error } => return Err(WireError::Reported(VendorReport::Anthropic(error))),
        }
        Ok(Flow::More)
    }

    fn block_start(&mut self, index: u32, block: RespBlock, out: &mut Vec<ChatChunk>) {
        let kind = match block {
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
            RespBlock::Thinking { thinking, signature } => {
                self.role(out);
                let at = self.thinking.len() as u32;
                if !thinking.is_empty() {
                    out.push(self.reasoning(thinking.clone()));
                }
                self.thinking.push((index, super::thinking::detail(&thinking, &signature, at)));
                BlockKind::Thinking
            }
            RespBlock::RedactedThinking { data } => {
                self.role(out);
                let at = self.thinking.len() as u32;
                self.thinking.push((index, super::thinking::redacted(&data, at)));
                BlockKind::Thinking
            }
            RespBlock::Other => BlockKind::Ignored,
        };
        self.blocks.push((index, kind));
    }

    fn block_delta(&mut self, index: u32, delta: wire::BlockDelta, out: &mut Vec<ChatChunk>) {
        let Some(kind) = self.kind_of(index).copied() else { return };
        match (kind, delta) {
            (BlockKind::Text, wire::BlockDelta::TextDelta { text }) if !text.is_empty() => out.push(self.text(text)),
            (BlockKind::Tool { index: k, .. }, wire::BlockDelta::InputJsonDelta { partial_json })
                if !partial_json.is_empty() =>
            {
                out.push(self.tool_delta(k, None, None, partial_json));
                if let Some(BlockKind::Tool { got_args, .. }) = self.kind_of(index) {
                    *got_args = true;
                }
            }
            (BlockKind::Json { .. }, wire::BlockDelta::InputJsonDelta { partial_json }) if !partial_json.is_empty() => {
                out.push(self.text(partial_json));
                if let Some(BlockKind::Json { got }) = self.kind_of(index) {
                    *got = true;
                }
            }
            (BlockKind::Thinking, wire::BlockDelta::ThinkingDelta { thinking }) if !thinking.is_empty() => {
                if let Some(d) = self.open_thinking(index) {
                    d.text.get_or_insert_with(String::new).push_str(&thinking);
                }
                out.push(self.reasoning(thinking));
            }
            (BlockKind::Thinking, wire::BlockDelta::SignatureDelta { signature }) => {
                if let Some(d) = self.open_thinking(index) {
                    d.signature.get_or_insert_with(String::new).push_str(&signature);
                }
            }
            _ => {} // citations, empty fragments
        }
    }

    fn block_stop(&mut self, index: u32, out: &mut Vec<ChatChunk>) {
        match self.kind_of(index).copied() {
            // A tool without arguments sends no partial_json: its arguments are `{}`.
            Some(BlockKind::Tool { index: k, got_args: false }) => {
                out.push(self.tool_delta(k, None, None, "{}".into()))
            }
            Some(BlockKind::Json { got: false }) => out.push(self.text("{}".into())),
            // The whole block, signature included, once it is complete.
            Some(BlockKind::Thinking) => {
                if let Some(d) = self.open_thinking(index).cloned() {
                    let delta = Delta { reasoning_details: Some(vec![d]), ..Delta::default() };
                    out.push(self.chunk(delta, None));
                }
            }
            _ => {}
        }
    }
}

impl StreamDecoder for StreamState {
    fn on_event(&mut self, ev: SseEvent, out: &mut Vec<ChatChunk>) -> Result<Flow, WireError> {
        let parsed: StreamEvent = crate::wire::parse_event(&ev.data)?;
        self.on(parsed, out)
    }

    fn on_end(&mut self, _out: &mut Vec<ChatChunk>) -> Result<(), WireError> {
        Err(WireError::Truncated("Anthropic stream ended before message_stop".into()))
    }
}
