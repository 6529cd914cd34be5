//! The Gemini adapter through the real daemon, against the Gemini-shaped fake vendor (which
//! checks requests as strictly as Gemini does): text, streaming, tool round trips with
//! synthesized ids and thought signatures, JSON mode, candidates, embeddings, errors. Also
//! the Azure OpenAI kind and an OpenAI-compatible preset, whose fakes share the server.

use fake_vendor::FakeVendor;
use serde_json::{Value, json};

use crate::common::{Daemon, FakeToml, GEMINI_KEY, chat_sse, with_fake_vendor};

fn config(addr: &str) -> String {
    FakeToml::new(addr)
        .gemini("gem")
        .provider("azure", "azure", "", "azure-fake-secret")
        .raw("api_version = \"2024-10-21\"")
        .provider("mistral", "openai-compatible", "/v1", "mistral-fake-secret")
        .raw("preset = \"mistral\"\n[providers.mock]\nkind = \"mock\"")
        .models("gem", &[("flash", "gemini-2.0-flash"), ("gem-429", "fail-429")])
        .raw(
            "[models.gem-embed]\nprovider = \"gem\"\nmodel = \"gemini-embedding-001\"\ncapabilities = [\"embeddings\"]",
        )
        .models("mock", &[("echo", "echo")])
        .route("throttled", &["gem-429", "echo"])
        .build()
}

async fn start() -> (FakeVendor, Daemon) {
    with_fake_vendor(config).await
}

async fn post(d: &Daemon, path: &str, body: &Value) -> reqwest::Response {
    d.http().post(format!("http://sidegate{path}")).json(body).send().await.unwrap()
}

async fn chat(d: &Daemon, body: &Value) -> Value {
    let r = post(d, "/v1/chat/completions", body).await;
    let status = r.status();
    let v: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{v}");
    v
}

#[tokio::test]
async fn text_system_config_and_stream() {
    let (vendor, d) = start().await;
    let v = chat(
        &d,
        &json!({"model": "flash", "temperature": 1.5, "max_completion_tokens": 64, "messages": [
        {"role": "developer", "content": "Be terse."}, {"role": "user", "content": "bonjour Gemini ✨"}]}),
    )
    .await;
    assert_eq!(v["choices"][0]["message"]["content"], "bonjour Gemini ✨");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    let last = vendor.last_request();
    assert_eq!(last["path"], "/v1beta/models/gemini-2.0-flash:generateContent");
    assert_eq!(last["headers"]["x-goog-api-key"], GEMINI_KEY);
    assert_eq!(last["authorization"], Value::Null);
    assert_eq!(last["body"]["systemInstruction"], json!({"parts": [{"text": "Be terse."}]}));
    assert_eq!(last["body"]["generationConfig"], json!({"temperature": 1.5, "maxOutputTokens": 64}));

    let raw = post(
        &d,
        "/v1/chat/completions",
        &json!({"model": "flash", "stream": true, "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": "streamed gemini words"}]}),
    )
    .await
    .text()
    .await
    .unwrap();
    let (events, done) = chat_sse(&raw);
    assert!(done, "{raw}");
    assert_eq!(vendor.last_request()["query"], "alt=sse");
    let text: String = events.iter().filter_map(|e| e["choices"][0]["delta"]["content"].as_str()).collect();
    assert_eq!(text, "streamed gemini words");
    assert_eq!(events.last().unwrap()["choices"], json!([]));
    assert_eq!(events.last().unwrap()["usage"]["completion_tokens"], 3);
}

fn tools() -> Value {
    json!([
        {"type": "function", "function": {"name": "weather", "parameters": {"type": "object", "additionalProperties": false,
            "properties": {"q": {"type": ["string", "null"]}}, "required": ["q"]}}},
        {"type": "function", "function": {"name": "now", "parameters": {"type": "object", "properties": {}}}}
    ])
}

#[tokio::test]
async fn tool_round_trip_with_thought_signatures() {
    let (vendor, d) = start().await;
    for stream in [false, true] {
        let mut messages = vec![json!({"role": "user", "content": "weather?"})];
        let first = json!({"model": "gem/thinking", "tools": tools(), "stream": stream, "messages": messages});
        let (calls, finish) = if stream {
            let (events, done) = chat_sse(&post(&d, "/v1/chat/completions", &first).await.text().await.unwrap());
            assert!(done);
            let calls: Vec<Value> = events
                .iter()
                .flat_map(|e| e["choices"][0]["delta"]["tool_calls"].as_array().cloned().unwrap_or_default())
                .map(|t| json!({"id": t["id"], "type": "function", "function": t["function"]}))
                .collect();
            let finish = events.iter().find_map(|e| e["choices"][0]["finish_reason"].as_str().map(str::to_string));
            (calls, finish)
        } else {
            let v = chat(&d, &first).await;
            (
                v["choices"][0]["message"]["tool_calls"].as_array().unwrap().clone(),
                v["choices"][0]["finish_reason"].as_str().map(str::to_string),
            )
        };
        assert_eq!(finish.as_deref(), Some("tool_calls"), "stream={stream}");
        assert_eq!(calls.len(), 2);
        assert_ne!(calls[0]["id"], calls[1]["id"]);
        messages.push(json!({"role": "assistant", "content": null, "tool_calls": calls}));
        messages.push(json!({"role": "tool", "tool_call_id": calls[1]["id"], "content": "12:00"}));
        messages.push(json!({"role": "tool", "tool_call_id": calls[0]["id"], "content": "{\"temp_c\": 21}"}));
        // The fake rejects replayed calls without their thoughtSignature, and responses whose
        // names or order differ from the calls.
        let v = chat(&d, &json!({"model": "gem/thinking", "tools": tools(), "messages": messages})).await;
        assert_eq!(v["choices"][0]["message"]["content"], "results: {\"temp_c\":21}; 12:00", "stream={stream}");
        assert_eq!(v["usage"]["completion_tokens_details"]["reasoning_tokens"], 7);
        let sent = &vendor.last_request()["body"]["contents"];
        assert_eq!(sent[2]["parts"][0]["functionResponse"]["name"], "weather");
    }
}

#[tokio::test]
async fn json_mode_candidates_and_finish_reasons() {
    let (_vendor, d) = start().await;
    let v = chat(&d, &json!({"model": "flash", "messages": [{"role": "user", "content": "x"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "object", "additionalProperties": false,
            "properties": {"answer": {"type": "string"}}}}}}))
    .await;
    let content: Value = serde_json::from_str(v["choices"][0]["message"]["content"].as_str().unwrap()).unwrap();
    assert_eq!(content, json!({"answer": "x"}));
    let v = chat(&d, &json!({"model": "flash", "n": 2, "messages": [{"role": "user", "content": "two"}]})).await;
    assert_eq!(v["choices"].as_array().unwrap().len(), 2);
    assert_eq!(v["choices"][1]["index"], 1);
    for (model, want) in [("max-tokens", "length"), ("safety", "content_filter")] {
        let v =
            chat(&d, &json!({"model": format!("gem/{model}"), "messages": [{"role": "user", "content": "x"}]})).await;
        assert_eq!(v["choices"][0]["finish_reason"], want, "{model}");
    }
}

#[tokio::test]
async fn errors_blocked_prompts_and_failover() {
    let (_vendor, d) = start().await;
    let ask = |m: &str| json!({"model": format!("gem/{m}"), "messages": [{"role": "user", "content": "x"}]});
    let r = post(&d, "/v1/chat/completions", &ask("blocked")).await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "content_policy_violation", "{v}");
    assert_eq!(post(&d, "/v1/chat/completions", &ask("fail-401")).await.status(), 502, "a bad key is ours to fix");
    let r = post(&d, "/v1/chat/completions", &ask("fail-429")).await;
    assert_eq!(r.status(), 429);
    let r = post(
        &d,
        "/v1/chat/completions",
        &json!({"model": "throttled", "messages": [{"role": "user", "content": "x"}]}),
    )
    .await;
    assert_eq!((r.status().as_u16(), r.headers()["x-sidegate-provider"].to_str().unwrap()), (200, "mock"));
    let raw = post(
        &d,
        "/v1/chat/completions",
        &json!({"model": "gem/stream-error", "stream": true, "messages": [{"role": "user", "content": "a b"}]}),
    )
    .await
    .text()
    .await
    .unwrap();
    let (events, done) = chat_sse(&raw);
    assert!(!done && events.last().unwrap().get("error").is_some(), "{raw}");
    let r = post(
        &d,
        "/v1/chat/completions",
        &json!({"model": "flash", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]}),
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(!d.log().contains(GEMINI_KEY));
}

#[tokio::test]
async fn embeddings_batch_in_openai_shape() {
    let (vendor, d) = start().await;
    let inputs: Vec<String> = (0..130).map(|i| format!("doc {i}")).collect();
    let r = post(&d, "/v1/embeddings", &json!({"model": "gem-embed", "input": inputs, "dimensions": 4})).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["object"], "list");
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 130);
    assert_eq!(data[129]["index"], 129);
    assert_eq!(data[0]["embedding"].as_array().unwrap().len(), 4);
    assert_eq!(vendor.calls(), 2, "two batches of at most 100");
    assert_eq!(vendor.last_request()["path"], "/v1beta/models/gemini-embedding-001:batchEmbedContents");
}

#[tokio::test]
async fn azure_deployments_and_the_mistral_preset() {
    let (vendor, d) = start().await;
    let v =
        chat(&d, &json!({"model": "azure/gpt4o-prod", "messages": [{"role": "user", "content": "via azure"}]})).await;
    assert_eq!(v["choices"][0]["message"]["content"], "via azure");
    let last = vendor.last_request();
    assert_eq!(last["path"], "/openai/deployments/gpt4o-prod/chat/completions");
    assert_eq!(last["query"], "api-version=2024-10-21");
    assert_eq!(last["headers"]["api-key"], "azure-fake-secret");
    let raw = post(
        &d,
        "/v1/chat/completions",
        &json!({"model": "azure/gpt4o-prod", "stream": true, "messages": [{"role": "user", "content": "s t"}]}),
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(chat_sse(&raw).1, "{raw}");

    let v = chat(
        &d,
        &json!({"model": "mistral/mistral-small", "seed": 7, "logit_bias": {"1": 1}, "messages": [
        {"role": "developer", "content": "terse"}, {"role": "user", "content": "via mistral"}]}),
    )
    .await;
    assert_eq!(v["choices"][0]["message"]["content"], "via mistral");
    let sent = &vendor.last_request()["body"];
    assert_eq!(sent["random_seed"], 7);
    assert!(sent.get("seed").is_none() && sent.get("logit_bias").is_none());
    assert_eq!(sent["messages"][0]["role"], "system");
    assert_eq!(vendor.last_request()["authorization"], "Bearer mistral-fake-secret");
}
