//! The OpenAI-compatible HTTP front, over the Unix socket and loopback TCP.

use fake_vendor::FakeVendor;
use serde_json::{Value, json};

use crate::common::{Daemon, vendor_config};

fn chat_body(model: &str, text: &str, stream: bool) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": text}], "stream": stream})
}

#[tokio::test]
async fn chat_through_a_fake_openai_vendor() {
    let vendor = FakeVendor::start().await.unwrap();
    let d = Daemon::start("", &vendor_config(&vendor.base_url())).await;
    let r = d
        .http()
        .post("http://sidegate/v1/chat/completions")
        .json(&chat_body("fast", "hello vendor", false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-sidegate-provider"], "fake");
    assert_eq!(r.headers()["x-sidegate-model"], "fake-echo");
    assert_eq!(r.headers()["x-sidegate-cache"], "bypass");
    assert_eq!(r.headers()["x-sidegate-attempts"], "1");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "hello vendor");
    assert_eq!(v["usage"]["total_tokens"], 4);
    // the vendor saw its own model id, our key, and the caller's messages
    let last = vendor.last_request();
    assert_eq!(last["body"]["model"], "echo-model");
    assert_eq!(last["authorization"], "Bearer sk-fake-secret-key");
}

#[tokio::test]
async fn unknown_fields_pass_through_to_openai_style_vendors() {
    let vendor = FakeVendor::start().await.unwrap();
    let d = Daemon::start("", &vendor_config(&vendor.base_url())).await;
    let mut body = chat_body("fake/echo", "x", false);
    body["logit_bias"] = json!({"50256": -100});
    body["reasoning_effort"] = json!("low");
    body["messages"][0]["name"] = json!("alice");
    body["metadata"] = json!({"k": "v"});
    let r = d.http().post("http://sidegate/v1/chat/completions").json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let sent = &vendor.last_request()["body"];
    assert_eq!(sent["logit_bias"], json!({"50256": -100}));
    assert_eq!(sent["reasoning_effort"], "low");
    assert_eq!(sent["messages"][0]["name"], "alice");
    assert_eq!(sent["metadata"], json!({"k": "v"}));
    assert_eq!(sent["model"], "echo");
}

#[tokio::test]
async fn sse_stream_is_relayed_chunk_by_chunk() {
    let vendor = FakeVendor::start().await.unwrap();
    let d = Daemon::start("", &vendor_config(&vendor.base_url())).await;
    let mut r = d
        .http()
        .post("http://sidegate/v1/chat/completions")
        .json(&chat_body("fast", "one two three", true))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let mut raw = String::new();
    while let Some(b) = r.chunk().await.unwrap() {
        raw.push_str(std::str::from_utf8(&b).unwrap());
    }
    assert!(raw.ends_with("data: [DONE]\n\n"), "{raw}");
    let text: String = raw
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str::<Value>(d).unwrap())
        .filter_map(|v| v["choices"][0]["delta"]["content"].as_str().map(str::to_string))
        .collect();
    assert_eq!(text, "one two three");
    // no usage chunk: the caller did not ask for one (sidegate did, for its own accounting)
    assert!(!raw.contains("\"usage\""), "{raw}");
    assert_eq!(vendor.last_request()["body"]["stream_options"]["include_usage"], true);
}

#[tokio::test]
async fn stream_usage_chunk_when_asked() {
    let d = Daemon::start("", "[providers.mock]\nkind = \"mock\"\n").await;
    let mut body = chat_body("mock/x", "a b", true);
    body["stream_options"] = json!({"include_usage": true});
    let raw =
        d.http().post("http://sidegate/v1/chat/completions").json(&body).send().await.unwrap().text().await.unwrap();
    assert!(raw.contains("\"choices\":[],\"usage\":{\"prompt_tokens\""), "{raw}");
}

#[tokio::test]
async fn broken_streams_end_with_an_error_event_and_no_done() {
    let vendor = FakeVendor::start().await.unwrap();
    let d = Daemon::start("", &vendor_config(&vendor.base_url())).await;
    for model in ["fake/truncate", "fake/stream-error"] {
        let r = d
            .http()
            .post("http://sidegate/v1/chat/completions")
            .json(&chat_body(model, "x", true))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{model}: committed after the first chunk");
        let raw = r.text().await.unwrap();
        assert!(raw.contains("data: {\"error\":{"), "{model}: {raw}");
        assert!(raw.contains("\"code\":\"stream_broken\""), "{model}: {raw}");
        assert!(!raw.contains("[DONE]"), "{model}: {raw}");
    }
}

#[tokio::test]
async fn vendor_errors_become_openai_errors_with_fitting_status() {
    let vendor = FakeVendor::start().await.unwrap();
    let d = Daemon::start("", &vendor_config(&vendor.base_url())).await;
    let cases = [
        ("fake/bad-400", 400, "invalid_value"),
        ("fake/context-400", 400, "context_length_exceeded"),
        ("fake/fail-429", 429, "rate_limit_exceeded"),
        ("fake/quota-429", 429, "insufficient_quota"),
        ("fake/fail-401", 502, "invalid_api_key"),
        ("fake/fail-500", 502, "server_error"),
        ("fake/fail-503", 503, "server_error"),
        ("fake/malformed", 502, "all_targets_failed"),
        ("fake/reset", 502, "all_targets_failed"),
        ("down/x", 502, "all_targets_failed"),
    ];
    for (model, status, code) in cases {
        for stream in [false, true] {
            // a distinct deployment per mode, so one run's breaker state does not touch the other
            let model = if stream { format!("{model}#s") } else { model.to_string() };
            let model = model.as_str();
            let r = d
                .http()
                .post("http://sidegate/v1/chat/completions")
                .json(&chat_body(model, "x", stream))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), status, "{model} stream={stream}");
            let retry_after = r.headers().get("retry-after").cloned();
            let v: Value = r.json().await.unwrap();
            assert_eq!(v["error"]["code"], code, "{model} stream={stream}: {v}");
            assert!(v["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
            assert!(!v.to_string().contains("sk-fake-secret-key"), "key leaked: {v}");
            if model.starts_with("fake/fail-429") {
                assert_eq!(retry_after.unwrap(), "1");
            }
        }
    }
}

#[tokio::test]
async fn failover_walks_the_route_in_order() {
    let vendor = FakeVendor::start().await.unwrap();
    let d = Daemon::start("", &vendor_config(&vendor.base_url())).await;
    let r = d
        .http()
        .post("http://sidegate/v1/chat/completions")
        .json(&chat_body("failover", "survived", false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-sidegate-model"], "fake-echo");
    // fail-500, then the dead port, then the healthy one: failover is immediate
    assert_eq!(r.headers()["x-sidegate-attempts"], "3");
    let log = r.headers()["x-sidegate-attempt-log"].to_str().unwrap().to_string();
    let outcomes: Vec<&str> = log.split(", ").map(|a| a.split(';').nth(1).unwrap()).collect();
    assert_eq!(outcomes, ["upstream_error", "connect_error", "ok"], "{log}");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "survived");
}

#[tokio::test]
async fn bad_requests_get_openai_error_bodies() {
    let d = Daemon::start(
        "max_body_bytes = 2048",
        "[providers.mock]\nkind = \"mock\"\n[models.echo]\nprovider = \"mock\"\nmodel = \"e\"\n",
    )
    .await;
    let c = d.http();
    let url = "http://sidegate/v1/chat/completions";
    let send = |body: String| c.post(url).header("content-type", "application/json").body(body).send();

    let r = send("{not json".into()).await.unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["type"], "invalid_request_error");

    let r = send(r#"{"model":"echo"}"#.into()).await.unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["param"], "messages", "{v}");

    let r = send(r#"{"model":"nope","messages":[{"role":"user","content":"x"}]}"#.into()).await.unwrap();
    assert_eq!(r.status(), 404);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "model_not_found");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("echo") && msg.contains("mock/<model>"), "{msg}");

    let r = send(r#"{"model":"echo","messages":[{"role":"wizard","content":"x"}]}"#.into()).await.unwrap();
    assert_eq!(r.status(), 400);

    let big = format!(r#"{{"model":"echo","messages":[{{"role":"user","content":"{}"}}]}}"#, "x".repeat(4096));
    let r = send(big).await.unwrap();
    assert_eq!(r.status(), 413);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "request_too_large");

    let r = c.get("http://sidegate/v1/nothing").send().await.unwrap();
    assert_eq!(r.status(), 404);
    let r = c.get(url).send().await.unwrap();
    assert_eq!(r.status(), 405);

    // and the daemon is still fine
    let r = send(r#"{"model":"echo","messages":[{"role":"user","content":"still here"}]}"#.into()).await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn models_health_and_tcp_listener() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let d = Daemon::start(&format!("http = \"127.0.0.1:{port}\""), "[providers.mock]\nkind = \"mock\"\n[models.echo]\nprovider = \"mock\"\nmodel = \"e\"\n[routes.r]\ntargets = [\"echo\"]\n").await;
    let tcp = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    crate::common::eventually("tcp listener", || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()).await;
    let v: Value = tcp.get(format!("{base}/v1/models")).send().await.unwrap().json().await.unwrap();
    let ids: Vec<&str> = v["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["r", "echo"]);
    let v: Value = tcp.get(format!("{base}/healthz")).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["status"], "ok");
    let v: Value = d.http().get("http://sidegate/healthz").send().await.unwrap().json().await.unwrap();
    assert_eq!(v["status"], "ok");
    let r =
        tcp.post(format!("{base}/v1/chat/completions")).json(&chat_body("r", "tcp works", false)).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn embeddings_through_mock_and_vendor() {
    let vendor = FakeVendor::start().await.unwrap();
    let d = Daemon::start("", &vendor_config(&vendor.base_url())).await;
    for model in ["mock/embed", "fake/text-embedding-3-small"] {
        let r = d
            .http()
            .post("http://sidegate/v1/embeddings")
            .json(&json!({"model": model, "input": ["a", "b"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{model}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["data"].as_array().unwrap().len(), 2, "{model}: {v}");
    }
}
