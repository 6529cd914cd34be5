//! Canonical embeddings request -> batchEmbedContents bodies, and the vectors back in
//! OpenAI's list shape.

use std::borrow::Cow;

use serde_json::{Map, Value, json};

use super::super::DIALECT as VENDOR;
use super::super::types::{self as wire, Content, Part};
use crate::api::EmbeddingsRequest;
use crate::wire::WireError;
use crate::wire::canonical::{self as common, ExtraRule, invalid, unsupported};

/// Most inputs one batchEmbedContents call takes.
pub const EMBED_BATCH: usize = 100;

/// batchEmbedContents bodies for `req` (at most `EMBED_BATCH` inputs each, order kept).
pub fn embed_wire<'a>(
    req: &'a EmbeddingsRequest,
    model_ref: &'a str,
) -> Result<Vec<wire::BatchEmbedRequest<'a>>, WireError> {
    let texts = req.texts().ok_or_else(|| unsupported(VENDOR, "token-array `input` (send strings)"))?;
    if let Some(f) = req.encoding_format.as_deref()
        && !matches!(f, "float" | "base64")
    {
        return Err(invalid(format!("encoding_format `{f}` is not float or base64")));
    }
    // `user` and vendor-specific extras have no Gemini equivalent.
    common::check_extras(VENDOR, &req.extra, |_, _| ExtraRule::Dropped)?;
    Ok(texts
        .chunks(EMBED_BATCH)
        .map(|batch| wire::BatchEmbedRequest {
            requests: batch
                .iter()
                .map(|t| wire::EmbedRequest {
                    model: model_ref,
                    content: Content {
                        role: None,
                        parts: vec![Part { text: Some(Cow::Borrowed(*t)), ..Part::default() }],
                    },
                    output_dimensionality: req.dimensions,
                })
                .collect(),
        })
        .collect())
}

/// OpenAI's list shape. Gemini reports no token usage: it is estimated (characters / 4).
pub fn embed_from_wire(vectors: Vec<Vec<f32>>, req: &EmbeddingsRequest, model: &str) -> Value {
    let base64 = req.encoding_format.as_deref() == Some("base64");
    let data: Vec<Value> = vectors
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let embedding = if base64 { Value::String(common::base64_f32(&v)) } else { json!(v) };
            json!({"object": "embedding", "index": i, "embedding": embedding})
        })
        .collect();
    let tokens: usize = req.texts().unwrap_or_default().iter().map(|t| t.chars().count().div_ceil(4)).sum();
    let mut out = Map::new();
    out.insert("object".into(), json!("list"));
    out.insert("model".into(), json!(model));
    out.insert("data".into(), Value::Array(data));
    out.insert("usage".into(), json!({"prompt_tokens": tokens, "total_tokens": tokens}));
    Value::Object(out)
}
