//! Whole answers both ways: canonical chat completion <-> Responses `Response`. The finish
//! reason becomes the status (`length` -> incomplete `max_output_tokens`, `content_filter` ->
//! incomplete `content_filter`), the message becomes a `message` item with `output_text` (and
//! `refusal`) parts, each tool call a `function_call` item, usage the Responses usage.

use super::DIALECT;
use super::error::upstream_failed;
use super::output::{
    IncompleteDetails, IncompleteReason, InputTokensDetails, OutputItem, OutputMessage, OutputTokensDetails, Response,
    ResponseEcho, ResponseUsage, Status,
};
use super::types::{FunctionCallItem, ItemStatus, Part};
use crate::api::chat::{FunctionCall, ToolCall};
use crate::api::response::{Choice, CompletionTokensDetails, PromptTokensDetails, ResponseMessage};
use crate::api::{ChatResponse, Extra, Usage};
use crate::wire::WireError;

/// The id part shared by a response and its items: the completion id without its
/// `chatcmpl-` (or `resp_`) prefix.
pub fn id_base(chat_id: &str) -> &str {
    chat_id.strip_prefix("chatcmpl-").or_else(|| chat_id.strip_prefix("resp_")).unwrap_or(chat_id)
}

/// `resp_<base>` for a completion id.
pub fn response_id(chat_id: &str) -> String {
    format!("resp_{}", id_base(chat_id))
}

pub(crate) fn message_id(base: &str, output_index: usize) -> String {
    format!("msg_{base}_{output_index}")
}

pub(crate) fn call_item_id(base: &str, output_index: usize) -> String {
    format!("fc_{base}_{output_index}")
}

/// A response skeleton: the header fields, the echo, no output yet.
pub fn skeleton(id: String, created_at: u64, model: String, status: Status, echo: ResponseEcho) -> Response {
    Response {
        id,
        object: "response".into(),
        created_at,
        status,
        completed_at: None,
        error: None,
        incomplete_details: None,
        model,
        output: Vec::new(),
        usage: None,
        echo,
        extra: Extra::new(),
    }
}

/// Status and incomplete details for a canonical finish reason.
pub fn status_of(finish_reason: Option<&str>) -> (Status, Option<IncompleteDetails>) {
    let incomplete = |reason| (Status::Incomplete, Some(IncompleteDetails { reason }));
    match finish_reason {
        Some("length") => incomplete(IncompleteReason::MaxOutputTokens),
        Some("content_filter") => incomplete(IncompleteReason::ContentFilter),
        _ => (Status::Completed, None),
    }
}

/// The Responses object for a whole canonical answer. Only choice 0 is used: a Responses
/// request cannot ask for more (`n` has no Responses form).
pub fn to_response(resp: &ChatResponse, echo: ResponseEcho) -> Result<Response, WireError> {
    let choice = resp
        .choices
        .first()
        .ok_or_else(|| WireError::invalid_at("choices", "the completion has no choice to answer with"))?;
    let (status, incomplete) = status_of(choice.finish_reason.as_deref());
    let item_status = if status == Status::Incomplete { ItemStatus::Incomplete } else { ItemStatus::Completed };
    let base = id_base(&resp.id);
    let mut out = skeleton(response_id(&resp.id), resp.created, resp.model.clone(), status, echo);
    out.incomplete_details = incomplete;
    let msg = &choice.message;
    // Reasoning first, as the model produced it.
    for (k, d) in msg.reasoning_details.iter().flatten().enumerate() {
        out.output.push(OutputItem::Reasoning(super::reasoning::output_item(d, format!("rs_{base}_{k}"))));
    }
    if let (None, Some(t)) = (&msg.reasoning_details, msg.reasoning_content.as_deref().filter(|t| !t.is_empty())) {
        out.output.push(OutputItem::Reasoning(super::reasoning::summary_item(format!("rs_{base}_0"), t)));
    }
    let mut parts = Vec::new();
    if let Some(text) = msg.content.as_deref().filter(|t| !t.is_empty()) {
        parts.push(Part::output_text(text));
    }
    if let Some(r) = msg.refusal.as_deref().filter(|r| !r.is_empty()) {
        parts.push(Part::Refusal { refusal: r.to_string() });
    }
    if !parts.is_empty() {
        let id = message_id(base, 0);
        let role = "assistant".into();
        out.output.push(OutputItem::Message(OutputMessage { id, role, status: item_status, content: parts }));
    }
    for call in msg.tool_calls.iter().flatten() {
        let index = out.output.len();
        out.output.push(OutputItem::FunctionCall(FunctionCallItem {
            id: Some(call_item_id(base, index)),
            call_id: call.id.clone(),
            name: call.function.name.clone(),
            arguments: call.function.arguments.clone(),
            status: Some(item_status),
        }));
    }
    out.usage = resp.usage.as_ref().map(usage_out);
    Ok(out)
}

pub fn usage_out(u: &Usage) -> ResponseUsage {
    let p = u.prompt_tokens_details.unwrap_or_default();
    ResponseUsage {
        input_tokens: u.prompt_tokens,
        input_tokens_details: InputTokensDetails {
            cached_tokens: p.cached_tokens,
            cache_write_tokens: u.cache_write_tokens(),
            cache_write_1h_tokens: u.cache_write_1h_tokens(),
        },
        output_tokens: u.completion_tokens,
        output_tokens_details: OutputTokensDetails {
            reasoning_tokens: u.completion_tokens_details.map_or(0, |c| c.reasoning_tokens),
        },
        total_tokens: u.total_tokens,
    }
}

pub fn usage_in(u: &ResponseUsage) -> Usage {
    let d = u.input_tokens_details;
    let cached = d.cached_tokens > 0 || d.cache_write_tokens > 0;
    Usage {
        prompt_tokens: u.input_tokens,
        completion_tokens: u.output_tokens,
        total_tokens: u.total_tokens,
        prompt_tokens_details: cached.then_some(PromptTokensDetails {
            cached_tokens: d.cached_tokens,
            audio_tokens: None,
            cache_creation_tokens: (d.cache_write_tokens > 0).then_some(d.cache_write_tokens),
            cache_creation_1h_tokens: (d.cache_write_1h_tokens > 0)
                .then_some(d.cache_write_1h_tokens.min(d.cache_write_tokens)),
        }),
        completion_tokens_details: (u.output_tokens_details.reasoning_tokens > 0).then_some(CompletionTokensDetails {
            reasoning_tokens: u.output_tokens_details.reasoning_tokens,
            ..CompletionTokensDetails::default()
        }),
    }
}

/// The canonical finish reason for a finished response with or without function calls.
pub fn finish_reason_of(resp: &Response, has_calls: bool) -> &'static str {
    match resp.incomplete_details.as_ref().map(|d| d.reason) {
        Some(IncompleteReason::MaxOutputTokens) => "length",
        Some(IncompleteReason::ContentFilter) => "content_filter",
        None if has_calls => "tool_calls",
        None => "stop",
    }
}

/// The canonical answer for a Responses object (from a Responses upstream). Reasoning items
/// are left out (their tokens stay in usage); a failed response is an error.
pub fn to_chat_response(resp: &Response) -> Result<ChatResponse, WireError> {
    if matches!(resp.status, Status::Failed | Status::Cancelled | Status::Queued | Status::InProgress) {
        let (code, message) = match &resp.error {
            Some(e) => (e.code.clone(), e.message.clone()),
            None => ("server_error".into(), format!("response status is {:?}", resp.status).to_lowercase()),
        };
        return Err(upstream_failed(code, message));
    }
    let (mut text, mut refusal, mut calls) = (String::new(), String::new(), Vec::new());
    let (mut thought, mut details) = (Vec::new(), Vec::new());
    for (i, item) in resp.output.iter().enumerate() {
        match item {
            OutputItem::Message(m) => {
                for p in &m.content {
                    match p {
                        Part::OutputText { text: t, .. } => text.push_str(t),
                        Part::Refusal { refusal: r } => refusal.push_str(r),
                        other => {
                            let what = format!("output part `{}`", other.kind());
                            return Err(WireError::unsupported_at(DIALECT, format!("output[{i}]"), what));
                        }
                    }
                }
            }
            OutputItem::FunctionCall(c) => calls.push(ToolCall {
                id: c.call_id.clone(),
                kind: "function".into(),
                function: FunctionCall { name: c.name.clone(), arguments: c.arguments.clone() },
            }),
            OutputItem::Reasoning(r) => {
                let d = super::reasoning::detail(r, details.len() as u32);
                thought.extend(d.summary.clone());
                details.push(d);
            }
            OutputItem::Other(_) => {
                let what = format!("output item type `{}`", item.kind());
                return Err(WireError::unsupported_at(DIALECT, format!("output[{i}]"), what));
            }
        }
    }
    let finish = finish_reason_of(resp, !calls.is_empty());
    let message = ResponseMessage {
        role: "assistant".into(),
        content: (!text.is_empty() || calls.is_empty()).then_some(text),
        refusal: (!refusal.is_empty()).then_some(refusal),
        tool_calls: (!calls.is_empty()).then_some(calls),
        reasoning_content: (!thought.is_empty()).then(|| thought.join("\n\n")),
        reasoning_details: (!details.is_empty()).then_some(details),
        extra: Extra::new(),
    };
    Ok(ChatResponse {
        id: resp.id.clone(),
        object: "chat.completion".into(),
        created: resp.created_at,
        model: resp.model.clone(),
        choices: vec![Choice {
            index: 0,
            message,
            finish_reason: Some(finish.into()),
            logprobs: None,
            extra: Extra::new(),
        }],
        usage: resp.usage.as_ref().map(usage_in),
        extra: Extra::new(),
        native: None,
        verbatim: None,
    })
}
