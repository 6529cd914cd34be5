//! embedContent / batchEmbedContents and countTokens, for a Gemini-shaped front: the
//! requests read into the canonical embeddings request (or, for countTokens, the chat request
//! whose prompt is counted), and the canonical embeddings list written back as Gemini's
//! `{"embedding": {"values"}}` / `{"embeddings": [...]}`. `taskType` and `title` have no
//! canonical field (dropped, debug log); every input of one call must ask for the same
//! `outputDimensionality` (canonical `dimensions` is one per request).

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::FRONT;
use super::types::Content;
use crate::api::{ChatRequest, EmbeddingsRequest, Extra};
use crate::wire::WireError;

/// One embedContent request (also each entry of batchEmbedContents' `requests`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmbedContentRequest {
    /// `models/{model}`; must be the URL's model when set.
    #[serde(default)]
    pub model: Option<String>,
    pub content: Content,
    #[serde(default)]
    pub task_type: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub output_dimensionality: Option<u32>,
    #[serde(flatten)]
    pub other: Extra,
}

#[derive(Debug, Deserialize)]
pub struct BatchEmbedContentsRequest {
    pub requests: Vec<EmbedContentRequest>,
}

/// An embedContent request as the canonical request for `model` (the URL's).
pub fn embed_request(r: EmbedContentRequest, model: &str) -> Result<EmbeddingsRequest, WireError> {
    to_embeddings(vec![r], model, "")
}

/// A batchEmbedContents request as one canonical request for `model`, inputs in order.
pub fn batch_embed_request(r: BatchEmbedContentsRequest, model: &str) -> Result<EmbeddingsRequest, WireError> {
    if r.requests.is_empty() {
        return Err(WireError::invalid_at("requests", "at least one request is needed"));
    }
    to_embeddings(r.requests, model, "requests")
}

fn to_embeddings(list: Vec<EmbedContentRequest>, model: &str, at: &str) -> Result<EmbeddingsRequest, WireError> {
    let bare = model.strip_prefix("models/").unwrap_or(model);
    let mut texts = Vec::with_capacity(list.len());
    let mut dims: Option<Option<u32>> = None;
    for (i, r) in list.into_iter().enumerate() {
        let at = if at.is_empty() { String::new() } else { format!("{at}[{i}].") };
        if let Some(m) = r.model.as_deref()
            && m.strip_prefix("models/").unwrap_or(m) != bare
        {
            return Err(WireError::invalid_at(format!("{at}model"), format!("`{m}` is not the URL's model `{bare}`")));
        }
        if let Some((k, _)) = r.other.iter().find(|(_, v)| !v.is_null()) {
            return Err(WireError::unsupported_at(FRONT, format!("{at}{k}"), format!("`{k}`")));
        }
        if r.task_type.is_some() || r.title.is_some() {
            tracing::debug!(at, "embedding `taskType` / `title` dropped: the canonical request has neither");
        }
        match dims {
            Some(d) if d != r.output_dimensionality => {
                return Err(WireError::invalid_at(
                    format!("{at}outputDimensionality"),
                    "every request of one batch must ask for the same outputDimensionality",
                ));
            }
            _ => dims = Some(r.output_dimensionality),
        }
        texts.push(Value::String(text_of(r.content, &format!("{at}content"))?));
    }
    Ok(EmbeddingsRequest {
        model: bare.to_string(),
        input: Value::Array(texts),
        encoding_format: None,
        dimensions: dims.flatten(),
        extra: Extra::new(),
    })
}

/// A content's text parts, joined by newlines; any other part is refused by name.
fn text_of(c: Content, at: &str) -> Result<String, WireError> {
    let mut out = Vec::with_capacity(c.parts.len());
    for (j, p) in c.parts.into_iter().enumerate() {
        match p.text {
            Some(t) if p.inline_data.is_none() && p.file_data.is_none() => out.push(t),
            _ => return Err(WireError::unsupported_at(FRONT, format!("{at}.parts[{j}]"), "a non-text part to embed")),
        }
    }
    if out.is_empty() {
        return Err(WireError::invalid_at(format!("{at}.parts"), "a content to embed needs a text part"));
    }
    Ok(out.join("\n"))
}

/// The vectors of a canonical (OpenAI list) embeddings answer, in input order.
pub fn vectors(list: &Value) -> Result<Vec<Value>, WireError> {
    let bad = || WireError::Malformed("embeddings answer without `data[].embedding` arrays".into());
    let data = list.get("data").and_then(Value::as_array).ok_or_else(bad)?;
    let mut out: Vec<(u64, Value)> = Vec::with_capacity(data.len());
    for (i, d) in data.iter().enumerate() {
        let v = d.get("embedding").filter(|v| v.is_array()).ok_or_else(bad)?;
        out.push((d.get("index").and_then(Value::as_u64).unwrap_or(i as u64), v.clone()));
    }
    out.sort_by_key(|(i, _)| *i);
    Ok(out.into_iter().map(|(_, v)| v).collect())
}

/// embedContent's answer.
pub fn embed_answer(list: &Value) -> Result<Value, WireError> {
    let v = vectors(list)?.into_iter().next().ok_or_else(|| WireError::Malformed("no embedding".into()))?;
    Ok(json!({"embedding": {"values": v}}))
}

/// batchEmbedContents' answer.
pub fn batch_embed_answer(list: &Value) -> Result<Value, WireError> {
    let all: Vec<Value> = vectors(list)?.into_iter().map(|v| json!({"values": v})).collect();
    Ok(json!({"embeddings": all}))
}

/// A countTokens body (`contents`, or a whole `generateContentRequest`) as the chat request
/// whose prompt is counted, and the body itself (for a Gemini deployment, which counts it).
pub fn count_request(raw: Map<String, Value>, model: &str) -> Result<ChatRequest, WireError> {
    let inner = match (raw.get("generateContentRequest"), raw.get("contents")) {
        (Some(_), Some(_)) => {
            return Err(WireError::invalid("set `contents` or `generateContentRequest`, not both"));
        }
        (Some(Value::Object(g)), None) => g.clone(),
        (Some(_), None) => return Err(WireError::invalid_at("generateContentRequest", "must be an object")),
        (None, contents) => {
            let contents = contents.cloned().unwrap_or(Value::Array(Vec::new()));
            Map::from_iter([("contents".to_string(), contents)])
        }
    };
    if let Some((k, _)) = raw.iter().find(|(k, _)| !matches!(k.as_str(), "contents" | "generateContentRequest")) {
        return Err(WireError::unsupported_at(FRONT, k.as_str(), format!("`{k}`")));
    }
    let mut req = super::from_object(inner, model, false)?;
    // A Gemini deployment counts with the caller's own countTokens body.
    if let Some(n) = req.native.as_mut() {
        std::sync::Arc::make_mut(n).body = raw;
    }
    Ok(req)
}
