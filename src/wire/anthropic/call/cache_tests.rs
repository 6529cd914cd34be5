//! Breakpoints in the Messages request: the caller's markers where they were put, the
//! automatic ones, the limit of four.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};

use super::super::{Options, to_wire};
use crate::api::ChatRequest;

fn wire(v: Value, auto: bool) -> Value {
    let mut req: ChatRequest = serde_json::from_value(v).unwrap();
    req.prompt_cache = auto;
    let (w, _) = to_wire(&req, "claude-sonnet-4-5", false, &Options::default()).unwrap();
    serde_json::to_value(&w).unwrap()
}

fn eph() -> Value {
    json!({"type": "ephemeral"})
}

fn tool(name: &str) -> Value {
    json!({"type": "function", "function": {"name": name, "parameters": {"type": "object"}}})
}

fn marked(mut v: Value, marker: Value) -> Value {
    v["cache_control"] = marker;
    v
}

/// Every `cache_control` in the request, as (JSON pointer of its holder, marker), sorted.
fn all(v: &Value) -> Vec<(String, Value)> {
    fn walk(v: &Value, at: &str, out: &mut Vec<(String, Value)>) {
        match v {
            Value::Object(o) => {
                for (k, x) in o {
                    if k == "cache_control" {
                        out.push((at.to_string(), x.clone()));
                    } else {
                        walk(x, &format!("{at}/{k}"), out);
                    }
                }
            }
            Value::Array(a) => a.iter().enumerate().for_each(|(i, x)| walk(x, &format!("{at}/{i}"), out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, "", &mut out);
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn at(list: &[(&str, Value)]) -> Vec<(String, Value)> {
    let mut v: Vec<(String, Value)> = list.iter().map(|(p, m)| (p.to_string(), m.clone())).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn caller_markers_on_parts_messages_and_tools_reach_their_blocks() {
    let w = wire(
        json!({"model": "m", "messages": [
            {"role": "system", "content": "You are terse.", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
            {"role": "user", "content": [
                {"type": "text", "text": ""},
                {"type": "text", "text": "long document", "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "question"}]},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                "function": {"name": "a", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "result",
             "cache_control": {"type": "ephemeral", "ttl": 3600}}],
        "tools": [tool("a"), marked(tool("b"), json!({"type": "ephemeral", "ttl": "5m"}))]}),
        false,
    );
    assert_eq!(
        all(&w),
        at(&[
            ("/messages/0/content/0", eph()),
            ("/messages/2/content/0", json!({"type": "ephemeral", "ttl": "1h"})),
            ("/system/0", json!({"type": "ephemeral", "ttl": "1h"})),
            ("/tools/1", json!({"type": "ephemeral", "ttl": "5m"})),
        ])
    );
    assert_eq!(
        w["system"],
        json!([{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral", "ttl": "1h"}}])
    );
    assert_eq!(w["messages"][0]["content"][0]["text"], "long document");
    assert_eq!(w["messages"][2]["content"][0]["type"], "tool_result");
}

#[test]
fn no_markers_and_no_auto_sends_none() {
    let w = wire(json!({"model": "m", "system": "x", "messages": [{"role": "user", "content": "hi"}]}), false);
    assert!(all(&w).is_empty());
    assert!(w["system"].is_null() || w["system"].is_string());
}

#[test]
fn auto_places_breakpoints_on_tools_system_and_last_user_turn() {
    let w = wire(
        json!({"model": "m", "messages": [
            {"role": "system", "content": "rules"},
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "answer"},
            {"role": "user", "content": [{"type": "text", "text": "second"}, {"type": "text", "text": "third"}]}],
        "tools": [tool("a"), tool("b")]}),
        true,
    );
    assert_eq!(all(&w), at(&[("/messages/2/content/1", eph()), ("/system/0", eph()), ("/tools/1", eph())]));
}

#[test]
fn the_callers_markers_win_and_four_is_the_limit() {
    let m = || json!({"type": "ephemeral"});
    // Three of the caller's: auto adds one more (the tools come first), never a fifth.
    let w = wire(
        json!({"model": "m", "messages": [
            {"role": "system", "content": "rules", "cache_control": m()},
            {"role": "user", "content": "a", "cache_control": m()},
            {"role": "assistant", "content": "b"},
            {"role": "user", "content": "c", "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
        "tools": [tool("t")]}),
        true,
    );
    let got = all(&w);
    assert_eq!(got.len(), 4);
    assert!(got.contains(&("/tools/0".to_string(), eph())));
    assert!(got.contains(&("/messages/2/content/0".to_string(), json!({"type": "ephemeral", "ttl": "1h"}))));
    // Five of the caller's: the first four in prompt order are kept, auto adds nothing.
    let w = wire(
        json!({"model": "m", "messages": [
            {"role": "system", "content": "rules", "cache_control": m()},
            {"role": "user", "content": [{"type": "text", "text": "1", "cache_control": m()},
                                         {"type": "text", "text": "2", "cache_control": m()},
                                         {"type": "text", "text": "3", "cache_control": m()},
                                         {"type": "text", "text": "4", "cache_control": m()}]}],
        "tools": [tool("t")]}),
        true,
    );
    assert_eq!(
        all(&w),
        at(&[
            ("/messages/0/content/0", eph()),
            ("/messages/0/content/1", eph()),
            ("/messages/0/content/2", eph()),
            ("/system/0", eph()),
        ])
    );
}

#[test]
fn markers_anthropic_rejects_are_mapped_or_dropped() {
    let w = wire(
        json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "a", "cache_control": {"type": "ephemeral", "ttl": "30m"}},
            {"type": "text", "text": "b", "cache_control": {"type": "ephemeral", "ttl": "someday"}},
            {"type": "text", "text": "c", "cache_control": {"type": "persistent"}}]}]}),
        false,
    );
    assert_eq!(
        all(&w),
        at(&[("/messages/0/content/0", json!({"type": "ephemeral", "ttl": "1h"})), ("/messages/0/content/1", eph()),])
    );
}

#[test]
fn a_messages_request_translated_back_keeps_its_breakpoints() {
    let body = json!({"model": "claude", "max_tokens": 10,
        "system": [{"type": "text", "text": "S", "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
        "tools": [{"name": "t", "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "doc", "cache_control": {"type": "ephemeral"}}, {"type": "text", "text": "q"}]}]});
    let served = crate::wire::anthropic::serve::read(&body).unwrap();
    let (w, _) = to_wire(&served.chat, "claude", false, &Options::default()).unwrap();
    let w = serde_json::to_value(&w).unwrap();
    assert_eq!(
        all(&w),
        at(&[
            ("/messages/0/content/0", eph()),
            ("/system/0", json!({"type": "ephemeral", "ttl": "1h"})),
            ("/tools/0", eph()),
        ])
    );
}

#[test]
fn auto_on_a_messages_body_marks_tools_system_and_the_last_user_turn() {
    let mut body = json!({"model": "m", "max_tokens": 5, "system": "rules",
        "tools": [{"name": "a", "input_schema": {"type": "object"}}, {"name": "b", "input_schema": {"type": "object"}}],
        "messages": [{"role": "user", "content": "one"}, {"role": "assistant", "content": "two"},
                     {"role": "user", "content": [{"type": "text", "text": "three"}]}]});
    super::place_auto_json(body.as_object_mut().unwrap());
    assert_eq!(all(&body), at(&[("/messages/2/content/0", eph()), ("/system/0", eph()), ("/tools/1", eph())]));
    assert_eq!(body["system"], json!([{"type": "text", "text": "rules", "cache_control": eph()}]));
    // with the caller's own four, nothing is added
    let marked = |t: &str| json!({"type": "text", "text": t, "cache_control": eph()});
    let mut full = json!({"model": "m", "system": [marked("s")], "tools": [{"name": "a"}],
        "messages": [{"role": "user", "content": [marked("1"), marked("2"), marked("3")]}]});
    let before = full.clone();
    super::place_auto_json(full.as_object_mut().unwrap());
    assert_eq!(full, before);
}
