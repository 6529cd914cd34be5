//! Responses request -> canonical chat request. `instructions` become a leading developer
//! message, items become messages (consecutive `function_call` items join the assistant turn
//! before them, `function_call_output` becomes a `tool` message), flat function tools become
//! nested ones, `text.format` becomes `response_format`. Responses-only settings travel in
//! [`Ingress::only`] (the `native.only` of the request): a Responses upstream gets them with
//! the caller's body, other vendors never see them (see [`RESPONSES_ONLY_FIELDS`]). Settings
//! Chat Completions shares (`reasoning_effort`, `verbosity`, `safety_identifier`, ...) stay in
//! the canonical `extra`. Settings whose loss would change what the caller gets
//! (`background`, `conversation`, `prompt`) are refused.

use serde_json::{Value, json};

use super::DIALECT;
use super::types::{
    CreateResponse, FunctionCallItem, FunctionCallOutputItem, Input, InputItem, MessageContent, MessageItem,
    MessageRole, Part, TextFormat, ToolParam,
};
use crate::api::chat::{
    FunctionCall, FunctionDef, ImageTag, ImageUrl, ResponseFormat, StreamOptions, TextTag, Tool, ToolCall,
};
use crate::api::reasoning::{Effort, ReasoningAsk};
use crate::api::{ChatRequest, Content, ContentPart, Extra, Message, Role};
use crate::wire::WireError;
use crate::wire::native::Required;

/// Request fields with no Chat Completions meaning, named here for docs and logs: they go to
/// [`Ingress::only`], with every other field this module does not model. A Responses
/// upstream gets them in the caller's body; other vendors never see them.
pub const RESPONSES_ONLY_FIELDS: &[&str] = &[
    "store",
    "metadata",
    "previous_response_id",
    "reasoning",
    "include",
    "truncation",
    "max_tool_calls",
    "context_management",
    "prompt_cache_options",
    "top_logprobs",
    "stream_options",
];

/// Unmodelled fields that Chat Completions has under the same name and meaning: they stay in
/// the canonical `extra` (an OpenAI-style vendor gets them).
const SHARED_WITH_CHAT: &[&str] = &["safety_identifier", "prompt_cache_key", "service_tier"];

/// Fields that make a different kind of request (asynchronous, server-side conversation state,
/// stored prompt templates): served by no translation, refused when set.
const REFUSED_FIELDS: &[&str] = &["background", "conversation", "prompt"];

/// A Responses request as the canonical pipeline carries it.
#[derive(Debug, Clone)]
pub struct Ingress {
    /// The canonical request.
    pub chat: ChatRequest,
    /// Fields only a Responses upstream can honour (the request's `native.only`).
    pub only: Extra,
    /// What was left out of `chat` that no field of `only` records (reasoning input items).
    pub dropped: Vec<String>,
    /// What only a Responses upstream can serve (hosted tools and choices of them): the
    /// request's `native.required`.
    pub required: Vec<Required>,
}

/// A converted value and the names of what had no equivalent and was left out (for a debug
/// log; everything that would change the answer's meaning is an error instead).
#[derive(Debug, Clone, PartialEq)]
pub struct Converted<T> {
    pub value: T,
    pub dropped: Vec<String>,
}

/// The canonical request for a Responses request, and what only a Responses upstream gets.
pub fn to_chat_request(req: &CreateResponse) -> Result<Ingress, WireError> {
    refuse_other_kinds(req)?;
    // Every input item has a canonical form now (reasoning items ride on their turn).
    let dropped = Vec::new();
    let messages = messages(req)?;
    let stream = req.stream.unwrap_or(false);
    let (extra, only) = split_extras(req);
    let mut required = Vec::new();
    let tools = tools(req.tools.as_deref(), &mut required);
    let tool_choice = req.tool_choice.as_ref().and_then(|c| tool_choice(c, &mut required).transpose()).transpose()?;
    let chat = ChatRequest {
        model: req.model.clone(),
        messages,
        stream: req.stream,
        // A Responses stream always ends with usage: ask the canonical stream for it.
        stream_options: stream.then(|| StreamOptions { include_usage: Some(true), extra: Extra::new() }),
        max_tokens: None,
        max_completion_tokens: req.max_output_tokens,
        temperature: req.temperature,
        top_p: req.top_p,
        n: None,
        stop: None,
        seed: None,
        tools,
        tool_choice,
        parallel_tool_calls: req.parallel_tool_calls,
        response_format: req.text.as_ref().and_then(|t| t.format.as_ref()).map(response_format),
        user: req.user.clone(),
        reasoning_effort: req.reasoning.as_ref().and_then(|r| r.effort.as_deref()).and_then(Effort::parse),
        reasoning: req
            .reasoning
            .as_ref()
            .and_then(|r| r.summary.clone())
            .map(|summary| ReasoningAsk { summary: Some(summary), ..ReasoningAsk::default() }),
        extra,
        native: None,
        prompt: None,
        prompt_cache: false,
    };
    Ok(Ingress { chat, only, dropped, required })
}

/// `background`, `conversation` and `prompt` ask for something a translated call cannot do.
fn refuse_other_kinds(req: &CreateResponse) -> Result<(), WireError> {
    for name in REFUSED_FIELDS {
        match req.extra.get(*name) {
            None | Some(Value::Null) | Some(Value::Bool(false)) => {}
            Some(_) => return Err(WireError::unsupported_at(DIALECT, *name, format!("`{name}`"))),
        }
    }
    Ok(())
}

/// The canonical `extra` (Chat's names for what Chat has: `reasoning_effort`, `verbosity`, and
/// the shared unmodelled fields) and `only` (everything else: the Responses-only settings and
/// every unknown field, under their own names).
fn split_extras(req: &CreateResponse) -> (Extra, Extra) {
    let (mut extra, mut only) = (Extra::new(), Extra::new());
    for (k, v) in &req.extra {
        if SHARED_WITH_CHAT.contains(&k.as_str()) {
            extra.insert(k.clone(), v.clone());
        } else {
            only.insert(k.clone(), v.clone());
        }
    }
    if let Some(v) = req.text.as_ref().and_then(|t| t.verbosity.as_ref()) {
        extra.insert("verbosity".into(), Value::String(v.clone()));
    }
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            only.insert(k.into(), v);
        }
    };
    put("metadata", req.metadata.clone());
    put("store", req.store.map(Value::Bool));
    put("previous_response_id", req.previous_response_id.clone().map(Value::String));
    put("stream_options", req.stream_options.clone().map(Value::Object));
    if let Some(r) = &req.reasoning {
        let mut rest = r.extra.clone();
        if let Some(s) = &r.summary {
            rest.insert("summary".into(), Value::String(s.clone()));
        }
        if !rest.is_empty() {
            only.insert("reasoning".into(), Value::Object(rest));
        }
    }
    (extra, only)
}

fn messages(req: &CreateResponse) -> Result<Vec<Message>, WireError> {
    let mut out = Vec::new();
    if let Some(text) = &req.instructions {
        out.push(Message::new(Role::Developer, Some(Content::Text(text.clone()))));
    }
    match &req.input {
        None => {}
        Some(Input::Text(text)) => out.push(Message::new(Role::User, Some(Content::Text(text.clone())))),
        Some(Input::Items(items)) => {
            for (i, item) in items.iter().enumerate() {
                let at = format!("input[{i}]");
                match item {
                    InputItem::Message(m) => {
                        let m = from_message(m, &at)?;
                        match out.last_mut() {
                            // The text of the step whose reasoning came first.
                            Some(last) if is_reasoning_only(last) && m.role == Role::Assistant => {
                                last.content = m.content;
                            }
                            _ => out.push(m),
                        }
                    }
                    InputItem::FunctionCall(c) => push_call(&mut out, c, &at)?,
                    InputItem::FunctionCallOutput(o) => out.push(from_call_output(o, &at)?),
                    InputItem::Reasoning(r) => push_reasoning(&mut out, r),
                    InputItem::Other(_) if item.kind() == "item_reference" => {
                        return Err(WireError::unsupported_at(DIALECT, at, "`item_reference` (stored items)"));
                    }
                    InputItem::Other(_) => {
                        return Err(WireError::unsupported_at(
                            DIALECT,
                            at,
                            format!("input item type `{}`", item.kind()),
                        ));
                    }
                }
            }
        }
    }
    Ok(out)
}

/// An assistant message that holds only reasoning so far (its step's text or calls follow).
fn is_reasoning_only(m: &Message) -> bool {
    m.role == Role::Assistant && m.content.is_none() && m.tool_calls.is_none() && m.reasoning_details.is_some()
}

/// A reasoning item, on the assistant turn it opens.
fn push_reasoning(out: &mut Vec<Message>, r: &super::types::ReasoningItem) {
    let holder = match out.last_mut() {
        Some(last) if is_reasoning_only(last) => last,
        _ => {
            out.push(Message::new(Role::Assistant, None));
            let Some(last) = out.last_mut() else { return };
            last
        }
    };
    let details = holder.reasoning_details.get_or_insert_with(Vec::new);
    details.push(super::reasoning::from_input(r, details.len() as u32));
}

fn from_message(m: &MessageItem, at: &str) -> Result<Message, WireError> {
    let role = match m.role {
        MessageRole::User => Role::User,
        MessageRole::System => Role::System,
        MessageRole::Developer => Role::Developer,
        MessageRole::Assistant => return assistant_message(&m.content, at),
    };
    Ok(Message::new(role, Some(content(&m.content, at)?)))
}

/// An assistant turn: output text joined into one string, refusals into Chat's `refusal`.
fn assistant_message(c: &MessageContent, at: &str) -> Result<Message, WireError> {
    let parts = match c {
        MessageContent::Text(s) => return Ok(Message::new(Role::Assistant, Some(Content::Text(s.clone())))),
        MessageContent::Parts(parts) => parts,
    };
    let (mut text, mut refusal) = (String::new(), String::new());
    for (j, p) in parts.iter().enumerate() {
        match p {
            Part::OutputText { text: t, .. } | Part::InputText { text: t } => text.push_str(t),
            Part::Refusal { refusal: r } => refusal.push_str(r),
            other => {
                let what = format!("`{}` part in an assistant message", other.kind());
                return Err(WireError::unsupported_at(DIALECT, format!("{at}.content[{j}]"), what));
            }
        }
    }
    let mut m = Message::new(Role::Assistant, (!text.is_empty()).then_some(Content::Text(text)));
    if !refusal.is_empty() {
        m.extra.insert("refusal".into(), Value::String(refusal));
    }
    Ok(m)
}

/// Message content for a user, system, developer or tool message.
fn content(c: &MessageContent, at: &str) -> Result<Content, WireError> {
    let parts = match c {
        MessageContent::Text(s) => return Ok(Content::Text(s.clone())),
        MessageContent::Parts(parts) => parts,
    };
    let mut out = Vec::with_capacity(parts.len());
    for (j, p) in parts.iter().enumerate() {
        let at = format!("{at}.content[{j}]");
        out.push(match p {
            Part::InputText { text } | Part::OutputText { text, .. } => {
                ContentPart::Text { kind: TextTag::Text, text: text.clone(), cache_control: None }
            }
            Part::InputImage { image_url: Some(url), detail, .. } => ContentPart::ImageUrl {
                kind: ImageTag::ImageUrl,
                image_url: ImageUrl { url: url.clone(), detail: Some(detail.clone()) },
                cache_control: None,
            },
            Part::InputImage { .. } => {
                return Err(WireError::unsupported_at(DIALECT, at, "`input_image` by `file_id` (uploaded files)"));
            }
            Part::InputFile { file_url: Some(_), .. } => {
                return Err(WireError::unsupported_at(DIALECT, at, "`input_file` by `file_url`"));
            }
            Part::InputFile { file_id, filename, file_data, .. } => {
                let mut file = Extra::new();
                for (k, v) in [("file_id", file_id), ("filename", filename), ("file_data", file_data)] {
                    if let Some(v) = v {
                        file.insert(k.into(), Value::String(v.clone()));
                    }
                }
                ContentPart::Other(json!({"type": "file", "file": file}))
            }
            other => return Err(WireError::unsupported_at(DIALECT, at, format!("content part `{}`", other.kind()))),
        });
    }
    Ok(Content::Parts(out))
}

/// A `function_call` joins the assistant turn just before it, or opens one.
fn push_call(out: &mut Vec<Message>, c: &FunctionCallItem, at: &str) -> Result<(), WireError> {
    if c.call_id.is_empty() {
        return Err(WireError::invalid_at(at, "`function_call` without `call_id`"));
    }
    let call = ToolCall {
        id: c.call_id.clone(),
        kind: "function".into(),
        function: FunctionCall { name: c.name.clone(), arguments: c.arguments.clone() },
    };
    match out.last_mut() {
        Some(m) if m.role == Role::Assistant => m.tool_calls.get_or_insert_with(Vec::new).push(call),
        _ => {
            let mut m = Message::new(Role::Assistant, None);
            m.tool_calls = Some(vec![call]);
            out.push(m);
        }
    }
    Ok(())
}

fn from_call_output(o: &FunctionCallOutputItem, at: &str) -> Result<Message, WireError> {
    if o.call_id.is_empty() {
        return Err(WireError::invalid_at(at, "`function_call_output` without `call_id`"));
    }
    let mut m = Message::new(Role::Tool, Some(content(&o.output, &format!("{at}.output"))?));
    m.tool_call_id = Some(o.call_id.clone());
    Ok(m)
}

/// Function tools as Chat's; a hosted tool is noted in `required` (only a Responses
/// upstream runs it).
fn tools(tools: Option<&[ToolParam]>, required: &mut Vec<Required>) -> Option<Vec<Tool>> {
    let tools = tools?;
    let mut out = Vec::with_capacity(tools.len());
    for (i, t) in tools.iter().enumerate() {
        let ToolParam::Function(f) = t else {
            required.push(built_in_tool(format!("tools[{i}]"), t.kind()));
            continue;
        };
        out.push(Tool {
            kind: "function".into(),
            function: Some(FunctionDef {
                name: f.name.clone(),
                description: f.description.clone(),
                parameters: f.parameters.clone(),
                strict: f.strict,
            }),
            extra: f.extra.clone(),
        });
    }
    (!out.is_empty()).then_some(out)
}

/// Responses `tool_choice` -> Chat's: modes as they are, a function by name nested, an
/// allowed-tools list of functions nested; a choice of a hosted tool is noted in `required`
/// (and has no Chat form: None).
fn tool_choice(v: &Value, required: &mut Vec<Required>) -> Result<Option<Value>, WireError> {
    if v.is_string() {
        return Ok(Some(v.clone()));
    }
    let kind = v.get("type").and_then(Value::as_str).unwrap_or("");
    let name_of = |t: &Value| t.get("name").and_then(Value::as_str).map(str::to_owned);
    match kind {
        "function" => match name_of(v) {
            Some(name) => Ok(Some(json!({"type": "function", "function": {"name": name}}))),
            None => Err(WireError::invalid_at("tool_choice", "a function choice needs `name`")),
        },
        "allowed_tools" => {
            let mut names = Vec::new();
            for t in v.get("tools").and_then(Value::as_array).into_iter().flatten() {
                match (t.get("type").and_then(Value::as_str), name_of(t)) {
                    (Some("function"), Some(name)) => {
                        names.push(json!({"type": "function", "function": {"name": name}}))
                    }
                    (other, _) => {
                        required.push(built_in_tool("tool_choice.tools", other.unwrap_or("(no type)")));
                        return Ok(None);
                    }
                }
            }
            let mode = v.get("mode").cloned().unwrap_or(json!("auto"));
            Ok(Some(json!({"type": "allowed_tools", "allowed_tools": {"mode": mode, "tools": names}})))
        }
        other => {
            required.push(built_in_tool("tool_choice", other));
            Ok(None)
        }
    }
}

fn response_format(f: &TextFormat) -> ResponseFormat {
    match f {
        TextFormat::Text => ResponseFormat::Text,
        TextFormat::JsonObject => ResponseFormat::JsonObject,
        TextFormat::JsonSchema { name, schema, description, strict } => {
            let mut js = json!({"name": name, "schema": schema});
            if let Some(d) = description {
                js["description"] = json!(d);
            }
            if let Some(s) = strict {
                js["strict"] = json!(s);
            }
            ResponseFormat::JsonSchema { json_schema: js }
        }
    }
}

/// A built-in (hosted) tool: sidegate runs no web search, file search, code interpreter...;
/// only OpenAI's Responses API does.
fn built_in_tool(at: impl Into<String>, tool: &str) -> Required {
    Required::new(at, format!("the built-in tool `{tool}`"))
}
