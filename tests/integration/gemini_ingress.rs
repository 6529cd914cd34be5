//! Gemini's own API served by sidegate (`/v1beta/models/{model}:…`), raw HTTP against the real
//! daemon: passthrough to the Gemini fake with the body and answer intact, translation to the
//! OpenAI and Anthropic fakes, whole answers and both stream framings (`alt=sse` and the JSON
//! array), function calls, google.rpc.Status errors, failover, a cache hit, embeddings,
//! countTokens, the ledger's `gemini` dialect, and TCP keys (`x-goog-api-key`, `?key=`) with
//! a budget refusal.

use fake_vendor::FakeVendor;
use serde_json::{Value, json};

use crate::common::{Daemon, FakeToml, GEMINI_KEY, UNREADABLE_BODIES, eventually, post_bytes, with_fake_vendor};

fn config(addr: &str) -> String {
    FakeToml::new(addr)
        .gemini("gem")
        .openai_compatible("oai")
        .anthropic("claude")
        .models(
            "gem",
            &[
                ("flash", "gemini-2.0-flash"),
                ("gem-tools", "tool-call"),
                ("gem-500", "fail-500"),
                ("gem-429", "fail-429"),
            ],
        )
        .raw("[models.flash-window]\nprovider = \"gem\"\nmodel = \"gemini-2.0-flash\"\ncontext_window = 1048576")
        .raw(
            "[models.gem-embed]\nprovider = \"gem\"\nmodel = \"gemini-embedding-001\"\ncapabilities = [\"embeddings\"]",
        )
        .models("oai", &[("gpt", "echo-model"), ("oai-embed", "text-embedding-3-small")])
        .models("claude", &[("haiku", "claude-3-5-haiku-latest"), ("claude-tools", "tool-call")])
        .route("failover", &["gem-500", "gpt"])
        .route("search", &["gpt", "flash"])
        .cached_route("cached", &["gpt"])
        .build()
}

async fn start() -> (FakeVendor, Daemon) {
    with_fake_vendor(config).await
}

/// POST over the socket: status, headers, body text.
async fn post(d: &Daemon, path: &str, body: &Value) -> (u16, reqwest::header::HeaderMap, String) {
    let r = d.http().post(format!("http://sidegate{path}")).json(body).send().await.unwrap();
    (r.status().as_u16(), r.headers().clone(), r.text().await.unwrap())
}

async fn ok(d: &Daemon, path: &str, body: &Value) -> Value {
    let (status, _, text) = post(d, path, body).await;
    assert_eq!(status, 200, "{path}: {text}");
    serde_json::from_str(&text).unwrap()
}

/// The events of an `alt=sse` body, as JSON.
fn sse_events(raw: &str) -> Vec<Value> {
    raw.split("\n\n")
        .filter_map(|e| e.trim().strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

fn text_of(events: &[Value]) -> String {
    events
        .iter()
        .flat_map(|e| e["candidates"][0]["content"]["parts"].as_array().cloned().unwrap_or_default())
        .filter_map(|p| p["text"].as_str().map(str::to_string))
        .collect::<Vec<_>>()
        .join("")
}

fn user(text: &str) -> Value {
    json!({"contents": [{"role": "user", "parts": [{"text": text}]}]})
}

/// Both stream framings of one request: the SSE events and the array's elements.
async fn streams(d: &Daemon, model: &str, body: &Value) -> (Vec<Value>, Vec<Value>) {
    let (status, h, raw) = post(d, &format!("/v1beta/models/{model}:streamGenerateContent?alt=sse"), body).await;
    assert_eq!((status, h["content-type"].to_str().unwrap()), (200, "text/event-stream"), "{raw}");
    let sse = sse_events(&raw);
    let (status, h, raw) = post(d, &format!("/v1beta/models/{model}:streamGenerateContent"), body).await;
    assert_eq!((status, h["content-type"].to_str().unwrap()), (200, "application/json"), "{raw}");
    assert!(raw.starts_with('[') && raw.ends_with(']'), "{raw}");
    let array: Vec<Value> = serde_json::from_str(&raw).unwrap();
    (sse, array)
}

#[tokio::test]
async fn a_gemini_upstream_gets_the_body_as_sent_and_answers_verbatim() {
    let (vendor, d) = start().await;
    let body = json!({"systemInstruction": {"parts": [{"text": "Be terse."}]},
        "contents": [{"role": "user", "parts": [{"text": "bonjour Gemini"}]}],
        "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"}],
        "generationConfig": {"temperature": 0.5, "topK": 40, "thinkingConfig": {"thinkingBudget": 0}}});
    let (status, h, raw) = post(&d, "/v1beta/models/flash:generateContent", &body).await;
    assert_eq!(status, 200, "{raw}");
    assert_eq!(h["x-sidegate-provider"], "gem");
    let last = vendor.last_request();
    assert_eq!(last["path"], "/v1beta/models/gemini-2.0-flash:generateContent");
    assert_eq!(last["body"], body, "every field as the caller sent it");
    // the vendor's bytes: its key order, its `safetyRatings` (which a conversion drops)
    let v: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(raw, serde_json::to_string(&v).unwrap());
    assert_eq!(v["candidates"][0]["safetyRatings"], json!([]));
    assert_eq!((v["responseId"].as_str(), v["modelVersion"].as_str()), (Some("fake-resp-1"), Some("gemini-2.0-flash")));
    assert_eq!(v["candidates"][0]["content"]["parts"][0]["text"], "bonjour Gemini");
    // The caller's key (header or `?key=`) is not the vendor's: sidegate sends its own.
    let r = d
        .http()
        .post("http://sidegate/v1beta/models/flash:generateContent?key=caller-query-key")
        .header("x-goog-api-key", "caller-header-key")
        .header("authorization", "Bearer caller-token")
        .json(&user("whose key"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let last = vendor.last_request();
    assert_eq!(last["headers"]["x-goog-api-key"], GEMINI_KEY);
    assert!(last["query"].is_null() && last["authorization"].is_null(), "{last}");
    // google-genai with api_version v1
    let v1 = ok(&d, "/v1/models/flash:generateContent", &user("via v1")).await;
    assert_eq!(v1["candidates"][0]["content"]["parts"][0]["text"], "via v1");

    let (sse, array) = streams(&d, "models/flash", &user("streamed gemini words")).await;
    assert_eq!(vendor.last_request()["query"], "alt=sse", "sidegate always asks for SSE");
    assert_eq!(text_of(&sse), "streamed gemini words");
    assert_eq!(sse, array, "the array holds the same vendor events");
    assert!(sse.iter().all(|e| e["responseId"] == "fake-resp-1" && e["usageMetadata"].is_object()));
    assert_eq!(sse.last().unwrap()["candidates"][0]["finishReason"], "STOP");
}

#[tokio::test]
async fn other_vendors_are_translated_both_ways() {
    let (vendor, d) = start().await;
    let mut body = user("hello there");
    body["safetySettings"] = json!([{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]);
    body["generationConfig"] = json!({"topK": 3, "maxOutputTokens": 50, "stopSequences": ["END"]});
    for model in ["gpt", "haiku"] {
        let v = ok(&d, &format!("/v1beta/models/{model}:generateContent"), &body).await;
        let c = &v["candidates"][0];
        assert_eq!(
            (c["content"]["parts"][0]["text"].as_str(), c["finishReason"].as_str()),
            (Some("hello there"), Some("STOP"))
        );
        assert_eq!(c["content"]["role"], "model");
        assert!(v["usageMetadata"]["totalTokenCount"].as_u64().unwrap() > 0, "{v}");
        let sent = vendor.last_request()["body"].clone();
        for gemini_only in ["safetySettings", "top_k", "topK", "generationConfig"] {
            assert!(sent.get(gemini_only).is_none(), "{model} got `{gemini_only}`: {sent}");
        }
        assert!(sent["max_tokens"] == 50 || sent["max_completion_tokens"] == 50, "{sent}");
        let (sse, array) = streams(&d, model, &user("streamed through translation")).await;
        for events in [&sse, &array] {
            assert_eq!(text_of(events), "streamed through translation", "{model}");
            let last = events.last().unwrap();
            assert_eq!(last["candidates"][0]["finishReason"], "STOP");
            assert!(last["usageMetadata"]["promptTokenCount"].as_u64().unwrap() > 0, "{last}");
        }
    }
}

#[tokio::test]
async fn function_calls_come_whole_from_every_vendor_and_results_go_back() {
    let (vendor, d) = start().await;
    let tools = json!([{"functionDeclarations": [{"name": "weather", "description": "Weather in a city",
        "parameters": {"type": "OBJECT", "properties": {"q": {"type": "STRING"}}, "required": ["q"]}}]}]);
    let mut body = user("Paris?");
    body["tools"] = tools.clone();
    for model in ["gem-tools", "claude-tools"] {
        let v = ok(&d, &format!("/v1beta/models/{model}:generateContent"), &body).await;
        let parts = v["candidates"][0]["content"]["parts"].as_array().unwrap().clone();
        let call = parts.iter().find_map(|p| p.get("functionCall")).unwrap_or_else(|| panic!("{model}: {v}"));
        assert_eq!(call["name"], "weather");
        assert!(call["args"].is_object(), "{call}");
        assert_eq!(v["candidates"][0]["finishReason"], "STOP");
        let (sse, array) = streams(&d, model, &body).await;
        for events in [sse, array] {
            let calls: Vec<&Value> = events
                .iter()
                .flat_map(|e| e["candidates"][0]["content"]["parts"].as_array().into_iter().flatten())
                .filter_map(|p| p.get("functionCall"))
                .collect();
            assert_eq!(calls.len(), 1, "{model}: one whole call: {events:?}");
            assert_eq!(calls[0]["name"], "weather");
            assert!(calls[0]["args"].is_object());
        }
    }
    // the result, to an OpenAI-style vendor: an assistant tool call and the tool message
    let turn = json!({"tools": tools, "contents": [
        {"role": "user", "parts": [{"text": "Paris?"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "weather", "args": {"q": "Paris"}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "weather", "response": {"output": "sunny"}}}]}]});
    ok(&d, "/v1beta/models/gpt:generateContent", &turn).await;
    let msgs = vendor.last_request()["body"]["messages"].clone();
    let id = msgs[1]["tool_calls"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(msgs[1]["tool_calls"][0]["function"]["arguments"], r#"{"q":"Paris"}"#);
    assert_eq!((msgs[2]["role"].as_str(), msgs[2]["tool_call_id"].as_str()), (Some("tool"), Some(id.as_str())));
    assert_eq!(msgs[2]["content"], "sunny");
}

/// `(status, google.rpc.Status name)` of an error answer, checking its shape.
fn status_of(status: u16, raw: &str) -> (u16, String) {
    let v: Value = serde_json::from_str(raw).unwrap_or_else(|_| panic!("not JSON: {raw}"));
    let e = &v["error"];
    assert_eq!(e["code"], status, "{raw}");
    assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{raw}");
    (status, e["status"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn errors_are_google_rpc_status_with_the_right_codes() {
    let (_vendor, d) = start().await;
    let cases = [
        ("/v1beta/models/nope:generateContent", user("x"), 404, "NOT_FOUND"),
        ("/v1beta/tunedModels/mine:generateContent", user("x"), 404, "NOT_FOUND"),
        ("/v1beta/models/flash:predict", user("x"), 404, "NOT_FOUND"),
        (
            "/v1beta/models/flash:generateContent",
            json!({"contents": [{"parts": [{"txt": "typo"}]}]}),
            400,
            "INVALID_ARGUMENT",
        ),
        (
            "/v1beta/models/gpt:generateContent",
            json!({"contents": [{"parts": [{"text": "x"}]}], "tools": [{"googleSearch": {}}]}),
            400,
            "INVALID_ARGUMENT",
        ),
        ("/v1beta/models/gem-429:generateContent", user("x"), 429, "RESOURCE_EXHAUSTED"),
    ];
    for (path, body, code, name) in cases {
        let (status, h, raw) = post(&d, path, &body).await;
        assert_eq!(status_of(status, &raw), (code, name.to_string()), "{path}: {raw}");
        assert!(h.contains_key("x-sidegate-request-id"));
    }
    let r = d.http().get("http://sidegate/v1beta/models/flash:generateContent").send().await.unwrap();
    let status = r.status().as_u16();
    assert_eq!(status_of(status, &r.text().await.unwrap()), (405, "UNIMPLEMENTED".into()));
    // a vendor failure after retries: its status and a RetryInfo the SDK can honour
    let (_, _, raw) = post(&d, "/v1beta/models/gem-429:generateContent", &user("x")).await;
    let details = serde_json::from_str::<Value>(&raw).unwrap()["error"]["details"].clone();
    assert!(
        details.as_array().unwrap().iter().any(|d| d["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"),
        "{details}"
    );
}

#[tokio::test]
async fn a_body_that_is_not_a_gemini_request_is_a_clear_invalid_argument() {
    let (_vendor, d) = start().await;
    let methods = ["generateContent", "streamGenerateContent", "countTokens", "embedContent", "batchEmbedContents"];
    for method in methods {
        let path = format!("/v1beta/models/flash:{method}");
        for (body, says) in UNREADABLE_BODIES {
            let (status, h, raw) = post_bytes(&d, &path, body).await;
            assert_eq!(status_of(status, &raw), (400, "INVALID_ARGUMENT".into()), "{path} {body:?}: {raw}");
            assert!(raw.contains(says), "{path} {body:?}: {raw}");
            assert!(h.contains_key("x-sidegate-request-id"));
        }
    }
    // `maxOutputTokens` past what a number can be, and past what any context window holds.
    let mut huge = user("x");
    huge["generationConfig"] = json!({"maxOutputTokens": 1e30});
    let (status, _, raw) = post(&d, "/v1beta/models/flash:generateContent", &huge).await;
    assert_eq!(status_of(status, &raw), (400, "INVALID_ARGUMENT".into()), "{raw}");
    huge["generationConfig"] = json!({"maxOutputTokens": u64::MAX});
    let (status, _, raw) = post(&d, "/v1beta/models/flash-window:generateContent", &huge).await;
    assert_eq!(status_of(status, &raw), (400, "INVALID_ARGUMENT".into()), "{raw}");
    assert!(raw.contains("context window"), "{raw}");
}

#[tokio::test]
async fn failover_cache_hits_and_the_ledger_work_through_the_gemini_front() {
    let (_vendor, d) = start().await;
    let (status, h, raw) = post(&d, "/v1beta/models/failover:generateContent", &user("after a failure")).await;
    assert_eq!(status, 200, "{raw}");
    assert_eq!((h["x-sidegate-attempts"].to_str().unwrap(), h["x-sidegate-provider"].to_str().unwrap()), ("2", "oai"));
    let v: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(v["candidates"][0]["content"]["parts"][0]["text"], "after a failure");

    let (_, h1, first) = post(&d, "/v1beta/models/cached:generateContent", &user("cache me")).await;
    let (_, h2, second) = post(&d, "/v1beta/models/cached:generateContent", &user("cache me")).await;
    assert_eq!((h1["x-sidegate-cache"].to_str().unwrap(), h2["x-sidegate-cache"].to_str().unwrap()), ("miss", "hit"));
    let (a, b): (Value, Value) = (serde_json::from_str(&first).unwrap(), serde_json::from_str(&second).unwrap());
    assert_eq!(a["candidates"], b["candidates"]);
    let (sse, array) = streams(&d, "cached", &user("cache me")).await;
    assert_eq!((text_of(&sse), text_of(&array)), ("cache me".into(), "cache me".into()), "a hit replayed as a stream");

    let db = d.dir.path().join("state").join("usage.sqlite3");
    let mut dialects = Vec::new();
    eventually("ledger rows", || {
        let Ok(c) = rusqlite::Connection::open(&db) else { return false };
        let Ok(mut s) = c.prepare("SELECT DISTINCT dialect FROM requests") else { return false };
        dialects = s.query_map([], |r| r.get::<_, String>(0)).unwrap().map(Result::unwrap).collect();
        !dialects.is_empty()
    })
    .await;
    assert_eq!(dialects, ["gemini"]);
    assert!(d.log().contains("dialect=\"gemini\"") || d.log().contains("dialect=gemini"), "{}", d.log());
}

#[tokio::test]
async fn embeddings_and_token_counts() {
    let (vendor, d) = start().await;
    let one = json!({"content": {"parts": [{"text": "embed me"}]}, "outputDimensionality": 4, "taskType": "RETRIEVAL_DOCUMENT"});
    let v = ok(&d, "/v1beta/models/gem-embed:embedContent", &one).await;
    assert_eq!(v["embedding"]["values"].as_array().unwrap().len(), 4, "{v}");
    assert_eq!(vendor.last_request()["body"]["requests"][0]["outputDimensionality"], 4);
    let batch = json!({"requests": [
        {"model": "models/oai-embed", "content": {"parts": [{"text": "a"}]}},
        {"model": "models/oai-embed", "content": {"parts": [{"text": "b"}]}}]});
    let v = ok(&d, "/v1beta/models/oai-embed:batchEmbedContents", &batch).await;
    assert_eq!(v, json!({"embeddings": [{"values": [0.1, 0.2, 0.0]}, {"values": [0.1, 0.2, 1.0]}]}));
    assert_eq!(vendor.last_request()["body"]["input"], json!(["a", "b"]));

    let count = json!({"contents": [{"role": "user", "parts": [{"text": "four words right here"}]}]});
    let (status, _, raw) = post(&d, "/v1beta/models/flash:countTokens", &count).await;
    assert_eq!(status, 200, "{raw}");
    assert_eq!(vendor.last_request()["path"], "/v1beta/models/gemini-2.0-flash:countTokens");
    assert_eq!(vendor.last_request()["body"], count);
    assert_eq!(
        serde_json::from_str::<Value>(&raw).unwrap()["promptTokensDetails"][0]["tokenCount"],
        4,
        "Gemini's answer as is"
    );
    let v = ok(&d, "/v1beta/models/gpt:countTokens", &count).await;
    assert_eq!(v, json!({"totalTokens": 6 + 4 }), "21 characters / 4, rounded up, + 4 per message");
}

#[tokio::test]
async fn tcp_keys_come_from_x_goog_api_key_or_the_query_and_budgets_refuse() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let cfg = r#"
[providers.mock]
kind = "mock"
[models.m]
provider = "mock"
model = "echo"
price = { input = 1000.0, output = 1000.0 }
[callers.rich]
keys = ["sk-rich-0123456789abcdef"]
[callers.poor]
keys = ["sk-poor-0123456789abcdef"]
budget = { usd = 0.01, per = "day" }
"#;
    let d = Daemon::start(&format!("http = \"127.0.0.1:{port}\"\nunknown_callers = \"deny\""), cfg).await;
    eventually("tcp listener", || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()).await;
    let c = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/v1beta/models/m:generateContent");
    let r = c.post(&url).header("x-goog-api-key", "sk-rich-0123456789abcdef").json(&user("hi")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-sidegate-caller"], "rich");
    let r = c.post(format!("{url}?key=sk-rich-0123456789abcdef&alt=sse")).json(&user("hi")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = c.post(&url).json(&user("hi")).send().await.unwrap();
    let status = r.status().as_u16();
    assert_eq!(status_of(status, &r.text().await.unwrap()), (403, "PERMISSION_DENIED".into()));
    let r = c.post(format!("{url}?key=sk-poor-0123456789abcdef")).json(&user("hi")).send().await.unwrap();
    let status = r.status().as_u16();
    let raw = r.text().await.unwrap();
    assert_eq!(status_of(status, &raw), (429, "RESOURCE_EXHAUSTED".into()));
    assert!(raw.contains("BUDGET_EXCEEDED"), "{raw}");
    let log = d.log();
    assert!(!log.contains("sk-rich-0123456789abcdef") && !log.contains("sk-poor-0123456789abcdef"), "{log}");
}

/// A built-in tool is Gemini's to run: the OpenAI deployment refuses the request and the
/// route fails over to Gemini, which gets the tool as sent.
#[tokio::test]
async fn built_in_tools_reach_a_gemini_upstream_and_only_it() {
    let (vendor, d) = start().await;
    let body = json!({"contents": [{"role": "user", "parts": [{"text": "news?"}]}], "tools": [{"googleSearch": {}}]});
    let (status, h, raw) = post(&d, "/v1beta/models/search:generateContent", &body).await;
    assert_eq!(status, 200, "{raw}");
    assert_eq!(h["x-sidegate-model"], "flash");
    let log = h["x-sidegate-attempt-log"].to_str().unwrap();
    assert!(log.contains("gpt") && log.contains("unsupported"), "{log}");
    let last = vendor.last_request();
    assert!(last["path"].as_str().unwrap().ends_with(":generateContent"), "{last}");
    assert_eq!(last["body"]["tools"], body["tools"], "{last}");
}
