//! Canonical chunks -> the streamGenerateContent events, for a Gemini-shaped front. Each
//! event is a whole GenerateContentResponse holding only the new parts. Text goes out as it
//! comes; a tool call's argument fragments are gathered and the call is sent whole as one
//! `functionCall` part (Gemini never streams partial arguments), when text follows it or the
//! stream ends. The last event carries every candidate's `finishReason`, the calls still
//! held and `usageMetadata` (the canonical stream reports usage only at its end). Framing:
//! [`encode`] for `alt=sse`, [`JsonArray`] for the default streamed JSON array.

use std::collections::BTreeMap;

use super::super::types::{Candidate, ErrorBody, GenerateResponse, RespContent, RespPart};
use super::error::error_body;
use super::response::{finish_reason, function_call, usage};
use crate::api::chat::{FunctionCall, ToolCall};
use crate::api::error::GatewayError;
use crate::api::response::ToolCallDelta;
use crate::api::{ChatChunk, Usage};
use crate::wire::{WireError, sse};

/// A tool call being gathered.
#[derive(Debug, Default)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
}

#[derive(Debug, Default)]
struct ChoiceState {
    /// Calls not sent yet, by canonical `tool_calls[].index`.
    calls: BTreeMap<u32, PartialCall>,
    /// Indexes of the calls already sent (more arguments for them are an error).
    sent: Vec<u32>,
    finish: Option<String>,
}

/// Writes one streamGenerateContent stream from one canonical stream (every choice).
#[derive(Debug, Default)]
pub struct StreamEncoder {
    id: String,
    model: String,
    choices: BTreeMap<u32, ChoiceState>,
    usage: Option<Usage>,
}

impl StreamEncoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// The events one canonical chunk adds (none while only tool-call arguments arrive).
    pub fn on_chunk(&mut self, c: &ChatChunk, out: &mut Vec<GenerateResponse>) -> Result<(), WireError> {
        if self.id.is_empty() {
            self.id.clone_from(&c.id);
        }
        if self.model.is_empty() {
            self.model.clone_from(&c.model);
        }
        if let Some(u) = c.usage {
            self.usage = Some(u);
        }
        for choice in &c.choices {
            let st = self.choices.entry(choice.index).or_default();
            let d = &choice.delta;
            for call in d.tool_calls.iter().flatten() {
                gather(st, call)?;
            }
            let mut parts = Vec::new();
            if let Some(t) = d.reasoning_content.as_deref().filter(|t| !t.is_empty()) {
                parts.push(RespPart { text: Some(t.to_string()), thought: Some(true), ..RespPart::default() });
            }
            // A block's text came before as reasoning_content: only its signature now.
            for detail in d.reasoning_details.iter().flatten() {
                parts.push(super::thoughts::part(detail, false));
            }
            for text in [&d.content, &d.refusal].into_iter().flatten().filter(|t| !t.is_empty()) {
                if parts.is_empty() {
                    flush(st, choice.index, &mut parts)?;
                }
                parts.push(RespPart { text: Some(text.clone()), ..RespPart::default() });
            }
            if let Some(f) = &choice.finish_reason {
                st.finish = Some(f.clone());
            }
            if !parts.is_empty() {
                let cand = Candidate { content: Some(content(parts)), finish_reason: None, index: Some(choice.index) };
                out.push(self.event(vec![cand], None));
            }
        }
        Ok(())
    }

    /// The last event, once the canonical stream has ended cleanly: the calls still held,
    /// each candidate's finishReason, and the usage.
    pub fn finish(&mut self, out: &mut Vec<GenerateResponse>) -> Result<(), WireError> {
        if self.choices.is_empty() {
            self.choices.insert(0, ChoiceState::default());
        }
        let mut candidates = Vec::with_capacity(self.choices.len());
        for (index, st) in &mut self.choices {
            let mut parts = Vec::new();
            flush(st, *index, &mut parts)?;
            candidates.push(Candidate {
                content: (!parts.is_empty()).then(|| content(parts)),
                finish_reason: Some(finish_reason(st.finish.as_deref()).into()),
                index: Some(*index),
            });
        }
        let u = usage(&self.usage.unwrap_or_default());
        out.push(self.event(candidates, Some(u)));
        Ok(())
    }

    /// The in-stream error object for a failure after the stream started (it ends there).
    pub fn error(e: &GatewayError) -> ErrorBody {
        error_body(e)
    }

    fn event(
        &self,
        candidates: Vec<Candidate>,
        usage_metadata: Option<super::super::types::UsageMetadata>,
    ) -> GenerateResponse {
        GenerateResponse {
            candidates,
            usage_metadata,
            model_version: Some(self.model.clone()).filter(|m| !m.is_empty()),
            response_id: Some(self.id.clone()).filter(|id| !id.is_empty()),
            ..GenerateResponse::default()
        }
    }
}

fn content(parts: Vec<RespPart>) -> RespContent {
    RespContent { role: Some("model".into()), parts }
}

/// One tool-call delta added to the call it belongs to.
fn gather(st: &mut ChoiceState, call: &ToolCallDelta) -> Result<(), WireError> {
    if st.sent.contains(&call.index) {
        return Err(WireError::Malformed(format!(
            "arguments for tool call {} after its functionCall was sent (text came in between)",
            call.index
        )));
    }
    let p = st.calls.entry(call.index).or_default();
    if let Some(id) = &call.id {
        p.id.clone_from(id);
    }
    if let Some(f) = &call.function {
        if let Some(name) = &f.name {
            p.name.push_str(name);
        }
        if let Some(args) = &f.arguments {
            p.arguments.push_str(args);
        }
    }
    Ok(())
}

/// The calls held, in index order, as whole `functionCall` parts.
fn flush(st: &mut ChoiceState, choice: u32, parts: &mut Vec<RespPart>) -> Result<(), WireError> {
    for (k, p) in std::mem::take(&mut st.calls) {
        let call = ToolCall {
            id: p.id,
            kind: "function".into(),
            function: FunctionCall { name: p.name, arguments: p.arguments },
        };
        parts.push(function_call(&call, &format!("choices[{choice}].delta.tool_calls[{k}]"))?);
        st.sent.push(k);
    }
    Ok(())
}

/// One event as an SSE `data:` event (`alt=sse`).
pub fn encode(ev: &impl serde::Serialize) -> Vec<u8> {
    sse::encode(None, &serde_json::to_vec(ev).unwrap_or_default())
}

/// The framing without `alt=sse`: one JSON array, written as the events come
/// (`[{…}`, `,\r\n{…}`, …, `]`).
#[derive(Debug, Default)]
pub struct JsonArray {
    started: bool,
}

impl JsonArray {
    /// One event as the array's next element.
    pub fn item(&mut self, ev: &impl serde::Serialize) -> Vec<u8> {
        self.item_raw(&serde_json::to_vec(ev).unwrap_or_default())
    }

    /// An element already encoded (a vendor's event, kept byte for byte).
    pub fn item_raw(&mut self, json: &[u8]) -> Vec<u8> {
        let mut out = if std::mem::replace(&mut self.started, true) { b",\r\n".to_vec() } else { b"[".to_vec() };
        out.extend_from_slice(json);
        out
    }

    /// The array's end (an empty array when nothing was written).
    pub fn end(&mut self) -> Vec<u8> {
        if std::mem::replace(&mut self.started, true) { b"]".to_vec() } else { b"[]".to_vec() }
    }
}
