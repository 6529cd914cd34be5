//! Canonical chunk stream -> Responses stream events, as a state machine. The sequence is the
//! one OpenAI sends: `response.created`, `response.in_progress`, then per output item
//! `output_item.added`, (for a message) `content_part.added`, text or refusal deltas,
//! `output_text.done` / `refusal.done`, `content_part.done`, (for a call) argument deltas and
//! `function_call_arguments.done`, then `output_item.done`; finally `response.completed`,
//! `response.incomplete` (finish `length` / `content_filter`) or `response.failed`. Each item
//! is closed before the next opens; every event carries the next `sequence_number`.

use super::error::response_error;
use super::events::{EventBody, StreamEvent};
use super::output::{OutputItem, OutputMessage, Response, ResponseEcho, Status};
use super::response::{call_item_id, id_base, message_id, response_id, skeleton, status_of, usage_out};
use super::types::{FunctionCallItem, ItemStatus, Part};
use crate::api::ChatChunk;
use crate::api::error::GatewayError;
use crate::api::reasoning::ReasoningDetail;
use crate::api::response::ToolCallDelta;
use crate::wire::WireError;

/// The item being streamed.
#[derive(Debug)]
enum OpenItem {
    Message {
        id: String,
        parts: Vec<Part>,
        part: Option<OpenPart>,
    },
    /// A reasoning item whose summary text is streaming.
    Reasoning {
        id: String,
        summary: String,
    },
    Call {
        id: String,
        call_id: String,
        name: String,
        arguments: String,
        tool_index: u32,
    },
}

/// The content part being streamed inside a message.
#[derive(Debug)]
struct OpenPart {
    refusal: bool,
    text: String,
}

/// Turns one canonical answer's chunks into Responses events.
#[derive(Debug)]
pub struct EventStream {
    response: Response,
    base: String,
    seq: u64,
    started: bool,
    ended: bool,
    open: Option<OpenItem>,
    /// Canonical tool-call indexes already closed (a later delta for one is an error).
    closed_calls: Vec<u32>,
    finish_reason: Option<String>,
}

impl EventStream {
    /// A stream for the completion `chat_id` (the response id is derived as in
    /// [`super::to_response`]), echoing the request's settings.
    pub fn new(chat_id: &str, created_at: u64, model: &str, echo: ResponseEcho) -> Self {
        let response = skeleton(response_id(chat_id), created_at, model.to_string(), Status::InProgress, echo);
        EventStream {
            response,
            base: id_base(chat_id).to_string(),
            seq: 0,
            started: false,
            ended: false,
            open: None,
            closed_calls: Vec::new(),
            finish_reason: None,
        }
    }

    fn emit(&mut self, out: &mut Vec<StreamEvent>, body: EventBody) {
        out.push(StreamEvent { body, sequence_number: self.seq });
        self.seq += 1;
    }

    /// `response.created` and `response.in_progress` (once; implied by the first chunk).
    pub fn start(&mut self, out: &mut Vec<StreamEvent>) {
        if self.started {
            return;
        }
        self.started = true;
        let snapshot = Box::new(self.response.clone());
        self.emit(out, EventBody::Created { response: snapshot.clone() });
        self.emit(out, EventBody::InProgress { response: snapshot });
    }

    /// The events for one chunk. Only choice 0 is streamed (a Responses request has no `n`).
    pub fn on_chunk(&mut self, chunk: &ChatChunk, out: &mut Vec<StreamEvent>) -> Result<(), WireError> {
        if self.ended {
            return Err(WireError::Malformed("stream: chunk after the end of the stream".into()));
        }
        self.start(out);
        if let Some(u) = &chunk.usage {
            self.response.usage = Some(usage_out(u));
        }
        let Some(choice) = chunk.choices.iter().find(|c| c.index == 0) else { return Ok(()) };
        let d = &choice.delta;
        if let Some(text) = d.reasoning_content.as_deref().filter(|t| !t.is_empty()) {
            self.on_reasoning_text(text, out);
        }
        for detail in d.reasoning_details.iter().flatten() {
            self.on_reasoning_block(detail, out);
        }
        if let Some(text) = d.content.as_deref().filter(|t| !t.is_empty()) {
            self.on_text(text, false, out);
        }
        if let Some(text) = d.refusal.as_deref().filter(|t| !t.is_empty()) {
            self.on_text(text, true, out);
        }
        for call in d.tool_calls.iter().flatten() {
            self.on_tool_delta(call, out)?;
        }
        if let Some(reason) = &choice.finish_reason {
            self.finish_reason = Some(reason.clone());
            let (status, _) = status_of(Some(reason));
            let item_status = if status == Status::Incomplete { ItemStatus::Incomplete } else { ItemStatus::Completed };
            self.close_item(item_status, out);
        }
        Ok(())
    }

    fn on_reasoning_text(&mut self, text: &str, out: &mut Vec<StreamEvent>) {
        if !matches!(self.open, Some(OpenItem::Reasoning { .. })) {
            self.close_item(ItemStatus::Completed, out);
            self.open_reasoning(out);
        }
        let output_index = self.output_index();
        let Some(OpenItem::Reasoning { id, summary }) = &mut self.open else { return };
        summary.push_str(text);
        let (item_id, delta) = (id.clone(), text.to_string());
        self.emit(out, EventBody::ReasoningSummaryTextDelta { item_id, output_index, summary_index: 0, delta });
    }

    fn open_reasoning(&mut self, out: &mut Vec<StreamEvent>) {
        let output_index = self.output_index();
        let id = format!("rs_{}_{output_index}", self.base);
        let item = OutputItem::Reasoning(super::reasoning::summary_item(id.clone(), ""));
        self.open = Some(OpenItem::Reasoning { id, summary: String::new() });
        self.emit(out, EventBody::OutputItemAdded { output_index, item });
    }

    /// A whole reasoning block: it completes the reasoning item its text streamed in, or is
    /// an item of its own.
    fn on_reasoning_block(&mut self, d: &ReasoningDetail, out: &mut Vec<StreamEvent>) {
        if !matches!(self.open, Some(OpenItem::Reasoning { .. })) {
            self.close_item(ItemStatus::Completed, out);
            self.open_reasoning(out);
        }
        let output_index = self.output_index();
        let Some(OpenItem::Reasoning { id, summary }) = self.open.take() else { return };
        let mut item = super::reasoning::output_item(d, id);
        if item.summary.is_empty() && !summary.is_empty() {
            item.summary = super::reasoning::summary_item(String::new(), &summary).summary;
        }
        let item = OutputItem::Reasoning(item);
        self.response.output.push(item.clone());
        self.emit(out, EventBody::OutputItemDone { output_index, item });
    }

    fn on_text(&mut self, text: &str, refusal: bool, out: &mut Vec<StreamEvent>) {
        if !matches!(self.open, Some(OpenItem::Message { .. })) {
            self.close_item(ItemStatus::Completed, out);
            self.open_message(out);
        }
        let same_kind = matches!(&self.open, Some(OpenItem::Message { part: Some(p), .. }) if p.refusal == refusal);
        if !same_kind {
            self.close_part(out);
            self.open_part(refusal, out);
        }
        let output_index = self.output_index();
        let Some(OpenItem::Message { id, parts, part: Some(p) }) = &mut self.open else { return };
        p.text.push_str(text);
        let (item_id, content_index, delta) = (id.clone(), parts.len() as u32, text.to_string());
        let body = if refusal {
            EventBody::RefusalDelta { item_id, output_index, content_index, delta }
        } else {
            EventBody::OutputTextDelta { item_id, output_index, content_index, delta, logprobs: Vec::new() }
        };
        self.emit(out, body);
    }

    fn on_tool_delta(&mut self, call: &ToolCallDelta, out: &mut Vec<StreamEvent>) -> Result<(), WireError> {
        let f = call.function.as_ref();
        let is_open = matches!(&self.open, Some(OpenItem::Call { tool_index, .. }) if *tool_index == call.index);
        if !is_open {
            if self.closed_calls.contains(&call.index) {
                let msg = format!("stream: tool call {} continued after another item started", call.index);
                return Err(WireError::Malformed(msg));
            }
            self.close_item(ItemStatus::Completed, out);
            let output_index = self.output_index() as usize;
            let call_id = call.id.clone().unwrap_or_else(|| format!("call_{}_{}", self.base, call.index));
            let name = f.and_then(|f| f.name.clone()).unwrap_or_default();
            let id = call_item_id(&self.base, output_index);
            let item = call_item(&id, &call_id, &name, "", ItemStatus::InProgress);
            self.open = Some(OpenItem::Call { id, call_id, name, arguments: String::new(), tool_index: call.index });
            self.emit(out, EventBody::OutputItemAdded { output_index: output_index as u32, item });
            if let Some(args) = f.and_then(|f| f.arguments.as_deref()) {
                self.push_arguments(args, out);
            }
            return Ok(());
        }
        if let (Some(name), Some(OpenItem::Call { name: n, .. })) = (f.and_then(|f| f.name.as_deref()), &mut self.open)
        {
            n.push_str(name);
        }
        if let Some(args) = f.and_then(|f| f.arguments.as_deref()) {
            self.push_arguments(args, out);
        }
        Ok(())
    }

    fn push_arguments(&mut self, delta: &str, out: &mut Vec<StreamEvent>) {
        if delta.is_empty() {
            return;
        }
        let output_index = self.output_index();
        let Some(OpenItem::Call { id, arguments, .. }) = &mut self.open else { return };
        arguments.push_str(delta);
        let body = EventBody::FunctionCallArgumentsDelta { item_id: id.clone(), output_index, delta: delta.into() };
        self.emit(out, body);
    }

    /// The output index of the open item (or of the next one when none is open).
    fn output_index(&self) -> u32 {
        self.response.output.len() as u32
    }

    fn open_message(&mut self, out: &mut Vec<StreamEvent>) {
        let output_index = self.output_index();
        let id = message_id(&self.base, output_index as usize);
        let item = message_item(&id, Vec::new(), ItemStatus::InProgress);
        self.open = Some(OpenItem::Message { id, parts: Vec::new(), part: None });
        self.emit(out, EventBody::OutputItemAdded { output_index, item });
    }

    fn open_part(&mut self, refusal: bool, out: &mut Vec<StreamEvent>) {
        let output_index = self.output_index();
        let Some(OpenItem::Message { id, parts, part }) = &mut self.open else { return };
        *part = Some(OpenPart { refusal, text: String::new() });
        let (item_id, content_index) = (id.clone(), parts.len() as u32);
        let part = part_of(refusal, String::new());
        self.emit(out, EventBody::ContentPartAdded { item_id, output_index, content_index, part });
    }

    fn close_part(&mut self, out: &mut Vec<StreamEvent>) {
        let output_index = self.output_index();
        let Some(OpenItem::Message { id, parts, part }) = &mut self.open else { return };
        let Some(p) = part.take() else { return };
        let (item_id, content_index) = (id.clone(), parts.len() as u32);
        let done = part_of(p.refusal, p.text.clone());
        parts.push(done.clone());
        let body = if p.refusal {
            EventBody::RefusalDone { item_id: item_id.clone(), output_index, content_index, refusal: p.text }
        } else {
            EventBody::OutputTextDone {
                item_id: item_id.clone(),
                output_index,
                content_index,
                text: p.text,
                logprobs: Vec::new(),
            }
        };
        self.emit(out, body);
        self.emit(out, EventBody::ContentPartDone { item_id, output_index, content_index, part: done });
    }

    /// Closes the open item (its last part first) and appends it to the response's output.
    fn close_item(&mut self, status: ItemStatus, out: &mut Vec<StreamEvent>) {
        self.close_part(out);
        let output_index = self.output_index();
        let item = match self.open.take() {
            None => return,
            Some(OpenItem::Message { id, parts, .. }) => message_item(&id, parts, status),
            Some(OpenItem::Reasoning { id, summary }) => {
                OutputItem::Reasoning(super::reasoning::summary_item(id, &summary))
            }
            Some(OpenItem::Call { id, call_id, name, arguments, tool_index }) => {
                self.closed_calls.push(tool_index);
                let done = EventBody::FunctionCallArgumentsDone {
                    item_id: id.clone(),
                    output_index,
                    name: name.clone(),
                    arguments: arguments.clone(),
                };
                self.emit(out, done);
                call_item(&id, &call_id, &name, &arguments, status)
            }
        };
        self.response.output.push(item.clone());
        self.emit(out, EventBody::OutputItemDone { output_index, item });
    }

    /// The end of the canonical stream: closes what is open and sends `response.completed`,
    /// or `response.incomplete` when the finish reason was `length` or `content_filter`.
    pub fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        if self.ended {
            return;
        }
        self.start(out);
        self.close_item(ItemStatus::Completed, out);
        self.ended = true;
        let (status, incomplete) = status_of(self.finish_reason.as_deref());
        self.response.status = status;
        self.response.incomplete_details = incomplete;
        let response = Box::new(self.response.clone());
        let body = match status {
            Status::Incomplete => EventBody::Incomplete { response },
            _ => EventBody::Completed { response },
        };
        self.emit(out, body);
    }

    /// A failure mid-stream: the open item ends `incomplete`, then `response.failed`.
    pub fn fail(&mut self, err: &GatewayError, out: &mut Vec<StreamEvent>) {
        if self.ended {
            return;
        }
        self.start(out);
        self.close_item(ItemStatus::Incomplete, out);
        self.ended = true;
        self.response.status = Status::Failed;
        self.response.error = Some(response_error(err));
        let response = Box::new(self.response.clone());
        self.emit(out, EventBody::Failed { response });
    }
}

fn part_of(refusal: bool, text: String) -> Part {
    if refusal { Part::Refusal { refusal: text } } else { Part::output_text(text) }
}

fn message_item(id: &str, content: Vec<Part>, status: ItemStatus) -> OutputItem {
    OutputItem::Message(OutputMessage { id: id.to_string(), role: "assistant".into(), status, content })
}

fn call_item(id: &str, call_id: &str, name: &str, arguments: &str, status: ItemStatus) -> OutputItem {
    OutputItem::FunctionCall(FunctionCallItem {
        id: Some(id.to_string()),
        call_id: call_id.to_string(),
        name: name.to_string(),
        arguments: arguments.to_string(),
        status: Some(status),
    })
}
