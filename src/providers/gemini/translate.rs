//! Canonical (OpenAI) <-> Gemini generateContent, both directions, no I/O. Requests: roles to
//! user/model, system text to `systemInstruction`, same-role turns merged, tool results as
//! `functionResponse` parts named after the assistant call with the same id and ordered like
//! the calls, JSON Schema converted (`schema`), sampling fields to `generationConfig`.
//! Responses and stream events: synthesized stable tool-call ids (carrying any
//! `thoughtSignature`), `tool_calls` finish when a function was called, SAFETY & co. to
//! `content_filter`, a blocked prompt to a 400, usage with reasoning tokens counted.

use std::borrow::Cow;
use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::schema;
use super::wire::{self, Blob, Content, FileData, GenerateRequest, GenerateResponse, Part, UsageMetadata};
use crate::api::chat::{self as chat, ContentPart, FunctionCall, Message, ResponseFormat, Role, ToolCall};
use crate::api::response::{
    Choice, ChunkChoice, CompletionTokensDetails, Delta, FunctionDelta, PromptTokensDetails, ResponseMessage,
    ToolCallDelta,
};
use crate::api::{ChatChunk, ChatRequest, ChatResponse, EmbeddingsRequest, Extra, Usage};
use crate::providers::common::{self, ExtraRule, ToolMode, fnv64, invalid, unsupported};
use crate::providers::http::{EventTranslator, Flow};
use crate::providers::sse::SseEvent;
use crate::providers::{Failure, ProviderError};

pub const VENDOR: &str = "Gemini";
/// Separates a synthesized tool-call id from the `thoughtSignature` it carries, so the
/// signature comes back on the replayed call without any state in the gateway.
pub const SIG_SEP: &str = "__thought__";
/// Most inputs one batchEmbedContents call takes.
pub const EMBED_BATCH: usize = 100;

/// The model id as it goes into the URL path: `models/` stripped, and only characters that
/// cannot change the path (a caller picks `provider/model`, so this is a security check).
pub fn model_path(model: &str) -> Result<&str, ProviderError> {
    let m = model.strip_prefix("models/").unwrap_or(model);
    let ok = !m.is_empty() && m.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) && m != "..";
    if ok { Ok(m) } else { Err(invalid(format!("`{model}` is not a Gemini model id"))) }
}

fn extra_rule(k: &str, v: &Value) -> ExtraRule {
    match k {
        "top_k" | "presence_penalty" | "frequency_penalty" => ExtraRule::Translated,
        _ => common::common_extra_rule(k, v),
    }
}

/// A tool-call id: Gemini's own when it sent one, else stable for (response, candidate,
/// call); the part's `thoughtSignature`, if any, rides along after `SIG_SEP`.
pub fn tool_call_id(given: Option<&str>, seed: &str, cand: u32, k: u32, name: &str, sig: Option<&str>) -> String {
    let base = match given {
        Some(id) if !id.is_empty() => id.to_string(),
        _ => {
            let h = fnv64(&[seed.as_bytes(), &cand.to_le_bytes(), &k.to_le_bytes(), name.as_bytes()]);
            format!("call_{h:016x}")
        }
    };
    match sig {
        Some(s) if !s.is_empty() => format!("{base}{SIG_SEP}{s}"),
        _ => base,
    }
}

/// The signature carried by a tool-call id, if any.
pub fn signature_of(id: &str) -> Option<&str> {
    id.split_once(SIG_SEP).map(|(_, s)| s).filter(|s| !s.is_empty())
}

/// A part and, for function calls and responses, the tool-call id it belongs to.
struct Tagged<'a> {
    part: Part<'a>,
    call_id: Option<&'a str>,
}

struct TurnBuf<'a> {
    role: &'static str,
    parts: Vec<Tagged<'a>>,
}

/// The generateContent body for `req`.
pub fn to_wire(req: &ChatRequest) -> Result<GenerateRequest<'_>, ProviderError> {
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
    };
    tools(req, &mut out)?;
    generation_config(req, &mut out.generation_config)?;
    Ok(out)
}

fn contents(req: &ChatRequest) -> Result<(Vec<Part<'_>>, Vec<Content<'_>>), ProviderError> {
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
fn pair_function_parts(turns: &mut [TurnBuf<'_>]) -> Result<(), ProviderError> {
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

fn image_part<'a>(url: &'a str, at: &str) -> Result<Tagged<'a>, ProviderError> {
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

fn user_parts(m: &Message, i: usize) -> Result<Vec<Tagged<'_>>, ProviderError> {
    common::content_parts(m, i, text_part, image_part, other_part)
}

/// `file` parts with inline data and `input_audio` become inlineData.
fn other_part<'a>(v: &'a Value, at: &str) -> Result<Tagged<'a>, ProviderError> {
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

fn model_parts(m: &Message, i: usize) -> Result<Vec<Tagged<'_>>, ProviderError> {
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
    Ok(out)
}

/// A tool message as `functionResponse`: a JSON-object result as is, anything else (text,
/// arrays, numbers) wrapped as `{"output": …}`, since Gemini wants an object.
fn function_response<'a>(
    m: &'a Message,
    i: usize,
    names: &HashMap<&str, &'a str>,
) -> Result<Tagged<'a>, ProviderError> {
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

/// Function names: a letter or `_` first, then `[A-Za-z0-9_.:-]`, at most 128.
fn check_name(name: &str, at: &str) -> Result<(), ProviderError> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-'));
    if first_ok && rest_ok && name.len() <= 128 {
        Ok(())
    } else {
        Err(unsupported(VENDOR, format!("{at}: function name `{name}` (must start with a letter or `_`)")))
    }
}

fn tools<'a>(req: &'a ChatRequest, out: &mut GenerateRequest<'a>) -> Result<(), ProviderError> {
    let choice = common::tool_choice(VENDOR, req.tool_choice.as_ref())?;
    let mut decls = Vec::new();
    for (i, t) in req.tools.iter().flatten().enumerate() {
        let at = format!("tools[{i}]");
        if t.kind != "function" {
            return Err(unsupported(VENDOR, format!("{at}: tool type `{}`", t.kind)));
        }
        let f = t.function.as_ref().ok_or_else(|| invalid(format!("{at}: `function` is missing")))?;
        check_name(&f.name, &at)?;
        let parameters = match &f.parameters {
            None => None,
            Some(p) => {
                Some(schema::convert(p, &format!("{at}.function.parameters"))?).filter(|s| !schema::is_empty_object(s))
            }
        };
        decls.push(wire::FunctionDeclaration { name: &f.name, description: f.description.as_deref(), parameters });
    }
    if decls.is_empty() {
        return Ok(());
    }
    if req.parallel_tool_calls == Some(false) {
        tracing::debug!("parallel_tool_calls=false dropped: Gemini has no such switch");
    }
    let allowed = choice.allowed.clone().unwrap_or_default();
    let (mode, names): (&'static str, Vec<&str>) = match &choice.mode {
        ToolMode::Default => ("AUTO", Vec::new()),
        ToolMode::None => ("NONE", Vec::new()),
        ToolMode::Auto => {
            // Gemini allows allowedFunctionNames only with ANY: narrow the declarations instead.
            if choice.allowed.is_some() {
                decls.retain(|d| allowed.iter().any(|a| a == d.name));
            }
            ("AUTO", Vec::new())
        }
        ToolMode::Required => {
            ("ANY", decls.iter().filter(|d| allowed.iter().any(|a| a == d.name)).map(|d| d.name).collect())
        }
        ToolMode::Named(n) => match decls.iter().find(|d| d.name == n) {
            Some(d) => ("ANY", vec![d.name]),
            None => return Err(invalid(format!("tool_choice names `{n}`, which is not in `tools`"))),
        },
    };
    if !matches!(choice.mode, ToolMode::Default) {
        out.tool_config = Some(wire::ToolConfig {
            function_calling_config: wire::FunctionCallingConfig { mode, allowed_function_names: names },
        });
    }
    out.tools.push(wire::Tools { function_declarations: decls });
    Ok(())
}

fn generation_config<'a>(req: &'a ChatRequest, g: &mut wire::GenerationConfig<'a>) -> Result<(), ProviderError> {
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

// ---- responses ------------------------------------------------------------------------------

/// finishReason -> finish_reason (PROVIDERS.md §3.3); a function call makes it `tool_calls`.
pub fn finish_reason(reason: Option<&str>, has_tool_calls: bool) -> &'static str {
    match reason {
        Some("MAX_TOKENS") => "length",
        Some(
            "SAFETY"
            | "BLOCKLIST"
            | "PROHIBITED_CONTENT"
            | "SPII"
            | "IMAGE_SAFETY"
            | "IMAGE_PROHIBITED_CONTENT"
            | "RECITATION"
            | "IMAGE_RECITATION"
            | "LANGUAGE",
        ) => "content_filter",
        Some("STOP") if has_tool_calls => "tool_calls",
        Some("STOP") => "stop",
        other => {
            tracing::debug!(finish_reason = ?other, "Gemini finishReason without an OpenAI equivalent; reported as stop");
            if has_tool_calls { "tool_calls" } else { "stop" }
        }
    }
}

/// Gemini's prompt count excludes tool-use prompt tokens and its candidates count excludes
/// thoughts; OpenAI's prompt and completion include them.
pub fn usage(u: &UsageMetadata) -> Usage {
    let mut out = Usage::new(
        u.prompt_token_count + u.tool_use_prompt_token_count,
        u.candidates_token_count + u.thoughts_token_count,
    );
    if u.cached_content_token_count > 0 {
        out.prompt_tokens_details =
            Some(PromptTokensDetails { cached_tokens: u.cached_content_token_count, ..Default::default() });
    }
    if u.thoughts_token_count > 0 {
        out.completion_tokens_details =
            Some(CompletionTokensDetails { reasoning_tokens: u.thoughts_token_count, ..Default::default() });
    }
    out
}

/// A prompt Gemini refused to answer: 400 `content_policy_violation`, not a retry.
pub fn blocked(reason: &str) -> ProviderError {
    let mut e =
        ProviderError::new(Failure::InvalidRequest, format!("Gemini blocked the prompt (blockReason {reason})"));
    e.status = Some(400);
    e.code = Some("content_policy_violation".into());
    e
}

fn block_reason(r: &GenerateResponse) -> Option<&str> {
    r.prompt_feedback.as_ref().and_then(|f| f.block_reason.as_deref())
}

pub fn from_wire(r: GenerateResponse, model: &str, created: u64) -> Result<ChatResponse, ProviderError> {
    if let Some(e) = r.error {
        return Err(error(e.code, e, None));
    }
    if r.candidates.is_empty() {
        return Err(match block_reason(&r) {
            Some(reason) => blocked(reason),
            None => ProviderError::new(Failure::BadResponse, "Gemini answered without candidates"),
        });
    }
    let seed = r.response_id.clone().unwrap_or_else(|| format!("{:016x}", rand::random::<u64>()));
    let mut choices = Vec::with_capacity(r.candidates.len());
    for (pos, c) in r.candidates.into_iter().enumerate() {
        let index = c.index.unwrap_or(pos as u32);
        let mut text = String::new();
        let mut calls = Vec::new();
        for p in c.content.map(|c| c.parts).unwrap_or_default() {
            if let Some(fc) = p.function_call {
                let id = tool_call_id(
                    fc.id.as_deref(),
                    &seed,
                    index,
                    calls.len() as u32,
                    &fc.name,
                    p.thought_signature.as_deref(),
                );
                calls.push(ToolCall {
                    id,
                    kind: "function".into(),
                    function: FunctionCall { arguments: args_string(&fc.args), name: fc.name },
                });
            } else if let Some(t) = p.text
                && p.thought != Some(true)
            {
                text.push_str(&t);
            }
        }
        let finish = finish_reason(c.finish_reason.as_deref(), !calls.is_empty());
        choices.push(Choice {
            index,
            message: ResponseMessage {
                role: "assistant".into(),
                content: if text.is_empty() && !calls.is_empty() { None } else { Some(text) },
                refusal: None,
                tool_calls: (!calls.is_empty()).then_some(calls),
                extra: Extra::new(),
            },
            finish_reason: Some(finish.into()),
            logprobs: None,
            extra: Extra::new(),
        });
    }
    choices.sort_by_key(|c| c.index);
    Ok(ChatResponse {
        id: r.response_id.unwrap_or_else(crate::providers::mock::completion_id),
        object: "chat.completion".into(),
        created,
        model: r.model_version.unwrap_or_else(|| model.to_string()),
        choices,
        usage: r.usage_metadata.as_ref().map(usage),
        extra: Extra::new(),
    })
}

fn args_string(args: &Value) -> String {
    match args {
        Value::Null => "{}".into(),
        v => v.to_string(),
    }
}

/// A google.rpc.Status classified for failover: a bad key (400 API_KEY_INVALID) is an auth
/// failure; a per-minute RESOURCE_EXHAUSTED is a rate limit with its RetryInfo delay, a
/// daily one is quota.
pub fn error(http_status: u16, s: wire::Status, header_retry: Option<std::time::Duration>) -> ProviderError {
    let status = if http_status == 0 { s.code } else { http_status };
    let status = if status == 0 { 500 } else { status };
    let detail = |key: &str| -> Option<&str> { s.details.iter().find_map(|d| d.get(key).and_then(Value::as_str)) };
    let retry = detail("retryDelay").and_then(parse_delay).or(header_retry);
    let reason = detail("reason").unwrap_or("").to_string();
    let daily = s.details.iter().any(|d| d.to_string().contains("PerDay"))
        || s.message.to_ascii_lowercase().contains("per day");
    let message = if s.message.is_empty() { format!("Gemini answered {status} {}", s.status) } else { s.message };
    let code = if s.status.is_empty() { None } else { Some(s.status.clone()) };
    let mut e = ProviderError::from_status(status, code, message, retry);
    match (status, s.status.as_str()) {
        (400, _) if reason == "API_KEY_INVALID" => e.failure = Failure::Auth,
        (400, "FAILED_PRECONDITION") => e.failure = Failure::Auth,
        (429, _) => e.failure = if daily { Failure::Quota } else { Failure::RateLimited },
        _ => {}
    }
    e
}

/// `"32s"` / `"1.5s"` -> Duration.
fn parse_delay(s: &str) -> Option<std::time::Duration> {
    let secs: f64 = s.strip_suffix('s')?.parse().ok()?;
    (secs.is_finite() && (0.0..86_400.0).contains(&secs)).then(|| std::time::Duration::from_secs_f64(secs))
}

// ---- streams --------------------------------------------------------------------------------

#[derive(Debug, Default)]
struct Cand {
    role_sent: bool,
    next_tool: u32,
    finished: bool,
}

/// Gemini stream events (each a whole response holding only new parts) -> OpenAI chunks.
/// Function calls arrive whole: one chunk each, with a tool index that keeps counting across
/// events. Usage is cumulative: the last one seen is sent once, at the end.
pub struct StreamState {
    model: String,
    created: u64,
    id: String,
    seed: String,
    cands: HashMap<u32, Cand>,
    usage: Option<UsageMetadata>,
}

impl StreamState {
    pub fn new(model: &str, created: u64) -> Self {
        StreamState {
            model: model.to_string(),
            created,
            id: String::new(),
            seed: format!("{:016x}", rand::random::<u64>()),
            cands: HashMap::new(),
            usage: None,
        }
    }

    fn chunk(&self, index: u32, delta: Delta, finish: Option<&str>) -> ChatChunk {
        ChatChunk {
            id: self.id.clone(),
            object: "chat.completion.chunk".into(),
            created: self.created,
            model: self.model.clone(),
            choices: vec![ChunkChoice {
                index,
                delta,
                finish_reason: finish.map(str::to_string),
                logprobs: None,
                extra: Extra::new(),
            }],
            usage: None,
            extra: Extra::new(),
        }
    }

    pub fn on(&mut self, r: GenerateResponse, out: &mut Vec<ChatChunk>) -> Result<Flow, ProviderError> {
        if let Some(e) = r.error {
            return Err(error(e.code, e, None));
        }
        if self.id.is_empty() {
            self.id = r.response_id.clone().unwrap_or_else(crate::providers::mock::completion_id);
            if let Some(rid) = &r.response_id {
                self.seed = rid.clone();
            }
        }
        if let Some(v) = r.model_version {
            self.model = v;
        }
        if r.candidates.is_empty()
            && let Some(reason) =
                block_reason(&GenerateResponse { prompt_feedback: r.prompt_feedback, ..Default::default() })
        {
            return Err(blocked(reason));
        }
        if r.usage_metadata.is_some() {
            self.usage = r.usage_metadata;
        }
        for (pos, c) in r.candidates.into_iter().enumerate() {
            let index = c.index.unwrap_or(pos as u32);
            let parts = c.content.map(|c| c.parts).unwrap_or_default();
            let mut st = self.cands.remove(&index).unwrap_or_default();
            if !st.role_sent {
                st.role_sent = true;
                let d = Delta { role: Some("assistant".into()), content: Some(String::new()), ..Delta::default() };
                out.push(self.chunk(index, d, None));
            }
            for p in parts {
                if let Some(fc) = p.function_call {
                    let k = st.next_tool;
                    st.next_tool += 1;
                    let id =
                        tool_call_id(fc.id.as_deref(), &self.seed, index, k, &fc.name, p.thought_signature.as_deref());
                    let call = ToolCallDelta {
                        index: k,
                        id: Some(id),
                        kind: Some("function".into()),
                        function: Some(FunctionDelta { name: Some(fc.name), arguments: Some(args_string(&fc.args)) }),
                    };
                    out.push(self.chunk(index, Delta { tool_calls: Some(vec![call]), ..Delta::default() }, None));
                } else if let Some(t) = p.text
                    && p.thought != Some(true)
                    && !t.is_empty()
                {
                    out.push(self.chunk(index, Delta { content: Some(t), ..Delta::default() }, None));
                }
            }
            if let Some(reason) = c.finish_reason.as_deref()
                && !st.finished
            {
                st.finished = true;
                let finish = finish_reason(Some(reason), st.next_tool > 0);
                out.push(self.chunk(index, Delta::default(), Some(finish)));
            }
            self.cands.insert(index, st);
        }
        Ok(Flow::More)
    }
}

impl EventTranslator for StreamState {
    fn on_event(&mut self, ev: SseEvent, out: &mut Vec<ChatChunk>) -> Result<Flow, ProviderError> {
        let parsed: GenerateResponse = serde_json::from_str(&ev.data).map_err(|e| {
            ProviderError::new(Failure::BadResponse, format!("vendor sent an invalid stream event: {e}"))
        })?;
        self.on(parsed, out)
    }

    /// Gemini has no end sentinel: a stream is complete when every candidate has finished.
    fn on_end(&mut self, out: &mut Vec<ChatChunk>) -> Result<(), ProviderError> {
        if self.cands.is_empty() || self.cands.values().any(|c| !c.finished) {
            return Err(ProviderError::new(Failure::StreamBroken, "Gemini stream ended before a finishReason"));
        }
        let u = self.usage.as_ref().map(usage).unwrap_or_default();
        out.push(ChatChunk::usage_only(&self.id, self.created, &self.model, u));
        Ok(())
    }
}

// ---- embeddings -----------------------------------------------------------------------------

/// batchEmbedContents bodies for `req` (at most `EMBED_BATCH` inputs each, order kept).
pub fn embed_wire<'a>(
    req: &'a EmbeddingsRequest,
    model_ref: &'a str,
) -> Result<Vec<wire::BatchEmbedRequest<'a>>, ProviderError> {
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
