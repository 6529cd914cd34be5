//! Tools, `tool_choice`, `parallel_tool_calls` and `response_format` (a forced JSON tool,
//! since Messages has no JSON mode) on the Messages request.

use std::borrow::Cow;

use serde_json::{Value, json};

use super::super::types::{self as wire, MessagesRequest, ToolDef};
use super::super::{DIALECT as VENDOR, JSON_TOOL};
use super::ReplyCtx;
use crate::api::ChatRequest;
use crate::api::chat::ResponseFormat;
use crate::wire::WireError;
use crate::wire::canonical::{self as common, ToolChoice, ToolMode, invalid, unsupported};

/// Tools, `tool_choice`, `parallel_tool_calls` and `response_format`.
pub fn tools<'a>(req: &'a ChatRequest, out: &mut MessagesRequest<'a>) -> Result<ReplyCtx, WireError> {
    let choice = common::tool_choice(VENDOR, req.tool_choice.as_ref())?;
    declare(req, &choice, out)?;
    let disable = (req.parallel_tool_calls == Some(false)).then_some(true);
    out.tool_choice = match (&choice.mode, !out.tools.is_empty()) {
        (_, false) => None,
        (ToolMode::Default, true) => disable.map(|d| wire::ToolChoice::Auto { disable_parallel_tool_use: Some(d) }),
        (ToolMode::None, true) => Some(wire::ToolChoice::None),
        (ToolMode::Auto, true) => Some(wire::ToolChoice::Auto { disable_parallel_tool_use: disable }),
        (ToolMode::Required, true) => Some(wire::ToolChoice::Any { disable_parallel_tool_use: disable }),
        (ToolMode::Named(n), true) => out
            .tools
            .iter()
            .find(|t| t.name == n.as_str())
            .map(|t| wire::ToolChoice::Tool { name: t.name.clone(), disable_parallel_tool_use: disable }),
    };
    json_tool(req, &choice.mode, out)
}

/// The caller's function tools (narrowed to `allowed_tools`) as Anthropic tool definitions.
fn declare<'a>(req: &'a ChatRequest, choice: &ToolChoice, out: &mut MessagesRequest<'a>) -> Result<(), WireError> {
    for (i, t) in req.tools.iter().flatten().enumerate() {
        if t.kind != "function" {
            return Err(unsupported(VENDOR, format!("tools[{i}]: tool type `{}`", t.kind)));
        }
        let f = t.function.as_ref().ok_or_else(|| invalid(format!("tools[{i}]: `function` is missing")))?;
        if choice.allowed.as_ref().is_some_and(|a| !a.contains(&f.name)) {
            continue;
        }
        let input_schema = match &f.parameters {
            Some(p) => Cow::Borrowed(p),
            None => Cow::Owned(json!({"type": "object", "properties": {}})),
        };
        let description = f.description.as_deref().map(Cow::Borrowed);
        out.tools.push(ToolDef {
            kind: None,
            name: Cow::Borrowed(&f.name),
            description,
            input_schema,
            cache_control: None,
        });
    }
    if let ToolMode::Named(n) = &choice.mode
        && !out.tools.iter().any(|t| t.name == n.as_str())
    {
        return Err(invalid(format!("tool_choice names `{n}`, which is not in `tools`")));
    }
    Ok(())
}

/// `response_format` as a JSON tool: forced when the caller offers no tools of its own (or
/// forbids calling them), offered alongside them otherwise.
fn json_tool<'a>(req: &'a ChatRequest, mode: &ToolMode, out: &mut MessagesRequest<'a>) -> Result<ReplyCtx, WireError> {
    let (schema, description) = match &req.response_format {
        None | Some(ResponseFormat::Text) => return Ok(ReplyCtx::default()),
        Some(ResponseFormat::JsonObject) => (Cow::Owned(json!({"type": "object"})), None),
        Some(ResponseFormat::JsonSchema { json_schema }) => (
            json_schema.get("schema").map_or_else(|| Cow::Owned(json!({"type": "object"})), Cow::Borrowed),
            json_schema.get("description").and_then(Value::as_str),
        ),
    };
    if out.tools.iter().any(|t| t.name == JSON_TOOL) {
        return Err(invalid(format!("the tool name `{JSON_TOOL}` is reserved for response_format")));
    }
    let caller_may_call = !out.tools.is_empty() && !matches!(mode, ToolMode::None);
    if !caller_may_call {
        out.tools.clear();
    }
    let description = description.unwrap_or("Give the whole answer as this tool's input, as JSON.");
    out.tools.push(ToolDef {
        kind: None,
        name: Cow::Borrowed(JSON_TOOL),
        description: Some(Cow::Borrowed(description)),
        input_schema: schema,
        cache_control: None,
    });
    if !caller_may_call {
        out.tool_choice =
            Some(wire::ToolChoice::Tool { name: Cow::Borrowed(JSON_TOOL), disable_parallel_tool_use: None });
    }
    Ok(ReplyCtx { json_tool: true })
}
