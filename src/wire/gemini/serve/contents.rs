//! `systemInstruction` and `contents` -> canonical messages. A `user` content becomes `tool`
//! messages for its `functionResponse` parts (first, as the canonical order wants them right
//! after the assistant's calls) and then one `user` message; a `model` content one
//! `assistant` message (text and `tool_calls`). Gemini pairs a `functionResponse` with a
//! `functionCall` of the preceding model turn by name and order (and by `id` when both
//! carry one); each call gets the id `gemini::tool_call_id` makes, its `thoughtSignature`
//! riding along, so the Gemini adapter restores the signature and a replayed history maps
//! to the same ids every turn. Replayed thoughts and text-part signatures become the turn's
//! reasoning details (for the vendor that minted them).

use serde_json::{Value, json};

use super::super::tool_call_id;
use super::FRONT;
use super::types::{Blob, Content, FunctionCall, FunctionResponse, Part};
use crate::api::chat::{self, ContentPart, ImageTag, ImageUrl, Message, Role, TextTag, ToolCall};
use crate::wire::WireError;

/// The `seed` of the ids given to a caller's function calls (with the content's index and
/// the call's position in it).
const ID_SEED: &str = "contents";

/// A call of the latest model turn, waiting for its `functionResponse`.
struct Pending {
    id: String,
    name: String,
    /// The call's own `id`, when the caller sent one.
    given: Option<String>,
    answered: bool,
    at: String,
}

/// One part, by what it carries.
enum Data {
    Text(String),
    Inline(Blob),
    File(String),
    Call(FunctionCall, Option<String>),
    Response(FunctionResponse),
}

/// `systemInstruction`: one system message per text part.
pub fn system(c: Content, out: &mut Vec<Message>) -> Result<(), WireError> {
    for (j, p) in c.parts.into_iter().enumerate() {
        match data(p, &format!("systemInstruction.parts[{j}]"))? {
            Some(Data::Text(t)) => out.push(Message::new(Role::System, Some(chat::Content::Text(t)))),
            None => {}
            Some(_) => return Err(WireError::invalid_at(format!("systemInstruction.parts[{j}]"), "only text parts")),
        }
    }
    Ok(())
}

/// `contents`, in order.
pub fn conversation(contents: Vec<Content>, out: &mut Vec<Message>) -> Result<(), WireError> {
    let mut pending: Vec<Pending> = Vec::new();
    for (i, c) in contents.into_iter().enumerate() {
        match c.role.as_deref().unwrap_or("user") {
            "user" => user(c.parts, i, &mut pending, out)?,
            "model" => {
                unanswered(&pending)?;
                pending.clear();
                out.push(model(c.parts, i, &mut pending)?);
            }
            other => {
                return Err(WireError::invalid_at(
                    format!("contents[{i}].role"),
                    format!("`{other}` is not `user` or `model`"),
                ));
            }
        }
    }
    unanswered(&pending)
}

fn unanswered(pending: &[Pending]) -> Result<(), WireError> {
    match pending.iter().find(|p| !p.answered) {
        None => Ok(()),
        Some(p) => Err(WireError::invalid_at(
            p.at.clone(),
            format!("functionCall `{}` has no functionResponse in the next user turn", p.name),
        )),
    }
}

/// A part's one data field; `None` for parts that carry nothing for the model (thoughts,
/// a bare `thoughtSignature`).
fn data(p: Part, at: &str) -> Result<Option<Data>, WireError> {
    let refused = [
        (p.executable_code.is_some(), "`executableCode` (code execution is a built-in tool)"),
        (p.code_execution_result.is_some(), "`codeExecutionResult` (code execution is a built-in tool)"),
        (p.video_metadata.is_some(), "`videoMetadata`"),
        (p.media_resolution.is_some(), "`mediaResolution`"),
    ];
    if let Some((_, what)) = refused.iter().find(|(set, _)| *set) {
        return Err(WireError::unsupported_at(FRONT, at, *what));
    }
    let set = [p.text.is_some(), p.inline_data.is_some(), p.file_data.is_some()]
        .into_iter()
        .chain([p.function_call.is_some(), p.function_response.is_some()])
        .filter(|s| *s)
        .count();
    if set > 1 {
        return Err(WireError::invalid_at(
            at,
            "a part holds one of text, inlineData, fileData, functionCall, functionResponse",
        ));
    }
    Ok(Some(if let Some(fc) = p.function_call {
        Data::Call(fc, p.thought_signature)
    } else if let Some(fr) = p.function_response {
        Data::Response(fr)
    } else if let Some(b) = p.inline_data {
        Data::Inline(b)
    } else if let Some(f) = p.file_data {
        Data::File(f.file_uri)
    } else if let Some(t) = p.text {
        // A reasoning summary replayed, or the empty text a signature closes a turn with:
        // nothing the conversation carries.
        if p.thought == Some(true) || (t.is_empty() && p.thought_signature.is_some()) {
            return Ok(None);
        }
        Data::Text(t)
    } else if p.thought_signature.is_some() || p.thought.is_some() {
        return Ok(None);
    } else {
        return Err(WireError::invalid_at(at, "an empty part"));
    }))
}

fn text_part(text: String) -> ContentPart {
    ContentPart::Text { kind: TextTag::Text, text, cache_control: None }
}

fn image(url: String) -> ContentPart {
    ContentPart::ImageUrl { kind: ImageTag::ImageUrl, image_url: ImageUrl { url, detail: None }, cache_control: None }
}

/// inlineData: images as `image_url` data URLs, WAV and MP3 as `input_audio`, anything
/// else (PDF, video, other audio) as a `file` part with a data URL.
fn inline(b: Blob, at: &str) -> Result<ContentPart, WireError> {
    if b.mime_type.is_empty() || b.data.is_empty() {
        return Err(WireError::invalid_at(at, "inlineData needs `mimeType` and `data`"));
    }
    let format = match b.mime_type.as_str() {
        "audio/wav" => Some("wav"),
        "audio/mp3" => Some("mp3"),
        _ => None,
    };
    if let Some(format) = format {
        return Ok(ContentPart::Other(
            json!({"type": "input_audio", "input_audio": {"data": b.data, "format": format}}),
        ));
    }
    let url = format!("data:{};base64,{}", b.mime_type, b.data);
    if b.mime_type.starts_with("image/") {
        return Ok(image(url));
    }
    Ok(ContentPart::Other(json!({"type": "file", "file": {"file_data": url}})))
}

/// One text part is plain text; anything else a list of parts.
fn content_of(mut parts: Vec<ContentPart>) -> chat::Content {
    if let [ContentPart::Text { .. }] = parts.as_slice()
        && let Some(ContentPart::Text { text, .. }) = parts.pop()
    {
        return chat::Content::Text(text);
    }
    chat::Content::Parts(parts)
}

fn user(parts: Vec<Part>, i: usize, pending: &mut [Pending], out: &mut Vec<Message>) -> Result<(), WireError> {
    let mut content = Vec::with_capacity(parts.len());
    for (j, p) in parts.into_iter().enumerate() {
        let at = format!("contents[{i}].parts[{j}]");
        match data(p, &at)? {
            None => {}
            Some(Data::Text(t)) => content.push(text_part(t)),
            Some(Data::Inline(b)) => content.push(inline(b, &at)?),
            Some(Data::File(uri)) => content.push(image(uri)),
            Some(Data::Response(fr)) => out.push(tool_message(fr, pending, &at)?),
            Some(Data::Call(..)) => return Err(WireError::invalid_at(at, "a functionCall in a user turn")),
        }
    }
    if !content.is_empty() {
        out.push(Message::new(Role::User, Some(content_of(content))));
    }
    Ok(())
}

fn model(parts: Vec<Part>, i: usize, pending: &mut Vec<Pending>) -> Result<Message, WireError> {
    let mut text = Vec::new();
    let mut calls = Vec::new();
    let mut details = Vec::new();
    for (j, p) in parts.into_iter().enumerate() {
        let at = format!("contents[{i}].parts[{j}]");
        let thought = p.thought == Some(true);
        let sig = if p.function_call.is_some() { None } else { p.thought_signature.as_deref() };
        if let Some(d) = super::thoughts::replayed(p.text.as_deref(), thought, sig, details.len() as u32) {
            details.push(d);
        }
        match data(p, &at)? {
            None => {}
            Some(Data::Text(t)) => text.push(text_part(t)),
            Some(Data::Call(fc, sig)) => {
                let args = match fc.args {
                    None | Some(Value::Null) => "{}".to_string(),
                    Some(v @ Value::Object(_)) => v.to_string(),
                    Some(_) => return Err(WireError::invalid_at(at, "functionCall.args must be an object")),
                };
                let k = calls.len() as u32;
                let id = tool_call_id(fc.id.as_deref(), ID_SEED, i as u32, k, &fc.name, sig.as_deref());
                pending.push(Pending { id: id.clone(), name: fc.name.clone(), given: fc.id, answered: false, at });
                let function = chat::FunctionCall { name: fc.name, arguments: args };
                calls.push(ToolCall { id, kind: "function".into(), function });
            }
            Some(Data::Inline(_) | Data::File(_)) => {
                return Err(WireError::unsupported_at(FRONT, at, "media in a model turn (canonical answers are text)"));
            }
            Some(Data::Response(_)) => return Err(WireError::invalid_at(at, "a functionResponse in a model turn")),
        }
    }
    let mut m = Message::new(Role::Assistant, (!text.is_empty()).then(|| content_of(text)));
    m.tool_calls = (!calls.is_empty()).then_some(calls);
    m.reasoning_details = (!details.is_empty()).then_some(details);
    Ok(m)
}

/// A `functionResponse` as the `tool` message of the call it answers: the first unanswered
/// call of the previous model turn with its name (and its `id`, when both have one).
fn tool_message(fr: FunctionResponse, pending: &mut [Pending], at: &str) -> Result<Message, WireError> {
    for (set, what) in [(fr.parts.is_some(), "parts"), (fr.will_continue.is_some(), "willContinue")]
        .into_iter()
        .chain([(fr.scheduling.is_some(), "scheduling")])
    {
        if set {
            return Err(WireError::unsupported_at(FRONT, at, format!("functionResponse.{what}")));
        }
    }
    let ids_agree = |p: &Pending| match (&fr.id, &p.given) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    };
    let call = pending.iter_mut().find(|p| !p.answered && p.name == fr.name && ids_agree(p)).ok_or_else(|| {
        WireError::invalid_at(
            at,
            format!("functionResponse `{}` answers no functionCall of the previous model turn", fr.name),
        )
    })?;
    call.answered = true;
    let mut m = Message::new(Role::Tool, Some(chat::Content::Text(response_text(fr.response))));
    m.tool_call_id = Some(call.id.clone());
    Ok(m)
}

/// The tool message's text for a `response` object: the object as JSON, except the
/// `{"output": x}` wrapper the calling side puts around a non-object result, which is
/// unwrapped to that result (so writing it again gives the same `response`).
fn response_text(response: Option<Value>) -> String {
    let obj = match response {
        None | Some(Value::Null) => return "{}".into(),
        Some(Value::Object(o)) => o,
        Some(other) => return other.to_string(),
    };
    if obj.len() == 1
        && let Some(out) = obj.get("output")
        && !out.is_object()
    {
        return match out {
            Value::String(s) if serde_json::from_str::<Value>(s).is_err() => s.clone(),
            v => v.to_string(),
        };
    }
    Value::Object(obj).to_string()
}
