//! The Anthropic Messages ingress (`POST /v1/messages`, `/v1/messages/count_tokens`) through
//! the real daemon: passthrough to the Anthropic-shaped fake (every field and header intact,
//! thinking streamed as it came), translation to the OpenAI-shaped and Gemini-shaped fakes
//! (whole, streamed, tool use), Anthropic-shaped errors, and the pipeline through this
//! ingress: failover, budget, cache, ledger and metrics.

use fake_vendor::FakeVendor;
use serde_json::{Value, json};

use crate::common::{Daemon, FakeToml, UNREADABLE_BODIES, eventually, post_bytes, with_fake_vendor};

fn config(addr: &str) -> String {
    FakeToml::new(addr)
        .anthropic("claude")
        .openai_compatible("oai")
        .gemini("gem")
        .models("claude", &[("haiku", "claude-3-5-haiku-latest"), ("claude-think", "thinking"), ("claude-tools", "tool-call")])
        .raw("[models.haiku-window]\nprovider = \"claude\"\nmodel = \"claude-3-5-haiku-latest\"\ncontext_window = 200000")
        .models(
            "oai",
            &[("oai-echo", "echo-model"), ("oai-tools", "tool-call"), ("oai-500", "fail-500"), ("oai-broken", "stream-error")],
        )
        .raw("[models.oai-text-only]\nprovider = \"oai\"\nmodel = \"echo-model#text\"\ncapabilities = [\"tools\"]")
        .models("gem", &[("gem-echo", "gemini-2.0-flash"), ("gem-tools", "text-tool-call")])
        .route("failover", &["oai-500", "haiku"])
        .route("openai-first", &["oai-echo", "haiku"])
        .cached_route("cached", &["oai-echo"])
        .build()
}

async fn start() -> (FakeVendor, Daemon) {
    with_fake_vendor(config).await
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

async fn post(d: &Daemon, path: &str, body: &Value, headers: &[(&str, &str)]) -> Answer {
    let mut r = d.http().post(format!("http://sidegate{path}")).json(body);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let resp = r.send().await.unwrap();
    let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
    Answer { status, headers, text: resp.text().await.unwrap() }
}

async fn messages(d: &Daemon, body: &Value) -> Answer {
    post(d, "/v1/messages", body, &[("anthropic-version", "2023-06-01")]).await
}

/// `(event name, data)` of each server-sent event.
fn events(raw: &str) -> Vec<(String, Value)> {
    raw.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let name = e.lines().find_map(|l| l.strip_prefix("event: ")).unwrap_or("").to_string();
            let data = e.lines().find_map(|l| l.strip_prefix("data: ")).unwrap_or("null");
            (name, serde_json::from_str(data).unwrap_or_else(|_| panic!("bad event data: {e}")))
        })
        .collect()
}

fn names(evs: &[(String, Value)]) -> Vec<&str> {
    evs.iter().map(|(n, _)| n.as_str()).collect()
}

/// Each event's `type` is its SSE name, as Anthropic sends them.
fn assert_well_named(evs: &[(String, Value)]) {
    for (n, v) in evs {
        assert_eq!(v["type"], n.as_str(), "{v}");
    }
}

fn text_of(evs: &[(String, Value)]) -> String {
    evs.iter().filter_map(|(_, v)| v["delta"]["text"].as_str()).collect()
}

fn ask(model: &str, text: &str) -> Value {
    json!({"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": text}]})
}

const WEATHER: &str = r#"{"name": "weather", "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}}"#;

fn with_tools(model: &str, text: &str) -> Value {
    let mut b = ask(model, text);
    b["tools"] = json!([serde_json::from_str::<Value>(WEATHER).unwrap()]);
    b
}

#[tokio::test]
async fn an_anthropic_upstream_gets_every_field_and_header_as_sent() {
    let (vendor, d) = start().await;
    let body = json!({
        "model": "haiku", "max_tokens": 300, "temperature": 0.5, "top_p": 0.9, "top_k": 7,
        "stop_sequences": ["END"], "metadata": {"user_id": "u-42"}, "service_tier": "auto",
        "thinking": {"type": "enabled", "budget_tokens": 1024}, "output_config": {"effort": "high"},
        "context_management": {"edits": [{"type": "clear_tool_uses_20250919"}]},
        "system": [{"type": "text", "text": "Be terse.", "cache_control": {"type": "ephemeral"}}],
        "tools": [{"name": "weather", "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
                   "cache_control": {"type": "ephemeral"}}],
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": true},
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "weather?", "cache_control": {"type": "ephemeral"}},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
                {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "notes"}},
                {"type": "search_result", "source": "https://x/a", "title": "A", "content": [{"type": "text", "text": "sunny"}]}]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "I should call the tool.", "signature": "c2ln"},
                {"type": "redacted_thinking", "data": "ZW5j"},
                {"type": "tool_use", "id": "toolu_01", "name": "weather", "input": {"q": "Paris"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01", "is_error": true,
                 "content": [{"type": "text", "text": "station offline"}]}]}]
    });
    let beta = [("anthropic-version", "2023-06-01"), ("anthropic-beta", "context-management-2025-06-27")];
    let a = post(&d, "/v1/messages", &body, &beta).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.header("x-sidegate-provider"), "claude");
    let last = vendor.last_request();
    let mut want = body.clone();
    want["model"] = json!("claude-3-5-haiku-latest");
    assert_eq!(last["body"], want, "only `model` is rewritten");
    assert_eq!(last["headers"]["anthropic-version"], "2023-06-01");
    assert_eq!(last["headers"]["anthropic-beta"], "context-management-2025-06-27");
    // The vendor's answer, as it sent it (its own model id, its id, its key order).
    let v = a.json();
    assert_eq!(v["id"], "msg_fake01");
    assert_eq!(v["model"], "claude-3-5-haiku-latest");
    assert_eq!(v["content"][0]["text"], "results: station offline");
    assert!(a.text.starts_with(r#"{"content":"#), "the vendor's bytes, not a re-encoding: {}", a.text);
}

#[tokio::test]
async fn a_passthrough_stream_carries_thinking_and_signature_deltas() {
    let (_vendor, d) = start().await;
    let mut body = ask("claude-think", "think about it");
    body["stream"] = json!(true);
    body["thinking"] = json!({"type": "enabled", "budget_tokens": 2048});
    let a = messages(&d, &body).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert!(a.header("content-type").starts_with("text/event-stream"));
    let evs = events(&a.text);
    assert_well_named(&evs);
    let n = names(&evs);
    assert_eq!(&n[..3], ["message_start", "ping", "content_block_start"]);
    assert_eq!(n.last(), Some(&"message_stop"));
    assert_eq!(evs[2].1["content_block"]["type"], "thinking");
    let kinds: Vec<&str> = evs.iter().filter_map(|(_, v)| v["delta"]["type"].as_str()).collect();
    assert!(kinds.contains(&"thinking_delta") && kinds.contains(&"signature_delta"), "{kinds:?}");
    let sig = evs.iter().find_map(|(_, v)| v["delta"]["signature"].as_str());
    assert_eq!(sig, Some("c2lnLWZha2U="));
    assert_eq!(text_of(&evs), "think about it");
}

#[tokio::test]
async fn openai_and_gemini_upstreams_answer_in_messages_shapes() {
    let (vendor, d) = start().await;
    for model in ["oai-echo", "gem-echo"] {
        let mut body = ask(model, "hello there friend");
        body["top_k"] = json!(3);
        body["thinking"] = json!({"type": "enabled", "budget_tokens": 1024});
        let a = messages(&d, &body).await;
        assert_eq!(a.status, 200, "{model}: {}", a.text);
        let v = a.json();
        assert_eq!(v["type"], "message");
        assert_eq!(v["role"], "assistant");
        assert_eq!(v["content"], json!([{"type": "text", "text": "hello there friend"}]), "{model}");
        assert_eq!(v["stop_reason"], "end_turn");
        assert!(v["stop_sequence"].is_null());
        assert!(v["usage"]["input_tokens"].as_u64().unwrap() > 0 && v["usage"]["output_tokens"].as_u64().unwrap() > 0);
        let sent = vendor.last_request()["body"].to_string();
        assert!(
            !sent.contains("top_k") && !sent.contains("budget_tokens"),
            "{model} got Anthropic-only fields: {sent}"
        );

        body["stream"] = json!(true);
        let a = messages(&d, &body).await;
        assert_eq!(a.status, 200, "{model}: {}", a.text);
        let evs = events(&a.text);
        assert_well_named(&evs);
        let n = names(&evs);
        assert_eq!(&n[..3], ["message_start", "ping", "content_block_start"], "{model}");
        assert_eq!(&n[n.len() - 3..], ["content_block_stop", "message_delta", "message_stop"], "{model}");
        assert!(n[3..n.len() - 3].iter().all(|e| *e == "content_block_delta"), "{n:?}");
        assert_eq!(text_of(&evs), "hello there friend");
        let delta = &evs[n.len() - 2].1;
        assert_eq!(delta["delta"]["stop_reason"], "end_turn");
        assert!(delta["usage"]["output_tokens"].as_u64().unwrap() > 0, "{delta}");
    }
}

#[tokio::test]
async fn a_turn_that_ends_in_a_tool_call_is_tool_use_from_every_upstream() {
    let (_vendor, d) = start().await;
    for model in ["claude-tools", "oai-tools", "gem-tools"] {
        let body = with_tools(model, "Paris");
        let a = messages(&d, &body).await;
        assert_eq!(a.status, 200, "{model}: {}", a.text);
        let v = a.json();
        assert_eq!(v["stop_reason"], "tool_use", "{model}: {v}");
        assert_eq!(v["content"][0], json!({"type": "text", "text": "Let me check."}), "{model}");
        let call = &v["content"][1];
        assert_eq!((call["type"].as_str(), call["name"].as_str()), (Some("tool_use"), Some("weather")), "{v}");
        assert_eq!(call["input"], json!({"q": "Paris"}));

        let mut streamed = body.clone();
        streamed["stream"] = json!(true);
        let a = messages(&d, &streamed).await;
        let evs = events(&a.text);
        assert_well_named(&evs);
        let starts: Vec<&str> = evs.iter().filter_map(|(_, v)| v["content_block"]["type"].as_str()).collect();
        assert_eq!(starts, ["text", "tool_use"], "{model}: {}", a.text);
        let args: String = evs.iter().filter_map(|(_, v)| v["delta"]["partial_json"].as_str()).collect();
        assert_eq!(serde_json::from_str::<Value>(&args).unwrap(), json!({"q": "Paris"}), "{model}");
        let stop = evs.iter().find_map(|(_, v)| v["delta"]["stop_reason"].as_str());
        assert_eq!(stop, Some("tool_use"), "{model}: {}", a.text);

        // The round trip: the tool's result goes back, the model answers it.
        let mut next = body.clone();
        let id = call["id"].clone();
        let history = next["messages"].as_array_mut().unwrap();
        history.push(json!({"role": "assistant", "content": v["content"]}));
        history.push(json!({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": id, "content": "21C and sunny"}]}));
        let a = messages(&d, &next).await;
        assert_eq!(a.status, 200, "{model}: {}", a.text);
        let v = a.json();
        assert_eq!(v["stop_reason"], "end_turn", "{model}: {v}");
        assert_eq!(v["content"][0]["type"], "text");
    }
}

#[tokio::test]
async fn errors_are_anthropic_shaped_with_their_status_and_type() {
    let (_vendor, d) = start().await;
    let check = |a: &Answer, status: u16, kind: &str| {
        assert_eq!(a.status, status, "{}", a.text);
        let v = a.json();
        assert_eq!(v["type"], "error", "{v}");
        assert_eq!(v["error"]["type"], kind, "{v}");
        assert!(!v["error"]["message"].as_str().unwrap_or("").is_empty());
        assert!(!a.header("request-id").is_empty());
        assert_eq!(a.header("request-id"), a.header("x-sidegate-request-id"));
    };
    check(&messages(&d, &ask("no-such-model", "x")).await, 404, "not_found_error");
    check(&messages(&d, &json!({"model": "haiku", "messages": []})).await, 400, "invalid_request_error");
    let bad_block =
        json!({"model": "haiku", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "bogus"}]}]});
    check(&messages(&d, &bad_block).await, 400, "invalid_request_error");
    check(&post(&d, "/v1/messages/batches", &json!({}), &[]).await, 404, "not_found_error");
    let r = d.http().get("http://sidegate/v1/messages").send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.json::<Value>().await.unwrap()["type"], "error");
    // No deployment can take an image: sidegate's own refusal, in Anthropic's shape.
    let image = json!({"model": "oai-text-only", "max_tokens": 5, "messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "url", "url": "https://x/cat.png"}}]}]});
    check(&messages(&d, &image).await, 400, "invalid_request_error");
    // An upstream failure with no other target.
    let a = messages(&d, &ask("oai-500", "x")).await;
    assert!(a.status >= 500, "{}", a.text);
    assert!(matches!(a.json()["error"]["type"].as_str(), Some("api_error" | "overloaded_error")), "{}", a.text);
}

#[tokio::test]
async fn a_body_that_is_not_a_messages_request_is_a_clear_anthropic_400() {
    let (_vendor, d) = start().await;
    for path in ["/v1/messages", "/v1/messages/count_tokens"] {
        for (body, says) in UNREADABLE_BODIES {
            let (status, h, raw) = post_bytes(&d, path, body).await;
            let v: Value = serde_json::from_str(&raw).unwrap_or_else(|_| panic!("{path}: not JSON: {raw}"));
            assert_eq!((status, v["type"].as_str()), (400, Some("error")), "{path} {body:?}: {raw}");
            assert_eq!(v["error"]["type"], "invalid_request_error", "{raw}");
            assert!(v["error"]["message"].as_str().unwrap().contains(says), "{path} {body:?}: {raw}");
            assert!(h.contains_key("x-sidegate-request-id") && h.contains_key("request-id"));
        }
    }
    // `max_tokens` past what a number can be, and past what any context window holds.
    let (status, _, raw) = post_bytes(
        &d,
        "/v1/messages",
        br#"{"model": "haiku", "max_tokens": 1e30,
        "messages": [{"role": "user", "content": "x"}]}"#,
    )
    .await;
    assert_eq!(status, 400, "{raw}");
    assert!(raw.contains("invalid_request_error") && raw.contains("1e+30"), "{raw}");
    let mut huge = ask("haiku-window", "x");
    huge["max_tokens"] = json!(u64::MAX);
    let a = messages(&d, &huge).await;
    assert_eq!((a.status, a.json()["error"]["type"].as_str()), (400, Some("invalid_request_error")), "{}", a.text);
    assert!(a.json()["error"]["message"].as_str().unwrap().contains("context window"), "{}", a.text);
}

#[tokio::test]
async fn a_failure_after_the_stream_started_is_an_error_event() {
    let (_vendor, d) = start().await;
    let mut body = ask("oai-broken", "x y z");
    body["stream"] = json!(true);
    let a = messages(&d, &body).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let evs = events(&a.text);
    let n = names(&evs);
    assert_eq!(n.first(), Some(&"message_start"));
    assert_eq!(n.last(), Some(&"error"), "{n:?}");
    assert!(!n.contains(&"message_stop"));
    let err = &evs[evs.len() - 1].1;
    assert!(err["error"]["type"].as_str().is_some_and(|t| t.ends_with("_error")), "{err}");
}

#[tokio::test]
async fn failover_and_server_tools_reach_the_deployment_that_can_answer() {
    let (vendor, d) = start().await;
    // The first target fails with 500: the second (Anthropic, passthrough) answers.
    for stream in [false, true] {
        let mut body = ask("failover", "second one answers");
        body["stream"] = json!(stream);
        let a = messages(&d, &body).await;
        assert_eq!(a.status, 200, "{}", a.text);
        assert_eq!(a.header("x-sidegate-provider"), "claude");
        assert_eq!(a.header("x-sidegate-attempts"), "2");
        let text = if stream { text_of(&events(&a.text)) } else { a.json()["content"][0]["text"].to_string() };
        assert!(text.contains("second one answers"), "{text}");
    }
    // A server tool cannot be given to the OpenAI target: it refuses, Anthropic gets it.
    let mut body = ask("openai-first", "search the web");
    body["tools"] = json!([{"type": "web_search_20250305", "name": "web_search", "max_uses": 2}]);
    let a = messages(&d, &body).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.header("x-sidegate-provider"), "claude");
    assert!(a.header("x-sidegate-attempt-log").contains("unsupported"), "{}", a.header("x-sidegate-attempt-log"));
    assert_eq!(vendor.last_request()["body"]["tools"], body["tools"]);
    // Without it, the OpenAI target answers and never sees Anthropic-only fields.
    let a = messages(&d, &ask("openai-first", "plain")).await;
    assert_eq!(a.header("x-sidegate-provider"), "oai");
}

#[tokio::test]
async fn the_cache_serves_messages_and_is_shared_with_chat_completions() {
    let (vendor, d) = start().await;
    let first = messages(&d, &ask("cached", "cache me please")).await;
    assert_eq!((first.status, first.header("x-sidegate-cache")), (200, "miss"), "{}", first.text);
    let second = messages(&d, &ask("cached", "cache me please")).await;
    assert_eq!(second.header("x-sidegate-cache"), "hit");
    assert_eq!(second.json()["content"], first.json()["content"]);
    // Asked as Chat Completions first, then as Messages: one vendor call.
    let calls = vendor.calls();
    let chat = json!({"model": "cached", "max_tokens": 64, "messages": [{"role": "user", "content": "asked twice"}]});
    let a = post(&d, "/v1/chat/completions", &chat, &[]).await;
    assert_eq!(a.header("x-sidegate-cache"), "miss");
    let m = messages(&d, &ask("cached", "asked twice")).await;
    assert_eq!(m.header("x-sidegate-cache"), "hit", "{}", m.text);
    assert_eq!(m.json()["content"][0]["text"], "asked twice");
    assert_eq!(vendor.calls(), calls + 1);
    // A cached stream is a Messages stream too.
    let mut body = ask("cached", "asked twice");
    body["stream"] = json!(true);
    let s = messages(&d, &body).await;
    assert_eq!(s.header("x-sidegate-cache"), "hit");
    let evs = events(&s.text);
    assert_eq!(names(&evs).last(), Some(&"message_stop"));
    assert_eq!(text_of(&evs), "asked twice");
}

#[tokio::test]
async fn the_ledger_and_metrics_name_the_messages_dialect() {
    let (_vendor, d) = start().await;
    assert_eq!(messages(&d, &ask("oai-echo", "count me")).await.status, 200);
    let metrics = d.http().get("http://sidegate/metrics").send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.lines().any(|l| l.starts_with("sidegate_requests_total{")
            && l.contains(r#"deployment="oai-echo""#)
            && l.contains(r#"dialect="messages""#)),
        "{metrics}"
    );
    let db = d.dir.path().join("state").join("usage.sqlite3");
    let mut dialects = Vec::new();
    eventually("the ledger row", || {
        dialects = rusqlite::Connection::open(&db)
            .and_then(|c| {
                let mut s = c.prepare("SELECT dialect FROM requests WHERE deployment = 'oai-echo'")?;
                s.query_map([], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()
            })
            .unwrap_or_default();
        !dialects.is_empty()
    })
    .await;
    assert_eq!(dialects, ["messages"]);
}

#[tokio::test]
async fn count_tokens_asks_anthropic_or_estimates() {
    let (vendor, d) = start().await;
    let body = json!({"model": "haiku", "messages": [{"role": "user", "content": "four words right here"}],
        "thinking": {"type": "enabled", "budget_tokens": 1024}});
    let a = post(&d, "/v1/messages/count_tokens", &body, &[("anthropic-version", "2023-06-01")]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.json(), json!({"input_tokens": 1004}));
    assert_eq!(a.header("x-sidegate-count"), "vendor");
    let last = vendor.last_request();
    assert_eq!(last["path"], "/v1/messages/count_tokens");
    assert_eq!(last["body"]["model"], "claude-3-5-haiku-latest");
    assert_eq!(last["body"]["thinking"], body["thinking"]);
    // Another vendor: sidegate's estimate (characters / 4 plus 4 a message).
    let mut other = body.clone();
    other["model"] = json!("oai-echo");
    let a = post(&d, "/v1/messages/count_tokens", &other, &[]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.header("x-sidegate-count"), "estimate");
    assert_eq!(a.json(), json!({"input_tokens": 21u64.div_ceil(4) + 4}));
    let a = post(&d, "/v1/messages/count_tokens", &json!({"model": "nope", "messages": []}), &[]).await;
    assert_eq!((a.status, a.json()["error"]["type"].as_str()), (404, Some("not_found_error")));
}

/// A config where this process is caller `me`, with a budget too small for one call.
fn budget_config() -> String {
    format!(
        "[providers.mock]\nkind = \"mock\"\n[models.m]\nprovider = \"mock\"\nmodel = \"x\"\nprice = {{ input = 0.0, output = 1000.0 }}\n\
         [callers.me]\nuid = {}\nbudget = {{ usd = 0.005, per = \"day\" }}\n",
        sidegate::sys::uid()
    )
}

#[tokio::test]
async fn callers_budgets_and_denials_answer_in_anthropic_shapes() {
    let d = Daemon::start("", &budget_config()).await;
    let a = messages(&d, &ask("m", "too expensive")).await;
    assert_eq!(a.status, 429, "{}", a.text);
    let v = a.json();
    assert_eq!(v["error"]["type"], "rate_limit_error");
    assert!(v["error"]["message"].as_str().unwrap().contains("budget"), "{v}");
    drop(d);
    let denied = Daemon::start("unknown_callers = \"deny\"", "[providers.mock]\nkind = \"mock\"\n").await;
    let a = messages(&denied, &ask("mock/x", "who am I")).await;
    assert_eq!(a.status, 403, "{}", a.text);
    assert_eq!(a.json()["error"]["type"], "permission_error");
}
