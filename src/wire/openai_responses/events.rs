//! The Responses stream events sidegate emits and reads (the `ResponseStreamEvent` family),
//! their SSE framing, and parsing of an upstream event's `data`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::output::{OutputItem, Response};
use super::types::Part;
use crate::wire::sse;

/// One event: its body and the `sequence_number` every event carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamEvent {
    #[serde(flatten)]
    pub body: EventBody,
    pub sequence_number: u64,
}

/// The event bodies, tagged by `type` as on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum EventBody {
    #[serde(rename = "response.created")]
    Created { response: Box<Response> },
    #[serde(rename = "response.in_progress")]
    InProgress { response: Box<Response> },
    #[serde(rename = "response.completed")]
    Completed { response: Box<Response> },
    #[serde(rename = "response.incomplete")]
    Incomplete { response: Box<Response> },
    #[serde(rename = "response.failed")]
    Failed { response: Box<Response> },
    #[serde(rename = "response.output_item.added")]
    OutputItemAdded { output_index: u32, item: OutputItem },
    #[serde(rename = "response.output_item.done")]
    OutputItemDone { output_index: u32, item: OutputItem },
    #[serde(rename = "response.content_part.added")]
    ContentPartAdded { item_id: String, output_index: u32, content_index: u32, part: Part },
    #[serde(rename = "response.content_part.done")]
    ContentPartDone { item_id: String, output_index: u32, content_index: u32, part: Part },
    #[serde(rename = "response.output_text.delta")]
    OutputTextDelta {
        item_id: String,
        output_index: u32,
        content_index: u32,
        delta: String,
        #[serde(default)]
        logprobs: Vec<Value>,
    },
    #[serde(rename = "response.output_text.done")]
    OutputTextDone {
        item_id: String,
        output_index: u32,
        content_index: u32,
        text: String,
        #[serde(default)]
        logprobs: Vec<Value>,
    },
    #[serde(rename = "response.refusal.delta")]
    RefusalDelta { item_id: String, output_index: u32, content_index: u32, delta: String },
    #[serde(rename = "response.refusal.done")]
    RefusalDone { item_id: String, output_index: u32, content_index: u32, refusal: String },
    #[serde(rename = "response.function_call_arguments.delta")]
    FunctionCallArgumentsDelta { item_id: String, output_index: u32, delta: String },
    #[serde(rename = "response.function_call_arguments.done")]
    FunctionCallArgumentsDone {
        item_id: String,
        output_index: u32,
        #[serde(default)]
        name: String,
        arguments: String,
    },
    /// A stream-level error; `code` and `param` are required-but-nullable.
    #[serde(rename = "response.reasoning_summary_text.delta")]
    ReasoningSummaryTextDelta { item_id: String, output_index: u32, summary_index: u32, delta: String },
    #[serde(rename = "error")]
    Error { code: Option<String>, message: String, param: Option<String> },
}

/// Every `type` [`EventBody`] models; other event types (reasoning summaries, built-in tool
/// progress, annotations, ...) are skipped by [`parse_event`].
pub const MODELED_TYPES: &[&str] = &[
    "response.created",
    "response.in_progress",
    "response.completed",
    "response.incomplete",
    "response.failed",
    "response.output_item.added",
    "response.output_item.done",
    "response.content_part.added",
    "response.content_part.done",
    "response.output_text.delta",
    "response.output_text.done",
    "response.refusal.delta",
    "response.refusal.done",
    "response.function_call_arguments.delta",
    "response.function_call_arguments.done",
    "response.reasoning_summary_text.delta",
    "error",
];

impl StreamEvent {
    /// The event's `type` (also the SSE `event:` name).
    pub fn event_type(&self) -> &'static str {
        match &self.body {
            EventBody::Created { .. } => "response.created",
            EventBody::InProgress { .. } => "response.in_progress",
            EventBody::Completed { .. } => "response.completed",
            EventBody::Incomplete { .. } => "response.incomplete",
            EventBody::Failed { .. } => "response.failed",
            EventBody::OutputItemAdded { .. } => "response.output_item.added",
            EventBody::OutputItemDone { .. } => "response.output_item.done",
            EventBody::ContentPartAdded { .. } => "response.content_part.added",
            EventBody::ContentPartDone { .. } => "response.content_part.done",
            EventBody::OutputTextDelta { .. } => "response.output_text.delta",
            EventBody::OutputTextDone { .. } => "response.output_text.done",
            EventBody::RefusalDelta { .. } => "response.refusal.delta",
            EventBody::RefusalDone { .. } => "response.refusal.done",
            EventBody::FunctionCallArgumentsDelta { .. } => "response.function_call_arguments.delta",
            EventBody::FunctionCallArgumentsDone { .. } => "response.function_call_arguments.done",
            EventBody::ReasoningSummaryTextDelta { .. } => "response.reasoning_summary_text.delta",
            EventBody::Error { .. } => "error",
        }
    }

    /// Whether this event ends the stream.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self.body,
            EventBody::Completed { .. }
                | EventBody::Incomplete { .. }
                | EventBody::Failed { .. }
                | EventBody::Error { .. }
        )
    }

    /// The SSE frame: `event: <type>\ndata: <json>\n\n` (the Responses stream has no
    /// `[DONE]` sentinel; the terminal event ends it).
    pub fn to_sse(&self) -> Vec<u8> {
        sse::encode(Some(self.event_type()), &serde_json::to_vec(self).unwrap_or_default())
    }
}

/// Parses one upstream event's `data`. `Ok(None)`: a well-formed event of a type this module
/// does not model (skipped). A malformed event of a modelled type is an error.
pub fn parse_event(data: &str) -> Result<Option<StreamEvent>, serde_json::Error> {
    let v: Value = serde_json::from_str(data)?;
    let modeled = v.get("type").and_then(Value::as_str).is_some_and(|t| MODELED_TYPES.contains(&t));
    if !modeled {
        return Ok(None);
    }
    serde_json::from_value(v).map(Some)
}
