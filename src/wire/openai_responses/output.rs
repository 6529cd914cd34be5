//! Serde types of the Responses `Response` object: output items, usage, status, and the
//! request settings a response echoes back (`ResponseEcho`).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::types::{
    CreateResponse, FunctionCallItem, ItemStatus, Part, Reasoning, ReasoningItem, TextFormat, TextParam, ToolParam,
};
use crate::api::Extra;

/// The response object (`object: "response"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub id: String,
    #[serde(default = "object_response")]
    pub object: String,
    #[serde(default)]
    pub created_at: u64,
    #[serde(default = "status_completed")]
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<u64>,
    /// Required (nullable): always written.
    #[serde(default)]
    pub error: Option<ResponseError>,
    /// Required (nullable): always written.
    #[serde(default)]
    pub incomplete_details: Option<IncompleteDetails>,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub output: Vec<OutputItem>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<ResponseUsage>,
    #[serde(flatten)]
    pub echo: ResponseEcho,
    #[serde(flatten)]
    pub extra: Extra,
}

fn object_response() -> String {
    "response".into()
}

fn status_completed() -> Status {
    Status::Completed
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Completed,
    Failed,
    InProgress,
    Cancelled,
    Queued,
    Incomplete,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncompleteDetails {
    pub reason: IncompleteReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncompleteReason {
    MaxOutputTokens,
    ContentFilter,
}

/// `response.error`: why a response failed. `code` is one of `ResponseErrorCode`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseError {
    pub code: String,
    pub message: String,
}

/// The request settings a response repeats. Required-but-nullable fields are always written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseEcho {
    #[serde(default)]
    pub instructions: Option<String>,
    #[serde(default)]
    pub max_output_tokens: Option<u64>,
    #[serde(default = "yes")]
    pub parallel_tool_calls: bool,
    #[serde(default)]
    pub previous_response_id: Option<String>,
    #[serde(default)]
    pub reasoning: Option<Reasoning>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<bool>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default = "text_default")]
    pub text: TextParam,
    #[serde(default = "auto")]
    pub tool_choice: Value,
    #[serde(default)]
    pub tools: Vec<ToolParam>,
    #[serde(default)]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default = "empty_object")]
    pub metadata: Value,
}

/// `{"format": {"type": "text"}}`: what OpenAI echoes when the request set no format.
fn text_default() -> TextParam {
    TextParam { format: Some(TextFormat::Text), verbosity: None }
}

fn yes() -> bool {
    true
}

fn auto() -> Value {
    json!("auto")
}

fn empty_object() -> Value {
    json!({})
}

impl Default for ResponseEcho {
    fn default() -> Self {
        ResponseEcho {
            instructions: None,
            max_output_tokens: None,
            parallel_tool_calls: true,
            previous_response_id: None,
            reasoning: None,
            store: None,
            temperature: None,
            text: text_default(),
            tool_choice: auto(),
            tools: Vec::new(),
            top_p: None,
            user: None,
            metadata: empty_object(),
        }
    }
}

impl ResponseEcho {
    /// What a response to `req` repeats of it (defaults where the caller set nothing).
    pub fn of(req: &CreateResponse) -> Self {
        let d = ResponseEcho::default();
        ResponseEcho {
            instructions: req.instructions.clone(),
            max_output_tokens: req.max_output_tokens,
            parallel_tool_calls: req.parallel_tool_calls.unwrap_or(true),
            previous_response_id: req.previous_response_id.clone(),
            reasoning: req.reasoning.clone(),
            store: req.store,
            temperature: req.temperature,
            text: match &req.text {
                Some(t) if t.format.is_some() => t.clone(),
                Some(t) => TextParam { format: d.text.format, verbosity: t.verbosity.clone() },
                None => d.text,
            },
            tool_choice: req.tool_choice.clone().unwrap_or(d.tool_choice),
            tools: req.tools.clone().unwrap_or_default(),
            top_p: req.top_p,
            user: req.user.clone(),
            metadata: req.metadata.clone().unwrap_or(d.metadata),
        }
    }
}

/// One output item. Item types sidegate does not produce are kept whole in `Other`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutputItem {
    Message(OutputMessage),
    FunctionCall(FunctionCallItem),
    Reasoning(ReasoningItem),
    #[serde(untagged)]
    Other(Value),
}

impl OutputItem {
    pub fn kind(&self) -> &str {
        match self {
            OutputItem::Message(_) => "message",
            OutputItem::FunctionCall(_) => "function_call",
            OutputItem::Reasoning(_) => "reasoning",
            OutputItem::Other(v) => v.get("type").and_then(Value::as_str).unwrap_or("(no type)"),
        }
    }
}

/// An assistant message in `output`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputMessage {
    pub id: String,
    #[serde(default = "role_assistant")]
    pub role: String,
    pub status: ItemStatus,
    #[serde(default)]
    pub content: Vec<Part>,
}

fn role_assistant() -> String {
    "assistant".into()
}

/// `ResponseUsage`. Both details objects are required by the schema, so always written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseUsage {
    #[serde(default)]
    pub input_tokens: u64,
    #[serde(default)]
    pub input_tokens_details: InputTokensDetails,
    #[serde(default)]
    pub output_tokens: u64,
    #[serde(default)]
    pub output_tokens_details: OutputTokensDetails,
    #[serde(default)]
    pub total_tokens: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputTokensDetails {
    #[serde(default)]
    pub cached_tokens: u64,
    /// Extension (Anthropic's prompt-cache writes, both TTLs); OpenAI reports none.
    #[serde(default)]
    pub cache_write_tokens: u64,
    /// Extension: the 1-hour-TTL part of `cache_write_tokens`; written only when not zero.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache_write_1h_tokens: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputTokensDetails {
    #[serde(default)]
    pub reasoning_tokens: u64,
}
