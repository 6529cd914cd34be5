//! Issue 9: caller identity from the socket (real other users), access control, per-caller
//! limits and budgets, the usage ledger and `sidegate usage`, and /metrics.

use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Daemon, bin, eventually};

fn is_root() -> bool {
    sidegate::sys::uid() == 0
}

/// Runs `sidegate chat` as `uid`/`gid` against the daemon; returns (exit code, stdout, stderr).
fn chat_as(d: &Daemon, uid: u32, gid: u32, model: &str) -> (Option<i32>, String, String) {
    let out = Command::new(bin())
        .args(["chat", "--no-stream", "--socket"])
        .arg(&d.socket)
        .args(["-m", model, "hello"])
        .uid(uid)
        .gid(gid)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[tokio::test]
async fn callers_are_who_the_kernel_says_they_are() {
    if !is_root() {
        assert!(std::env::var_os("CI").is_none(), "CI runs as root: this test must run there");
        eprintln!("skipped: needs root to run clients as other users");
        return;
    }
    let cfg = r#"
[providers.mock]
kind = "mock"
[models.allowed]
provider = "mock"
model = "a"
[models.secret]
provider = "mock"
model = "s"

[callers.alice]
uid = 4242
routes = ["allowed"]

[callers.team]
gid = 4300
"#;
    let d = Daemon::start("socket_mode = \"0666\"\nunknown_callers = \"deny\"", cfg).await;
    // other users must be able to reach the socket in the temp dir
    std::fs::set_permissions(d.dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();

    let (code, out, err) = chat_as(&d, 4242, 4242, "allowed");
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.trim(), "hello");
    let (code, _, err) = chat_as(&d, 4242, 4242, "secret");
    assert_eq!(code, Some(1));
    assert!(err.contains("403") && err.contains("caller `alice` may not use `secret`"), "{err}");
    // matched by group
    let (code, _, err) = chat_as(&d, 5000, 4300, "secret");
    assert_eq!(code, Some(0), "{err}");
    // nobody we know: denied, and told why
    let (code, _, err) = chat_as(&d, 5001, 5001, "allowed");
    assert_eq!(code, Some(1));
    assert!(err.contains("403") && err.contains("uid 5001"), "{err}");
    // a header cannot make a socket peer someone else
    let r = d
        .http()
        .post("http://sidegate/v1/chat/completions")
        .header("authorization", "Bearer anything-at-all-1234")
        .json(&json!({"model": "allowed", "messages": [{"role": "user", "content": "x"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "root is not a configured caller");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "unknown_caller");
}

#[tokio::test]
async fn tcp_callers_authenticate_with_bearer_keys() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let cfg = r#"
[providers.mock]
kind = "mock"
[callers.batch]
keys = ["sk-batch-0123456789abcdef"]
"#;
    let _d = Daemon::start(&format!("http = \"127.0.0.1:{port}\"\nunknown_callers = \"deny\""), cfg).await;
    eventually("tcp listener", || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()).await;
    let c = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/v1/chat/completions");
    let body = json!({"model": "mock/x", "messages": [{"role": "user", "content": "x"}]});
    let r = c.post(&url).bearer_auth("sk-batch-0123456789abcdef").json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = c.post(&url).bearer_auth("sk-batch-0123456789abcdeX").json(&body).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let r = c.post(&url).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let v: Value = r.json().await.unwrap();
    assert!(v["error"]["message"].as_str().unwrap().contains("Authorization: Bearer"), "{v}");
}

/// A config where this process (root or not) is caller `me`, with `extra` limits.
fn me(extra: &str) -> String {
    format!(
        "[providers.mock]\nkind = \"mock\"\ntokens = 10\nlatency = \"300ms\"\n[models.m]\nprovider = \"mock\"\nmodel = \"x\"\nprice = {{ input = 0.0, output = 1000.0 }}\n\
         [callers.me]\nuid = {}\n{extra}\n",
        sidegate::sys::uid()
    )
}

#[tokio::test]
async fn concurrent_requests_never_spend_past_the_budget() {
    // each call costs exactly 10 output tokens x $1000/1M = $0.01; the budget covers 5
    let d = Daemon::start("", &me("budget = { usd = 0.05, per = \"day\" }")).await;
    let c = d.native().await;
    let body = json!({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]});
    let no_opts = json!({});
    let calls = (0..50).map(|_| c.call("chat", &body, &no_opts));
    let results = futures_util::future::join_all(calls).await;
    let (ok, over) = crate::common::answered_and_over_budget(&results);
    assert_eq!(ok, 5, "the budget covers exactly 5");
    assert_eq!(ok + over, 50);
    // and the ledger agrees: total cost never past the budget
    let rows = usage_json(&d, "caller").await;
    let cost: f64 = rows.iter().map(|r| r["cost_usd"].as_f64().unwrap()).sum();
    assert!(cost <= 0.05 + 1e-9, "ledger says {cost}");
    assert!((cost - 0.05).abs() < 1e-9, "five answered calls cost $0.05, ledger says {cost}");
}

#[tokio::test]
async fn rpm_and_concurrency_limits_answer_429_with_retry_after() {
    let d = Daemon::start("", &me("rpm = 3\nmax_concurrent = 2")).await;
    let c = d.native().await;
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "x"}]});
    let no_opts = json!({});
    let three = futures_util::future::join_all((0..3).map(|_| c.call("chat", &body, &no_opts))).await;
    let limited: Vec<Value> = three
        .iter()
        .filter_map(|r| match r {
            Err(sidegate::client::ClientError::Api { status: 429, body, .. }) => Some(body.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(limited.len(), 1, "two in flight at most");
    assert_eq!(limited[0]["error"]["code"], "caller_concurrency_limited");
    assert!(limited[0]["retry_after"].as_f64().unwrap() > 0.0);
    // two used + one more = 3 per minute; the next is over the rpm
    c.call("chat", &body, &json!({})).await.unwrap();
    match c.call("chat", &body, &json!({})).await {
        Err(sidegate::client::ClientError::Api { status: 429, body, .. }) => {
            assert_eq!(body["error"]["code"], "caller_rate_limited");
            let after = body["retry_after"].as_f64().unwrap();
            assert!(after > 5.0 && after <= 20.0, "a slot frees within 20 s at 3/min: {after}");
        }
        other => panic!("{other:?}"),
    }
}

async fn usage_json(d: &Daemon, by: &str) -> Vec<Value> {
    // rows are written off the request path: wait until every request is in
    let mut rows = Vec::new();
    for _ in 0..100 {
        let out = Command::new(bin())
            .args(["usage", "--json", "--since", "1h", "--by", by, "--config"])
            .arg(&d.config)
            .output()
            .unwrap();
        if out.status.success() {
            rows = serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap();
            let n: u64 = rows.iter().map(|r| r["requests"].as_u64().unwrap()).sum();
            if n >= 1 {
                tokio::time::sleep(Duration::from_millis(300)).await;
                let out = Command::new(bin())
                    .args(["usage", "--json", "--since", "1h", "--by", by, "--config"])
                    .arg(&d.config)
                    .output()
                    .unwrap();
                let again = serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap();
                if again == rows {
                    return rows;
                }
                rows = again;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    rows
}

#[tokio::test]
async fn the_ledger_survives_restart_and_kill_9_and_matches_usage() {
    let mut d = Daemon::start("", &me("").replace("latency = \"300ms\"", "latency = \"0ms\"")).await;
    let c = d.native().await;
    let mut prompt = 0;
    let mut completion = 0;
    for i in 0..20 {
        let body = json!({"model": "m", "messages": [{"role": "user", "content": format!("request number {i}")}]});
        let r = c.call("chat", &body, &json!({"label": "ledger-test"})).await.unwrap();
        prompt += r.body["usage"]["prompt_tokens"].as_u64().unwrap();
        completion += r.body["usage"]["completion_tokens"].as_u64().unwrap();
    }
    let rows = usage_json(&d, "caller,route,deployment").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["requests"], 20);
    assert_eq!(rows[0]["caller"], "me");
    assert_eq!(rows[0]["route"], "m");
    assert_eq!(rows[0]["prompt_tokens"].as_u64().unwrap(), prompt);
    assert_eq!(rows[0]["completion_tokens"].as_u64().unwrap(), completion);
    drop(c);
    // kill -9 while writes may be in flight, then restart: nothing committed is lost
    let c = d.native().await;
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "more"}]});
    let no_opts = json!({});
    let burst = futures_util::future::join_all((0..30).map(|_| c.call("chat", &body, &no_opts))).await;
    assert!(burst.iter().all(|r| r.is_ok()));
    if let Some(ch) = &mut d.child {
        ch.kill().unwrap();
        ch.wait().unwrap();
    }
    d.spawn().await;
    let rows = usage_json(&d, "caller").await;
    let n = rows[0]["requests"].as_u64().unwrap();
    assert!((20..=50).contains(&n), "{n}");
    // the database is intact and the restarted daemon keeps appending
    d.native().await.call("chat", &body, &json!({})).await.unwrap();
    let out = Command::new(bin())
        .args(["usage", "--csv", "--since", "1h", "--by", "app", "--config"])
        .arg(&d.config)
        .output()
        .unwrap();
    let csv = String::from_utf8_lossy(&out.stdout);
    assert!(csv.starts_with("app,requests,"), "{csv}");
    assert!(csv.contains("ledger-test,20,"), "{csv}");
}

#[tokio::test]
async fn metrics_count_what_happened() {
    let d = Daemon::start("", &me("").replace("latency = \"300ms\"", "latency = \"0ms\"")).await;
    let c = d.native().await;
    for _ in 0..7 {
        c.call("chat", &json!({"model": "m", "messages": [{"role": "user", "content": "x"}]}), &json!({}))
            .await
            .unwrap();
    }
    let _ = c.call("chat", &json!({"model": "nope", "messages": [{"role": "user", "content": "x"}]}), &json!({})).await;
    let r = d.http().get("http://sidegate/metrics").send().await.unwrap();
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("application/openmetrics-text"));
    let text = r.text().await.unwrap();
    assert!(
        text.contains(r#"sidegate_requests_total{route="m",deployment="m",caller="me",status="200",dialect="chat"} 7"#),
        "{text}"
    );
    assert!(
        text.contains(r#"sidegate_tokens_total{route="m",deployment="m",caller="me",kind="completion"} 70"#),
        "{text}"
    );
    assert!(text.contains("sidegate_request_duration_seconds_bucket"), "{text}");
    assert!(text.contains(r#"status="404""#), "{text}");
    assert!(!text.contains("nope"), "raw user input never becomes a label: {text}");
    assert!(text.contains(r#"sidegate_cache_entries{tier="memory"}"#), "{text}");
    assert!(text.trim_end().ends_with("# EOF"));
}

#[tokio::test]
async fn two_daemons_sharing_redis_never_spend_past_one_budget() {
    let Some(redis) = crate::cache::Redis::start().await else { return };
    let cfg = format!("{}\n[shared]\nredis = \"{}\"\n", me("budget = { usd = 0.05, per = \"day\" }"), redis.url());
    let a = Daemon::start("", &cfg).await;
    let b = Daemon::start("", &cfg).await;
    let (ca, cb) = (a.native().await, b.native().await);
    let body = json!({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]});
    let no_opts = json!({});
    let calls = (0..50).map(|i| {
        let c = if i % 2 == 0 { &ca } else { &cb };
        c.call("chat", &body, &no_opts)
    });
    let results = futures_util::future::join_all(calls).await;
    let (ok, over) = crate::common::answered_and_over_budget(&results);
    assert_eq!(ok + over, 50);
    assert!(ok <= 5, "two hosts spent past one $0.05 budget: {ok} calls at $0.01 answered");
    assert!(ok >= 1);
    let cost: f64 = usage_json(&a, "caller")
        .await
        .iter()
        .chain(usage_json(&b, "caller").await.iter())
        .map(|r| r["cost_usd"].as_f64().unwrap())
        .sum();
    assert!(cost <= 0.05 + 1e-9, "the ledgers say {cost}");
}
