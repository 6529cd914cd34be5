//! The canonical chat request (OpenAI Chat Completions request body).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Extra;
use super::reasoning::{Effort, ReasoningAsk, ReasoningDetail};

/// A chat completion request as a caller sends it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatRequest {
    /// May be absent when a prompt file names the target (`validate` refuses it empty).
    #[serde(default)]
    pub model: String,
    /// May be absent when a prompt file gives them (`validate` refuses them empty).
    #[serde(default)]
    pub messages: Vec<Message>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Stop>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// OpenAI's reasoning level (`none` .. `xhigh`); each adapter maps it to its vendor's
    /// control for the model ([`crate::providers::reasoning`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<Effort>,
    /// Extension: finer reasoning control than `reasoning_effort` (a thinking budget,
    /// adaptive thinking, summaries, whether thoughts are shown), what the Messages,
    /// Responses and Gemini ingresses read from their own fields. Never sent to a vendor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<ReasoningAsk>,
    /// Every other field (logprobs, logit_bias, penalties, metadata, ...):
    /// passed through untouched to OpenAI-style vendors.
    #[serde(flatten)]
    pub extra: Extra,
    /// The request as the caller sent it, when it came in another dialect than this one:
    /// a vendor of that dialect is sent it (passthrough). Never on the wire.
    #[serde(skip)]
    pub native: Option<std::sync::Arc<crate::wire::native::NativeRequest>>,
    /// The prompt file the leading messages were rendered from, with each vendor family's
    /// own phrasing of them. Never on the wire.
    #[serde(skip)]
    pub prompt: Option<std::sync::Arc<crate::prompts::PromptUse>>,
    /// The route places prompt-cache breakpoints itself (`prompt_cache = "auto"`); set by
    /// the gateway from the route, read by the Anthropic adapter. Never on the wire.
    #[serde(skip)]
    pub prompt_cache: bool,
}

impl ChatRequest {
    pub fn is_stream(&self) -> bool {
        self.stream.unwrap_or(false)
    }

    /// Whether the caller asked for a final usage chunk on a stream.
    pub fn wants_stream_usage(&self) -> bool {
        self.stream_options.as_ref().and_then(|o| o.include_usage).unwrap_or(false)
    }

    /// The output-token cap the caller asked for, whichever field carried it.
    pub fn max_output_tokens(&self) -> Option<u64> {
        self.max_completion_tokens.or(self.max_tokens)
    }

    /// The reasoning the caller asked for: `reasoning` with `reasoning_effort` as its effort
    /// when it has none.
    pub fn reasoning_ask(&self) -> ReasoningAsk {
        let mut ask = self.reasoning.clone().unwrap_or_default();
        if ask.effort.is_none() {
            ask.effort = self.reasoning_effort;
        }
        ask
    }

    /// Semantic checks serde cannot express; the message names the offending field.
    pub fn validate(&self) -> Result<(), (String, &'static str)> {
        if self.model.is_empty() {
            return Err(("`model` must not be empty".into(), "model"));
        }
        if self.messages.is_empty() {
            return Err(("`messages` must contain at least one message".into(), "messages"));
        }
        for (i, m) in self.messages.iter().enumerate() {
            if m.role == Role::Tool && m.tool_call_id.is_none() {
                return Err((format!("messages[{i}]: a `tool` message needs `tool_call_id`"), "messages"));
            }
        }
        if let Some(n) = self.n
            && n == 0
        {
            return Err(("`n` must be at least 1".into(), "n"));
        }
        Ok(())
    }

    /// The text of the last user message (what the mock provider echoes).
    pub fn last_user_text(&self) -> String {
        self.messages
            .iter()
            .rev()
            .find(|m| m.role == Role::User)
            .and_then(|m| m.content.as_ref())
            .map(Content::text)
            .unwrap_or_default()
    }

    /// Rough prompt size in characters, for token estimates where the vendor reports none.
    pub fn prompt_chars(&self) -> usize {
        self.messages.iter().map(|m| m.content.as_ref().map_or(0, |c| c.text_len())).sum()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StreamOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_usage: Option<bool>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `stop`: one string or a list of them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

impl Stop {
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            Stop::One(s) => vec![s.clone()],
            Stop::Many(v) => v.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    Developer,
    User,
    Assistant,
    Tool,
    /// Deprecated OpenAI role, still accepted and passed through.
    Function,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    /// `null` is legal for an assistant message that carries `tool_calls`.
    #[serde(default)]
    pub content: Option<Content>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// An assistant turn's thinking text as an earlier answer gave it (what OpenAI-compatible
    /// servers send); visible text only, never replayed to a vendor as its own reasoning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    /// An assistant turn's reasoning blocks as an earlier answer gave them, signatures
    /// verbatim: the vendor that minted them gets them back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_details: Option<Vec<ReasoningDetail>>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Message {
    /// A message with `role` and `content` and nothing else (no name, tool calls or reasoning).
    pub fn new(role: Role, content: Option<Content>) -> Self {
        Message {
            role,
            content,
            name: None,
            tool_calls: None,
            tool_call_id: None,
            reasoning_content: None,
            reasoning_details: None,
            extra: Extra::new(),
        }
    }
}

/// Message content: a plain string or a list of typed parts.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Parts(Vec<ContentPart>),
}

impl Content {
    /// All text of the content, parts joined without separator.
    pub fn text(&self) -> String {
        match self {
            Content::Text(s) => s.clone(),
            Content::Parts(parts) => parts
                .iter()
                .filter_map(|p| match p {
                    ContentPart::Text { text, .. } => Some(text.as_str()),
                    _ => None,
                })
                .collect(),
        }
    }

    fn text_len(&self) -> usize {
        match self {
            Content::Text(s) => s.len(),
            Content::Parts(parts) => parts
                .iter()
                .map(|p| match p {
                    ContentPart::Text { text, .. } => text.len(),
                    _ => 0,
                })
                .sum(),
        }
    }
}

/// One content part. Part types sidegate does not know are kept verbatim in `Other`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ContentPart {
    Text {
        #[serde(rename = "type")]
        kind: TextTag,
        text: String,
        /// Extension: an Anthropic prompt-cache breakpoint after this part; only Anthropic
        /// vendors are sent it (`wire::cache_control`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<Value>,
    },
    ImageUrl {
        #[serde(rename = "type")]
        kind: ImageTag,
        image_url: ImageUrl,
        /// Extension, as on text parts.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<Value>,
    },
    Other(Value),
}

/// The literal `"text"` tag (makes the untagged `ContentPart` match only real text parts).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub enum TextTag {
    #[serde(rename = "text")]
    Text,
}

/// The literal `"image_url"` tag.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub enum ImageTag {
    #[serde(rename = "image_url")]
    ImageUrl,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageUrl {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tool {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionDef>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FunctionDef {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub function: FunctionCall,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FunctionCall {
    pub name: String,
    /// A JSON *string*, possibly invalid JSON (models hallucinate); kept verbatim.
    pub arguments: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseFormat {
    Text,
    JsonObject,
    JsonSchema { json_schema: Value },
}
