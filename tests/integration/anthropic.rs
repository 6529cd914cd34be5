//! The Anthropic adapter through the real daemon, against the Anthropic-shaped fake vendor
//! (which checks requests as strictly as Anthropic does): text, streaming, tool round trips,
//! JSON mode, `n` fan-out, and every failure the failover classifier must see.

use fake_vendor::FakeVendor;
use serde_json::{Value, json};

use crate::common::{ANTHROPIC_KEY, Daemon, FakeToml, chat_sse, with_fake_vendor};

fn config(addr: &str) -> String {
    FakeToml::new(addr)
        .anthropic("claude")
        .raw("[providers.mock]\nkind = \"mock\"")
        .models(
            "claude",
            &[
                ("haiku", "claude-3-5-haiku-latest"),
                ("overloaded", "fail-529"),
                ("stream-overloaded", "stream-overloaded"),
            ],
        )
        .models("mock", &[("echo", "echo")])
        .route("resilient", &["overloaded", "echo"])
        .route("resilient-stream", &["stream-overloaded", "echo"])
        .route("claude-first", &["haiku", "echo"])
        .build()
}

async fn start() -> (FakeVendor, Daemon) {
    with_fake_vendor(config).await
}

async fn post(d: &Daemon, path: &str, body: &Value) -> reqwest::Response {
    d.http().post(format!("http://sidegate{path}")).json(body).send().await.unwrap()
}

#[tokio::test]
async fn text_system_and_usage() {
    let (vendor, d) = start().await;
    let r = post(
        &d,
        "/v1/chat/completions",
        &json!({"model": "haiku", "max_tokens": 77, "messages": [
        {"role": "system", "content": "Be terse."}, {"role": "user", "content": "hello claude 👋"}]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-sidegate-provider"], "claude");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "hello claude 👋");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        v["usage"]["total_tokens"],
        v["usage"]["prompt_tokens"].as_u64().unwrap() + v["usage"]["completion_tokens"].as_u64().unwrap()
    );
    let last = vendor.last_request();
    assert_eq!(last["path"], "/v1/messages");
    assert_eq!(last["headers"]["x-api-key"], ANTHROPIC_KEY);
    assert_eq!(last["headers"]["anthropic-version"], "2023-06-01");
    assert_eq!(last["authorization"], Value::Null, "the key travels only in x-api-key");
    assert_eq!(last["body"]["system"], "Be terse.");
    assert_eq!(last["body"]["max_tokens"], 77);
    assert_eq!(last["body"]["model"], "claude-3-5-haiku-latest");
}

#[tokio::test]
async fn stream_with_usage_and_cache_tokens() {
    let (_vendor, d) = start().await;
    let raw = post(
        &d,
        "/v1/chat/completions",
        &json!({"model": "claude/cache", "stream": true,
        "stream_options": {"include_usage": true}, "messages": [{"role": "user", "content": "one two three"}]}),
    )
    .await
    .text()
    .await
    .unwrap();
    let (events, done) = chat_sse(&raw);
    assert!(done, "{raw}");
    let text: String = events.iter().filter_map(|e| e["choices"][0]["delta"]["content"].as_str()).collect();
    assert_eq!(text, "one two three");
    let usage = events.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["prompt_tokens"], 3 + 100 + 2048);
    assert_eq!(usage["usage"]["prompt_tokens_details"]["cached_tokens"], 2048);
    let finishes: Vec<&Value> =
        events.iter().filter_map(|e| e["choices"][0]["finish_reason"].as_str().map(|_| e)).collect();
    assert_eq!(finishes.len(), 1);
}

fn tools() -> Value {
    json!([
        {"type": "function", "function": {"name": "weather", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}},
        {"type": "function", "function": {"name": "now"}}
    ])
}

#[tokio::test]
async fn tool_round_trip_unary_then_stream() {
    let (vendor, d) = start().await;
    let mut messages = vec![json!({"role": "user", "content": "weather?"})];
    let r: Value =
        post(&d, "/v1/chat/completions", &json!({"model": "claude/tool-call", "tools": tools(), "messages": messages}))
            .await
            .json()
            .await
            .unwrap();
    let msg = &r["choices"][0]["message"];
    assert_eq!(r["choices"][0]["finish_reason"], "tool_calls");
    let calls = msg["tool_calls"].as_array().unwrap().clone();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0]["function"]["arguments"], "{\"q\":\"weather?\"}");
    assert_eq!(calls[1]["function"]["arguments"], "{}");
    messages.push(msg.clone());
    // results out of order: the adapter batches them first in one user turn
    for (c, result) in calls.iter().rev().zip(["12:00", "21C"]) {
        messages.push(json!({"role": "tool", "tool_call_id": c["id"], "content": result}));
    }
    let raw = post(
        &d,
        "/v1/chat/completions",
        &json!({"model": "claude/tool-call", "tools": tools(), "stream": true, "messages": messages}),
    )
    .await
    .text()
    .await
    .unwrap();
    let (events, done) = chat_sse(&raw);
    assert!(done, "{raw}");
    let text: String = events.iter().filter_map(|e| e["choices"][0]["delta"]["content"].as_str()).collect();
    assert_eq!(text, "results: 12:00; 21C");
    let sent = &vendor.last_request()["body"]["messages"];
    assert_eq!(sent[2]["content"][0]["type"], "tool_result");
    assert_eq!(sent[2]["content"].as_array().unwrap().len(), 2);

    // The streamed form of the same tool calls: indexes 0 and 1, arguments concatenate to JSON.
    let raw = post(
        &d,
        "/v1/chat/completions",
        &json!({"model": "claude/tool-call", "tools": tools(), "stream": true,
        "messages": [{"role": "user", "content": "weather?"}]}),
    )
    .await
    .text()
    .await
    .unwrap();
    let (events, _) = chat_sse(&raw);
    let mut args = [String::new(), String::new()];
    for e in &events {
        for t in e["choices"][0]["delta"]["tool_calls"].as_array().into_iter().flatten() {
            let i = t["index"].as_u64().unwrap() as usize;
            args[i].push_str(t["function"]["arguments"].as_str().unwrap_or(""));
        }
    }
    assert_eq!(args, ["{\"q\":\"weather?\"}".to_string(), "{}".to_string()]);
}

#[tokio::test]
async fn json_schema_answers_in_content() {
    let (vendor, d) = start().await;
    let v: Value = post(&d, "/v1/chat/completions", &json!({"model": "haiku", "messages": [{"role": "user", "content": "forty-two"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "object", "properties": {"answer": {"type": "string"}}}}}}))
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    let content: Value = serde_json::from_str(v["choices"][0]["message"]["content"].as_str().unwrap()).unwrap();
    assert_eq!(content, json!({"answer": "forty-two"}));
    assert_eq!(vendor.last_request()["body"]["tool_choice"]["type"], "tool");
}

#[tokio::test]
async fn n_fans_out_into_choices() {
    let (vendor, d) = start().await;
    let v: Value = post(
        &d,
        "/v1/chat/completions",
        &json!({"model": "haiku", "n": 3, "messages": [{"role": "user", "content": "a b"}]}),
    )
    .await
    .json()
    .await
    .unwrap();
    let idx: Vec<u64> = v["choices"].as_array().unwrap().iter().map(|c| c["index"].as_u64().unwrap()).collect();
    assert_eq!(idx, vec![0, 1, 2]);
    assert_eq!(v["usage"]["completion_tokens"], 6);
    assert_eq!(vendor.calls(), 3);
    let raw = post(
        &d,
        "/v1/chat/completions",
        &json!({"model": "haiku", "n": 2, "stream": true, "messages": [{"role": "user", "content": "x y"}]}),
    )
    .await
    .text()
    .await
    .unwrap();
    let (events, done) = chat_sse(&raw);
    assert!(done);
    for i in 0..2 {
        let text: String = events
            .iter()
            .filter(|e| e["choices"][0]["index"] == i)
            .filter_map(|e| e["choices"][0]["delta"]["content"].as_str())
            .collect();
        assert_eq!(text, "x y", "choice {i}");
    }
}

#[tokio::test]
async fn overloaded_fails_over_unary_and_before_the_first_streamed_byte() {
    let (_vendor, d) = start().await;
    let r = post(
        &d,
        "/v1/chat/completions",
        &json!({"model": "resilient", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-sidegate-provider"], "mock");
    // The overloaded_error event arrives right after message_start: nothing was committed yet.
    let r = post(
        &d,
        "/v1/chat/completions",
        &json!({"model": "resilient-stream", "stream": true, "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-sidegate-provider"], "mock");
    let (events, done) = chat_sse(&r.text().await.unwrap());
    assert!(done);
    assert_eq!(events.iter().filter_map(|e| e["choices"][0]["delta"]["content"].as_str()).collect::<String>(), "hi");
}

#[tokio::test]
async fn mid_stream_error_event_ends_without_done() {
    let (_vendor, d) = start().await;
    let raw = post(
        &d,
        "/v1/chat/completions",
        &json!({"model": "claude/stream-error", "stream": true, "messages": [{"role": "user", "content": "a b c"}]}),
    )
    .await
    .text()
    .await
    .unwrap();
    let (events, done) = chat_sse(&raw);
    assert!(!done, "{raw}");
    assert!(events.last().unwrap().get("error").is_some(), "{raw}");
    assert!(events.iter().all(|e| e["choices"][0]["finish_reason"].is_null()), "never a fake finish: {raw}");
}

#[tokio::test]
async fn vendor_errors_are_classified() {
    let (_vendor, d) = start().await;
    let ask = |m: &str| json!({"model": format!("claude/{m}"), "messages": [{"role": "user", "content": "x"}]});
    let r = post(&d, "/v1/chat/completions", &ask("fail-429")).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_some());
    assert_eq!(post(&d, "/v1/chat/completions", &ask("fail-401")).await.status(), 502);
    let r = post(&d, "/v1/chat/completions", &ask("context-400")).await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert!(v["error"]["message"].as_str().unwrap().contains("prompt is too long"), "{v}");
    let bad = json!({"model": "haiku", "temperature": 1.7, "messages": [{"role": "user", "content": "x"}]});
    let r = post(&d, "/v1/chat/completions", &bad).await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert!(v["error"]["message"].as_str().unwrap().contains("temperature"), "{v}");
    assert!(!d.log().contains(ANTHROPIC_KEY), "the key never reaches the log");
}

#[tokio::test]
async fn embeddings_are_refused_with_a_clear_error() {
    let (vendor, d) = start().await;
    let r = post(&d, "/v1/embeddings", &json!({"model": "haiku", "input": "x"})).await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    // The router filters by capability ("does not embed"); the adapter refuses too ("no embeddings").
    let m = v["error"]["message"].as_str().unwrap();
    assert!(m.contains("embed"), "{v}");
    assert_eq!(vendor.calls(), 0);
}

#[tokio::test]
async fn a_field_claude_cannot_express_fails_over_to_a_vendor_that_can() {
    let (vendor, d) = start().await;
    let body = serde_json::json!({"model": "claude-first", "logit_bias": {"50256": -100},
        "messages": [{"role": "user", "content": "biased"}]});
    let r = post(&d, "/v1/chat/completions", &body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-sidegate-model"], "echo");
    let log = r.headers()["x-sidegate-attempt-log"].to_str().unwrap().to_string();
    assert!(log.starts_with("haiku;unsupported_by_vendor;"), "{log}");
    assert_eq!(vendor.calls(), 0, "nothing was sent to Anthropic");
    // with nowhere else to go, the caller gets the 400 that says why
    let body = serde_json::json!({"model": "haiku", "logit_bias": {"50256": -100}, "messages": [{"role": "user", "content": "x"}]});
    let r = post(&d, "/v1/chat/completions", &body).await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "unsupported_parameter");
}
