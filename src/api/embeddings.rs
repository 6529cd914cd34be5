//! The canonical embeddings request (OpenAI `POST /v1/embeddings`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Extra;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmbeddingsRequest {
    pub model: String,
    /// A string, a list of strings, or token arrays; passed through as sent.
    pub input: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<u32>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl EmbeddingsRequest {
    /// The inputs as strings, when they are strings (what the mock embeds).
    pub fn texts(&self) -> Option<Vec<&str>> {
        match &self.input {
            Value::String(s) => Some(vec![s.as_str()]),
            Value::Array(items) => items.iter().map(Value::as_str).collect(),
            _ => None,
        }
    }

    pub fn validate(&self) -> Result<(), (String, &'static str)> {
        if self.model.is_empty() {
            return Err(("`model` must not be empty".into(), "model"));
        }
        let empty = match &self.input {
            Value::String(s) => s.is_empty(),
            Value::Array(a) => a.is_empty(),
            _ => false,
        };
        if empty {
            return Err(("`input` must not be empty".into(), "input"));
        }
        Ok(())
    }
}
