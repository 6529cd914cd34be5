//! A prompt file's messages put into a request that arrived in another dialect than Chat
//! Completions, in that dialect's own shape, so a same-dialect vendor (which is sent the
//! caller's body as it came) gets them too: system text first, then the prompt's turns, then
//! the caller's. The prompt's tools go in where the caller sent none; a response format only
//! where the dialect has one (Responses `text.format`), otherwise the request is refused with
//! a message that says which ingress can carry it.

use serde_json::{Map, Value, json};

use super::native::{Dialect, NativeRequest};
use crate::api::chat::{Message, Role};

/// What a prompt adds to a native request.
pub struct PromptParts<'a> {
    pub messages: &'a [Message],
    pub tools: Option<&'a [Value]>,
    pub response_format: Option<&'a Value>,
}

/// Puts `p` into `n`'s body; an error names what this dialect cannot carry.
pub fn prepend(n: &mut NativeRequest, p: &PromptParts<'_>) -> Result<(), String> {
    let (system, turns): (Vec<&Message>, Vec<&Message>) =
        p.messages.iter().partition(|m| matches!(m.role, Role::System | Role::Developer));
    let system: Vec<String> = system.iter().map(|m| text(m)).collect();
    match n.dialect {
        Dialect::AnthropicMessages => messages(&mut n.body, &system, &turns, p)?,
        Dialect::OpenAiResponses => responses(&mut n.body, &system, &turns, p),
        Dialect::Gemini => gemini(&mut n.body, &system, &turns, p)?,
        Dialect::OpenAiChat | Dialect::OpenAiEmbeddings => {}
    }
    Ok(())
}

fn text(m: &Message) -> String {
    m.content.as_ref().map(|c| c.text()).unwrap_or_default()
}

fn no_format(p: &PromptParts<'_>, dialect: &str) -> Result<(), String> {
    match p.response_format {
        None => Ok(()),
        Some(_) => Err(format!(
            "the prompt sets `response_format`, which a {dialect} request cannot carry; use it through \
             /v1/chat/completions or /v1/responses"
        )),
    }
}

/// Prepends `items` to the array at `key` (made from nothing, or from a string by `wrap`).
fn prepend_to(body: &mut Map<String, Value>, key: &str, items: Vec<Value>, wrap: impl Fn(String) -> Value) {
    if items.is_empty() {
        return;
    }
    let old = match body.remove(key) {
        Some(Value::Array(a)) => a,
        Some(Value::String(s)) => vec![wrap(s)],
        Some(Value::Null) | None => Vec::new(),
        Some(other) => vec![other],
    };
    body.insert(key.into(), Value::Array(items.into_iter().chain(old).collect()));
}

fn messages(
    body: &mut Map<String, Value>,
    system: &[String],
    turns: &[&Message],
    p: &PromptParts<'_>,
) -> Result<(), String> {
    no_format(p, "Messages")?;
    let blocks = system.iter().map(|t| json!({"type": "text", "text": t})).collect();
    prepend_to(body, "system", blocks, |s| json!({"type": "text", "text": s}));
    let role = |m: &Message| if m.role == Role::Assistant { "assistant" } else { "user" };
    let items = turns.iter().map(|m| json!({"role": role(m), "content": text(m)})).collect();
    prepend_to(body, "messages", items, |s| json!({"role": "user", "content": s}));
    if let Some(Value::Array(all)) = body.get_mut("messages") {
        merge_turns(all, turns.len());
    }
    if !body.contains_key("tools")
        && let Some(tools) = p.tools
    {
        let t = tools.iter().map(|t| {
            let f = &t["function"];
            let mut o = json!({"name": f["name"], "input_schema": f.get("parameters").cloned().unwrap_or(json!({"type": "object"}))});
            if let Some(d) = f.get("description") {
                o["description"] = d.clone();
            }
            o
        });
        body.insert("tools".into(), Value::Array(t.collect()));
    }
    Ok(())
}

/// Merges same-role neighbours among the first `added` turns and the caller's first one (the
/// Anthropic API merges them itself; compatible third parties may refuse them).
fn merge_turns(all: &mut Vec<Value>, added: usize) {
    let blocks = |c: Value| match c {
        Value::String(t) => vec![json!({"type": "text", "text": t})],
        Value::Array(b) => b,
        other => vec![other],
    };
    let mut i = 1;
    while i < all.len() && i <= added {
        if all[i]["role"] == all[i - 1]["role"] {
            let next = all.remove(i);
            let mut merged = blocks(all[i - 1]["content"].take());
            merged.extend(blocks(next["content"].clone()));
            all[i - 1]["content"] = Value::Array(merged);
        } else {
            i += 1;
        }
    }
}

fn responses(body: &mut Map<String, Value>, system: &[String], turns: &[&Message], p: &PromptParts<'_>) {
    if !system.is_empty() {
        let mut text = system.join("\n\n");
        if let Some(Value::String(own)) = body.get("instructions") {
            text = format!("{text}\n\n{own}");
        }
        body.insert("instructions".into(), Value::String(text));
    }
    let role = |m: &Message| if m.role == Role::Assistant { "assistant" } else { "user" };
    let items = turns.iter().map(|m| json!({"role": role(m), "content": text(m)})).collect();
    prepend_to(body, "input", items, |s| json!({"role": "user", "content": s}));
    if !body.contains_key("tools")
        && let Some(tools) = p.tools
    {
        let t = tools.iter().map(|t| {
            let f = &t["function"];
            let mut o = json!({"type": "function", "name": f["name"],
                "parameters": f.get("parameters").cloned().unwrap_or(json!({"type": "object"}))});
            if let Some(d) = f.get("description") {
                o["description"] = d.clone();
            }
            o
        });
        body.insert("tools".into(), Value::Array(t.collect()));
    }
    if let Some(f) = p.response_format
        && body.get("text").and_then(|t| t.get("format")).is_none()
    {
        let format = match f.get("type").and_then(Value::as_str) {
            Some("json_schema") => {
                let s = &f["json_schema"];
                let mut o = json!({"type": "json_schema", "name": s["name"], "schema": s["schema"]});
                if let Some(strict) = s.get("strict") {
                    o["strict"] = strict.clone();
                }
                o
            }
            _ => f.clone(),
        };
        let text = body.entry("text").or_insert_with(|| json!({}));
        if let Some(t) = text.as_object_mut() {
            t.insert("format".into(), format);
        }
    }
}

fn gemini(
    body: &mut Map<String, Value>,
    system: &[String],
    turns: &[&Message],
    p: &PromptParts<'_>,
) -> Result<(), String> {
    no_format(p, "Gemini")?;
    if p.tools.is_some() && !body.contains_key("tools") {
        return Err("the prompt sets `tools`, which sidegate does not put into a Gemini request; use it through \
                    /v1/chat/completions, /v1/messages or /v1/responses"
            .into());
    }
    if !system.is_empty() {
        let parts: Vec<Value> = system.iter().map(|t| json!({"text": t})).collect();
        let key = if body.contains_key("system_instruction") { "system_instruction" } else { "systemInstruction" };
        let si = body.entry(key).or_insert_with(|| json!({"parts": []}));
        if let Some(o) = si.as_object_mut() {
            prepend_to(o, "parts", parts, |s| json!({"text": s}));
        }
    }
    let role = |m: &Message| if m.role == Role::Assistant { "model" } else { "user" };
    let items = turns.iter().map(|m| json!({"role": role(m), "parts": [{"text": text(m)}]})).collect();
    prepend_to(body, "contents", items, |s| json!({"role": "user", "parts": [{"text": s}]}));
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::api::chat::Content;

    fn msg(role: Role, t: &str) -> Message {
        Message::new(role, Some(Content::Text(t.into())))
    }

    fn native(d: Dialect, body: Value) -> NativeRequest {
        NativeRequest::new(d, body.as_object().unwrap().clone())
    }

    fn prompt() -> Vec<Message> {
        vec![msg(Role::System, "Be terse."), msg(Role::User, "Greet Ada.")]
    }

    #[test]
    fn messages_get_system_blocks_first_then_the_prompt_turns() {
        let mut n = native(
            Dialect::AnthropicMessages,
            json!({"system": "Own system.", "messages": [{"role": "user", "content": "hi"}]}),
        );
        let tools = [
            json!({"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object"}}}),
        ];
        prepend(&mut n, &PromptParts { messages: &prompt(), tools: Some(&tools), response_format: None }).unwrap();
        assert_eq!(
            n.body["system"],
            json!([{"type": "text", "text": "Be terse."}, {"type": "text", "text": "Own system."}])
        );
        assert_eq!(
            n.body["messages"],
            json!([{"role": "user", "content": [{"type": "text", "text": "Greet Ada."}, {"type": "text", "text": "hi"}]}]),
            "same-role neighbours are one turn"
        );
        assert_eq!(n.body["tools"], json!([{"name": "f", "description": "d", "input_schema": {"type": "object"}}]));
        let f = json!({"type": "json_object"});
        let e =
            prepend(&mut n, &PromptParts { messages: &prompt(), tools: None, response_format: Some(&f) }).unwrap_err();
        assert!(e.contains("/v1/chat/completions"), "{e}");
    }

    #[test]
    fn responses_get_instructions_input_items_tools_and_format() {
        let mut n = native(Dialect::OpenAiResponses, json!({"input": "hi", "instructions": "Own."}));
        let f = json!({"type": "json_schema", "json_schema": {"name": "out", "schema": {"type": "object"}, "strict": true}});
        prepend(&mut n, &PromptParts { messages: &prompt(), tools: None, response_format: Some(&f) }).unwrap();
        assert_eq!(n.body["instructions"], "Be terse.\n\nOwn.");
        assert_eq!(
            n.body["input"],
            json!([{"role": "user", "content": "Greet Ada."}, {"role": "user", "content": "hi"}])
        );
        assert_eq!(
            n.body["text"]["format"],
            json!({"type": "json_schema", "name": "out", "schema": {"type": "object"}, "strict": true})
        );
    }

    #[test]
    fn gemini_gets_system_parts_and_contents() {
        let mut n = native(Dialect::Gemini, json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}));
        let mut turns = prompt();
        turns.push(msg(Role::Assistant, "Hello Ada."));
        prepend(&mut n, &PromptParts { messages: &turns, tools: None, response_format: None }).unwrap();
        assert_eq!(n.body["systemInstruction"], json!({"parts": [{"text": "Be terse."}]}));
        let roles: Vec<&str> =
            n.body["contents"].as_array().unwrap().iter().map(|c| c["role"].as_str().unwrap()).collect();
        assert_eq!(roles, ["user", "model", "user"]);
    }
}
