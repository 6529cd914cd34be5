//! Where a stream is committed to the caller, through the real daemon and each ingress: a
//! vendor's envelope events (Anthropic `message_start` and `ping`, Responses
//! `response.created` and `response.in_progress`, a role-only chat chunk) followed by an
//! error fail over invisibly, and the caller sees the winner's envelope once; an error after
//! content is an explicit error event, never text spliced from another answer; a route's
//! `min_stream_rate` abandons a stream too slow to show it for the next candidate.

use serde_json::{Value, json};

use crate::common::{Daemon, FakeToml, chat_sse, with_fake_vendor};

fn config(addr: &str) -> String {
    FakeToml::new(addr)
        .anthropic("claude")
        .openai_compatible("oai")
        .provider("oai-r", "openai", "/v1", "sk-fake-responses-key")
        .raw("api = \"responses\"")
        .models("claude", &[("c-overloaded", "stream-overloaded"), ("c-echo", "echo"), ("c-slow", "slow-stream")])
        .models("oai", &[("o-envelope", "envelope-error"), ("o-echo", "echo"), ("o-broken", "stream-error")])
        .models("oai-r", &[("r-failed", "stream-failed"), ("r-echo", "gpt-5")])
        .route("messages-envelope", &["c-overloaded", "c-echo"])
        .route("responses-envelope", &["r-failed", "r-echo"])
        .route("chat-envelope", &["o-envelope", "o-echo"])
        .route("chat-after-content", &["o-broken", "o-echo"])
        .route("messages-rate", &["c-slow", "c-echo"])
        .raw("min_stream_rate = { tokens = 200, within = \"1s\" }")
        .build()
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    text: String,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

async fn post(d: &Daemon, path: &str, body: &Value) -> Answer {
    let r = d
        .http()
        .post(format!("http://sidegate{path}"))
        .header("anthropic-version", "2023-06-01")
        .json(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}; daemon log:\n{}", d.log()));
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    Answer { status, headers, text: r.text().await.unwrap() }
}

/// `(event name, data)` of each named server-sent event.
fn events(raw: &str) -> Vec<(String, Value)> {
    raw.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let name = e.lines().find_map(|l| l.strip_prefix("event: ")).unwrap_or("").to_string();
            let data = e.lines().find_map(|l| l.strip_prefix("data: ")).unwrap_or("null");
            (name, serde_json::from_str(data).unwrap_or(Value::Null))
        })
        .collect()
}

fn count(evs: &[(String, Value)], name: &str) -> usize {
    evs.iter().filter(|(n, _)| n == name).count()
}

fn deltas(evs: &[(String, Value)], field: &str) -> String {
    evs.iter().filter_map(|(_, v)| v["delta"][field].as_str().or_else(|| v["delta"].as_str())).collect()
}

#[tokio::test]
async fn an_error_after_the_envelope_fails_over_and_the_caller_sees_one_envelope() {
    let (_vendor, d) = with_fake_vendor(config).await;

    // Messages -> Anthropic (passthrough): message_start and ping, then overloaded_error.
    let body = json!({"model": "messages-envelope", "max_tokens": 64, "stream": true,
        "messages": [{"role": "user", "content": "alpha beta gamma"}]});
    let a = post(&d, "/v1/messages", &body).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.header("x-sidegate-attempts"), "2", "{}", a.header("x-sidegate-attempt-log"));
    let evs = events(&a.text);
    assert_eq!(count(&evs, "message_start"), 1, "{}", a.text);
    assert_eq!(count(&evs, "error"), 0, "{}", a.text);
    assert_eq!(count(&evs, "message_stop"), 1, "{}", a.text);
    assert!(deltas(&evs, "text").contains("alpha beta gamma"), "{}", a.text);

    // Responses -> an OpenAI Responses upstream (passthrough): created, in_progress, failed.
    let body = json!({"model": "responses-envelope", "input": "delta epsilon", "stream": true});
    let a = post(&d, "/v1/responses", &body).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.header("x-sidegate-attempts"), "2", "{}", a.header("x-sidegate-attempt-log"));
    let evs = events(&a.text);
    assert_eq!(count(&evs, "response.created"), 1, "{}", a.text);
    assert_eq!(count(&evs, "response.in_progress"), 1, "{}", a.text);
    assert_eq!(count(&evs, "response.failed"), 0, "{}", a.text);
    assert_eq!(count(&evs, "response.completed"), 1, "{}", a.text);

    // Chat -> an OpenAI-compatible vendor: a role-only chunk, then a quota error.
    let body = json!({"model": "chat-envelope", "stream": true,
        "messages": [{"role": "user", "content": "zeta eta"}]});
    let a = post(&d, "/v1/chat/completions", &body).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.header("x-sidegate-attempts"), "2", "{}", a.header("x-sidegate-attempt-log"));
    let (chunks, done) = chat_sse(&a.text);
    assert!(done, "{}", a.text);
    let roles = chunks.iter().filter(|c| c["choices"][0]["delta"]["role"].is_string()).count();
    assert_eq!(roles, 1, "one role chunk, the winner's: {}", a.text);
    let text: String = chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
    assert!(text.contains("zeta eta"), "{text}");
}

#[tokio::test]
async fn an_error_after_content_is_an_error_event_never_spliced_text() {
    let (_vendor, d) = with_fake_vendor(config).await;
    let body = json!({"model": "chat-after-content", "stream": true,
        "messages": [{"role": "user", "content": "theta iota"}]});
    let a = post(&d, "/v1/chat/completions", &body).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.header("x-sidegate-attempts"), "1", "committed at the first attempt's content");
    let (chunks, done) = chat_sse(&a.text);
    assert!(!done, "a broken stream does not end with [DONE]: {}", a.text);
    let text: String = chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
    assert_eq!(text, "partial ", "only the first attempt's text: {}", a.text);
    assert!(chunks.last().is_some_and(|c| c["error"]["message"].is_string()), "{}", a.text);
}

#[tokio::test]
async fn a_stream_slower_than_min_stream_rate_is_abandoned_before_commit() {
    let vendor = fake_vendor::FakeVendor::start().await.unwrap();
    let d = Daemon::start_with_env("", &config(&vendor.addr.to_string()), &[("RUST_LOG", "sidegate=debug")]).await;
    let body = json!({"model": "messages-rate", "max_tokens": 64, "stream": true,
        "messages": [{"role": "user", "content": "kappa lambda"}]});
    let a = post(&d, "/v1/messages", &body).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let log = a.header("x-sidegate-attempt-log").to_string();
    assert_eq!(a.header("x-sidegate-attempts"), "2", "{log}");
    assert!(log.starts_with("c-slow;timeout"), "{log}");
    let evs = events(&a.text);
    assert_eq!(count(&evs, "message_start"), 1, "the slow attempt's events never reach the caller: {}", a.text);
    let text = deltas(&evs, "text");
    assert!(text.contains("kappa lambda") && !text.contains("tick"), "{text}");
    assert!(d.log().contains("stream too slow"), "the abandoned attempt's debug line says why");
}
