//! Anthropic Messages API wire types, as the vendor documents them (PROVIDERS.md §2), for
//! both directions: sidegate writes requests and reads responses and events when it calls
//! Anthropic, and reads requests and writes responses and events when it serves an
//! Anthropic-shaped caller. Requests borrow (`Cow`) from the canonical request when written
//! and own their data when read. Unknown response block, delta and event types read as
//! `Other`/`Unknown` (Anthropic's versioning policy: new types may appear and must be
//! ignored); an unknown *request* block type is a parse error naming it.

use std::borrow::Cow;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::api::Extra;

#[derive(Debug, Serialize, Deserialize)]
pub struct MessagesRequest<'a> {
    pub model: Cow<'a, str>,
    pub max_tokens: u64,
    pub messages: Vec<Turn<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<System<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop_sequences: Vec<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolDef<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata<'a>>,
    /// `{"type": "enabled", "budget_tokens": N}`, `{"type": "adaptive"}` or `{"type": "disabled"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<Thinking>,
    /// `{"effort": "low" | "medium" | "high" | "max"}` (other keys kept when read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_config: Option<OutputConfig>,
    /// Fields not modelled here (`service_tier`, ...): kept when a request is
    /// read, so a serving front can pass them on; never written (sidegate sends Anthropic
    /// only the fields above).
    #[serde(flatten, skip_serializing)]
    pub extra: Extra,
}

/// The `thinking` request field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Thinking {
    Enabled { budget_tokens: u64 },
    Adaptive {},
    Disabled {},
}

/// The `output_config` request field: `effort`, and what else it carries (`format`) as read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OutputConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effort: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `system`: a string (what sidegate writes) or a list of text blocks.
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum System<'a> {
    Text(Cow<'a, str>),
    Blocks(Vec<Block<'a>>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Turn<'a> {
    pub role: Role,
    /// Always a list when written; a plain string is read as one text block.
    #[serde(deserialize_with = "blocks_or_text")]
    pub content: Vec<Block<'a>>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Block<'a> {
    Text {
        text: Cow<'a, str>,
        /// A prompt-cache breakpoint (`{"type":"ephemeral","ttl":"5m"|"1h"}`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<Value>,
    },
    Image {
        source: Source<'a>,
        /// A prompt-cache breakpoint (`{"type":"ephemeral","ttl":"5m"|"1h"}`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<Value>,
    },
    Document {
        source: Source<'a>,
        /// A prompt-cache breakpoint (`{"type":"ephemeral","ttl":"5m"|"1h"}`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<Value>,
    },
    ToolUse {
        id: Cow<'a, str>,
        name: Cow<'a, str>,
        input: Value,
        /// A prompt-cache breakpoint (`{"type":"ephemeral","ttl":"5m"|"1h"}`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<Value>,
    },
    ToolResult {
        tool_use_id: Cow<'a, str>,
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "opt_blocks_or_text")]
        content: Option<Vec<Block<'a>>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        is_error: Option<bool>,
        /// A prompt-cache breakpoint (`{"type":"ephemeral","ttl":"5m"|"1h"}`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<Value>,
    },
    /// Earlier reasoning replayed in an assistant turn, its signature verbatim.
    Thinking {
        #[serde(default)]
        thinking: Cow<'a, str>,
        #[serde(default)]
        signature: Cow<'a, str>,
    },
    /// Encrypted earlier reasoning, verbatim.
    RedactedThinking {
        #[serde(default)]
        data: Cow<'a, str>,
    },
    /// A search result given to the model as context, with its citation source (read only).
    SearchResult {
        #[serde(default)]
        source: Cow<'a, str>,
        #[serde(default)]
        title: Cow<'a, str>,
        #[serde(default)]
        content: Vec<Block<'a>>,
    },
}

impl Block<'_> {
    pub fn is_tool_result(&self) -> bool {
        matches!(self, Block::ToolResult { .. })
    }

    /// A text block without a cache breakpoint.
    pub fn text<'a>(text: impl Into<Cow<'a, str>>) -> Block<'a> {
        Block::Text { text: text.into(), cache_control: None }
    }
}

/// A string or a list of blocks; a bad block's own error (e.g. an unknown `type`) is kept.
fn blocks_or_text<'de, 'a, D: Deserializer<'de>>(d: D) -> Result<Vec<Block<'a>>, D::Error> {
    struct V<'a>(std::marker::PhantomData<Block<'a>>);
    impl<'de, 'a> serde::de::Visitor<'de> for V<'a> {
        type Value = Vec<Block<'a>>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a string or a list of content blocks")
        }
        fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Self::Value, E> {
            Ok(vec![Block::text(s.to_string())])
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
            while let Some(b) = seq.next_element()? {
                out.push(b);
            }
            Ok(out)
        }
    }
    d.deserialize_any(V(std::marker::PhantomData))
}

fn opt_blocks_or_text<'de, 'a, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Block<'a>>>, D::Error> {
    blocks_or_text(d).map(Some)
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Source<'a> {
    Base64 {
        media_type: Cow<'a, str>,
        data: Cow<'a, str>,
    },
    Url {
        url: Cow<'a, str>,
    },
    /// A plain-text document (read only).
    Text {
        #[serde(default)]
        data: Cow<'a, str>,
    },
    /// A document given as content blocks (read only).
    Content {
        #[serde(default)]
        content: Vec<Block<'a>>,
    },
    /// A file uploaded with Anthropic's Files API (read only).
    File {
        file_id: Cow<'a, str>,
    },
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ToolDef<'a> {
    /// Absent for client tools; `custom`, or a server tool's versioned type, when read.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<Cow<'a, str>>,
    pub name: Cow<'a, str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Cow<'a, str>>,
    /// Server tools have none (read as `null`).
    #[serde(default = "null_schema")]
    pub input_schema: Cow<'a, Value>,
    /// A prompt-cache breakpoint after the tool definitions up to this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<Value>,
}

fn null_schema<'a>() -> Cow<'a, Value> {
    Cow::Owned(Value::Null)
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToolChoice<'a> {
    Auto {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        disable_parallel_tool_use: Option<bool>,
    },
    Any {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        disable_parallel_tool_use: Option<bool>,
    },
    Tool {
        name: Cow<'a, str>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        disable_parallel_tool_use: Option<bool>,
    },
    None,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Metadata<'a> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<Cow<'a, str>>,
}

// ---- responses ------------------------------------------------------------------------------

/// A whole answer; also the `message` of a stream's `message_start` (content empty there).
#[derive(Debug, Serialize, Deserialize)]
pub struct MessagesResponse {
    #[serde(default)]
    pub id: String,
    /// Always `message`: written, never read.
    #[serde(rename = "type", skip_deserializing, default = "message_type")]
    pub kind: &'static str,
    /// Always `assistant`: written, never read.
    #[serde(skip_deserializing, default = "assistant_role")]
    pub role: &'static str,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub content: Vec<RespBlock>,
    #[serde(default)]
    pub stop_reason: Option<String>,
    #[serde(default)]
    pub stop_sequence: Option<String>,
    #[serde(default)]
    pub usage: WireUsage,
}

impl Default for MessagesResponse {
    fn default() -> Self {
        MessagesResponse {
            id: String::new(),
            kind: message_type(),
            role: assistant_role(),
            model: String::new(),
            content: Vec::new(),
            stop_reason: None,
            stop_sequence: None,
            usage: WireUsage::default(),
        }
    }
}

fn message_type() -> &'static str {
    "message"
}

fn assistant_role() -> &'static str {
    "assistant"
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RespBlock {
    Text {
        #[serde(default)]
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
        #[serde(default)]
        input: Value,
    },
    Thinking {
        #[serde(default)]
        thinking: String,
        #[serde(default)]
        signature: String,
    },
    RedactedThinking {
        #[serde(default)]
        data: String,
    },
    /// Server tool results, citations blocks, future types.
    #[serde(other)]
    Other,
}

pub use super::usage::{CacheCreation, WireUsage};

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamEvent {
    MessageStart {
        /// Boxed: the other events are small, and every event is moved through the decoder.
        message: Box<MessagesResponse>,
    },
    ContentBlockStart {
        index: u32,
        content_block: RespBlock,
    },
    ContentBlockDelta {
        index: u32,
        delta: BlockDelta,
    },
    ContentBlockStop {
        index: u32,
    },
    MessageDelta {
        delta: MessageDelta,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        usage: Option<WireUsage>,
    },
    MessageStop,
    Ping,
    Error {
        error: ErrorObject,
    },
    #[serde(other)]
    Unknown,
}

impl StreamEvent {
    /// The SSE `event:` name Anthropic sends with this event (its `type`).
    pub fn name(&self) -> &'static str {
        match self {
            StreamEvent::MessageStart { .. } => "message_start",
            StreamEvent::ContentBlockStart { .. } => "content_block_start",
            StreamEvent::ContentBlockDelta { .. } => "content_block_delta",
            StreamEvent::ContentBlockStop { .. } => "content_block_stop",
            StreamEvent::MessageDelta { .. } => "message_delta",
            StreamEvent::MessageStop => "message_stop",
            StreamEvent::Ping => "ping",
            StreamEvent::Error { .. } => "error",
            StreamEvent::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BlockDelta {
    TextDelta {
        text: String,
    },
    InputJsonDelta {
        #[serde(default)]
        partial_json: String,
    },
    ThinkingDelta {
        #[serde(default)]
        thinking: String,
    },
    SignatureDelta {
        #[serde(default)]
        signature: String,
    },
    /// citations_delta, future types.
    #[serde(other)]
    Other,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct MessageDelta {
    #[serde(default)]
    pub stop_reason: Option<String>,
    #[serde(default)]
    pub stop_sequence: Option<String>,
}

/// `{"type":"overloaded_error","message":"Overloaded"}`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorObject {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub message: String,
}

/// `{"type":"error","error":{...}}`: a non-2xx body.
#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Always `error`: written, never read.
    #[serde(rename = "type", skip_deserializing, default = "error_type")]
    pub kind: &'static str,
    pub error: ErrorObject,
}

fn error_type() -> &'static str {
    "error"
}
