//! The response cache against the real daemon (issue 7): hits after misses, key stability,
//! TTL, the memory byte bound, the disk tier across restarts and `kill -9`, coalescing of
//! identical requests, stream replay, and a real `redis-server` shared by two daemons and
//! killed mid-run. Waits poll for conditions; nothing asserts on timing.

use std::net::TcpListener;
use std::process::{Child, Command};
use std::time::Duration;

use fake_vendor::FakeVendor;
use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::common::Daemon;

const URL: &str = "http://sidegate/v1/chat/completions";

fn chat(model: &str, text: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": text}]})
}

/// Fake vendor models: `echo` answers at once, `slow-first` after 3 s, `slow-stream` streams
/// for 10 s.
fn config(vendor: &str, extra: &str, cache: &str) -> String {
    format!(
        r#"
[providers.fake]
kind = "openai-compatible"
base_url = "{vendor}"

[models.m-echo]
provider = "fake"
model = "echo"

[models.m-slow]
provider = "fake"
model = "slow-first"

[models.m-drip]
provider = "fake"
model = "slow-stream"

[routes.cached]
targets = ["m-echo"]
cache = {cache}

[routes.slow]
targets = ["m-slow"]
cache = {cache}

[routes.drip]
targets = ["m-drip"]
cache = {cache}
first_token_timeout = "20s"

[routes.plain]
targets = ["m-echo"]

{extra}
"#
    )
}

/// A daemon with its own state directory (kept across restarts of that daemon).
struct Gw {
    d: Daemon,
    _state: tempfile::TempDir,
}

impl std::ops::Deref for Gw {
    type Target = Daemon;
    fn deref(&self) -> &Daemon {
        &self.d
    }
}

impl std::ops::DerefMut for Gw {
    fn deref_mut(&mut self) -> &mut Daemon {
        &mut self.d
    }
}

async fn start(vendor: &FakeVendor, extra: &str, cache: &str) -> Gw {
    let state = tempfile::tempdir().unwrap();
    let server_extra = format!("state_dir = \"{}\"", state.path().display());
    let d = Daemon::start(&server_extra, &config(&vendor.base_url(), extra, cache)).await;
    Gw { d, _state: state }
}

/// One HTTP chat: status, `x-sidegate-cache`, body.
async fn http_chat(d: &Daemon, body: &Value, headers: &[(&str, &str)]) -> (u16, String, Value) {
    let mut r = d.http().post(URL).json(body);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    let cache = resp.headers().get("x-sidegate-cache").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let text = resp.text().await.unwrap();
    (status, cache, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn content(body: &Value) -> &str {
    body["choices"][0]["message"]["content"].as_str().unwrap_or("")
}

/// A streaming HTTP chat: `x-sidegate-cache` and every `data:` payload (`[DONE]` included).
async fn http_stream(d: &Daemon, body: &Value) -> (String, Vec<String>) {
    let resp = d.http().post(URL).json(body).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let cache = resp.headers()["x-sidegate-cache"].to_str().unwrap().to_string();
    let text = resp.text().await.unwrap();
    let events = text.split("\n\n").filter_map(|e| e.strip_prefix("data: ")).map(str::to_string).collect();
    (cache, events)
}

/// Checks an SSE stream is well formed and returns its text.
fn stream_text(events: &[String], want_usage: bool) -> String {
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"), "ends with [DONE]: {events:?}");
    let chunks: Vec<Value> = events[..events.len() - 1].iter().map(|e| serde_json::from_str(e).unwrap()).collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant", "role first: {:?}", chunks[0]);
    assert!(chunks.iter().all(|c| c["object"] == "chat.completion.chunk" && c.get("error").is_none()));
    assert!(chunks.iter().any(|c| c["choices"][0]["finish_reason"] == "stop"), "a finish chunk");
    let usage = chunks.iter().filter(|c| !c["usage"].is_null()).count();
    assert_eq!(usage, usize::from(want_usage), "usage chunk only when asked");
    chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect()
}

async fn status(d: &Daemon) -> Value {
    d.native().await.call("status", &json!({}), &json!({})).await.unwrap().body
}

async fn until(what: &str, d: &Daemon, f: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..600 {
        let s = status(d).await;
        if f(&s["cache"]) {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}: {}", status(d).await["cache"]);
}

#[tokio::test]
async fn hit_after_miss_directives_and_meta() {
    let vendor = FakeVendor::start().await.unwrap();
    let d = start(&vendor, "", r#"{ ttl = "10m", tiers = ["memory"] }"#).await;
    let body = chat("cached", "what is the answer?");

    let (s, cache, first) = http_chat(&d, &body, &[]).await;
    assert_eq!((s, cache.as_str(), content(&first)), (200, "miss", "what is the answer?"));
    assert_eq!(vendor.calls(), 1);
    let (_, cache, second) = http_chat(&d, &body, &[]).await;
    assert_eq!(cache, "hit");
    assert_eq!(second, first, "a hit is the stored answer");
    assert_eq!(vendor.calls(), 1);

    // The native protocol shares the entry; meta names who answered and that no call was made.
    let c = d.native().await;
    let r = c.call("chat", &body, &json!({})).await.unwrap();
    assert_eq!((r.meta["cache"].as_str(), r.meta["attempts"].as_u64()), (Some("hit"), Some(0)));
    assert_eq!((r.meta["provider"].as_str(), r.meta["model"].as_str()), (Some("fake"), Some("m-echo")));
    assert_eq!(content(&r.body), "what is the answer?");

    // no-cache: skip the lookup, call, store; no-store: neither.
    let (_, cache, _) = http_chat(&d, &body, &[("cache-control", "no-cache")]).await;
    assert_eq!((cache.as_str(), vendor.calls()), ("miss", 2));
    let (_, cache, _) = http_chat(&d, &body, &[("cache-control", "no-store")]).await;
    assert_eq!((cache.as_str(), vendor.calls()), ("bypass", 3));
    let r = c.call("chat", &body, &json!({"cache": "no-store"})).await.unwrap();
    assert_eq!((r.meta["cache"].as_str(), vendor.calls()), (Some("bypass"), 4));
    let r = c.call("chat", &body, &json!({"cache": "no-cache"})).await.unwrap();
    assert_eq!((r.meta["cache"].as_str(), vendor.calls()), (Some("miss"), 5));
    match c.call("chat", &body, &json!({"cache": "nope"})).await {
        Err(sidegate::client::ClientError::Api { status: 400, .. }) => {}
        other => panic!("an unknown cache option is a 400: {other:?}"),
    }
    // A no-store request stores nothing: a new prompt sent with it is still a miss afterwards.
    let fresh = chat("cached", "never stored");
    let (_, cache, _) = http_chat(&d, &fresh, &[("cache-control", "no-store")]).await;
    assert_eq!(cache, "bypass");
    let (_, cache, _) = http_chat(&d, &fresh, &[]).await;
    assert_eq!(cache, "miss");

    // Routes without `cache`: bypass, always a call.
    let (_, cache, _) = http_chat(&d, &chat("plain", "x"), &[]).await;
    assert_eq!(cache, "bypass");

    // Errors are never cached: the vendor is down, then back.
    vendor.stats.set_down(true);
    let (s, _, _) = http_chat(&d, &chat("cached", "while down"), &[]).await;
    assert_eq!(s, 503);
    vendor.stats.set_down(false);
    let (s, cache, b) = http_chat(&d, &chat("cached", "while down"), &[]).await;
    assert_eq!((s, cache.as_str(), content(&b)), (200, "miss", "while down"));

    let st = status(&d).await;
    let cs = &st["cache"];
    assert!(cs["hits"].as_u64().unwrap() >= 2 && cs["misses"].as_u64().unwrap() >= 3, "{cs}");
    assert!(cs["memory"]["entries"].as_u64().unwrap() >= 2, "{cs}");
    assert!(cs["hit_ratio"].as_f64().unwrap() > 0.0, "{cs}");
}

#[tokio::test]
async fn key_order_and_whitespace_do_not_matter() {
    let vendor = FakeVendor::start().await.unwrap();
    let d = start(&vendor, "", r#"{ ttl = "10m", tiers = ["memory"] }"#).await;
    let a = r#"{"model":"cached","temperature":0.2,"messages":[{"role":"user","content":"order?"}],"response_format":{"type":"text"},"logit_bias":{"1":2,"3":4}}"#;
    let b = r#"{
        "logit_bias": {"3": 4, "1": 2},
        "response_format": { "type": "text" },
        "messages": [ { "content": "order?", "role": "user" } ],
        "user": "someone-else",
        "temperature": 0.2,
        "model": "cached"
    }"#;
    let send = |raw: &'static str| {
        let d = &d;
        async move {
            let resp = d.http().post(URL).header("content-type", "application/json").body(raw).send().await.unwrap();
            resp.headers()["x-sidegate-cache"].to_str().unwrap().to_string()
        }
    };
    assert_eq!(send(a).await, "miss");
    assert_eq!(send(b).await, "hit");
    assert_eq!(vendor.calls(), 1);
    let c = r#"{"model":"cached","temperature":0.3,"messages":[{"role":"user","content":"order?"}],"response_format":{"type":"text"},"logit_bias":{"1":2,"3":4}}"#;
    assert_eq!(send(c).await, "miss", "another temperature is another answer");
}

#[tokio::test]
async fn entries_expire_after_their_ttl() {
    let vendor = FakeVendor::start().await.unwrap();
    let d = start(&vendor, "", r#"{ ttl = "1s", tiers = ["memory", "disk"] }"#).await;
    // Stored first, so it has expired by the time `short-lived` has.
    assert_eq!(http_chat(&d, &chat("cached", "stored first"), &[]).await.1, "miss");
    let body = chat("cached", "short-lived");
    assert_eq!(http_chat(&d, &body, &[]).await.1, "miss");
    // Poll: once the TTL has passed the same request misses again (a slow machine only
    // makes this take longer).
    let mut expired = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let (_, cache, b) = http_chat(&d, &body, &[]).await;
        assert_eq!(content(&b), "short-lived");
        if cache == "miss" {
            expired = true;
            break;
        }
    }
    assert!(expired, "never expired");
    assert_eq!(vendor.calls(), 3);
    // The disk tier drops expired entries too: its sweep runs with every write batch (here
    // the new `short-lived` entry's), and `stored first` is past its TTL by then.
    until("expired disk entries swept", &d, |c| c["disk"]["expired"].as_u64().unwrap_or(0) >= 1).await;
}

#[tokio::test]
async fn memory_byte_bound_holds_under_a_flood_of_large_answers() {
    let vendor = FakeVendor::start().await.unwrap();
    let d = start(&vendor, "[cache]\nmax_memory = \"1MiB\"", r#"{ ttl = "10m", tiers = ["memory"] }"#).await;
    let big = "x".repeat(100_000);
    for round in 0..6 {
        let reqs = (0..10).map(|i| {
            let body = chat("cached", &format!("{round}-{i} {big}"));
            let d = &d;
            async move { http_chat(d, &body, &[]).await }
        });
        for (s, _, b) in join_all(reqs).await {
            assert_eq!(s, 200);
            assert!(content(&b).ends_with(&big));
        }
        let st = status(&d).await;
        let m = &st["cache"]["memory"];
        assert!(m["bytes"].as_u64().unwrap() <= m["max_bytes"].as_u64().unwrap(), "round {round}: {m}");
    }
    let st = status(&d).await;
    let m = &st["cache"]["memory"];
    assert_eq!(m["max_bytes"], 1 << 20);
    let entries = m["entries"].as_u64().unwrap();
    assert!((1..60).contains(&entries), "60 answers of ~100 KB cannot all fit in 1 MiB: {m}");
}

#[tokio::test]
async fn disk_entries_survive_a_restart() {
    let vendor = FakeVendor::start().await.unwrap();
    let mut d = start(&vendor, "", r#"{ ttl = "10m", tiers = ["memory", "disk"] }"#).await;
    let body = chat("cached", "remember me");
    assert_eq!(http_chat(&d, &body, &[]).await.1, "miss");
    until("the disk write", &d, |c| c["disk"]["entries"] == 1).await;
    d.signal("TERM");
    assert_eq!(d.wait_exit().await, Some(0));
    d.spawn().await;
    let (_, cache, b) = http_chat(&d, &body, &[]).await;
    assert_eq!((cache.as_str(), content(&b)), ("hit", "remember me"));
    assert_eq!(vendor.calls(), 1);
    let st = status(&d).await;
    assert_eq!(st["cache"]["disk"]["state"], "open");
    assert_eq!(st["cache"]["disk"]["hits"], 1);
}

/// `kill -9` while the disk tier is writing a flood of large entries, three times: each
/// restart opens the file cleanly, and every answer served afterwards, hit or miss, is the
/// right one (a torn entry would be served for some key, or fail its checksum).
#[tokio::test]
async fn kill_9_during_disk_writes_never_serves_a_torn_entry() {
    let vendor = FakeVendor::start().await.unwrap();
    let mut d = start(&vendor, "[cache]\nmax_disk = \"8MiB\"", r#"{ ttl = "10m", tiers = ["disk"] }"#).await;
    fn prompt(n: usize) -> String {
        format!("{n} {}", "y".repeat(40_000))
    }
    for cycle in 0..3 {
        let before = status(&d).await["cache"]["disk"]["writes"].as_u64().unwrap_or(0);
        let sock = d.socket.clone();
        let flood = tokio::spawn(async move {
            let http = reqwest::Client::builder().unix_socket(sock).build().unwrap();
            for round in 0..50 {
                let reqs = (0..8).map(|i| {
                    let body = chat("cached", &prompt(cycle * 1000 + round * 8 + i));
                    let http = http.clone();
                    async move { http.post(URL).json(&body).send().await.map(|r| r.status().as_u16()) }
                });
                if join_all(reqs).await.iter().any(Result::is_err) {
                    return; // the daemon is gone
                }
            }
        });
        // Kill while writes are landing.
        until("disk writes under way", &d, |c| c["disk"]["writes"].as_u64().unwrap_or(0) > before + 20).await;
        d.signal("KILL");
        d.wait_exit().await;
        flood.abort();
        d.spawn().await;
        let st = status(&d).await;
        assert_eq!(st["cache"]["disk"]["state"], "open", "cycle {cycle}: {}", st["cache"]);
    }
    // Every key written in any cycle answers with its own prompt.
    let c = d.native().await;
    let mut hits = 0;
    for cycle in 0..3 {
        for i in (0..400).step_by(7) {
            let n = cycle * 1000 + i;
            let r = c.call("chat", &chat("cached", &prompt(n)), &json!({})).await.unwrap();
            assert_eq!(content(&r.body), prompt(n), "key {n}");
            hits += usize::from(r.meta["cache"] == "hit");
        }
    }
    assert!(hits > 0, "entries committed before the kills are served");
    let st = status(&d).await;
    assert_eq!(st["cache"]["disk"]["damaged"], 0, "{}", st["cache"]);
}

#[tokio::test]
async fn a_hundred_identical_requests_make_one_vendor_call() {
    let vendor = FakeVendor::start().await.unwrap();
    let d = start(&vendor, "", r#"{ ttl = "10m", tiers = ["memory"] }"#).await;
    let c = d.native().await;
    let body = chat("slow", "all at once");
    let none = json!({});
    let replies = join_all((0..100).map(|_| c.call("chat", &body, &none))).await;
    assert_eq!(vendor.calls(), 1);
    let mut misses = 0;
    for r in replies {
        let r = r.unwrap();
        assert_eq!(content(&r.body), "all at once");
        misses += usize::from(r.meta["cache"] == "miss");
    }
    assert_eq!(misses, 1, "one request made the call; 99 shared it");
    let st = status(&d).await;
    assert_eq!(st["cache"]["coalesced"], 99, "{}", st["cache"]);
}

/// Streams join a flight mid-stream and get the chunks they missed, then the live ones; whole
/// answers wait for the end; a caller that goes away does not stop the others.
#[tokio::test]
async fn coalesced_streams_replay_and_survive_a_cancelled_caller() {
    let vendor = FakeVendor::start().await.unwrap();
    let d = start(&vendor, "", r#"{ ttl = "10m", tiers = ["memory"] }"#).await;
    let c = d.native().await;
    let mut body = chat("drip", "dripping");
    body["stream"] = json!(true);

    let mut first = c.stream(&body, &json!({})).await.unwrap();
    let mut leader_text = String::new();
    for _ in 0..5 {
        let chunk = first.next().await.unwrap().unwrap();
        leader_text.push_str(chunk["choices"][0]["delta"]["content"].as_str().unwrap_or(""));
    }
    // Joined mid-stream: a stream and a whole answer.
    let late_stream = async {
        let mut s = c.stream(&body, &json!({})).await.unwrap();
        let mut text = String::new();
        while let Some(chunk) = s.next().await {
            text.push_str(chunk.unwrap()["choices"][0]["delta"]["content"].as_str().unwrap_or(""));
        }
        (text, s.meta.as_ref().unwrap()["cache"].as_str().unwrap().to_string())
    };
    let mut whole_body = body.clone();
    whole_body["stream"] = json!(false);
    let none = json!({});
    let late_whole = c.call("chat", &whole_body, &none);
    // The first caller goes away once the other two wait on its call; the call goes on.
    let leave = async {
        until("two more waiters", &d, |c| c["waiting"] == 3).await;
        drop(first);
    };
    let ((text, cache), whole, ()) = tokio::join!(late_stream, late_whole, leave);
    let whole = whole.unwrap();
    assert!(text.starts_with(&leader_text) && text.ends_with("dripping"), "{text}");
    assert_eq!(cache, "hit");
    assert_eq!(content(&whole.body), text);
    assert_eq!(vendor.calls(), 1);
    assert_eq!(vendor.aborted(), 0, "the vendor call was not cancelled");

    // A lone caller that goes away does cancel the vendor call.
    let mut other = body.clone();
    other["messages"][0]["content"] = json!("nobody waits");
    let mut s = c.stream(&other, &json!({})).await.unwrap();
    s.next().await.unwrap().unwrap();
    drop(s);
    for _ in 0..600 {
        if vendor.aborted() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(vendor.aborted(), 1);
    assert_eq!(status(&d).await["cache"]["in_flight"], 0);
}

#[tokio::test]
async fn stream_replay_equals_the_original() {
    let vendor = FakeVendor::start().await.unwrap();
    let d = start(&vendor, "", r#"{ ttl = "10m", tiers = ["memory", "disk"] }"#).await;
    // A stream first (miss), then a stream hit, then a whole-answer hit.
    let mut body = chat("cached", "one two three four");
    body["stream"] = json!(true);
    let (cache, events) = http_stream(&d, &body).await;
    assert_eq!(cache, "miss");
    let original = stream_text(&events, false);
    assert_eq!(original, "one two three four");
    let (cache, events) = http_stream(&d, &body).await;
    assert_eq!(cache, "hit");
    assert_eq!(stream_text(&events, false), original);
    body["stream_options"] = json!({"include_usage": true});
    let (cache, events) = http_stream(&d, &body).await;
    assert_eq!(cache, "hit");
    assert_eq!(stream_text(&events, true), original);
    body["stream"] = json!(false);
    body.as_object_mut().unwrap().remove("stream_options");
    let (_, cache, whole) = http_chat(&d, &body, &[]).await;
    assert_eq!((cache.as_str(), content(&whole)), ("hit", original.as_str()));
    assert_eq!(whole["choices"][0]["finish_reason"], "stop");
    assert_eq!(vendor.calls(), 1);

    // The other way round: a whole answer first, replayed as a native stream.
    let c = d.native().await;
    let plain = chat("cached", "whole first");
    assert_eq!(c.call("chat", &plain, &json!({})).await.unwrap().meta["cache"], "miss");
    let mut streamed = plain.clone();
    streamed["stream"] = json!(true);
    let mut s = c.stream(&streamed, &json!({})).await.unwrap();
    let mut chunks = Vec::new();
    while let Some(ch) = s.next().await {
        chunks.push(ch.unwrap());
    }
    assert_eq!(s.meta.as_ref().unwrap()["cache"], "hit");
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
    assert_eq!(text, "whole first");
    assert_eq!(chunks.last().unwrap()["choices"][0]["finish_reason"], "stop");
    assert_eq!(vendor.calls(), 2);
}

// === Redis ===

/// A real `redis-server` on a free loopback port, in a temp dir, no persistence.
pub(crate) struct Redis {
    child: Option<Child>,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Redis {
    /// None (the test is skipped) when `redis-server` is not installed, unless CI or
    /// `SIDEGATE_REQUIRE_REDIS` says it must be there.
    pub(crate) async fn start() -> Option<Redis> {
        if !crate::common::redis_installed(&["redis-server"]) {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = crate::common::redis_server(dir.path(), port, false).spawn().expect("start redis-server");
        let r = Redis { child: Some(child), port, _dir: dir };
        crate::common::wait_for_tcp(port, "redis-server").await;
        Some(r)
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    fn signal(&self, sig: &str) {
        if let Some(c) = &self.child {
            let _ = Command::new("kill").args([&format!("-{sig}"), &c.id().to_string()]).status();
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.signal("CONT");
        self.kill();
    }
}

#[tokio::test]
async fn two_daemons_share_one_redis() {
    let Some(redis) = Redis::start().await else { return };
    let vendor = FakeVendor::start().await.unwrap();
    let shared = format!("[shared]\nredis = \"{}\"\nredis_timeout = \"2s\"", redis.url());
    let a = start(&vendor, &shared, r#"{ ttl = "10m" }"#).await;
    let b = start(&vendor, &shared, r#"{ ttl = "10m" }"#).await;
    let body = chat("cached", "fleet-wide");
    assert_eq!(http_chat(&a, &body, &[]).await.1, "miss");
    until("the redis write", &a, |c| c["redis"]["writes"] == 1).await;
    let (_, cache, got) = http_chat(&b, &body, &[]).await;
    assert_eq!((cache.as_str(), content(&got)), ("hit", "fleet-wide"));
    assert_eq!(vendor.calls(), 1);
    let st = status(&b).await;
    assert_eq!(st["cache"]["redis"]["hits"], 1, "{}", st["cache"]);
    assert_eq!(st["cache"]["redis"]["state"], "up");
    // B copied it into its own tiers: the next hit does not ask Redis.
    assert_eq!(http_chat(&b, &body, &[]).await.1, "hit");
    assert_eq!(status(&b).await["cache"]["redis"]["hits"], 1);
}

#[tokio::test]
async fn requests_succeed_while_redis_is_slow_or_dead() {
    let Some(mut redis) = Redis::start().await else { return };
    let vendor = FakeVendor::start().await.unwrap();
    let shared = format!("[shared]\nredis = \"{}\"\nredis_timeout = \"100ms\"", redis.url());
    let d = start(&vendor, &shared, r#"{ ttl = "10m", tiers = ["memory", "redis"] }"#).await;
    assert_eq!(http_chat(&d, &chat("cached", "before"), &[]).await.1, "miss");
    until("the redis write", &d, |c| c["redis"]["writes"] == 1).await;

    // Slow: the server stops answering (SIGSTOP). Lookups time out; answers still come.
    redis.signal("STOP");
    for i in 0..5 {
        let (s, cache, b) = http_chat(&d, &chat("cached", &format!("slow {i}")), &[]).await;
        assert_eq!((s, cache.as_str(), content(&b)), (200, "miss", format!("slow {i}").as_str()));
    }
    until("redis marked down", &d, |c| c["redis"]["state"] == "down").await;

    // Dead: killed. Requests go on; hits from the nearer tier still work.
    redis.signal("CONT");
    redis.kill();
    for i in 0..20 {
        let (s, _, b) = http_chat(&d, &chat("cached", &format!("dead {i}")), &[]).await;
        assert_eq!((s, content(&b)), (200, format!("dead {i}").as_str()));
    }
    let (s, cache, _) = http_chat(&d, &chat("cached", "before"), &[]).await;
    assert_eq!((s, cache.as_str()), (200, "hit"));
    let log = d.log();
    let warnings = log.matches("redis cache tier unavailable").count();
    assert!((1..=2).contains(&warnings), "one warning per minute at most, got {warnings}:\n{log}");
}
