//! Canonical message content -> Gemini parts: text, inline data (images, PDFs, audio),
//! file URIs Gemini can fetch, function calls (with their thought signature) and function
//! responses.

use std::borrow::Cow;
use std::collections::HashMap;

use serde_json::{Value, json};

use super::super::types::{self as wire, Blob, FileData, Part};
use super::super::{DIALECT as VENDOR, signature_of};
use crate::api::chat::{self as chat, ContentPart, Message};
use crate::wire::WireError;
use crate::wire::canonical::{self as common, invalid, unsupported};

/// A part and, for function calls and responses, the tool-call id it belongs to.
pub struct Tagged<'a> {
    pub part: Part<'a>,
    pub call_id: Option<&'a str>,
}

fn text_part(s: &str) -> Option<Tagged<'_>> {
    (!s.is_empty()).then(|| Tagged { part: Part { text: Some(Cow::Borrowed(s)), ..Part::default() }, call_id: None })
}

fn media_part<'a>(mime_type: &'a str, data: &'a str) -> Tagged<'a> {
    Tagged { part: Part { inline_data: Some(Blob { mime_type, data }), ..Part::default() }, call_id: None }
}

/// Gemini fetches no web URLs: only its Files API, Cloud Storage and YouTube URIs.
fn file_uri_mime(url: &str) -> Option<Option<&'static str>> {
    let fetched_by_gemini = url.starts_with("https://generativelanguage.googleapis.com/")
        || url.starts_with("gs://")
        || url.starts_with("https://www.youtube.com/")
        || url.starts_with("https://youtu.be/");
    if !fetched_by_gemini {
        return None;
    }
    let lower = url.to_ascii_lowercase();
    let mime = [("png", "image/png"), ("jpg", "image/jpeg"), ("jpeg", "image/jpeg"), ("webp", "image/webp")]
        .into_iter()
        .find(|(ext, _)| lower.ends_with(&format!(".{ext}")))
        .map(|(_, m)| m);
    Some(mime)
}

fn image_part<'a>(url: &'a str, at: &str) -> Result<Tagged<'a>, WireError> {
    if let Some((mime, data)) = common::data_url(url) {
        return Ok(media_part(mime, data));
    }
    if let Some(mime_type) = file_uri_mime(url) {
        let file_data = FileData { mime_type, file_uri: url };
        return Ok(Tagged { part: Part { file_data: Some(file_data), ..Part::default() }, call_id: None });
    }
    Err(unsupported(
        VENDOR,
        format!("{at}: image URL `{url}` (Gemini does not fetch web URLs; send the image as a data:<mime>;base64 URL)"),
    ))
}

pub fn user_parts(m: &Message, i: usize) -> Result<Vec<Tagged<'_>>, WireError> {
    common::content_parts(m, i, text_part, image_part, other_part)
}

/// `file` parts with inline data and `input_audio` become inlineData.
fn other_part<'a>(v: &'a Value, at: &str) -> Result<Tagged<'a>, WireError> {
    let kind = v.get("type").and_then(Value::as_str).unwrap_or("?");
    match kind {
        "file" => {
            if let Some((mime, data)) = v.pointer("/file/file_data").and_then(Value::as_str).and_then(common::data_url)
            {
                return Ok(media_part(mime, data));
            }
        }
        "input_audio" => {
            let data = v.pointer("/input_audio/data").and_then(Value::as_str);
            let mime = match v.pointer("/input_audio/format").and_then(Value::as_str) {
                Some("wav") => Some("audio/wav"),
                Some("mp3") => Some("audio/mp3"),
                _ => None,
            };
            if let (Some(data), Some(mime)) = (data, mime) {
                return Ok(media_part(mime, data));
            }
        }
        _ => {}
    }
    Err(unsupported(VENDOR, format!("{at}: content part `{kind}`")))
}

pub fn model_parts(m: &Message, i: usize) -> Result<Vec<Tagged<'_>>, WireError> {
    let mut out = Vec::new();
    match &m.content {
        None => {}
        Some(chat::Content::Text(s)) => out.extend(text_part(s)),
        Some(chat::Content::Parts(parts)) => {
            for p in parts {
                if let ContentPart::Text { text, .. } = p {
                    out.extend(text_part(text));
                }
            }
        }
    }
    for (j, c) in m.tool_calls.iter().flatten().enumerate() {
        let at = format!("messages[{i}].tool_calls[{j}]");
        if c.kind != "function" {
            return Err(unsupported(VENDOR, format!("{at}: tool call type `{}`", c.kind)));
        }
        let args = common::arguments(&c.function.arguments, &at)?;
        let part = Part {
            function_call: Some(wire::FunctionCall { name: &c.function.name, args }),
            thought_signature: signature_of(&c.id),
            ..Part::default()
        };
        out.push(Tagged { part, call_id: Some(&c.id) });
    }
    super::thoughts::replay(m, &mut out);
    Ok(out)
}

/// A tool message as `functionResponse`: a JSON-object result as is, anything else (text,
/// arrays, numbers) wrapped as `{"output": …}`, since Gemini wants an object.
pub fn function_response<'a>(
    m: &'a Message,
    i: usize,
    names: &HashMap<&str, &'a str>,
) -> Result<Tagged<'a>, WireError> {
    let id = m
        .tool_call_id
        .as_deref()
        .ok_or_else(|| invalid(format!("messages[{i}]: tool message without tool_call_id")))?;
    let name = names.get(id).copied().or(m.name.as_deref()).ok_or_else(|| {
        invalid(format!(
            "messages[{i}]: tool_call_id `{id}` matches no assistant tool call (Gemini needs its function name)"
        ))
    })?;
    let text = m.content.as_ref().map(chat::Content::text).unwrap_or_default();
    let response = match serde_json::from_str::<Value>(&text) {
        Ok(v @ Value::Object(_)) => v,
        Ok(v) => json!({ "output": v }),
        Err(_) => json!({ "output": text }),
    };
    let part = Part { function_response: Some(wire::FunctionResponse { name, response }), ..Part::default() };
    Ok(Tagged { part, call_id: Some(id) })
}
