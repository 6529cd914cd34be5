//! Canonical chunks -> the Messages event sequence, for an Anthropic-shaped front:
//! `message_start` and a `ping`, then per content block `content_block_start`, `content_block_delta`
//! (`text_delta` or `input_json_delta`) and `content_block_stop`, then `message_delta`
//! (stop reason and usage) and `message_stop`. A state machine: text and each tool call
//! open a block, a change of kind closes it. The canonical stream carries usage only at
//! its end, so `message_start` reports zero tokens and `message_delta` the real counts
//! (Messages usage there is cumulative, input included).

use serde_json::Value;

use super::super::types::{BlockDelta, MessageDelta, MessagesResponse, RespBlock, StreamEvent, WireUsage};
use super::reasoning;
use super::response::{error_object, stop_reason, usage};
use crate::api::reasoning::ReasoningDetail;
use crate::api::response::ToolCallDelta;
use crate::api::{ChatChunk, Usage};
use crate::wire::sse;
use crate::wire::{WireError, anthropic::DIALECT};

/// The content block being streamed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Text,
    /// A thinking block (its signature comes with the detail that closes it).
    Thinking,
    /// A tool call: its canonical `tool_calls[].index`.
    Tool(u32),
}

/// Writes one Messages stream from one canonical stream (choice 0).
#[derive(Debug, Default)]
pub struct StreamEncoder {
    started: bool,
    /// Index of the block `open` refers to.
    index: u32,
    /// Index the next block gets.
    next: u32,
    open: Option<Open>,
    had_tool_call: bool,
    finish: Option<String>,
    usage: Option<Usage>,
}

impl StreamEncoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// The events one canonical chunk adds.
    pub fn on_chunk(&mut self, c: &ChatChunk, out: &mut Vec<StreamEvent>) -> Result<(), WireError> {
        self.start(&c.id, &c.model, out);
        if let Some(u) = c.usage {
            self.usage = Some(u);
        }
        for choice in &c.choices {
            if choice.index != 0 {
                return Err(WireError::unsupported(DIALECT, "a stream of more than one choice"));
            }
            let d = &choice.delta;
            if let Some(t) = d.reasoning_content.as_deref().filter(|t| !t.is_empty()) {
                self.thinking(t, out);
            }
            for detail in d.reasoning_details.iter().flatten() {
                self.reasoning_block(detail, out);
            }
            for text in [&d.content, &d.refusal].into_iter().flatten() {
                if !text.is_empty() {
                    self.text(text, out);
                }
            }
            for call in d.tool_calls.iter().flatten() {
                self.tool_call(call, out)?;
            }
            if let Some(f) = &choice.finish_reason {
                self.close(out);
                self.finish = Some(f.clone());
            }
        }
        Ok(())
    }

    /// The closing events, once the canonical stream has ended cleanly.
    pub fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        self.start("", "", out);
        self.close(out);
        let stop = stop_reason(self.finish.as_deref(), self.had_tool_call);
        let delta = MessageDelta { stop_reason: Some(stop.into()), stop_sequence: None };
        let u = usage(&self.usage.unwrap_or_default());
        out.push(StreamEvent::MessageDelta { delta, usage: Some(u) });
        out.push(StreamEvent::MessageStop);
    }

    /// The `error` event for a failure after the stream started (the stream ends there).
    pub fn error(status: u16, message: impl Into<String>) -> StreamEvent {
        StreamEvent::Error { error: error_object(status, message) }
    }

    fn start(&mut self, id: &str, model: &str, out: &mut Vec<StreamEvent>) {
        if self.started {
            return;
        }
        self.started = true;
        let zero = WireUsage { input_tokens: Some(0), output_tokens: Some(0), ..WireUsage::default() };
        let message = MessagesResponse { id: id.into(), model: model.into(), usage: zero, ..Default::default() };
        out.push(StreamEvent::MessageStart { message: Box::new(message) });
        // Anthropic sends one right after `message_start`; SDKs expect and skip it.
        out.push(StreamEvent::Ping);
    }

    fn open(&mut self, kind: Open, block: RespBlock, out: &mut Vec<StreamEvent>) {
        self.close(out);
        (self.index, self.next) = (self.next, self.next + 1);
        self.open = Some(kind);
        out.push(StreamEvent::ContentBlockStart { index: self.index, content_block: block });
    }

    fn thinking(&mut self, text: &str, out: &mut Vec<StreamEvent>) {
        if self.open != Some(Open::Thinking) {
            let block = RespBlock::Thinking { thinking: String::new(), signature: String::new() };
            self.open(Open::Thinking, block, out);
        }
        let delta = BlockDelta::ThinkingDelta { thinking: text.into() };
        out.push(StreamEvent::ContentBlockDelta { index: self.index, delta });
    }

    /// A whole reasoning block: it signs (and closes) the thinking block its text was
    /// streamed in, or is a block of its own.
    fn reasoning_block(&mut self, d: &ReasoningDetail, out: &mut Vec<StreamEvent>) {
        if reasoning::is_redacted(d) {
            self.open(Open::Thinking, RespBlock::RedactedThinking { data: d.data.clone().unwrap_or_default() }, out);
            self.open = None;
            out.push(StreamEvent::ContentBlockStop { index: self.index });
            return;
        }
        if self.open != Some(Open::Thinking)
            && let Some(t) = d.visible_text()
        {
            self.thinking(t, out);
        } else if self.open != Some(Open::Thinking) {
            self.thinking("", out);
        }
        let delta = BlockDelta::SignatureDelta { signature: reasoning::signature_of(d) };
        out.push(StreamEvent::ContentBlockDelta { index: self.index, delta });
        self.open = None;
        out.push(StreamEvent::ContentBlockStop { index: self.index });
    }

    fn close(&mut self, out: &mut Vec<StreamEvent>) {
        if self.open == Some(Open::Thinking) {
            // Thinking no vendor signed: its signature says so (never replayed).
            let delta = BlockDelta::SignatureDelta { signature: reasoning::unsigned() };
            out.push(StreamEvent::ContentBlockDelta { index: self.index, delta });
        }
        if self.open.take().is_some() {
            out.push(StreamEvent::ContentBlockStop { index: self.index });
        }
    }

    fn text(&mut self, text: &str, out: &mut Vec<StreamEvent>) {
        if self.open != Some(Open::Text) {
            self.open(Open::Text, RespBlock::Text { text: String::new() }, out);
        }
        out.push(StreamEvent::ContentBlockDelta {
            index: self.index,
            delta: BlockDelta::TextDelta { text: text.into() },
        });
    }

    fn tool_call(&mut self, call: &ToolCallDelta, out: &mut Vec<StreamEvent>) -> Result<(), WireError> {
        let f = call.function.as_ref();
        if let Some(id) = &call.id {
            let name = f.and_then(|f| f.name.clone()).unwrap_or_default();
            let block = RespBlock::ToolUse { id: id.clone(), name, input: Value::Object(Default::default()) };
            self.open(Open::Tool(call.index), block, out);
            self.had_tool_call = true;
        } else if self.open != Some(Open::Tool(call.index)) {
            return Err(WireError::unsupported(
                DIALECT,
                format!(
                    "arguments for tool call {} after another block started (Messages blocks do not interleave)",
                    call.index
                ),
            ));
        }
        if let Some(args) = f.and_then(|f| f.arguments.as_deref()).filter(|a| !a.is_empty()) {
            let delta = BlockDelta::InputJsonDelta { partial_json: args.into() };
            out.push(StreamEvent::ContentBlockDelta { index: self.index, delta });
        }
        Ok(())
    }
}

/// One event as SSE bytes, named as Anthropic names it.
pub fn encode(ev: &StreamEvent) -> Vec<u8> {
    sse::encode(Some(ev.name()), &serde_json::to_vec(ev).unwrap_or_default())
}
