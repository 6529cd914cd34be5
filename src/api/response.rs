//! The canonical answers: a whole chat completion, a stream chunk, and usage.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Extra;
use super::chat::ToolCall;
use super::reasoning::ReasoningDetail;
use super::required_keys::{absent, absent_assistant, absent_chunk, absent_completion};

/// A whole chat completion. The defaults of the keys OpenAI's spec requires note their
/// absence (`required_keys`), so a vendor's answer that has them all can pass as sent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatResponse {
    pub id: String,
    #[serde(default = "absent_completion")]
    pub object: String,
    #[serde(default = "absent")]
    pub created: u64,
    #[serde(default = "absent")]
    pub model: String,
    pub choices: Vec<Choice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    #[serde(flatten)]
    pub extra: Extra,
    /// The vendor's body verbatim, when the vendor spoke the caller's own dialect
    /// (passthrough); a front of that dialect serves it as is. Never on the wire, never cached.
    #[serde(skip)]
    pub native: Option<crate::wire::native::NativeBytes>,
    /// This answer's JSON exactly as an OpenAI Chat Completions vendor sent it, while nothing
    /// changed the answer since and it had every key the spec requires: the OpenAI-shaped
    /// fronts (HTTP chat, native) write these bytes instead of encoding the answer again
    /// (issue 16). Whatever changes a decoded answer clears it ([`ChatResponse::touch`]); a
    /// stored answer never has it. Never on the wire, never cached.
    #[serde(skip)]
    pub verbatim: Option<bytes::Bytes>,
}

fn object_chunk() -> String {
    "chat.completion.chunk".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Choice {
    pub index: u32,
    pub message: ResponseMessage,
    #[serde(default = "absent")]
    pub finish_reason: Option<String>,
    /// Always written, `null` when absent: OpenAI's schema requires the key (its API sends
    /// `null`); vendors that omit it still parse.
    #[serde(default = "absent")]
    pub logprobs: Option<Value>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResponseMessage {
    #[serde(default = "absent_assistant")]
    pub role: String,
    #[serde(default = "absent")]
    pub content: Option<String>,
    /// Always written, `null` when absent, as `logprobs` on the choice.
    #[serde(default = "absent")]
    pub refusal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// The answer's thinking text or reasoning summary, all blocks joined (the field
    /// OpenAI-compatible servers use).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    /// The answer's reasoning blocks, signatures and encrypted data verbatim, each tagged
    /// with the provider that minted it (an extension; OpenRouter's shape).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_details: Option<Vec<ReasoningDetail>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// One `chat.completion.chunk`. The defaults of the keys OpenAI's spec requires note their
/// absence, as [`ChatResponse`]'s do.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatChunk {
    #[serde(default = "absent")]
    pub id: String,
    #[serde(default = "absent_chunk")]
    pub object: String,
    #[serde(default = "absent")]
    pub created: u64,
    #[serde(default = "absent")]
    pub model: String,
    #[serde(default = "absent")]
    pub choices: Vec<ChunkChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    #[serde(flatten)]
    pub extra: Extra,
    /// The vendor's stream events this chunk was read from (and any before it that made no
    /// chunk), verbatim, when the vendor spoke the caller's own dialect. Never on the wire.
    #[serde(skip)]
    pub native: Option<crate::wire::native::NativeBytes>,
    /// This chunk's JSON exactly as an OpenAI Chat Completions vendor sent it, while nothing
    /// changed the chunk since: the OpenAI-shaped fronts (HTTP chat, native) write these bytes
    /// instead of encoding the chunk again (issue 16: the encode was ~3k instructions a chunk).
    /// Whatever changes a decoded chunk clears it ([`ChatChunk::touch`]). Never on the wire.
    #[serde(skip)]
    pub verbatim: Option<bytes::Bytes>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChunkChoice {
    pub index: u32,
    #[serde(default = "absent")]
    pub delta: Delta,
    #[serde(default = "absent")]
    pub finish_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Value>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Delta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCallDelta>>,
    /// A fragment of thinking text or a reasoning summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    /// Whole reasoning blocks, each sent once when complete (its text was streamed before
    /// in `reasoning_content`), signatures verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_details: Option<Vec<ReasoningDetail>>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ToolCallDelta {
    pub index: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionDelta>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FunctionDelta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<String>,
}

/// Token usage. `prompt_tokens` includes cached tokens; `completion_tokens` includes reasoning.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub completion_tokens: u64,
    #[serde(default)]
    pub total_tokens: u64,
    /// Subsets of `prompt_tokens` (cache reads; cache writes as an extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
    /// Subsets of `completion_tokens` (reasoning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_tokens_details: Option<CompletionTokensDetails>,
}

/// OpenAI's `usage.prompt_tokens_details`; every count is a part of `prompt_tokens`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptTokensDetails {
    #[serde(default)]
    pub cached_tokens: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_tokens: Option<u64>,
    /// Extension: tokens written to the vendor's prompt cache (Anthropic bills them at a
    /// premium). Not an OpenAI field; SDKs keep it as an extra attribute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_creation_tokens: Option<u64>,
    /// Extension: the part of `cache_creation_tokens` written with a 1-hour TTL (Anthropic
    /// bills those at 2x input, 5-minute writes at 1.25x); the rest are 5-minute writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_creation_1h_tokens: Option<u64>,
}

/// OpenAI's `usage.completion_tokens_details`; every count is a part of `completion_tokens`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletionTokensDetails {
    #[serde(default)]
    pub reasoning_tokens: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_prediction_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected_prediction_tokens: Option<u64>,
}

impl Usage {
    pub fn new(prompt_tokens: u64, completion_tokens: u64) -> Self {
        Usage {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens.saturating_add(completion_tokens),
            prompt_tokens_details: None,
            completion_tokens_details: None,
        }
    }

    /// Prompt tokens read from the vendor's prompt cache (0 when it reported none).
    pub fn cached_tokens(&self) -> u64 {
        self.prompt_tokens_details.map_or(0, |d| d.cached_tokens)
    }

    /// Prompt tokens written to the vendor's prompt cache, both TTLs (0 when none).
    pub fn cache_write_tokens(&self) -> u64 {
        self.prompt_tokens_details.and_then(|d| d.cache_creation_tokens).unwrap_or(0)
    }

    /// The part of `cache_write_tokens` written with a 1-hour TTL.
    pub fn cache_write_1h_tokens(&self) -> u64 {
        self.prompt_tokens_details.and_then(|d| d.cache_creation_1h_tokens).unwrap_or(0).min(self.cache_write_tokens())
    }

    /// Completion tokens the model spent reasoning (0 when the vendor reported none).
    pub fn reasoning_tokens(&self) -> u64 {
        self.completion_tokens_details.map_or(0, |d| d.reasoning_tokens)
    }

    /// Field-wise sum, saturating (vendor counts are not trusted to be sane) (merging the answers of a fanned-out `n > 1` request).
    pub fn add(&self, o: &Usage) -> Usage {
        let opt = |a: Option<u64>, b: Option<u64>| {
            if a.is_none() && b.is_none() { None } else { Some(a.unwrap_or(0).saturating_add(b.unwrap_or(0))) }
        };
        let prompt = (self.prompt_tokens_details.is_some() || o.prompt_tokens_details.is_some()).then(|| {
            let (a, b) = (self.prompt_tokens_details.unwrap_or_default(), o.prompt_tokens_details.unwrap_or_default());
            PromptTokensDetails {
                cached_tokens: a.cached_tokens.saturating_add(b.cached_tokens),
                audio_tokens: opt(a.audio_tokens, b.audio_tokens),
                cache_creation_tokens: opt(a.cache_creation_tokens, b.cache_creation_tokens),
                cache_creation_1h_tokens: opt(a.cache_creation_1h_tokens, b.cache_creation_1h_tokens),
            }
        });
        let completion =
            (self.completion_tokens_details.is_some() || o.completion_tokens_details.is_some()).then(|| {
                let (a, b) = (
                    self.completion_tokens_details.unwrap_or_default(),
                    o.completion_tokens_details.unwrap_or_default(),
                );
                CompletionTokensDetails {
                    reasoning_tokens: a.reasoning_tokens.saturating_add(b.reasoning_tokens),
                    audio_tokens: opt(a.audio_tokens, b.audio_tokens),
                    accepted_prediction_tokens: opt(a.accepted_prediction_tokens, b.accepted_prediction_tokens),
                    rejected_prediction_tokens: opt(a.rejected_prediction_tokens, b.rejected_prediction_tokens),
                }
            });
        Usage {
            prompt_tokens: self.prompt_tokens.saturating_add(o.prompt_tokens),
            completion_tokens: self.completion_tokens.saturating_add(o.completion_tokens),
            total_tokens: self.total_tokens.saturating_add(o.total_tokens),
            prompt_tokens_details: prompt,
            completion_tokens_details: completion,
        }
    }
}

/// A decoded answer or chunk as JSON: the vendor's bytes it was read from (`verbatim`) while
/// it is unchanged, else encoded from its fields.
fn own_or_encoded<T: Serialize>(verbatim: Option<&bytes::Bytes>, value: &T) -> bytes::Bytes {
    match verbatim {
        Some(b) => b.clone(),
        None => bytes::Bytes::from(serde_json::to_vec(value).unwrap_or_default()),
    }
}

impl ChatResponse {
    /// Marks the answer as changed since the vendor sent it: its vendor bytes no longer say
    /// what it says. Every change to a decoded answer's fields goes with this call.
    pub fn touch(&mut self) -> &mut Self {
        self.verbatim = None;
        self
    }

    /// The answer as JSON: the vendor's own bytes while it is unchanged, else encoded.
    pub fn to_json(&self) -> bytes::Bytes {
        own_or_encoded(self.verbatim.as_ref(), self)
    }

    /// Appends [`ChatResponse::to_json`] to `out` (a frame being written around it), without
    /// an intermediate buffer when it is encoded.
    pub fn write_json(&self, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
        match &self.verbatim {
            Some(b) => {
                out.extend_from_slice(b);
                Ok(())
            }
            None => serde_json::to_writer(out, self),
        }
    }
}

impl ChatChunk {
    /// A chunk that carries only a vendor's own events (`native`): the end of a passthrough
    /// stream after its last content. Fronts of other dialects skip it.
    pub fn native_only() -> Self {
        ChatChunk {
            id: String::new(),
            object: object_chunk(),
            created: 0,
            model: String::new(),
            choices: Vec::new(),
            usage: None,
            extra: Extra::new(),
            native: None,
            verbatim: None,
        }
    }

    /// Whether this chunk has nothing for a caller of another dialect than its native one.
    pub fn is_native_only(&self) -> bool {
        self.choices.is_empty() && self.usage.is_none() && self.extra.is_empty() && self.native.is_some()
    }

    /// A chunk of the given completion with one choice: `delta` and, when it closes the
    /// choice, its finish reason.
    pub fn delta(id: &str, created: u64, model: &str, index: u32, delta: Delta, finish: Option<&str>) -> Self {
        let choice = ChunkChoice {
            index,
            delta,
            finish_reason: finish.map(str::to_string),
            logprobs: None,
            extra: Extra::new(),
        };
        ChatChunk {
            id: id.into(),
            object: object_chunk(),
            created,
            model: model.into(),
            choices: vec![choice],
            usage: None,
            extra: Extra::new(),
            native: None,
            verbatim: None,
        }
    }

    /// A chunk of the given completion with one text delta (or role-only when `text` is empty).
    pub fn text(id: &str, created: u64, model: &str, role: bool, text: &str) -> Self {
        let delta =
            Delta { role: role.then(|| "assistant".to_string()), content: Some(text.to_string()), ..Delta::default() };
        Self::delta(id, created, model, 0, delta, None)
    }

    /// The closing chunk: empty delta and a finish reason.
    pub fn finish(id: &str, created: u64, model: &str, reason: &str) -> Self {
        Self::delta(id, created, model, 0, Delta::default(), Some(reason))
    }

    /// The usage-only chunk (`choices: []`) sent when the caller set `include_usage`.
    pub fn usage_only(id: &str, created: u64, model: &str, usage: Usage) -> Self {
        ChatChunk {
            id: id.into(),
            object: object_chunk(),
            created,
            model: model.into(),
            choices: Vec::new(),
            usage: Some(usage),
            extra: Extra::new(),
            native: None,
            verbatim: None,
        }
    }

    /// Marks the chunk as changed since the vendor sent it: its vendor bytes no longer say
    /// what it says. Every change to a decoded chunk's fields goes with this call.
    pub fn touch(&mut self) -> &mut Self {
        self.verbatim = None;
        self
    }

    /// The chunk as JSON: the vendor's own bytes while it is unchanged, else encoded.
    pub fn to_json(&self) -> bytes::Bytes {
        own_or_encoded(self.verbatim.as_ref(), self)
    }

    /// The text this chunk adds to choice 0, if any.
    pub fn content(&self) -> Option<&str> {
        self.choices.first().and_then(|c| c.delta.content.as_deref())
    }
}
