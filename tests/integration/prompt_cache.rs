//! Prompt caching through the real daemon: `cache_control` breakpoints from a Messages caller
//! (passthrough) and from a chat caller (the extension on parts, messages and tools) reach the
//! Anthropic-shaped fake, which writes then reads its cache as Anthropic does; a route with
//! `prompt_cache = "auto"` places the breakpoints itself; an OpenAI-shaped vendor never sees
//! a marker, and its automatic caching is reported.

use fake_vendor::FakeVendor;
use serde_json::{Value, json};

use crate::common::{Daemon, FakeToml, with_fake_vendor};

fn config(addr: &str) -> String {
    FakeToml::new(addr)
        .anthropic("claude")
        .openai_compatible("oai")
        .models("claude", &[("sonnet", "claude-sonnet-4-5")])
        .models("oai", &[("oai-echo", "echo-model")])
        .route("plain", &["sonnet"])
        .route("auto", &["sonnet"])
        .raw("prompt_cache = \"auto\"")
        .build()
}

async fn start() -> (FakeVendor, Daemon) {
    with_fake_vendor(config).await
}

async fn post(d: &Daemon, path: &str, body: &Value) -> Value {
    let r = d
        .http()
        .post(format!("http://sidegate{path}"))
        .header("anthropic-version", "2023-06-01")
        .json(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap()
}

/// A system prompt of `n` words.
fn words(n: usize) -> String {
    (0..n).map(|i| format!("rule{i}")).collect::<Vec<_>>().join(" ")
}

#[tokio::test]
async fn a_messages_caller_breakpoints_write_then_read_the_vendor_cache() {
    let (vendor, d) = start().await;
    let body = json!({"model": "sonnet", "max_tokens": 50,
        "system": [{"type": "text", "text": words(100), "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
        "messages": [{"role": "user", "content": "what now"}]});
    let first = post(&d, "/v1/messages", &body).await;
    let sent = vendor.last_request()["body"].clone();
    assert_eq!(sent["system"][0]["cache_control"], json!({"type": "ephemeral", "ttl": "1h"}));
    // 100 system words written for an hour; the 2 words of the turn are fresh input
    assert_eq!(first["usage"]["cache_creation_input_tokens"], 100, "{first}");
    assert_eq!(
        first["usage"]["cache_creation"],
        json!({"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 100})
    );
    assert_eq!(first["usage"]["cache_read_input_tokens"], 0);
    assert_eq!(first["usage"]["input_tokens"], 2);
    let second = post(&d, "/v1/messages", &body).await;
    assert_eq!(second["usage"]["cache_read_input_tokens"], 100, "{second}");
    assert_eq!(second["usage"]["cache_creation_input_tokens"], 0);
}

#[tokio::test]
async fn a_chat_callers_markers_reach_anthropic_and_its_usage_reports_them() {
    let (vendor, d) = start().await;
    let body = json!({"model": "plain", "messages": [
        {"role": "system", "content": [{"type": "text", "text": words(40), "cache_control": {"type": "ephemeral"}}]},
        {"role": "user", "content": [{"type": "text", "text": words(30), "cache_control": {"type": "ephemeral", "ttl": "1h"}},
                                     {"type": "text", "text": "and a question"}]}],
        "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}},
                   "cache_control": {"type": "ephemeral"}}]});
    let first = post(&d, "/v1/chat/completions", &body).await;
    let sent = vendor.last_request()["body"].clone();
    assert_eq!(sent["system"], json!([{"type": "text", "text": words(40), "cache_control": {"type": "ephemeral"}}]));
    assert_eq!(sent["messages"][0]["content"][0]["cache_control"], json!({"type": "ephemeral", "ttl": "1h"}));
    assert!(sent["messages"][0]["content"][1].get("cache_control").is_none());
    assert_eq!(sent["tools"][0]["cache_control"], json!({"type": "ephemeral"}));
    let details = &first["usage"]["prompt_tokens_details"];
    assert_eq!(details["cached_tokens"], 0, "{first}");
    let written = details["cache_creation_tokens"].as_u64().unwrap();
    assert!(written >= 70, "tools, system and the marked text are written: {first}");
    assert_eq!(details["cache_creation_1h_tokens"], 30, "the part marked for an hour: {first}");
    let second = post(&d, "/v1/chat/completions", &body).await;
    let details = &second["usage"]["prompt_tokens_details"];
    assert_eq!(details["cached_tokens"].as_u64(), Some(written), "{second}");
    assert!(details.get("cache_creation_tokens").is_none(), "nothing new written: {second}");
    // canonical prompt_tokens counts the reads: fresh input + read
    assert_eq!(second["usage"]["prompt_tokens"].as_u64().unwrap(), written + 3);
}

#[tokio::test]
async fn an_auto_route_places_breakpoints_on_tools_system_and_the_last_user_turn() {
    let (vendor, d) = start().await;
    let body = json!({"model": "auto", "messages": [
        {"role": "system", "content": words(20)},
        {"role": "user", "content": "first turn"},
        {"role": "assistant", "content": "an answer"},
        {"role": "user", "content": "second turn"}],
        "tools": [{"type": "function", "function": {"name": "a", "parameters": {"type": "object"}}},
                  {"type": "function", "function": {"name": "b", "parameters": {"type": "object"}}}]});
    let first = post(&d, "/v1/chat/completions", &body).await;
    let sent = vendor.last_request()["body"].clone();
    let eph = json!({"type": "ephemeral"});
    assert!(sent["tools"][0].get("cache_control").is_none());
    assert_eq!(sent["tools"][1]["cache_control"], eph);
    assert_eq!(sent["system"][0]["cache_control"], eph);
    assert_eq!(sent["messages"][2]["content"][0]["cache_control"], eph);
    assert!(sent["messages"][0]["content"][0].get("cache_control").is_none());
    assert!(first["usage"]["prompt_tokens_details"]["cache_creation_tokens"].as_u64().unwrap() > 20);
    // the same conversation one turn on reads at least the tools and the system prompt
    let mut next = body.clone();
    next["messages"]
        .as_array_mut()
        .unwrap()
        .extend([json!({"role": "assistant", "content": "again"}), json!({"role": "user", "content": "third turn"})]);
    let second = post(&d, "/v1/chat/completions", &next).await;
    assert!(second["usage"]["prompt_tokens_details"]["cached_tokens"].as_u64().unwrap() > 20, "{second}");
    // a plain route sends no markers
    let mut plain = body.clone();
    plain["model"] = json!("plain");
    post(&d, "/v1/chat/completions", &plain).await;
    assert!(!vendor.last_request()["body"].to_string().contains("cache_control"));
}

#[tokio::test]
async fn openai_style_vendors_never_see_markers_and_report_their_own_caching() {
    let (vendor, d) = start().await;
    let long = words(1200);
    let body = json!({"model": "oai-echo", "messages": [
        {"role": "system", "content": long, "cache_control": {"type": "ephemeral"}},
        {"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]}],
        "tools": [{"type": "function", "function": {"name": "a"}, "cache_control": {"type": "ephemeral"}}]});
    let first = post(&d, "/v1/chat/completions", &body).await;
    assert!(!vendor.last_request()["body"].to_string().contains("cache_control"), "markers stripped");
    assert_eq!(first["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
    let second = post(&d, "/v1/chat/completions", &body).await;
    // 1201 words: the longest seen prefix of 1024 + 128k words is 1152
    assert_eq!(second["usage"]["prompt_tokens_details"]["cached_tokens"], 1152, "{second}");
    assert_eq!(second["usage"]["prompt_tokens"], 1201);
}

#[tokio::test]
async fn an_auto_route_places_breakpoints_in_a_messages_callers_own_body() {
    let (vendor, d) = start().await;
    let body = json!({"model": "auto", "max_tokens": 20, "system": words(30),
        "tools": [{"name": "a", "input_schema": {"type": "object"}}],
        "messages": [{"role": "user", "content": "the question"}]});
    let first = post(&d, "/v1/messages", &body).await;
    let sent = vendor.last_request()["body"].clone();
    let eph = json!({"type": "ephemeral"});
    assert_eq!(sent["tools"][0]["cache_control"], eph);
    assert_eq!(sent["system"], json!([{"type": "text", "text": words(30), "cache_control": eph}]));
    assert_eq!(sent["messages"][0]["content"], json!([{"type": "text", "text": "the question", "cache_control": eph}]));
    assert!(first["usage"]["cache_creation_input_tokens"].as_u64().unwrap() > 30, "{first}");
    let second = post(&d, "/v1/messages", &body).await;
    assert_eq!(second["usage"]["cache_read_input_tokens"], first["usage"]["cache_creation_input_tokens"], "{second}");
}
