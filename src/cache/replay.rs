//! Streams and whole answers share cache entries, so both directions are needed:
//! `assemble` folds a finished stream's chunks into the whole answer that is stored, and
//! `replay` turns a stored answer back into a well-formed chunk sequence: per choice a role
//! chunk, its content (and refusal, tool calls), its finish chunk; then the usage chunk. The
//! fronts add the framing (`data: ...` and `[DONE]`, or CHUNK frames and END).

use serde_json::Value;

use crate::api::Extra;
use crate::api::chat::{FunctionCall, ToolCall};
use crate::api::response::{Choice, ChunkChoice, Delta, FunctionDelta, ResponseMessage, ToolCallDelta};
use crate::api::{ChatChunk, ChatResponse};

/// The whole answer a stream amounts to. Text is concatenated per choice, tool-call
/// fragments are joined by their index, the last finish reason and usage win, and
/// string-valued extension fields of deltas (e.g. `reasoning_content`) are concatenated.
pub fn assemble(chunks: &[ChatChunk]) -> ChatResponse {
    let mut out = ChatResponse {
        id: String::new(),
        object: "chat.completion".into(),
        created: 0,
        model: String::new(),
        choices: Vec::new(),
        usage: None,
        extra: Extra::new(),
        native: None,
        verbatim: None,
    };
    for c in chunks {
        if out.id.is_empty() {
            out.id.clone_from(&c.id);
        }
        if out.created == 0 {
            out.created = c.created;
        }
        if out.model.is_empty() {
            out.model.clone_from(&c.model);
        }
        for (k, v) in &c.extra {
            out.extra.entry(k.clone()).or_insert_with(|| v.clone());
        }
        if c.usage.is_some() {
            out.usage = c.usage;
        }
        for cc in &c.choices {
            let choice = choice_at(&mut out.choices, cc.index);
            merge_delta(&mut choice.message, &cc.delta);
            if cc.finish_reason.is_some() {
                choice.finish_reason.clone_from(&cc.finish_reason);
            }
            if let Some(lp) = &cc.logprobs {
                merge_logprobs(&mut choice.logprobs, lp);
            }
            for (k, v) in &cc.extra {
                choice.extra.insert(k.clone(), v.clone());
            }
        }
    }
    out.choices.sort_by_key(|c| c.index);
    out
}

fn choice_at(choices: &mut Vec<Choice>, index: u32) -> &mut Choice {
    let pos = match choices.iter().position(|c| c.index == index) {
        Some(p) => p,
        None => {
            choices.push(Choice {
                index,
                message: ResponseMessage {
                    role: "assistant".into(),
                    content: None,
                    refusal: None,
                    tool_calls: None,
                    reasoning_content: None,
                    reasoning_details: None,
                    extra: Extra::new(),
                },
                finish_reason: None,
                logprobs: None,
                extra: Extra::new(),
            });
            choices.len() - 1
        }
    };
    &mut choices[pos]
}

fn append(slot: &mut Option<String>, piece: &Option<String>) {
    if let Some(p) = piece {
        slot.get_or_insert_with(String::new).push_str(p);
    }
}

fn merge_delta(msg: &mut ResponseMessage, d: &Delta) {
    if let Some(r) = &d.role {
        msg.role.clone_from(r);
    }
    append(&mut msg.content, &d.content);
    append(&mut msg.refusal, &d.refusal);
    append(&mut msg.reasoning_content, &d.reasoning_content);
    if let Some(details) = &d.reasoning_details {
        msg.reasoning_details.get_or_insert_with(Vec::new).extend(details.iter().cloned());
    }
    for tc in d.tool_calls.iter().flatten() {
        let calls = msg.tool_calls.get_or_insert_with(Vec::new);
        // Tool calls arrive in index order; `index` is their position.
        let i = tc.index as usize;
        while calls.len() <= i {
            calls.push(ToolCall {
                id: String::new(),
                kind: "function".into(),
                function: FunctionCall { name: String::new(), arguments: String::new() },
            });
        }
        let call = &mut calls[i];
        if let Some(id) = &tc.id {
            call.id.push_str(id);
        }
        if let Some(k) = &tc.kind {
            call.kind.clone_from(k);
        }
        if let Some(f) = &tc.function {
            if let Some(n) = &f.name {
                call.function.name.push_str(n);
            }
            if let Some(a) = &f.arguments {
                call.function.arguments.push_str(a);
            }
        }
    }
    for (k, v) in &d.extra {
        match (msg.extra.get_mut(k), v) {
            (Some(Value::String(acc)), Value::String(piece)) => acc.push_str(piece),
            _ => {
                msg.extra.insert(k.clone(), v.clone());
            }
        }
    }
}

/// OpenAI stream logprobs are `{"content": [...]}` (and `refusal`) per chunk: join the lists.
fn merge_logprobs(acc: &mut Option<Value>, piece: &Value) {
    match (acc.as_mut(), piece) {
        (Some(Value::Object(a)), Value::Object(p)) => {
            for (k, v) in p {
                match (a.get_mut(k), v) {
                    (Some(Value::Array(list)), Value::Array(more)) => list.extend(more.iter().cloned()),
                    _ => {
                        a.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        _ => *acc = Some(piece.clone()),
    }
}

/// The chunks a stream of `resp` consists of. The usage chunk is always included (the router
/// drops it when the caller did not ask for it, as it does for vendor streams).
pub fn replay(resp: &ChatResponse) -> Vec<ChatChunk> {
    let chunk = |choices: Vec<ChunkChoice>| ChatChunk {
        id: resp.id.clone(),
        object: "chat.completion.chunk".into(),
        created: resp.created,
        model: resp.model.clone(),
        choices,
        usage: None,
        extra: resp.extra.clone(),
        native: None,
        verbatim: None,
    };
    let one = |index: u32, delta: Delta, finish: Option<String>, logprobs: Option<Value>, extra: Extra| ChunkChoice {
        index,
        delta,
        finish_reason: finish,
        logprobs,
        extra,
    };
    let mut out = Vec::new();
    for c in &resp.choices {
        let m = &c.message;
        out.push(chunk(vec![one(
            c.index,
            Delta {
                role: Some(m.role.clone()),
                content: m.content.as_ref().map(|_| String::new()),
                ..Delta::default()
            },
            None,
            None,
            Extra::new(),
        )]));
        if m.reasoning_content.is_some() || m.reasoning_details.is_some() {
            // Reasoning comes before the answer, as the vendor sent it.
            let delta = Delta {
                reasoning_content: m.reasoning_content.clone(),
                reasoning_details: m.reasoning_details.clone(),
                ..Delta::default()
            };
            out.push(chunk(vec![one(c.index, delta, None, None, Extra::new())]));
        }
        let has_body = m.content.as_deref().is_some_and(|s| !s.is_empty())
            || m.refusal.is_some()
            || !m.extra.is_empty()
            || c.logprobs.is_some();
        if has_body {
            let delta = Delta {
                role: None,
                content: m.content.clone().filter(|s| !s.is_empty()),
                refusal: m.refusal.clone(),
                tool_calls: None,
                reasoning_content: None,
                reasoning_details: None,
                extra: m.extra.clone(),
            };
            out.push(chunk(vec![one(c.index, delta, None, c.logprobs.clone(), Extra::new())]));
        }
        for (i, tc) in m.tool_calls.iter().flatten().enumerate() {
            let delta = Delta {
                tool_calls: Some(vec![ToolCallDelta {
                    index: i as u32,
                    id: Some(tc.id.clone()),
                    kind: Some(tc.kind.clone()),
                    function: Some(FunctionDelta {
                        name: Some(tc.function.name.clone()),
                        arguments: Some(tc.function.arguments.clone()),
                    }),
                }]),
                ..Delta::default()
            };
            out.push(chunk(vec![one(c.index, delta, None, None, Extra::new())]));
        }
        let finish = Some(c.finish_reason.clone().unwrap_or_else(|| "stop".into()));
        out.push(chunk(vec![one(c.index, Delta::default(), finish, None, c.extra.clone())]));
    }
    if let Some(u) = resp.usage {
        let mut last = chunk(Vec::new());
        last.usage = Some(u);
        out.push(last);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(lines: &[&str]) -> Vec<ChatChunk> {
        lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    #[test]
    fn a_stream_folds_into_the_answer_and_replays_to_the_same_answer() {
        let original = chunks(&[
            r#"{"id":"c1","created":7,"model":"m","system_fingerprint":"fp","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#,
            r#"{"id":"c1","created":7,"model":"m","choices":[{"index":0,"delta":{"content":"Hello, ","reasoning_content":"think "}}]}"#,
            r#"{"id":"c1","created":7,"model":"m","choices":[{"index":0,"delta":{"content":"world","reasoning_content":"more"}}]}"#,
            r#"{"id":"c1","created":7,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\""}}]}}]}"#,
            r#"{"id":"c1","created":7,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":":1}"}}]}}]}"#,
            r#"{"id":"c1","created":7,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
            r#"{"id":"c1","created":7,"model":"m","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}"#,
        ]);
        let whole = assemble(&original);
        let c = &whole.choices[0];
        assert_eq!(c.message.content.as_deref(), Some("Hello, world"));
        assert_eq!(c.message.reasoning_content.as_deref(), Some("think more"));
        let calls = c.message.tool_calls.as_ref().unwrap();
        assert_eq!((calls[0].id.as_str(), calls[0].function.arguments.as_str()), ("call_1", "{\"a\":1}"));
        assert_eq!(c.finish_reason.as_deref(), Some("tool_calls"));
        assert_eq!(whole.usage.unwrap().total_tokens, 7);
        assert_eq!(whole.extra["system_fingerprint"], "fp");

        let replayed = replay(&whole);
        assert_eq!(replayed[0].choices[0].delta.role.as_deref(), Some("assistant"));
        assert!(replayed.last().unwrap().choices.is_empty() && replayed.last().unwrap().usage.is_some());
        let again = assemble(&replayed);
        assert_eq!(serde_json::to_value(&again).unwrap(), serde_json::to_value(&whole).unwrap());
    }

    #[test]
    fn several_choices_keep_their_order() {
        let original = chunks(&[
            r#"{"id":"c","choices":[{"index":1,"delta":{"role":"assistant","content":"B"}}]}"#,
            r#"{"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":"A"}}]}"#,
            r#"{"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"},{"index":1,"delta":{},"finish_reason":"length"}]}"#,
        ]);
        let whole = assemble(&original);
        assert_eq!(whole.choices.len(), 2);
        assert_eq!(whole.choices[0].message.content.as_deref(), Some("A"));
        assert_eq!(whole.choices[1].finish_reason.as_deref(), Some("length"));
        let again = assemble(&replay(&whole));
        assert_eq!(serde_json::to_value(&again).unwrap(), serde_json::to_value(&whole).unwrap());
    }
}
