//! Canonical request -> generateContent body: roles to user/model, system text to
//! `systemInstruction`, same-role turns merged, tool results as `functionResponse` parts
//! ordered like the calls, sampling fields to `generationConfig`; `safetySettings`,
//! `cachedContent` and `thinkingConfig` from `extra` passed through as they are.

use std::borrow::Cow;
use std::collections::HashMap;

use serde_json::Value;

use super::super::DIALECT as VENDOR;
use super::super::schema;
use super::super::types::{self as wire, Content, GenerateRequest, Part};
use super::parts::{Tagged, function_response, model_parts, user_parts};
use super::tools::tools;
use crate::api::ChatRequest;
use crate::api::chat::{ResponseFormat, Role};
use crate::wire::WireError;
use crate::wire::canonical::{self as common, ExtraRule, invalid, unsupported};

fn extra_rule(k: &str, v: &Value) -> ExtraRule {
    match k {
        "top_k" | "presence_penalty" | "frequency_penalty" => ExtraRule::Translated,
        // Gemini's own fields, as a Gemini-shaped caller sent them (wire::gemini::serve).
        PASSTHROUGH_SAFETY | PASSTHROUGH_CACHE | PASSTHROUGH_THINKING => ExtraRule::Translated,
        _ => common::common_extra_rule(k, v),
    }
}

/// `extra` keys the Gemini request carries as they are: `safetySettings`, `cachedContent`
/// (top level) and `thinkingConfig` (into `generationConfig`).
pub const PASSTHROUGH_SAFETY: &str = "safetySettings";
pub const PASSTHROUGH_CACHE: &str = "cachedContent";
pub const PASSTHROUGH_THINKING: &str = "thinkingConfig";

struct TurnBuf<'a> {
    role: &'static str,
    parts: Vec<Tagged<'a>>,
}

/// The generateContent body for `req`.
pub fn to_wire(req: &ChatRequest) -> Result<GenerateRequest<'_>, WireError> {
    common::check_extras(VENDOR, &req.extra, extra_rule)?;
    if req.user.is_some() {
        tracing::debug!("`user` dropped: Gemini has no end-user field");
    }
    let (system, contents) = contents(req)?;
    let mut out = GenerateRequest {
        contents,
        system_instruction: (!system.is_empty()).then_some(Content { role: None, parts: system }),
        tools: Vec::new(),
        tool_config: None,
        generation_config: wire::GenerationConfig::default(),
        safety_settings: req.extra.get(PASSTHROUGH_SAFETY).filter(|v| !v.is_null()),
        cached_content: req.extra.get(PASSTHROUGH_CACHE).filter(|v| !v.is_null()),
    };
    tools(req, &mut out)?;
    generation_config(req, &mut out.generation_config)?;
    Ok(out)
}

fn contents(req: &ChatRequest) -> Result<(Vec<Part<'_>>, Vec<Content<'_>>), WireError> {
    // tool_call_id -> function name, from every assistant message (functionResponse needs it).
    let mut names: HashMap<&str, &str> = HashMap::new();
    for m in &req.messages {
        for c in m.tool_calls.iter().flatten() {
            names.insert(&c.id, &c.function.name);
        }
    }
    let mut system = Vec::new();
    let mut turns: Vec<TurnBuf<'_>> = Vec::new();
    for (i, m) in req.messages.iter().enumerate() {
        let (role, parts) = match m.role {
            Role::System | Role::Developer => {
                let t = common::system_text(VENDOR, m, i)?;
                if !t.is_empty() {
                    system.push(Part { text: Some(t), ..Part::default() });
                }
                continue;
            }
            Role::User => ("user", user_parts(m, i)?),
            Role::Assistant => ("model", model_parts(m, i)?),
            Role::Tool => ("user", vec![function_response(m, i, &names)?]),
            Role::Function => {
                return Err(unsupported(VENDOR, format!("messages[{i}]: role `function` (deprecated; use tools)")));
            }
        };
        if parts.is_empty() {
            continue; // Gemini rejects empty parts
        }
        match turns.last_mut() {
            Some(t) if t.role == role => t.parts.extend(parts),
            _ => turns.push(TurnBuf { role, parts }),
        }
    }
    pair_function_parts(&mut turns)?;
    if turns.first().is_some_and(|t| t.role == "model") {
        let part = Part { text: Some(Cow::Borrowed("…")), ..Part::default() };
        turns.insert(0, TurnBuf { role: "user", parts: vec![Tagged { part, call_id: None }] });
    }
    if turns.is_empty() {
        return Err(invalid("Gemini needs at least one user or assistant message with content"));
    }
    let contents = turns
        .into_iter()
        .map(|t| Content { role: Some(t.role), parts: t.parts.into_iter().map(|p| p.part).collect() })
        .collect();
    Ok((system, contents))
}

/// Each model turn's function calls need exactly their responses in the next user turn, in
/// the same order (Gemini pairs them by position), before any text of that turn.
fn pair_function_parts(turns: &mut [TurnBuf<'_>]) -> Result<(), WireError> {
    for k in 0..turns.len() {
        let calls: Vec<&str> = if turns[k].role == "model" {
            turns[k].parts.iter().filter(|p| p.part.function_call.is_some()).filter_map(|p| p.call_id).collect()
        } else {
            Vec::new()
        };
        let next_is_user = turns.get(k + 1).is_some_and(|t| t.role == "user");
        if turns[k].role == "user" {
            let prev_model = k > 0 && turns[k - 1].role == "model";
            let stray = turns[k].parts.iter().find(|p| p.part.function_response.is_some() && !prev_model);
            if let Some(p) = stray {
                return Err(invalid(format!(
                    "messages: tool message for `{}` does not follow an assistant tool call",
                    p.call_id.unwrap_or("?")
                )));
            }
            continue;
        }
        if calls.is_empty() {
            continue;
        }
        if !next_is_user {
            return Err(invalid(format!(
                "messages: tool call `{}` has no tool message right after its assistant message",
                calls[0]
            )));
        }
        let next = &mut turns[k + 1];
        let (mut responses, rest): (Vec<Tagged<'_>>, Vec<Tagged<'_>>) =
            std::mem::take(&mut next.parts).into_iter().partition(|p| p.part.function_response.is_some());
        let mut ordered = Vec::with_capacity(responses.len() + rest.len());
        for id in &calls {
            match responses.iter().position(|r| r.call_id == Some(id)) {
                Some(at) => ordered.push(responses.remove(at)),
                None => {
                    return Err(invalid(format!(
                        "messages: tool call `{id}` has no tool message right after its assistant message"
                    )));
                }
            }
        }
        if let Some(extra) = responses.first() {
            return Err(invalid(format!(
                "messages: tool message for `{}` does not follow an assistant tool call with that id",
                extra.call_id.unwrap_or("?")
            )));
        }
        ordered.extend(rest);
        next.parts = ordered;
    }
    Ok(())
}

fn generation_config<'a>(req: &'a ChatRequest, g: &mut wire::GenerationConfig<'a>) -> Result<(), WireError> {
    let num = |k: &str| req.extra.get(k).and_then(Value::as_f64);
    g.temperature = req.temperature;
    g.top_p = req.top_p;
    g.top_k = req.extra.get("top_k").and_then(Value::as_u64);
    g.max_output_tokens = req.max_output_tokens();
    g.stop_sequences = common::stop_sequences(req);
    if g.stop_sequences.len() > 5 {
        return Err(unsupported(VENDOR, "more than 5 stop sequences"));
    }
    g.candidate_count = req.n.filter(|n| *n > 1);
    g.seed = req.seed;
    g.presence_penalty = num("presence_penalty");
    g.frequency_penalty = num("frequency_penalty");
    g.thinking_config = req.extra.get(PASSTHROUGH_THINKING).filter(|v| !v.is_null()).map(Cow::Borrowed);
    match &req.response_format {
        None | Some(ResponseFormat::Text) => {}
        Some(ResponseFormat::JsonObject) => g.response_mime_type = Some("application/json"),
        Some(ResponseFormat::JsonSchema { json_schema }) => {
            g.response_mime_type = Some("application/json");
            if let Some(s) = json_schema.get("schema") {
                g.response_schema = Some(schema::convert(s, "response_format.json_schema.schema")?);
            }
        }
    }
    Ok(())
}
