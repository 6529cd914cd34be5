//! Responses stream events -> canonical chunks (for a Responses upstream). Text and refusal
//! deltas become content and refusal deltas; each `function_call` item becomes a tool call
//! numbered in order of appearance, its argument deltas follow it; the terminal event becomes
//! the finish chunk and a usage-only chunk. Events without a canonical form (content-part
//! bookkeeping, reasoning summaries) produce nothing.

use super::error::upstream_failed;
use super::events::{EventBody, StreamEvent, parse_event};
use super::output::{OutputItem, Response};
use super::response::{finish_reason_of, usage_in};
use crate::api::ChatChunk;
use crate::api::response::{Delta, FunctionDelta, ToolCallDelta};
use crate::wire::sse::SseEvent;
use crate::wire::{Flow, StreamDecoder, WireError};

/// Reads one Responses stream and writes canonical chunks.
#[derive(Debug, Default)]
pub struct ChunkReader {
    id: String,
    created: u64,
    model: String,
    started: bool,
    /// Item id of each function call, in tool-call index order.
    calls: Vec<String>,
    /// Reasoning items so far.
    reasoning: u32,
}

impl ChunkReader {
    /// One SSE `data` payload. Unknown event types are skipped.
    pub fn on_data(&mut self, data: &str, out: &mut Vec<ChatChunk>) -> Result<Flow, WireError> {
        let event = parse_event(data).map_err(|e| WireError::Malformed(format!("malformed Responses event: {e}")))?;
        match event {
            Some(ev) => self.on(&ev, out),
            None => Ok(Flow::More),
        }
    }

    /// One parsed event; `Done` after the terminal one.
    pub fn on(&mut self, ev: &StreamEvent, out: &mut Vec<ChatChunk>) -> Result<Flow, WireError> {
        match &ev.body {
            EventBody::Created { response } | EventBody::InProgress { response } => self.begin(response, out),
            EventBody::OutputItemAdded { item: OutputItem::FunctionCall(c), output_index } => {
                let id = c.id.clone().unwrap_or_else(|| format!("item_{output_index}"));
                let index = self.calls.len() as u32;
                self.calls.push(id);
                let delta = ToolCallDelta {
                    index,
                    id: Some(c.call_id.clone()),
                    kind: Some("function".into()),
                    function: Some(FunctionDelta { name: Some(c.name.clone()), arguments: Some(c.arguments.clone()) }),
                };
                out.push(self.chunk(Delta { tool_calls: Some(vec![delta]), ..Delta::default() }));
            }
            EventBody::FunctionCallArgumentsDelta { item_id, delta, .. } => {
                let Some(index) = self.calls.iter().position(|c| c == item_id) else {
                    return Err(WireError::Malformed(format!(
                        "Responses stream: arguments for unknown item `{item_id}`"
                    )));
                };
                let delta = ToolCallDelta {
                    index: index as u32,
                    id: None,
                    kind: None,
                    function: Some(FunctionDelta { name: None, arguments: Some(delta.clone()) }),
                };
                out.push(self.chunk(Delta { tool_calls: Some(vec![delta]), ..Delta::default() }));
            }
            EventBody::OutputTextDelta { delta, .. } => {
                out.push(self.chunk(Delta { content: Some(delta.clone()), ..Delta::default() }));
            }
            EventBody::RefusalDelta { delta, .. } => {
                out.push(self.chunk(Delta { refusal: Some(delta.clone()), ..Delta::default() }));
            }
            EventBody::ReasoningSummaryTextDelta { delta, .. } if !delta.is_empty() => {
                out.push(self.chunk(Delta { reasoning_content: Some(delta.clone()), ..Delta::default() }));
            }
            // The whole reasoning item (summary and encrypted reasoning) once it is complete.
            EventBody::OutputItemDone { item: OutputItem::Reasoning(r), .. } => {
                let d = super::reasoning::detail(r, self.reasoning);
                self.reasoning += 1;
                out.push(self.chunk(Delta { reasoning_details: Some(vec![d]), ..Delta::default() }));
            }
            EventBody::Completed { response } | EventBody::Incomplete { response } => {
                self.begin(response, out);
                self.end(response, out);
                return Ok(Flow::Done);
            }
            EventBody::Failed { response } => {
                let (code, message) = match &response.error {
                    Some(e) => (e.code.clone(), e.message.clone()),
                    None => ("server_error".into(), "the response failed".into()),
                };
                return Err(upstream_failed(code, message));
            }
            EventBody::Error { code, message, .. } => {
                let code = code.clone().unwrap_or_else(|| "server_error".into());
                return Err(upstream_failed(code, message.clone()));
            }
            _ => {}
        }
        Ok(Flow::More)
    }

    /// The first response snapshot: the header and the role chunk.
    fn begin(&mut self, r: &Response, out: &mut Vec<ChatChunk>) {
        if self.started {
            return;
        }
        self.started = true;
        (self.id, self.created, self.model) = (r.id.clone(), r.created_at, r.model.clone());
        out.push(ChatChunk::text(&self.id, self.created, &self.model, true, ""));
    }

    fn end(&mut self, r: &Response, out: &mut Vec<ChatChunk>) {
        let reason = finish_reason_of(r, !self.calls.is_empty());
        out.push(ChatChunk::finish(&self.id, self.created, &self.model, reason));
        if let Some(u) = &r.usage {
            out.push(ChatChunk::usage_only(&self.id, self.created, &self.model, usage_in(u)));
        }
    }

    fn chunk(&self, delta: Delta) -> ChatChunk {
        ChatChunk::delta(&self.id, self.created, &self.model, 0, delta, None)
    }
}

impl StreamDecoder for ChunkReader {
    fn on_event(&mut self, ev: SseEvent, out: &mut Vec<ChatChunk>) -> Result<Flow, WireError> {
        self.on_data(&ev.data, out)
    }

    fn on_end(&mut self, _out: &mut Vec<ChatChunk>) -> Result<(), WireError> {
        Err(WireError::Truncated("Responses stream ended before a terminal event".into()))
    }
}
