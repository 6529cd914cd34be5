//! Responses stream events -> canonical chunks (for a Responses upstream). Text and refusal
//! deltas become content and refusal deltas; each `function_call` item becomes a tool call
//! numbered in order of appearance, its argument deltas follow it; the terminal event becomes
//! the finish chunk and a usage-only chunk. Events without a canonical form (content-part
//! bookkeeping, reasoning summaries) produce nothing.

use super::error::ConversionError;
use super::events::{EventBody, StreamEvent, parse_event};
use super::output::{OutputItem, Response};
use super::response::{finish_reason_of, usage_in};
use crate::api::ChatChunk;
use crate::api::response::{Delta, FunctionDelta, ToolCallDelta};

/// Whether the upstream stream is finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    More,
    Done,
}

/// Reads one Responses stream and writes canonical chunks.
#[derive(Debug, Default)]
pub struct ChunkReader {
    id: String,
    created: u64,
    model: String,
    started: bool,
    /// Item id of each function call, in tool-call index order.
    calls: Vec<String>,
}

impl ChunkReader {
    /// One SSE `data` payload. Unknown event types are skipped.
    pub fn on_data(&mut self, data: &str, out: &mut Vec<ChatChunk>) -> Result<Progress, ConversionError> {
        let event =
            parse_event(data).map_err(|e| ConversionError::Stream(format!("malformed Responses event: {e}")))?;
        match event {
            Some(ev) => self.on_event(&ev, out),
            None => Ok(Progress::More),
        }
    }

    pub fn on_event(&mut self, ev: &StreamEvent, out: &mut Vec<ChatChunk>) -> Result<Progress, ConversionError> {
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
                    return Err(ConversionError::Stream(format!("arguments for unknown item `{item_id}`")));
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
            EventBody::Completed { response } | EventBody::Incomplete { response } => {
                self.begin(response, out);
                self.end(response, out);
                return Ok(Progress::Done);
            }
            EventBody::Failed { response } => {
                let (code, message) = match &response.error {
                    Some(e) => (e.code.clone(), e.message.clone()),
                    None => ("server_error".into(), "the response failed".into()),
                };
                return Err(ConversionError::UpstreamFailed { code, message });
            }
            EventBody::Error { code, message, .. } => {
                let code = code.clone().unwrap_or_else(|| "server_error".into());
                return Err(ConversionError::UpstreamFailed { code, message: message.clone() });
            }
            _ => {}
        }
        Ok(Progress::More)
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
        let mut c = ChatChunk::text(&self.id, self.created, &self.model, false, "");
        c.choices[0].delta = delta;
        c
    }
}
