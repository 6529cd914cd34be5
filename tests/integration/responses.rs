//! The OpenAI Responses ingress (`/v1/responses`) through the real daemon, against the OpenAI
//! chat, Anthropic and Gemini fakes: whole answers and the exact event stream, a function-call
//! round trip, `previous_response_id` across vendors, the store (GET, DELETE, per caller,
//! `store: false`), the WebSocket refusal, and the pipeline (failover, budget, cache, ledger).

use std::time::Duration;

use fake_vendor::FakeVendor;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{Daemon, eventually};

fn config(fake: &FakeVendor, extra: &str) -> String {
    let (addr, base) = (fake.addr.to_string(), fake.base_url());
    format!(
        r#"
[providers.fake]
kind = "openai-compatible"
base_url = "{base}"
api_key = "sk-fake"

[providers.claude]
kind = "anthropic"
base_url = "http://{addr}"
api_key = "sk-ant-fake"

[providers.gem]
kind = "gemini"
base_url = "http://{addr}"
api_key = "gem-fake"

[models.gpt]
provider = "fake"
model = "echo-model"

[models.gpt-500]
provider = "fake"
model = "fail-500"

[models.haiku]
provider = "claude"
model = "claude-3-5-haiku-latest"

[models.claude-tools]
provider = "claude"
model = "tool-call"

[models.flash]
provider = "gem"
model = "gemini-2.0-flash"

[models.gem-tools]
provider = "gem"
model = "tool-call"

[routes.failover]
targets = ["gpt-500", "haiku"]

[routes.cached]
targets = ["gpt"]
cache = {{ ttl = "10m", tiers = ["memory"] }}
{extra}
"#
    )
}

async fn start(extra: &str) -> (FakeVendor, Daemon) {
    let vendor = FakeVendor::start().await.unwrap();
    let d = Daemon::start("", &config(&vendor, extra)).await;
    (vendor, d)
}

async fn post(d: &Daemon, body: &Value) -> reqwest::Response {
    d.http().post("http://sidegate/v1/responses").json(body).send().await.unwrap()
}

async fn create(d: &Daemon, body: &Value) -> Value {
    let r = post(d, body).await;
    let status = r.status();
    let v: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{v}");
    v
}

/// The events of a Responses SSE body: each `event:` name must equal its data's `type`.
fn events(raw: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for frame in raw.split("\n\n").filter(|f| !f.trim().is_empty()) {
        let name = frame.lines().find_map(|l| l.strip_prefix("event: ")).unwrap_or_else(|| panic!("{frame}"));
        let data = frame.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
        let v: Value = serde_json::from_str(data).unwrap();
        assert_eq!(v["type"], name, "{frame}");
        out.push(v);
    }
    out
}

fn output_text(resp: &Value) -> String {
    let items = resp["output"].as_array().unwrap();
    let parts = items.iter().filter(|i| i["type"] == "message").flat_map(|i| i["content"].as_array().unwrap().iter());
    parts.filter(|p| p["type"] == "output_text").map(|p| p["text"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn whole_answers_from_every_vendor_kind() {
    let (vendor, d) = start("").await;
    for (model, path) in [("gpt", "/v1/chat/completions"), ("haiku", "/v1/messages"), ("flash", "gemini")] {
        let r = post(
            &d,
            &json!({"model": model, "instructions": "Be terse.", "input": "héllo 👋",
            "max_output_tokens": 50, "metadata": {"k": "v"}}),
        )
        .await;
        assert_eq!(r.status(), 200);
        assert!(r.headers().contains_key("x-sidegate-provider"));
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["object"], "response");
        assert!(v["id"].as_str().unwrap().starts_with("resp_"), "{v}");
        assert_eq!(v["status"], "completed", "{v}");
        assert_eq!(output_text(&v), "héllo 👋", "{model}: {v}");
        assert_eq!(v["instructions"], "Be terse.");
        assert_eq!(v["metadata"], json!({"k": "v"}));
        assert_eq!(v["store"], true);
        let u = &v["usage"];
        assert_eq!(u["total_tokens"], u["input_tokens"].as_u64().unwrap() + u["output_tokens"].as_u64().unwrap());
        assert!(
            u["input_tokens_details"]["cached_tokens"].is_u64()
                && u["output_tokens_details"]["reasoning_tokens"].is_u64()
        );
        let last = vendor.last_request();
        if path != "gemini" {
            assert_eq!(last["path"], path);
            assert!(last["body"].get("metadata").is_none(), "metadata is sidegate's, never the vendor's: {last}");
            assert!(last["body"].get("store").is_none(), "{last}");
        }
    }
}

#[tokio::test]
async fn streams_are_the_exact_event_sequence_from_every_vendor_kind() {
    let (_vendor, d) = start("").await;
    for model in ["gpt", "haiku", "flash"] {
        let r = post(&d, &json!({"model": model, "input": "one two three", "stream": true})).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "text/event-stream");
        let ev = events(&r.text().await.unwrap());
        let types: Vec<&str> = ev.iter().map(|e| e["type"].as_str().unwrap()).collect();
        let (first, last) = (&types[..4], &types[types.len() - 4..]);
        assert_eq!(
            first,
            ["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"]
        );
        assert_eq!(
            last,
            [
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.completed"
            ],
            "{model}: {types:?}"
        );
        let seq: Vec<u64> = ev.iter().map(|e| e["sequence_number"].as_u64().unwrap()).collect();
        assert_eq!(seq, (0..ev.len() as u64).collect::<Vec<_>>(), "sequence numbers count up from 0");
        let deltas: String = ev
            .iter()
            .filter(|e| e["type"] == "response.output_text.delta")
            .map(|e| e["delta"].as_str().unwrap())
            .collect();
        assert_eq!(deltas, "one two three", "{model}");
        let item_id = ev[2]["item"]["id"].as_str().unwrap();
        assert!(ev[2..ev.len() - 1].iter().all(|e| e.get("item_id").is_none_or(|i| i == item_id)), "stable item id");
        let done = ev.last().unwrap();
        assert_eq!(done["response"]["status"], "completed");
        assert_eq!(done["response"]["id"], ev[0]["response"]["id"]);
        assert_eq!(output_text(&done["response"]), "one two three");
        assert!(done["response"]["usage"]["output_tokens"].as_u64().unwrap() > 0, "{done}");
    }
}

fn weather_tool() -> Value {
    json!([{"type": "function", "name": "get_weather", "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}])
}

/// A function call, its output sent back by `previous_response_id`, and the final answer.
#[tokio::test]
async fn a_function_call_round_trip_through_anthropic_and_gemini() {
    let (vendor, d) = start("").await;
    for model in ["claude-tools", "gem-tools"] {
        let first = create(&d, &json!({"model": model, "input": "weather in Paris?", "tools": weather_tool()})).await;
        let call = first["output"].as_array().unwrap().iter().find(|i| i["type"] == "function_call").cloned();
        let call = call.unwrap_or_else(|| panic!("{model}: {first}"));
        assert_eq!(call["name"], "get_weather");
        assert_eq!(call["status"], "completed");
        let call_id = call["call_id"].as_str().unwrap();
        let second = create(
            &d,
            &json!({"model": model, "previous_response_id": first["id"], "tools": weather_tool(),
            "input": [{"type": "function_call_output", "call_id": call_id, "output": "18C and sunny"}]}),
        )
        .await;
        assert_eq!(second["previous_response_id"], first["id"]);
        assert!(output_text(&second).contains("18C and sunny"), "{model}: {second}");
        let sent = vendor.last_request()["body"].to_string();
        assert!(sent.contains("weather in Paris?") && sent.contains("18C and sunny"), "{model}: {sent}");
    }
    // streamed: the call arrives as a function_call item with argument deltas
    let r = post(
        &d,
        &json!({"model": "claude-tools", "input": "weather in Rome?", "tools": weather_tool(), "stream": true}),
    )
    .await;
    let ev = events(&r.text().await.unwrap());
    let types: Vec<&str> = ev.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert!(types.contains(&"response.function_call_arguments.delta"), "{types:?}");
    assert!(types.contains(&"response.function_call_arguments.done"), "{types:?}");
    let done = ev.last().unwrap();
    assert_eq!(done["type"], "response.completed");
    let last_item = done["response"]["output"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last_item["type"], "function_call", "a turn that ends in a call ends with the call item: {done}");
}

#[tokio::test]
async fn previous_response_id_continues_across_vendors_and_the_store_answers_get_and_delete() {
    let (vendor, d) = start("").await;
    let first = create(&d, &json!({"model": "gpt", "input": "my name is Ada"})).await;
    let id = first["id"].as_str().unwrap();
    let second = create(&d, &json!({"model": "haiku", "previous_response_id": id, "input": "what is my name?"})).await;
    let sent = &vendor.last_request()["body"];
    assert_eq!(vendor.last_request()["path"], "/v1/messages");
    let msgs = sent["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 3, "earlier turn (user + assistant) and the new input: {sent}");
    assert!(msgs[0].to_string().contains("my name is Ada") && msgs[2].to_string().contains("what is my name?"));
    // a third turn through Gemini still sees the whole conversation
    let sid = second["id"].as_str().unwrap();
    create(&d, &json!({"model": "flash", "previous_response_id": sid, "input": "and again?"})).await;
    let sent = vendor.last_request()["body"].to_string();
    assert!(
        sent.contains("my name is Ada") && sent.contains("what is my name?") && sent.contains("and again?"),
        "{sent}"
    );

    let got: Value =
        d.http().get(format!("http://sidegate/v1/responses/{id}")).send().await.unwrap().json().await.unwrap();
    assert_eq!(got["id"], first["id"]);
    assert_eq!(got["output"], first["output"]);
    let r = d.http().delete(format!("http://sidegate/v1/responses/{id}")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let rid = r.headers()["x-sidegate-request-id"].to_str().unwrap().to_string();
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"id": id, "object": "response", "deleted": true}));
    // the store answered it, and it has its log line like every answer
    eventually("the DELETE log line", || {
        d.log().lines().any(|l| l.contains(&rid) && l.contains("DELETE") && l.contains("status=200"))
    })
    .await;
    let r = d.http().get(format!("http://sidegate/v1/responses/{id}")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["type"], "invalid_request_error");
    let r = post(&d, &json!({"model": "gpt", "previous_response_id": id, "input": "x"})).await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["param"], "previous_response_id");
}

#[tokio::test]
async fn store_false_keeps_nothing_and_streams_are_stored_when_complete() {
    let (_vendor, d) = start("").await;
    let v = create(&d, &json!({"model": "gpt", "input": "forget me", "store": false})).await;
    assert_eq!(v["store"], false);
    let r = d.http().get(format!("http://sidegate/v1/responses/{}", v["id"].as_str().unwrap())).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let raw = post(&d, &json!({"model": "haiku", "input": "keep me", "stream": true})).await.text().await.unwrap();
    let done = events(&raw).pop().unwrap();
    let id = done["response"]["id"].as_str().unwrap().to_string();
    let got: Value =
        d.http().get(format!("http://sidegate/v1/responses/{id}")).send().await.unwrap().json().await.unwrap();
    assert_eq!(output_text(&got), "keep me");
    assert_eq!(got["status"], "completed");
    assert!(got["completed_at"].is_u64(), "{got}");
}

#[tokio::test]
async fn one_caller_never_reads_deletes_or_continues_another_callers_response() {
    let vendor = FakeVendor::start().await.unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let callers = "[callers.alice]\nkeys = [\"sk-alice-0123456789abcdef\"]\n[callers.bob]\nkeys = [\"sk-bob-0123456789abcdef0\"]\n";
    let _d = Daemon::start(&format!("http = \"127.0.0.1:{port}\""), &config(&vendor, callers)).await;
    eventually("tcp listener", || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()).await;
    let c = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}/v1/responses");
    let alice = "sk-alice-0123456789abcdef";
    let bob = "sk-bob-0123456789abcdef0";
    let r = c.post(&base).bearer_auth(alice).json(&json!({"model": "gpt", "input": "secret"})).send().await.unwrap();
    let id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let url = format!("{base}/{id}");
    assert_eq!(c.get(&url).bearer_auth(bob).send().await.unwrap().status(), 404);
    assert_eq!(c.delete(&url).bearer_auth(bob).send().await.unwrap().status(), 404);
    assert_eq!(c.get(&url).send().await.unwrap().status(), 404, "an unknown (anonymous) caller neither");
    let r = c.post(&base).bearer_auth(bob).json(&json!({"model": "gpt", "previous_response_id": id, "input": "x"}));
    assert_eq!(r.send().await.unwrap().status(), 400, "bob cannot continue alice's conversation");
    assert_eq!(c.get(&url).bearer_auth(alice).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn the_websocket_mode_is_refused_with_426() {
    let (_vendor, d) = start("").await;
    let mut s = tokio::net::UnixStream::connect(&d.socket).await.unwrap();
    let req = "GET /v1/responses HTTP/1.1\r\nHost: sidegate\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
               Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let mut got = String::new();
    while !got.contains("upgrade_required") {
        let n = tokio::time::timeout(Duration::from_secs(20), s.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0, "closed before the answer: {got}");
        got.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(got.starts_with("HTTP/1.1 426"), "{got}");
    assert!(!got.to_ascii_lowercase().contains("sec-websocket-accept"), "{got}");
}

#[tokio::test]
async fn failover_cache_and_the_ledger_work_through_the_responses_ingress() {
    let (_vendor, d) = start("").await;
    let r = post(&d, &json!({"model": "failover", "input": "fail over"})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-sidegate-attempts"], "2");
    assert_eq!(r.headers()["x-sidegate-provider"], "claude");
    assert_eq!(output_text(&r.json::<Value>().await.unwrap()), "fail over");

    let a = post(&d, &json!({"model": "cached", "input": "cache me"})).await;
    assert_eq!(a.headers()["x-sidegate-cache"], "miss");
    let a: Value = a.json().await.unwrap();
    let b = post(&d, &json!({"model": "cached", "input": "cache me", "stream": true})).await;
    assert_eq!(b.headers()["x-sidegate-cache"], "hit");
    let done = events(&b.text().await.unwrap()).pop().unwrap();
    assert_eq!(output_text(&done["response"]), "cache me");
    assert_ne!(done["response"]["id"], a["id"], "a cache hit is a new response with its own id");

    let ledger = d.dir.path().join("state/usage.sqlite3");
    eventually("ledger rows", || {
        sidegate::usage::ledger::open_read_only(&ledger)
            .and_then(|c| {
                c.query_row("SELECT COUNT(*) FROM requests WHERE dialect = 'responses'", [], |r| r.get::<_, i64>(0))
            })
            .is_ok_and(|n| n >= 3)
    })
    .await;
    let metrics = d.http().get("http://sidegate/metrics").send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains(r#"dialect="responses""#), "{metrics}");
}

#[tokio::test]
async fn a_budget_refusal_is_an_openai_error_before_the_stream() {
    let vendor = FakeVendor::start().await.unwrap();
    let me = format!(
        "[models.priced]\nprovider = \"fake\"\nmodel = \"echo-model\"\nprice = {{ input = 1000000.0, output = 1000000.0 }}\n\
         [callers.me]\nuid = {}\nbudget = {{ usd = 0.000001, per = \"day\" }}\n",
        sidegate::sys::uid()
    );
    let d = Daemon::start("", &config(&vendor, &me)).await;
    let mut last = None;
    for _ in 0..3 {
        let r = post(&d, &json!({"model": "priced", "input": "spend", "stream": true})).await;
        if r.status() != 200 {
            last = Some((r.status(), r.json::<Value>().await.unwrap()));
            break;
        }
        let _ = r.text().await;
    }
    let (status, body) = last.expect("the budget refuses a call");
    assert_eq!(status, 429);
    assert_eq!(body["error"]["code"], "budget_exceeded", "{body}");
    assert_eq!(body["error"]["type"], "rate_limit_error");
}

/// A hosted tool is OpenAI's to run: a chat deployment refuses it (the route fails over),
/// an OpenAI Responses upstream gets the request as sent and its answer comes back verbatim.
#[tokio::test]
async fn hosted_tools_reach_a_responses_upstream_and_only_it() {
    let extra = r#"
[providers.oai]
kind = "openai"
base_url = "BASE"
api_key = "sk-fake"
api = "responses"

[models.gpt-r]
provider = "oai"
model = "gpt-5-mini"

[routes.hosted]
targets = ["haiku", "gpt-r"]
"#;
    let vendor = FakeVendor::start().await.unwrap();
    let d = Daemon::start("", &config(&vendor, &extra.replace("BASE", &vendor.base_url()))).await;
    let tools = json!([{"type": "web_search"}, {"type": "function", "name": "f", "parameters": {"type": "object", "properties": {}}}]);
    let sent = json!({"model": "hosted", "input": "q", "tools": tools, "include": ["web_search_call.action.sources"]});
    let r = post(&d, &sent).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-sidegate-model"], "gpt-r");
    let log = r.headers()["x-sidegate-attempt-log"].to_str().unwrap().to_string();
    assert!(log.contains("haiku") && log.contains("unsupported"), "Anthropic refused first: {log}");
    let body = r.bytes().await.unwrap();
    let got: Value = serde_json::from_slice(&body).unwrap();
    assert!(got["id"].as_str().unwrap().starts_with("resp_"), "{got}");
    let last = vendor.last_request();
    assert_eq!(last["path"], "/v1/responses");
    assert_eq!(last["body"]["tools"], tools, "the tools as sent: {last}");
    assert_eq!(last["body"]["include"], sent["include"]);
    assert_eq!(last["body"]["model"], "gpt-5-mini");
    // The stored answer is the vendor's own object, retrievable by its id.
    let id = got["id"].as_str().unwrap();
    let stored: Value =
        d.http().get(format!("http://sidegate/v1/responses/{id}")).send().await.unwrap().json().await.unwrap();
    assert_eq!(stored["id"], got["id"], "{stored}");
}

#[tokio::test]
async fn hosted_tools_and_bad_inputs_are_clear_400s_and_input_tokens_counts() {
    let (_vendor, d) = start("").await;
    let r = post(&d, &json!({"model": "gpt", "input": "q", "tools": [{"type": "web_search"}]})).await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    let message = v["error"]["message"].as_str().unwrap();
    assert!(message.contains("tools[0]") && message.contains("web_search"), "{v}");
    let r = post(&d, &json!({"model": "gpt"})).await;
    assert_eq!(r.status(), 400);
    let r = d
        .http()
        .post("http://sidegate/v1/responses/input_tokens")
        .json(&json!({"model": "gpt", "input": "four words right here"}));
    let v: Value = r.send().await.unwrap().json().await.unwrap();
    assert_eq!(v["object"], "response.input_tokens");
    assert!(v["input_tokens"].as_u64().unwrap() > 0, "{v}");
    let r = d.http().get("http://sidegate/v1/responses/resp_nope").send().await.unwrap();
    assert_eq!(r.status(), 404);
}
