//! Issue 5: routing strategies, filters, failover, breakers, limits and hedging, against fake
//! vendors on loopback that fail in every way real ones do.

use std::time::Duration;

use fake_vendor::FakeVendor;
use serde_json::{Value, json};

use crate::common::Daemon;

/// `r-<fault>` routes: a failing primary `p-<fault>` on the fake vendor, then the healthy `good`;
/// and `r-<fault>-s`, the same with its own primary, so stream tests start with fresh health.
fn fault_config(base_url: &str, faults: &[&str]) -> String {
    let mut c = format!(
        r#"
[providers.fake]
kind = "openai-compatible"
base_url = "{base_url}"

[providers.down]
kind = "openai-compatible"
base_url = "http://127.0.0.1:9/v1"

[models.good]
provider = "fake"
model = "healthy"
"#
    );
    for f in faults {
        for suffix in ["", "-s"] {
            let (provider, model) = if *f == "down" { ("down", "any") } else { ("fake", *f) };
            c.push_str(&format!("\n[models.p-{f}{suffix}]\nprovider = \"{provider}\"\nmodel = \"{model}\"\n"));
            c.push_str(&format!(
                "\n[routes.r-{f}{suffix}]\ntargets = [\"p-{f}{suffix}\", \"good\"]\ntimeout = \"20s\"\nattempt_timeout = \"1s\"\nfirst_token_timeout = \"1s\"\nstream_idle_timeout = \"1s\"\n"
            ));
        }
    }
    c
}

fn body(model: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "failover please"}]})
}

/// (status, attempt outcomes from x-sidegate-attempt-log or error.attempts, body text)
async fn call(d: &Daemon, model: &str, stream: bool) -> (u16, Vec<String>, String) {
    let r = d.http().post("http://sidegate/v1/chat/completions").json(&body(model, stream)).send().await.unwrap();
    let status = r.status().as_u16();
    let header = r.headers().get("x-sidegate-attempt-log").map(|v| v.to_str().unwrap().to_string());
    let text = r.text().await.unwrap();
    let outcomes = match header {
        Some(h) => h.split(", ").map(|a| a.split(';').nth(1).unwrap().to_string()).collect(),
        None => serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["error"]["attempts"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .map(|a| a["outcome"].as_str().unwrap().to_string())
            .collect(),
    };
    (status, outcomes, text)
}

fn streamed_text(raw: &str) -> String {
    raw.split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|v| v["choices"][0]["delta"]["content"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn every_vendor_failure_fails_over_to_the_healthy_target() {
    let vendor = FakeVendor::start().await.unwrap();
    let cases = [
        ("down", "connect_error"),
        ("reset", "connect_error"),
        ("fail-500", "upstream_error"),
        ("fail-502", "upstream_error"),
        ("fail-503", "upstream_error"),
        ("fail-529", "upstream_error"),
        ("fail-429", "rate_limited"),
        ("fail-429-bare", "rate_limited"),
        ("quota-429", "quota_exhausted"),
        ("fail-401", "auth_error"),
        ("hang", "timeout"),
        ("slow-first", "timeout"),
        ("malformed", "upstream_invalid_response"),
        // a 200 with nothing in it (no choices; a stream of only the role chunk)
        ("empty", "upstream_invalid_response"),
    ];
    let faults: Vec<&str> = cases.iter().map(|c| c.0).collect();
    let d = Daemon::start("", &fault_config(&vendor.base_url(), &faults)).await;
    for (fault, outcome) in cases {
        for stream in [false, true] {
            let route = if stream { format!("r-{fault}-s") } else { format!("r-{fault}") };
            let (status, outcomes, text) = call(&d, &route, stream).await;
            assert_eq!(status, 200, "{fault} stream={stream}: {text}");
            assert_eq!(outcomes, [outcome, "ok"], "{fault} stream={stream}");
            let answer = if stream {
                streamed_text(&text)
            } else {
                serde_json::from_str::<Value>(&text).unwrap()["choices"][0]["message"]["content"]
                    .as_str()
                    .unwrap()
                    .to_string()
            };
            assert_eq!(answer, "failover please", "{fault} stream={stream}");
        }
    }
}

/// An empty 200 is a vendor failure: never served as an answer, never cached.
#[tokio::test]
async fn an_empty_answer_is_never_served_or_cached() {
    let vendor = FakeVendor::start().await.unwrap();
    let config = format!(
        "[providers.fake]\nkind = \"openai-compatible\"\nbase_url = \"{}\"\n\n[models.empty]\nprovider = \"fake\"\nmodel = \"empty\"\n\n[routes.only-empty]\ntargets = [\"empty\"]\ncache = {{ ttl = \"10m\", tiers = [\"memory\"] }}\n",
        vendor.base_url()
    );
    let d = Daemon::start("", &config).await;
    for stream in [false, true, false] {
        let r = d
            .http()
            .post("http://sidegate/v1/chat/completions")
            .json(&body("only-empty", stream))
            .send()
            .await
            .unwrap();
        let cache = r.headers().get("x-sidegate-cache").map(|v| v.to_str().unwrap().to_string());
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        assert_eq!(status, 502, "stream={stream}: {text}");
        assert!(text.contains("upstream_invalid_response"), "{text}");
        assert_ne!(cache.as_deref(), Some("hit"), "an empty answer was cached");
    }
}

#[tokio::test]
async fn request_errors_go_straight_back_to_the_caller() {
    let vendor = FakeVendor::start().await.unwrap();
    let d = Daemon::start("", &fault_config(&vendor.base_url(), &["bad-400", "context-400"])).await;
    for (fault, code) in [("bad-400", "invalid_value"), ("context-400", "context_length_exceeded")] {
        for stream in [false, true] {
            let route = if stream { format!("r-{fault}-s") } else { format!("r-{fault}") };
            let (status, outcomes, text) = call(&d, &route, stream).await;
            assert_eq!(status, 400, "{fault}: {text}");
            assert_eq!(outcomes.len(), 1, "{fault}: no failover for a bad request");
            let v: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(v["error"]["code"], code);
        }
    }
}

#[tokio::test]
async fn failures_after_the_first_chunk_end_the_stream_with_an_error() {
    let vendor = FakeVendor::start().await.unwrap();
    let d = Daemon::start("", &fault_config(&vendor.base_url(), &["truncate", "stall", "stream-error"])).await;
    for fault in ["truncate", "stall", "stream-error"] {
        let (status, outcomes, text) = call(&d, &format!("r-{fault}"), true).await;
        assert_eq!(status, 200, "{fault}");
        assert_eq!(outcomes, ["ok"], "{fault}: committed to the primary");
        assert!(text.contains("data: {\"error\""), "{fault}: {text}");
        assert!(!text.contains("[DONE]"), "{fault}: {text}");
        assert!(!text.contains("failover please"), "{fault}: never splice another vendor's text: {text}");
        if fault == "stall" {
            assert!(text.contains("stream_idle_timeout"), "{text}");
        }
    }
}

#[tokio::test]
async fn breaker_opens_and_skips_the_dead_target_at_no_cost() {
    let vendor = FakeVendor::start().await.unwrap();
    let d = Daemon::start("", &fault_config(&vendor.base_url(), &["fail-500"])).await;
    let mut last = Vec::new();
    for _ in 0..8 {
        let (status, outcomes, _) = call(&d, "r-fail-500", false).await;
        assert_eq!(status, 200);
        last = outcomes;
    }
    assert_eq!(last, ["ok"], "breaker open: the primary is not called");
    let calls_before = vendor.calls();
    call(&d, "r-fail-500", false).await;
    assert_eq!(vendor.calls(), calls_before + 1, "only the healthy target was called");
    let s = d.native().await.call("status", &json!({}), &json!({})).await.unwrap();
    let dep = s.body["deployments"].as_array().unwrap().iter().find(|x| x["name"] == "p-fail-500").unwrap().clone();
    assert_eq!(dep["breaker"], "open", "{dep}");
    assert!(dep["error_rate"].as_f64().unwrap() > 0.0);
    let good = s.body["deployments"].as_array().unwrap().iter().find(|x| x["name"] == "good").unwrap().clone();
    assert!(good["latency_ms"].as_f64().unwrap() > 0.0, "{good}");
}

#[tokio::test]
async fn a_lone_throttled_target_is_waited_for_within_the_deadline() {
    let vendor = FakeVendor::start().await.unwrap();
    let cfg = format!(
        "[providers.fake]\nkind = \"openai-compatible\"\nbase_url = \"{}\"\n[models.p]\nprovider = \"fake\"\nmodel = \"flaky-1\"\n[routes.r]\ntargets = [\"p\"]\n",
        vendor.base_url()
    );
    let d = Daemon::start("", &cfg).await;
    // flaky-1: a 500 first, then answers; the only target is retried after a short backoff
    let (status, outcomes, _) = call(&d, "r", false).await;
    assert_eq!(status, 200);
    assert_eq!(outcomes, ["upstream_error", "ok"]);
}

#[tokio::test]
async fn hedging_starts_the_next_target_and_cancels_the_loser() {
    let vendor = FakeVendor::start().await.unwrap();
    let cfg = format!(
        "[providers.fake]\nkind = \"openai-compatible\"\nbase_url = \"{}\"\n[models.slow]\nprovider = \"fake\"\nmodel = \"slow-first\"\n[models.fast]\nprovider = \"fake\"\nmodel = \"healthy\"\n[routes.hedged]\ntargets = [\"slow\", \"fast\"]\nhedge_after = \"200ms\"\n",
        vendor.base_url()
    );
    let d = Daemon::start("", &cfg).await;
    for stream in [false, true] {
        let aborted = vendor.aborted();
        let (status, outcomes, _) = call(&d, "hedged", stream).await;
        assert_eq!(status, 200);
        assert_eq!(outcomes, ["ok", "hedge_cancelled"], "stream={stream}");
        crate::common::eventually("the slow call is cancelled", || vendor.aborted() > aborted).await;
    }
}

#[tokio::test]
async fn filters_exclude_targets_and_say_why() {
    let cfg = r#"
[providers.mock]
kind = "mock"
[providers.eu]
kind = "mock"
region = "eu"

[models.plain]
provider = "mock"
model = "plain"
capabilities = ["json"]
context_window = 50

[models.eu-tools]
provider = "eu"
model = "eu"
capabilities = ["tools", "vision"]

[routes.r]
targets = ["plain", "eu-tools"]

[routes.eu-only]
targets = ["plain", "eu-tools"]
regions = ["eu"]
"#;
    let d = Daemon::start("", cfg).await;
    let c = d.http();
    let post = |b: Value, h: Option<&'static str>| {
        let mut r = c.post("http://sidegate/v1/chat/completions").json(&b);
        if let Some(region) = h {
            r = r.header("x-sidegate-regions", region);
        }
        r.send()
    };
    let tools = json!([{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]);
    let r = post(json!({"model": "r", "tools": tools, "messages": [{"role": "user", "content": "x"}]}), None)
        .await
        .unwrap();
    assert_eq!(r.headers()["x-sidegate-model"], "eu-tools", "plain has no tools");
    let r =
        post(json!({"model": "r", "messages": [{"role": "user", "content": "x".repeat(400)}]}), None).await.unwrap();
    assert_eq!(r.headers()["x-sidegate-model"], "eu-tools", "plain's window is too small");
    let r = post(json!({"model": "eu-only", "messages": [{"role": "user", "content": "x"}]}), None).await.unwrap();
    assert_eq!(r.headers()["x-sidegate-model"], "eu-tools", "route regions");
    let r = post(json!({"model": "r", "messages": [{"role": "user", "content": "x"}]}), Some("us")).await.unwrap();
    assert_eq!(r.status(), 400, "no target in us");
    let v: Value = r.json().await.unwrap();
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("plain: no region tag") && msg.contains("eu-tools: region `eu`"), "{msg}");
    assert_eq!(v["error"]["code"], "no_eligible_target");
    let r = post(
        json!({"model": "r", "response_format": {"type": "json_object"}, "tools": tools, "messages": [{"role": "user", "content": "x"}]}),
        None,
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("plain: no `tools` capability") && msg.contains("eu-tools: no `json` capability"), "{msg}");
}

#[tokio::test]
async fn strategies_order_targets() {
    let cfg = r#"
[providers.fast]
kind = "mock"
[providers.slow]
kind = "mock"
latency = "40ms"

[models.cheap]
provider = "slow"
model = "a"
price = { input = 0.1, output = 0.2 }
[models.pricey]
provider = "fast"
model = "b"
price = { input = 5.0, output = 15.0 }
[models.unpriced]
provider = "fast"
model = "c"

[routes.cheapest]
strategy = "cheapest"
targets = ["unpriced", "pricey", "cheap"]

[routes.quick]
strategy = "least-latency"
targets = ["cheap", "pricey"]

[routes.split]
strategy = "weighted"
targets = ["cheap", "pricey"]
weights = [3, 1]
"#;
    let d = Daemon::start("", cfg).await;
    let c = d.native().await;
    let ask = |route: &'static str| {
        let c = &c;
        async move {
            c.call("chat", &body(route, false), &json!({})).await.unwrap().meta["model"].as_str().unwrap().to_string()
        }
    };
    assert_eq!(ask("cheapest").await, "cheap");
    // least-latency: each is measured once, then the fast one wins
    for _ in 0..3 {
        ask("quick").await;
    }
    for _ in 0..5 {
        assert_eq!(ask("quick").await, "pricey");
    }
    let mut cheap = 0;
    for _ in 0..200 {
        if ask("split").await == "cheap" {
            cheap += 1;
        }
    }
    assert!((110..=190).contains(&cheap), "weights 3:1 gave {cheap}/200");
}

#[tokio::test]
async fn client_side_limits_wait_then_answer_429() {
    let cfg = r#"
[providers.mock]
kind = "mock"
latency = "300ms"
[models.limited]
provider = "mock"
model = "x"
rpm = 2
[models.single]
provider = "mock"
model = "y"
max_concurrent = 1
"#;
    let d = Daemon::start("", cfg).await;
    let c = d.http();
    let send = |model: &'static str, timeout_ms: u64| {
        c.post("http://sidegate/v1/chat/completions")
            .header("x-sidegate-timeout-ms", timeout_ms.to_string())
            .json(&body(model, false))
            .send()
    };
    assert_eq!(send("limited", 5000).await.unwrap().status(), 200);
    assert_eq!(send("limited", 5000).await.unwrap().status(), 200);
    let r = send("limited", 200).await.unwrap();
    assert_eq!(r.status(), 429, "the third call in a minute waits past its deadline");
    let after: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=30).contains(&after), "retry-after {after}");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "target_limits_reached");

    // one slot: the second concurrent call waits for the first, then answers
    let (a, b) = tokio::join!(send("single", 10_000), send("single", 10_000));
    assert_eq!((a.unwrap().status().as_u16(), b.unwrap().status().as_u16()), (200, 200));
}

#[tokio::test]
async fn soak_primary_flapping_costs_no_request() {
    let primary = FakeVendor::start().await.unwrap();
    let secondary = FakeVendor::start().await.unwrap();
    let cfg = format!(
        "[providers.a]\nkind = \"openai-compatible\"\nbase_url = \"{}\"\n[providers.b]\nkind = \"openai-compatible\"\nbase_url = \"{}\"\n\
         [models.pa]\nprovider = \"a\"\nmodel = \"m\"\n[models.sb]\nprovider = \"b\"\nmodel = \"m\"\n\
         [routes.r]\ntargets = [\"pa\", \"sb\"]\ntimeout = \"30s\"\n",
        primary.base_url(),
        secondary.base_url()
    );
    let d = Daemon::start("", &cfg).await;
    let flipper = {
        let stats = primary.stats.clone();
        tokio::spawn(async move {
            for i in 0..200u32 {
                stats.set_down(i % 2 == 0);
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
        })
    };
    let c = d.http();
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers = (0..32).map(|_| {
        let (c, next) = (c.clone(), next.clone());
        tokio::spawn(async move {
            let mut failed = Vec::new();
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < 2000 {
                let stream = rand_bool();
                let r = c.post("http://sidegate/v1/chat/completions").json(&body("r", stream)).send().await.unwrap();
                let status = r.status();
                let text = r.text().await.unwrap();
                let ok = status == 200
                    && if stream {
                        streamed_text(&text) == "failover please"
                    } else {
                        text.contains("failover please")
                    };
                if !ok {
                    failed.push(format!("{status}: {text}"));
                }
            }
            failed
        })
    });
    let mut failed = Vec::new();
    for w in futures_util::future::join_all(workers).await {
        failed.extend(w.unwrap());
    }
    flipper.abort();
    assert!(failed.is_empty(), "{} of 2000 failed, e.g. {:?}", failed.len(), failed.first());
    assert!(primary.calls() > 0 && secondary.calls() > 0);
}

fn rand_bool() -> bool {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos().is_multiple_of(2)
}
