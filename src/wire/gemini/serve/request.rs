//! generateContent request -> canonical request, for a Gemini-shaped front. The model comes
//! from the URL path and so does streaming (`:streamGenerateContent`). `systemInstruction`
//! becomes leading system messages, `contents` the conversation ([`super::contents`]),
//! `functionDeclarations` function tools (an OpenAPI `parameters` converted to JSON Schema,
//! `parametersJsonSchema` as it is), `functionCallingConfig` `tool_choice`, and
//! `generationConfig` the sampling fields; the penalties go to `extra` under the OpenAI names
//! the adapters read. Gemini's own fields (`safetySettings`, `cachedContent`, `labels`,
//! `generationConfig.topK` / `.thinkingConfig`, and top-level fields sidegate does not know)
//! go to the native request's `only`: a Gemini upstream gets them in the caller's body
//! (passthrough), any other vendor never does (they are never canonical `extra`, which
//! OpenAI-style vendors receive as unknown fields). Built-in tools and fields the canonical
//! types cannot carry are a clear error naming them; docs/providers.md lists each field's
//! fate.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::FRONT;
use super::contents;
use super::schema::to_json_schema;
use super::types::{FunctionCallingConfig, GenerateContentRequest, GenerationConfig, Tool, ToolConfig};
use crate::api::chat::{self, FunctionDef, ResponseFormat, Stop, StreamOptions};
use crate::api::reasoning::{Effort, ReasoningAsk};
use crate::api::{ChatRequest, Extra};
use crate::wire::WireError;
use crate::wire::native::{Dialect, NativeRequest, Required};

/// The `json_schema.name` a `responseSchema` gets (OpenAI requires one; Gemini has none).
pub const SCHEMA_NAME: &str = "response";

/// A generateContent body, read and converted; `model` is the URL's (`models/` optional),
/// `stream` whether the URL asked for `:streamGenerateContent`. The canonical request carries
/// the caller's body as its native request (dialect Gemini; a `model` repeated in the body
/// is taken out: the URL names the vendor's model). A body that is not a generateContent
/// request is the caller's error, naming what serde found.
pub fn from_json(body: &[u8], model: &str, stream: bool) -> Result<ChatRequest, WireError> {
    let raw: Map<String, Value> = serde_json::from_slice(body).map_err(invalid_body)?;
    from_object(raw, model, stream)
}

/// [`from_json`] for a body already read as a JSON object.
pub fn from_object(mut raw: Map<String, Value>, model: &str, stream: bool) -> Result<ChatRequest, WireError> {
    let r = GenerateContentRequest::deserialize(&raw).map_err(invalid_body)?;
    let Read { mut req, only, required } = convert(r, model, stream)?;
    raw.remove("model");
    if !only.is_empty() {
        let fields: Vec<&str> = only.keys().map(String::as_str).collect();
        tracing::debug!(?fields, "Gemini-only fields: sent to a Gemini upstream only, dropped for any other");
    }
    req.native =
        Some(Arc::new(NativeRequest { dialect: Dialect::Gemini, body: raw, headers: Vec::new(), only, required }));
    Ok(req)
}

fn invalid_body(e: serde_json::Error) -> WireError {
    WireError::invalid(format!("invalid request body: {e}"))
}

/// The canonical request a generateContent request asks for (without its Gemini-only fields:
/// [`from_json`] keeps those in the native request).
pub fn to_canonical(r: GenerateContentRequest, model: &str, stream: bool) -> Result<ChatRequest, WireError> {
    convert(r, model, stream).map(|r| r.req)
}

/// A generateContent request read: the canonical request, the fields only a Gemini upstream
/// can be given (by their path in the body: `safetySettings`, `generationConfig.topK`, …),
/// and what only a Gemini upstream can serve at all (built-in tools).
struct Read {
    req: ChatRequest,
    only: Map<String, Value>,
    required: Vec<Required>,
}

fn convert(r: GenerateContentRequest, model: &str, stream: bool) -> Result<Read, WireError> {
    let mut only = Map::new();
    let mut required = Vec::new();
    for (k, v) in r.other {
        if !v.is_null() {
            only.insert(k, v);
        }
    }
    let top = [("safetySettings", r.safety_settings), ("cachedContent", r.cached_content.map(Value::String))];
    for (key, v) in top.into_iter().chain([("labels", r.labels)]) {
        if let Some(v) = v.filter(|v| !v.is_null()) {
            only.insert(key.into(), v);
        }
    }
    let mut messages = Vec::with_capacity(r.contents.len() + 1);
    if let Some(system) = r.system_instruction {
        contents::system(system, &mut messages)?;
    }
    contents::conversation(r.contents, &mut messages)?;
    let stream = stream.then_some(true);
    let mut req = ChatRequest {
        model: model.strip_prefix("models/").unwrap_or(model).to_string(),
        messages,
        stream,
        // The stream's last event carries usageMetadata, so the canonical stream must end with usage.
        stream_options: stream.map(|_| StreamOptions { include_usage: Some(true), extra: Extra::new() }),
        max_tokens: None,
        max_completion_tokens: None,
        temperature: None,
        top_p: None,
        n: None,
        stop: None,
        seed: None,
        tools: tools(r.tools, &mut only, &mut required)?,
        tool_choice: tool_choice(r.tool_config)?,
        parallel_tool_calls: None,
        response_format: None,
        user: None,
        reasoning_effort: None,
        reasoning: None,
        extra: Extra::new(),
        native: None,
        prompt: None,
        prompt_cache: false,
    };
    if let Some(g) = r.generation_config {
        generation_config(g, &mut req, &mut only)?;
    }
    Ok(Read { req, only, required })
}

/// Fields collected in `other` (unknown, or known and not carried) are refused by name.
fn refuse_other(other: &Extra, at: &str) -> Result<(), WireError> {
    match other.iter().find(|(_, v)| !v.is_null()) {
        None => Ok(()),
        Some((k, _)) => Err(WireError::unsupported_at(FRONT, join(at, k), format!("`{k}`"))),
    }
}

fn join(at: &str, k: &str) -> String {
    if at.is_empty() { k.to_string() } else { format!("{at}.{k}") }
}

/// Function declarations as canonical tools; a built-in tool (`googleSearch`,
/// `codeExecution`, …) is Gemini's to run: noted in `required` (its value in `only`, under
/// its path, for the cache key), so only a Gemini upstream is called with it.
fn tools(
    list: Vec<Tool>,
    only: &mut Map<String, Value>,
    required: &mut Vec<Required>,
) -> Result<Option<Vec<chat::Tool>>, WireError> {
    let mut out = Vec::new();
    for (i, t) in list.into_iter().enumerate() {
        let at = format!("tools[{i}]");
        for (k, v) in t.other.iter().filter(|(_, v)| !v.is_null()) {
            required.push(Required::new(format!("{at}.{k}"), format!("the built-in tool `{k}`")));
            only.insert(format!("{at}.{k}"), v.clone());
        }
        for (j, d) in t.function_declarations.into_iter().enumerate() {
            let at = format!("{at}.functionDeclarations[{j}]");
            refuse_other(&d.other, &at)?;
            let parameters = match (d.parameters, d.parameters_json_schema) {
                (Some(_), Some(_)) => {
                    return Err(WireError::invalid_at(at, "set `parameters` or `parametersJsonSchema`, not both"));
                }
                (Some(p), None) => Some(to_json_schema(&p, &format!("{at}.parameters"))?),
                (None, s) => s,
            };
            if d.response.is_some() || d.response_json_schema.is_some() {
                tracing::debug!(at, "function result schema dropped: canonical tools have none");
            }
            let function = FunctionDef { name: d.name, description: d.description, parameters, strict: None };
            out.push(chat::Tool { kind: "function".into(), function: Some(function), extra: Extra::new() });
        }
    }
    Ok((!out.is_empty()).then_some(out))
}

/// `functionCallingConfig` -> `tool_choice`: AUTO `"auto"`, NONE `"none"`, ANY `"required"`
/// (one allowed name: that function; several: `allowed_tools` with mode `required`).
fn tool_choice(c: Option<ToolConfig>) -> Result<Option<Value>, WireError> {
    let Some(c) = c else { return Ok(None) };
    refuse_other(&c.other, "toolConfig")?;
    let Some(FunctionCallingConfig { mode, allowed_function_names: names }) = c.function_calling_config else {
        return Ok(None);
    };
    let at = "toolConfig.functionCallingConfig";
    let mode = mode.as_deref().unwrap_or("MODE_UNSPECIFIED");
    if !names.is_empty() && mode != "ANY" {
        return Err(WireError::invalid_at(at, "`allowedFunctionNames` is allowed only with mode ANY"));
    }
    Ok(match mode {
        "MODE_UNSPECIFIED" => None,
        "AUTO" => Some(json!("auto")),
        "NONE" => Some(json!("none")),
        "ANY" => Some(match names.as_slice() {
            [] => json!("required"),
            [one] => json!({"type": "function", "function": {"name": one}}),
            many => {
                let tools: Vec<Value> =
                    many.iter().map(|n| json!({"type": "function", "function": {"name": n}})).collect();
                json!({"type": "allowed_tools", "allowed_tools": {"mode": "required", "tools": tools}})
            }
        }),
        "VALIDATED" => return Err(WireError::unsupported_at(FRONT, at, "mode `VALIDATED`")),
        other => return Err(WireError::invalid_at(at, format!("mode `{other}` is not AUTO, ANY, NONE or VALIDATED"))),
    })
}

fn generation_config(
    g: GenerationConfig,
    req: &mut ChatRequest,
    only: &mut Map<String, Value>,
) -> Result<(), WireError> {
    const AT: &str = "generationConfig";
    for (k, v) in &g.other {
        let text_only = k == "responseModalities"
            && v.as_array()
                .is_some_and(|a| a.iter().all(|m| m.as_str().is_some_and(|m| m.eq_ignore_ascii_case("text"))));
        if !v.is_null() && !text_only {
            return Err(WireError::unsupported_at(FRONT, join(AT, k), format!("`{k}`")));
        }
    }
    req.response_format = response_format(&g)?;
    req.temperature = g.temperature;
    req.top_p = g.top_p;
    req.n = g.candidate_count;
    req.max_tokens = g.max_output_tokens;
    req.stop = (!g.stop_sequences.is_empty()).then_some(Stop::Many(g.stop_sequences));
    req.seed = g.seed;
    if let Some(k) = g.top_k {
        if k < 0.0 || k.fract() != 0.0 || k > u32::MAX as f64 {
            return Err(WireError::invalid_at(join(AT, "topK"), "must be a whole number"));
        }
        only.insert("generationConfig.topK".into(), json!(k as u64));
    }
    for (key, v) in [("presence_penalty", g.presence_penalty), ("frequency_penalty", g.frequency_penalty)] {
        if let Some(v) = v {
            req.extra.insert(key.into(), json!(v));
        }
    }
    if let Some(t) = g.thinking_config.filter(|t| !t.is_null()) {
        req.reasoning = thinking_ask(&t);
        only.insert("generationConfig.thinkingConfig".into(), t);
    }
    Ok(())
}

/// `thinkingConfig` as the canonical ask: `thinkingLevel`, `thinkingBudget` (0 off, -1
/// dynamic) and `includeThoughts`; None when it asks nothing.
fn thinking_ask(t: &Value) -> Option<ReasoningAsk> {
    let mut ask = ReasoningAsk {
        effort: t
            .get("thinkingLevel")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase)
            .as_deref()
            .and_then(Effort::parse),
        include_thoughts: t.get("includeThoughts").and_then(Value::as_bool),
        ..ReasoningAsk::default()
    };
    match t.get("thinkingBudget").and_then(Value::as_i64) {
        Some(b) if b < 0 => ask.adaptive = true,
        Some(b) => ask.budget_tokens = Some(b as u64),
        None => {}
    }
    (!ask.is_empty()).then_some(ask)
}

/// `responseMimeType` + `responseSchema` / `responseJsonSchema` -> `response_format`.
fn response_format(g: &GenerationConfig) -> Result<Option<ResponseFormat>, WireError> {
    const AT: &str = "generationConfig";
    let schema = match (&g.response_schema, &g.response_json_schema) {
        (Some(_), Some(_)) => {
            return Err(WireError::invalid_at(AT, "set `responseSchema` or `responseJsonSchema`, not both"));
        }
        (Some(s), None) => Some(to_json_schema(s, &join(AT, "responseSchema"))?),
        (None, s) => s.clone(),
    };
    match g.response_mime_type.as_deref() {
        None | Some("text/plain") if schema.is_none() => Ok(None),
        None | Some("text/plain") => {
            Err(WireError::invalid_at(AT, "a response schema needs `responseMimeType: application/json`"))
        }
        Some("application/json") => Ok(Some(match schema {
            None => ResponseFormat::JsonObject,
            Some(schema) => ResponseFormat::JsonSchema { json_schema: json!({"name": SCHEMA_NAME, "schema": schema}) },
        })),
        Some(other) => Err(WireError::unsupported_at(FRONT, join(AT, "responseMimeType"), format!("`{other}`"))),
    }
}
