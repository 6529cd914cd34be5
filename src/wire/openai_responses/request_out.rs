//! Canonical chat request -> Responses request (for a Responses upstream). Messages become
//! input items (assistant `tool_calls` become `function_call` items, `tool` messages become
//! `function_call_output`), nested function tools become flat ones, `response_format`
//! becomes `text.format`. What the Responses API has no field for is refused when it would
//! change the answer (`n > 1`, `stop`, logprobs, audio) and otherwise left out and named.

use serde_json::{Value, json};

use super::DIALECT;
use super::request_in::Converted;
use super::types::{
    CreateResponse, FunctionCallItem, FunctionCallOutputItem, FunctionTool, Input, InputItem, MessageContent,
    MessageItem, MessageRole, Part, Reasoning, TextFormat, TextParam, ToolParam,
};
use crate::api::chat::{ResponseFormat, Tool};
use crate::api::{ChatRequest, Content, ContentPart, Extra, Message, Role};
use crate::wire::WireError;

/// Canonical `extra` fields with no Responses equivalent whose loss would change the answer.
const REFUSED_EXTRAS: &[&str] =
    &["logprobs", "logit_bias", "audio", "web_search_options", "functions", "function_call", "prediction"];
/// Canonical `extra` fields with no Responses equivalent and no effect worth a refusal.
const DROPPED_EXTRAS: &[&str] = &["frequency_penalty", "presence_penalty"];

/// The Responses request for `req`, addressed to `model`.
pub fn to_create_response(
    req: &ChatRequest,
    model: &str,
    stream: bool,
) -> Result<Converted<CreateResponse>, WireError> {
    let mut dropped = Vec::new();
    if req.n.is_some_and(|n| n > 1) {
        return Err(WireError::unsupported_at(DIALECT, "n", "`n` above 1 (one output per response)"));
    }
    if req.stop.as_ref().is_some_and(|s| !s.to_vec().is_empty()) {
        return Err(WireError::unsupported_at(DIALECT, "stop", "`stop` sequences"));
    }
    if req.seed.is_some() {
        dropped.push("seed".to_string());
    }
    let mut extra = req.extra.clone();
    let mut out = CreateResponse {
        model: model.to_string(),
        input: Some(Input::Items(input_items(&req.messages, &mut dropped)?)),
        tools: tools(req.tools.as_deref())?,
        tool_choice: req.tool_choice.as_ref().map(tool_choice).transpose()?,
        max_output_tokens: req.max_output_tokens(),
        temperature: req.temperature,
        top_p: req.top_p,
        parallel_tool_calls: req.parallel_tool_calls,
        user: req.user.clone(),
        stream: stream.then_some(true),
        // include_usage is implied (a Responses stream always ends with usage).
        stream_options: req
            .stream_options
            .as_ref()
            .filter(|_| stream)
            .map(|o| o.extra.clone())
            .filter(|e| !e.is_empty()),
        ..CreateResponse::default()
    };
    take_typed_extras(&mut out, &mut extra, req.response_format.as_ref());
    let effort = req.reasoning_effort.map(|e| e.as_str().to_string());
    let summary = req.reasoning.as_ref().and_then(|r| r.summary.clone());
    if effort.is_some() || summary.is_some() {
        let r = out.reasoning.get_or_insert_with(Reasoning::default);
        r.effort = r.effort.take().or(effort);
        r.summary = r.summary.take().or(summary);
    }
    for (k, v) in std::mem::take(&mut extra) {
        let asks_nothing = matches!(v, Value::Null | Value::Bool(false));
        if REFUSED_EXTRAS.contains(&k.as_str()) && !asks_nothing && !is_empty_map(&v) {
            return Err(WireError::unsupported_at(DIALECT, k.clone(), format!("`{k}`")));
        }
        if DROPPED_EXTRAS.contains(&k.as_str()) || REFUSED_EXTRAS.contains(&k.as_str()) {
            dropped.push(k);
            continue;
        }
        out.extra.insert(k, v);
    }
    Ok(Converted { value: out, dropped })
}

fn is_empty_map(v: &Value) -> bool {
    v.as_object().is_some_and(|o| o.is_empty())
}

/// Canonical `extra` fields that have a typed Responses home.
fn take_typed_extras(out: &mut CreateResponse, extra: &mut Extra, format: Option<&ResponseFormat>) {
    out.metadata = extra.remove("metadata");
    out.store = extra.remove("store").and_then(|v| v.as_bool());
    out.previous_response_id = extra.remove("previous_response_id").and_then(|v| v.as_str().map(str::to_owned));
    let effort = extra.remove("reasoning_effort").and_then(|v| v.as_str().map(str::to_owned));
    let mut rest = match extra.remove("reasoning") {
        Some(Value::Object(m)) => m,
        _ => Extra::new(),
    };
    let summary = rest.remove("summary").and_then(|v| v.as_str().map(str::to_owned));
    if effort.is_some() || summary.is_some() || !rest.is_empty() {
        out.reasoning = Some(Reasoning { effort, summary, extra: rest });
    }
    let verbosity = extra.remove("verbosity").and_then(|v| v.as_str().map(str::to_owned));
    let format = format.map(text_format);
    if verbosity.is_some() || format.is_some() {
        out.text = Some(TextParam { format, verbosity });
    }
}

fn input_items(messages: &[Message], dropped: &mut Vec<String>) -> Result<Vec<InputItem>, WireError> {
    let mut items = Vec::with_capacity(messages.len());
    for (i, m) in messages.iter().enumerate() {
        let at = format!("messages[{i}]");
        if m.name.is_some() {
            dropped.push(format!("{at}.name"));
        }
        let role = match m.role {
            Role::System => MessageRole::System,
            Role::Developer => MessageRole::Developer,
            Role::User => MessageRole::User,
            Role::Assistant => {
                assistant_items(m, &at, &mut items, dropped);
                continue;
            }
            Role::Tool => {
                let call_id = m
                    .tool_call_id
                    .clone()
                    .ok_or_else(|| WireError::invalid_at(at.clone(), "a `tool` message needs `tool_call_id`"))?;
                let output = content(m.content.as_ref(), &at)?;
                items.push(InputItem::FunctionCallOutput(FunctionCallOutputItem {
                    id: None,
                    call_id,
                    output,
                    status: None,
                }));
                continue;
            }
            Role::Function => {
                return Err(WireError::unsupported_at(DIALECT, at, "role `function` (deprecated; use tools)"));
            }
        };
        let content = content(m.content.as_ref(), &at)?;
        items.push(InputItem::Message(MessageItem { role, content, id: None, status: None }));
    }
    Ok(items)
}

/// An assistant turn: its text as a message item (a string, as `EasyInputMessage` takes
/// it), then one `function_call` item per tool call. A prior `refusal` has no input form.
fn assistant_items(m: &Message, at: &str, items: &mut Vec<InputItem>, dropped: &mut Vec<String>) {
    // Reasoning items first, as the model produced them (only OpenAI's are left here).
    items.extend(
        m.reasoning_details.iter().flatten().filter_map(super::reasoning::input_item).map(InputItem::Reasoning),
    );
    let text = m.content.as_ref().map(Content::text).unwrap_or_default();
    if !text.is_empty() {
        let content = MessageContent::Text(text);
        items.push(InputItem::Message(MessageItem { role: MessageRole::Assistant, content, id: None, status: None }));
    }
    for k in m.extra.keys() {
        dropped.push(format!("{at}.{k}"));
    }
    for call in m.tool_calls.iter().flatten() {
        items.push(InputItem::FunctionCall(FunctionCallItem {
            id: None,
            call_id: call.id.clone(),
            name: call.function.name.clone(),
            arguments: call.function.arguments.clone(),
            status: None,
        }));
    }
}

fn content(c: Option<&Content>, at: &str) -> Result<MessageContent, WireError> {
    let parts = match c {
        None => return Ok(MessageContent::Text(String::new())),
        Some(Content::Text(s)) => return Ok(MessageContent::Text(s.clone())),
        Some(Content::Parts(parts)) => parts,
    };
    let mut out = Vec::with_capacity(parts.len());
    for (j, p) in parts.iter().enumerate() {
        out.push(match p {
            ContentPart::Text { text, .. } => Part::InputText { text: text.clone() },
            ContentPart::ImageUrl { image_url, .. } => Part::InputImage {
                image_url: Some(image_url.url.clone()),
                file_id: None,
                detail: image_url.detail.clone().unwrap_or_else(|| "auto".into()),
            },
            ContentPart::Other(v) if v.get("type").and_then(Value::as_str) == Some("file") => {
                let field = |k: &str| v.get("file").and_then(|f| f.get(k)).and_then(Value::as_str).map(str::to_owned);
                Part::InputFile {
                    file_id: field("file_id"),
                    filename: field("filename"),
                    file_data: field("file_data"),
                    file_url: None,
                }
            }
            ContentPart::Other(v) => {
                let kind = v.get("type").and_then(Value::as_str).unwrap_or("(no type)");
                return Err(WireError::unsupported_at(
                    DIALECT,
                    format!("{at}.content[{j}]"),
                    format!("content part `{kind}`"),
                ));
            }
        });
    }
    Ok(MessageContent::Parts(out))
}

fn tools(tools: Option<&[Tool]>) -> Result<Option<Vec<ToolParam>>, WireError> {
    let Some(tools) = tools else { return Ok(None) };
    let mut out = Vec::with_capacity(tools.len());
    for (i, t) in tools.iter().enumerate() {
        let (Some(f), "function") = (&t.function, t.kind.as_str()) else {
            return Err(WireError::unsupported_at(DIALECT, format!("tools[{i}]"), format!("tool type `{}`", t.kind)));
        };
        out.push(ToolParam::Function(FunctionTool {
            name: f.name.clone(),
            description: f.description.clone(),
            parameters: f.parameters.clone(),
            strict: f.strict,
            extra: t.extra.clone(),
        }));
    }
    Ok(Some(out))
}

/// Chat `tool_choice` -> Responses': modes as they are, nested function names flattened.
fn tool_choice(v: &Value) -> Result<Value, WireError> {
    if v.is_string() {
        return Ok(v.clone());
    }
    let fn_name = |t: &Value| t.get("function").and_then(|f| f.get("name")).and_then(Value::as_str).map(str::to_owned);
    match v.get("type").and_then(Value::as_str) {
        Some("function") => match fn_name(v) {
            Some(name) => Ok(json!({"type": "function", "name": name})),
            None => Err(WireError::invalid_at("tool_choice", "a function choice needs `function.name`")),
        },
        Some("allowed_tools") => {
            let inner = v.get("allowed_tools").unwrap_or(&Value::Null);
            let mut tools = Vec::new();
            for t in inner.get("tools").and_then(Value::as_array).into_iter().flatten() {
                match fn_name(t) {
                    Some(name) => tools.push(json!({"type": "function", "name": name})),
                    None => {
                        return Err(WireError::unsupported_at(DIALECT, "tool_choice", "a non-function allowed tool"));
                    }
                }
            }
            let mode = inner.get("mode").cloned().unwrap_or(json!("auto"));
            Ok(json!({"type": "allowed_tools", "mode": mode, "tools": tools}))
        }
        other => {
            let what = format!("tool_choice type `{}`", other.unwrap_or("(none)"));
            Err(WireError::unsupported_at(DIALECT, "tool_choice", what))
        }
    }
}

fn text_format(f: &ResponseFormat) -> TextFormat {
    match f {
        ResponseFormat::Text => TextFormat::Text,
        ResponseFormat::JsonObject => TextFormat::JsonObject,
        ResponseFormat::JsonSchema { json_schema } => TextFormat::JsonSchema {
            name: json_schema.get("name").and_then(Value::as_str).unwrap_or("response").to_string(),
            schema: json_schema.get("schema").cloned().unwrap_or(json!({})),
            description: json_schema.get("description").and_then(Value::as_str).map(str::to_owned),
            strict: json_schema.get("strict").and_then(Value::as_bool),
        },
    }
}
