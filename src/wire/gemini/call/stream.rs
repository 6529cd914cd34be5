//! Gemini stream events -> canonical chunks.

use std::collections::HashMap;

use super::super::tool_call_id;
use super::super::types::{Candidate, GenerateResponse, UsageMetadata};
use super::response::{args_string, block_reason, blocked, finish_reason, usage};
use crate::api::response::{Delta, FunctionDelta, ToolCallDelta};
use crate::api::{ChatChunk, ids};
use crate::wire::sse::SseEvent;
use crate::wire::{Flow, StreamDecoder, VendorReport, WireError};

#[derive(Debug, Default)]
struct Cand {
    role_sent: bool,
    next_tool: u32,
    /// Reasoning details so far (thoughts and signatures).
    thoughts: u32,
    finished: bool,
}

/// Gemini stream events (each a whole response holding only new parts) -> OpenAI chunks.
/// Function calls arrive whole: one chunk each, with a tool index that keeps counting across
/// events. Usage is cumulative: the last one seen is sent once, at the end.
pub struct StreamState {
    model: String,
    created: u64,
    id: String,
    seed: String,
    cands: HashMap<u32, Cand>,
    usage: Option<UsageMetadata>,
}

impl StreamState {
    pub fn new(model: &str, created: u64) -> Self {
        StreamState {
            model: model.to_string(),
            created,
            id: String::new(),
            seed: ids::nonce(),
            cands: HashMap::new(),
            usage: None,
        }
    }

    fn chunk(&self, index: u32, delta: Delta, finish: Option<&str>) -> ChatChunk {
        ChatChunk::delta(&self.id, self.created, &self.model, index, delta, finish)
    }

    pub fn on(&mut self, r: GenerateResponse, out: &mut Vec<ChatChunk>) -> Result<Flow, WireError> {
        if let Some(e) = r.error {
            return Err(WireError::Reported(VendorReport::Gemini(e)));
        }
        if self.id.is_empty() {
            self.id = r.response_id.clone().unwrap_or_else(ids::completion_id);
            if let Some(rid) = &r.response_id {
                self.seed = rid.clone();
            }
        }
        if let Some(v) = r.model_version {
            self.model = v;
        }
        if r.candidates.is_empty()
            && let Some(reason) =
                block_reason(&GenerateResponse { prompt_feedback: r.prompt_feedback, ..Default::default() })
        {
            return Err(blocked(reason));
        }
        if r.usage_metadata.is_some() {
            self.usage = r.usage_metadata;
        }
        for (pos, c) in r.candidates.into_iter().enumerate() {
            self.candidate(c.index.unwrap_or(pos as u32), c, out);
        }
        Ok(Flow::More)
    }

    /// One candidate's new parts: the role chunk first time, text and whole function calls,
    /// the finish chunk once.
    fn candidate(&mut self, index: u32, c: Candidate, out: &mut Vec<ChatChunk>) {
        let mut st = self.cands.remove(&index).unwrap_or_default();
        if !st.role_sent {
            st.role_sent = true;
            let d = Delta { role: Some("assistant".into()), content: Some(String::new()), ..Delta::default() };
            out.push(self.chunk(index, d, None));
        }
        for p in c.content.map(|c| c.parts).unwrap_or_default() {
            // A thought arrives whole in its part: its text and its detail in one chunk.
            let detail = match (&p.text, p.thought == Some(true), p.function_call.is_some()) {
                (Some(t), true, _) => Some(super::thoughts::thought(t, p.thought_signature.as_deref(), st.thoughts)),
                (_, false, false) => {
                    p.thought_signature.as_deref().map(|s| super::thoughts::text_signature(s, st.thoughts))
                }
                _ => None,
            };
            if let Some(d) = detail {
                st.thoughts += 1;
                let text = if p.thought == Some(true) { p.text.clone() } else { None };
                let delta = Delta { reasoning_content: text, reasoning_details: Some(vec![d]), ..Delta::default() };
                out.push(self.chunk(index, delta, None));
            }
            if let Some(fc) = p.function_call {
                let k = st.next_tool;
                st.next_tool += 1;
                let id = tool_call_id(fc.id.as_deref(), &self.seed, index, k, &fc.name, p.thought_signature.as_deref());
                let call = ToolCallDelta {
                    index: k,
                    id: Some(id),
                    kind: Some("function".into()),
                    function: Some(FunctionDelta { name: Some(fc.name), arguments: Some(args_string(&fc.args)) }),
                };
                out.push(self.chunk(index, Delta { tool_calls: Some(vec![call]), ..Delta::default() }, None));
            } else if let Some(t) = p.text
                && p.thought != Some(true)
                && !t.is_empty()
            {
                out.push(self.chunk(index, Delta { content: Some(t), ..Delta::default() }, None));
            }
        }
        if let Some(reason) = c.finish_reason.as_deref()
            && !st.finished
        {
            st.finished = true;
            let finish = finish_reason(Some(reason), st.next_tool > 0);
            out.push(self.chunk(index, Delta::default(), Some(finish)));
        }
        self.cands.insert(index, st);
    }
}

impl StreamDecoder for StreamState {
    fn on_event(&mut self, ev: SseEvent, out: &mut Vec<ChatChunk>) -> Result<Flow, WireError> {
        let parsed: GenerateResponse = crate::wire::parse_event(&ev.data)?;
        self.on(parsed, out)
    }

    /// Gemini has no end sentinel: a stream is complete when every candidate has finished.
    fn on_end(&mut self, out: &mut Vec<ChatChunk>) -> Result<(), WireError> {
        if self.cands.is_empty() || self.cands.values().any(|c| !c.finished) {
            return Err(WireError::Truncated("Gemini stream ended before a finishReason".into()));
        }
        let u = self.usage.as_ref().map(usage).unwrap_or_default();
        out.push(ChatChunk::usage_only(&self.id, self.created, &self.model, u));
        Ok(())
    }
}
