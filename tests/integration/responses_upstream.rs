//! An OpenAI upstream called through the Responses API (`api = "responses"`), through the real
//! daemon, against the Responses-shaped fake (which checks requests as the real API does):
//! Chat Completions callers get whole answers, streams, tool calls and usage as from a Chat
//! upstream; vendor failures, empty answers and what Responses cannot express fail over; the
//! key is refused on kinds that cannot speak it.

use std::process::Command;

use fake_vendor::FakeVendor;
use serde_json::{Value, json};

use crate::common::{Daemon, FakeToml, bin, chat_sse, with_fake_vendor};

fn config(addr: &str) -> String {
    FakeToml::new(addr)
        .provider("oai", "openai", "/v1", "sk-fake-responses-key")
        .raw("api = \"responses\"")
        .provider("chatty", "openai", "/v1", "sk-fake-chat-key")
        .models(
            "oai",
            &[
                ("gpt", "gpt-5"),
                ("r500", "fail-500"),
                ("r429", "fail-429"),
                ("r-empty", "empty"),
                ("r-failed", "stream-failed"),
            ],
        )
        .models("chatty", &[("chat-echo", "echo")])
        .raw("[models.override]\nprovider = \"chatty\"\nmodel = \"gpt-5#override\"\napi = \"responses\"")
        .route("failover", &["r500", "gpt"])
        .route("throttled", &["r429", "chat-echo"])
        .route("empty", &["r-empty", "chat-echo"])
        .route("failed-first", &["r-failed", "gpt"])
        .route("short", &["gpt", "chat-echo"])
        .build()
}

async fn start() -> (FakeVendor, Daemon) {
    with_fake_vendor(config).await
}

async fn post(d: &Daemon, body: &Value) -> reqwest::Response {
    d.http().post("http://sidegate/v1/chat/completions").json(body).send().await.unwrap()
}

async fn chat(d: &Daemon, body: &Value) -> (reqwest::header::HeaderMap, Value) {
    let r = post(d, body).await;
    let (status, headers) = (r.status(), r.headers().clone());
    let v: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{v}");
    (headers, v)
}

fn user(text: &str) -> Value {
    json!({"role": "user", "content": text})
}

fn attempt_log(h: &reqwest::header::HeaderMap) -> String {
    h.get("x-sidegate-attempt-log").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
}

#[tokio::test]
async fn whole_answer_and_stream_through_responses() {
    let (vendor, d) = start().await;
    let (_, v) = chat(
        &d,
        &json!({"model": "gpt", "max_completion_tokens": 64, "temperature": 0.5, "seed": 7,
            "messages": [{"role": "developer", "content": "Be terse."}, user("hello responses")]}),
    )
    .await;
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["message"]["content"], "hello responses");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["usage"]["prompt_tokens"], 2);
    assert_eq!(v["usage"]["completion_tokens"], 2);
    let last = vendor.last_request();
    assert_eq!(last["path"], "/v1/responses");
    assert_eq!(last["authorization"], "Bearer sk-fake-responses-key");
    let b = &last["body"];
    assert_eq!(b["model"], "gpt-5");
    assert_eq!(b["store"], false, "sidegate keeps its own state");
    assert_eq!(b["max_output_tokens"], 64);
    assert_eq!(b["input"][0], json!({"type": "message", "role": "developer", "content": "Be terse."}));
    assert!(b.get("seed").is_none() && b.get("messages").is_none(), "{b}");

    let raw = post(
        &d,
        &json!({"model": "gpt", "stream": true, "stream_options": {"include_usage": true},
            "messages": [user("streamed responses words")]}),
    )
    .await
    .text()
    .await
    .unwrap();
    let (events, done) = chat_sse(&raw);
    assert!(done, "{raw}");
    assert_eq!(vendor.last_request()["body"]["stream"], true);
    assert_eq!(events[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = events.iter().filter_map(|e| e["choices"][0]["delta"]["content"].as_str()).collect();
    assert_eq!(text, "streamed responses words");
    let finish: Vec<&str> = events.iter().filter_map(|e| e["choices"][0]["finish_reason"].as_str()).collect();
    assert_eq!(finish, ["stop"]);
    assert_eq!(events.last().unwrap()["choices"], json!([]));
    assert_eq!(events.last().unwrap()["usage"]["completion_tokens"], 3);

    // A model's own `api` overrides its provider's (chat by default).
    chat(&d, &json!({"model": "override", "messages": [user("x")]})).await;
    assert_eq!(vendor.last_request()["path"], "/v1/responses");
    chat(&d, &json!({"model": "chat-echo", "messages": [user("x")]})).await;
    assert_eq!(vendor.last_request()["path"], "/v1/chat/completions");
}

fn tools() -> Value {
    json!([
        {"type": "function", "function": {"name": "weather", "description": "Weather by city",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}},
        {"type": "function", "function": {"name": "now", "parameters": {"type": "object", "properties": {}}}}
    ])
}

/// Tool calls from a whole answer or a stream, as the assistant message's `tool_calls`.
async fn first_turn(d: &Daemon, stream: bool) -> (Vec<Value>, String, String) {
    let body =
        json!({"model": "oai/tool-call", "tools": tools(), "stream": stream, "messages": [user("weather in Paris?")]});
    if !stream {
        let (_, v) = chat(d, &body).await;
        let m = &v["choices"][0];
        let text = m["message"]["content"].as_str().unwrap_or("").to_string();
        let calls = m["message"]["tool_calls"].as_array().cloned().unwrap_or_default();
        return (calls, text, m["finish_reason"].as_str().unwrap().to_string());
    }
    let (events, done) = chat_sse(&post(d, &body).await.text().await.unwrap());
    assert!(done);
    let text: String = events.iter().filter_map(|e| e["choices"][0]["delta"]["content"].as_str()).collect();
    let mut calls: Vec<Value> = Vec::new();
    for t in events.iter().flat_map(|e| e["choices"][0]["delta"]["tool_calls"].as_array().cloned().unwrap_or_default())
    {
        let i = t["index"].as_u64().unwrap() as usize;
        if i == calls.len() {
            calls.push(json!({"id": t["id"], "type": "function", "function": {"name": t["function"]["name"], "arguments": ""}}));
        }
        let args = calls[i]["function"]["arguments"].as_str().unwrap().to_string();
        calls[i]["function"]["arguments"] = json!(args + t["function"]["arguments"].as_str().unwrap_or(""));
    }
    let finish = events.iter().find_map(|e| e["choices"][0]["finish_reason"].as_str().map(str::to_string)).unwrap();
    (calls, text, finish)
}

#[tokio::test]
async fn tool_calls_whole_and_streamed_then_the_round_trip() {
    let (vendor, d) = start().await;
    for stream in [false, true] {
        let (calls, text, finish) = first_turn(&d, stream).await;
        assert_eq!(finish, "tool_calls", "stream={stream}");
        assert_eq!(text, "Let me check.");
        assert_eq!(calls.len(), 2, "{calls:?}");
        assert_eq!(calls[0]["function"]["name"], "weather");
        assert_eq!(calls[0]["id"], "call_fake01_0");
        assert_eq!(
            serde_json::from_str::<Value>(calls[0]["function"]["arguments"].as_str().unwrap()).unwrap(),
            json!({"q": "weather in Paris?"})
        );
        assert_eq!(calls[1]["function"]["arguments"], "{}");
        // The tools went out flat, as the Responses API takes them.
        let sent = &vendor.last_request()["body"]["tools"];
        assert_eq!(sent[0]["name"], "weather");
        assert!(sent[0].get("function").is_none(), "{sent}");

        let messages = json!([user("weather in Paris?"),
            {"role": "assistant", "content": text, "tool_calls": calls},
            {"role": "tool", "tool_call_id": calls[0]["id"], "content": "sunny"},
            {"role": "tool", "tool_call_id": calls[1]["id"], "content": "noon"}]);
        let (_, v) = chat(&d, &json!({"model": "oai/tool-call", "tools": tools(), "messages": messages})).await;
        assert_eq!(v["choices"][0]["message"]["content"], "results: sunny; noon");
        assert_eq!(v["choices"][0]["finish_reason"], "stop");
        let input = &vendor.last_request()["body"]["input"];
        assert_eq!(input[2]["type"], "function_call");
        assert_eq!(input[4]["type"], "function_call_output");
    }
    // A forced function: that call alone.
    let forced = json!({"model": "gpt", "tools": tools(), "tool_choice": {"type": "function", "function": {"name": "now"}},
        "messages": [user("what time")]});
    let (_, v) = chat(&d, &forced).await;
    assert_eq!(v["choices"][0]["message"]["tool_calls"][0]["function"]["name"], "now");
    assert_eq!(vendor.last_request()["body"]["tool_choice"], json!({"type": "function", "name": "now"}));
}

#[tokio::test]
async fn usage_keeps_cached_and_reasoning_tokens() {
    let (_vendor, d) = start().await;
    let (_, v) = chat(&d, &json!({"model": "oai/reasoning", "messages": [user("think a b")]})).await;
    assert_eq!(v["choices"][0]["message"]["content"], "think a b", "the reasoning item is left out");
    assert_eq!(v["usage"]["completion_tokens_details"]["reasoning_tokens"], 7);
    assert_eq!(v["usage"]["completion_tokens"], 10);
    let (_, v) = chat(&d, &json!({"model": "oai/cache", "messages": [user("cached question")]})).await;
    assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 2048);
    assert_eq!(v["usage"]["prompt_tokens"], 2050);
    let (_, v) = chat(&d, &json!({"model": "oai/max-tokens", "messages": [user("long")]})).await;
    assert_eq!(v["choices"][0]["finish_reason"], "length");
}

#[tokio::test]
async fn vendor_failures_fail_over_and_429_carries_retry_after() {
    let (_vendor, d) = start().await;
    for stream in [false, true] {
        let r = post(&d, &json!({"model": "failover", "stream": stream, "messages": [user("fail over")]})).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-sidegate-model"], "gpt");
        let log = attempt_log(r.headers());
        assert!(log.starts_with("r500;upstream_error;"), "{log}");
    }
    let (h, v) = chat(&d, &json!({"model": "throttled", "messages": [user("throttled")]})).await;
    assert!(attempt_log(&h).starts_with("r429;rate_limited;"), "{}", attempt_log(&h));
    assert_eq!(v["choices"][0]["message"]["content"], "throttled");
    // With nowhere else to go, the caller gets the 429 and the vendor's delay.
    let r = post(&d, &json!({"model": "r429", "messages": [user("x")]})).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_some(), "{:?}", r.headers());
    assert!(!d.log().contains("sk-fake-responses-key"), "the key never reaches the log");
}

#[tokio::test]
async fn empty_answers_failed_streams_and_inexpressible_requests_fail_over() {
    let (vendor, d) = start().await;
    for stream in [false, true] {
        let r = post(&d, &json!({"model": "empty", "stream": stream, "messages": [user("say nothing")]})).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-sidegate-model"], "chat-echo", "stream={stream}");
        assert!(attempt_log(r.headers()).starts_with("r-empty;upstream_invalid_response;"), "{:?}", r.headers());
    }
    // `response.failed` before any output: nothing reached the caller, so the next one serves it.
    let r = post(&d, &json!({"model": "failed-first", "stream": true, "messages": [user("again please")]})).await;
    assert_eq!(r.headers()["x-sidegate-model"], "gpt");
    assert!(attempt_log(r.headers()).starts_with("r-failed;stream_broken;"), "{:?}", r.headers());
    let (events, done) = chat_sse(&r.text().await.unwrap());
    assert!(done);
    let text: String = events.iter().filter_map(|e| e["choices"][0]["delta"]["content"].as_str()).collect();
    assert_eq!(text, "again please");
    // Below the Responses API's 16-token floor, and `stop`: a Chat deployment serves them.
    for extra in [json!({"max_tokens": 5}), json!({"stop": ["END"]})] {
        let calls = vendor.calls();
        let mut body = json!({"model": "short", "messages": [user("tiny")]});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let (h, _) = chat(&d, &body).await;
        assert!(attempt_log(&h).starts_with("gpt;unsupported_by_vendor;"), "{}", attempt_log(&h));
        assert_eq!(vendor.calls(), calls + 1, "only the chat deployment was called");
        assert_eq!(vendor.last_request()["path"], "/v1/chat/completions");
    }
}

#[test]
fn api_responses_is_a_config_error_on_kinds_that_cannot_speak_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[providers.claude]\nkind = \"anthropic\"\napi_key = \"sk-ant\"\napi = \"responses\"\n\n\
         [providers.o]\nkind = \"openai\"\napi_key = \"sk\"\napi = \"respones\"\n",
    )
    .unwrap();
    let out = Command::new(bin()).args(["check", "--config"]).arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let p = path.display().to_string();
    assert!(
        err.contains(&format!(
            "{p}:4:1: providers.claude.api: `api` only applies to kinds \"openai\", \"openai-compatible\" and \"azure\", not \"anthropic\""
        )),
        "{err}"
    );
    assert!(err.contains("providers.o.api: unknown api `respones` (known: chat, responses)"), "{err}");
}

/// The fake itself answers as the Responses API does: a request Chat-shaped by mistake is a
/// 400 naming the parameter, and a stream is the documented event sequence, numbered.
#[tokio::test]
async fn the_fake_checks_and_streams_like_the_responses_api() {
    let vendor = FakeVendor::start().await.unwrap();
    let c = reqwest::Client::new();
    let url = format!("{}/responses", vendor.base_url());
    let send = |body: Value| c.post(&url).bearer_auth("sk-x").json(&body).send();
    let bad = [
        (json!({"model": "m", "input": "x", "messages": []}), "unknown_parameter", "messages"),
        (
            json!({"model": "m", "input": "x", "tools": [{"type": "function", "function": {"name": "f"}}]}),
            "missing_required_parameter",
            "tools[0].name",
        ),
        (json!({"model": "m", "input": "x", "max_output_tokens": 5}), "integer_below_min_value", "max_output_tokens"),
        (
            json!({"model": "m", "input": [{"type": "function_call_output", "call_id": "c9", "output": "r"}]}),
            "invalid_value",
            "input",
        ),
        (
            json!({"model": "m", "input": [{"role": "assistant", "content": [{"type": "input_text", "text": "x"}]}]}),
            "invalid_value",
            "input[0].content[0].type",
        ),
    ];
    for (body, code, param) in bad {
        let r = send(body.clone()).await.unwrap();
        assert_eq!(r.status(), 400, "{body}");
        let v: Value = r.json().await.unwrap();
        assert_eq!((v["error"]["code"].as_str(), v["error"]["param"].as_str()), (Some(code), Some(param)), "{v}");
        assert_eq!(v["error"]["type"], "invalid_request_error");
    }
    let r = c.post(&url).json(&json!({"model": "m", "input": "x"})).send().await.unwrap();
    assert_eq!(r.status(), 401, "no key");

    let whole: Value = send(json!({"model": "m", "input": "a b"})).await.unwrap().json().await.unwrap();
    assert_eq!((whole["object"].as_str(), whole["status"].as_str()), (Some("response"), Some("completed")));
    assert!(whole["id"].as_str().unwrap().starts_with("resp_"));
    assert_eq!(whole["output"][0]["content"][0]["text"], "a b");
    assert_eq!(whole["usage"]["input_tokens_details"]["cached_tokens"], 0);

    let body = json!({"model": "tool-call", "stream": true, "input": "hi there",
        "tools": [{"type": "function", "name": "f", "parameters": {"type": "object", "properties": {"q": {}}}}]});
    let raw = send(body).await.unwrap().text().await.unwrap();
    let events: Vec<Value> = raw
        .split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| {
            let (name, data) = e.split_once('\n').unwrap();
            let v: Value = serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
            assert_eq!(name.strip_prefix("event: ").unwrap(), v["type"].as_str().unwrap());
            v
        })
        .collect();
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["sequence_number"], i as u64);
    }
    let text: String = events[4..7].iter().map(|e| e["delta"].as_str().unwrap()).collect();
    assert_eq!(text, "Let me check.");
    assert_eq!(events[10]["item"]["status"], "in_progress");
    assert_eq!(events[14]["item"]["arguments"], json!({"q": "hi there"}).to_string());
    assert_eq!(events[15]["response"]["output"][1]["call_id"], "call_fake01_0");
}

/// Every field the conversion maps goes out in a shape the strict fake accepts.
#[tokio::test]
async fn a_request_with_every_mapped_field_passes_the_strict_fake() {
    let (vendor, d) = start().await;
    let body = json!({"model": "gpt", "user": "u1", "metadata": {"team": "a"}, "reasoning_effort": "low",
        "parallel_tool_calls": false, "top_p": 0.9, "verbosity": "low", "tools": tools(), "tool_choice": "auto",
        "response_format": {"type": "json_schema", "json_schema": {"name": "out", "schema": {"type": "object"}, "strict": true}},
        "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": [
            {"type": "text", "text": "look"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}}]}]});
    let (_, v) = chat(&d, &body).await;
    assert_eq!(v["choices"][0]["message"]["content"], "look");
    let b = &vendor.last_request()["body"];
    assert_eq!(b["reasoning"], json!({"effort": "low"}));
    assert_eq!(b["text"]["format"]["type"], "json_schema");
    assert_eq!(b["text"]["verbosity"], "low");
    assert_eq!(b["input"][1]["content"][1]["type"], "input_image");
    assert_eq!(b["parallel_tool_calls"], false);
}
