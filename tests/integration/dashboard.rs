//! The `/ui` dashboard and what surrounds it: the page and `GET /ui/data` behind the caller
//! check (TCP keys, `?key=`, a loopback Host), the history counting what the test sent, the
//! Grafana board querying only metrics a real scrape has, `sidegate dashboard` proxying the
//! socket, and `sidegate generate`.

use std::io::BufRead;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::common::{Daemon, bin, eventually};

const ALICE: &str = "sk-alice-0123456789abcdef";
const BOB: &str = "sk-bob-0123456789abcdef00";

fn config(vendor: &str) -> String {
    format!(
        r#"
[providers.fake]
kind = "openai-compatible"
base_url = "http://{vendor}/v1"
api_key = "sk-fake-secret-key"

[models.fake-echo]
provider = "fake"
model = "echo-model"
price = {{ input = 1000.0, output = 2000.0 }}

[models.fake-500]
provider = "fake"
model = "fail-500"

[routes.fast]
targets = ["fake-echo"]
cache = {{ ttl = "10m", tiers = ["memory"] }}

[routes.failover]
targets = ["fake-500", "fake-echo"]

[callers.alice]
keys = ["{ALICE}"]
budget = {{ usd = 100.0, per = "day" }}

[callers.bob]
keys = ["{BOB}"]
"#
    )
}

struct Setup {
    _vendor: fake_vendor::FakeVendor,
    d: Daemon,
    base: String,
}

/// A daemon with a TCP listener, unknown callers denied, and traffic the tests count on:
/// alice asks `fast` 3 times (1 miss, 2 cache hits), bob asks `failover` twice (each a 500,
/// then the fallback), once streamed.
async fn setup() -> Setup {
    let vendor = fake_vendor::FakeVendor::start().await.unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let extra = format!("http = \"127.0.0.1:{port}\"\nunknown_callers = \"deny\"");
    let d = Daemon::start(&extra, &config(&vendor.addr.to_string())).await;
    eventually("tcp listener", || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()).await;
    let base = format!("http://127.0.0.1:{port}");
    let c = reqwest::Client::new();
    let chat = |key: &'static str, model: &str, stream: bool| {
        let body = json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "count me"}]});
        c.post(format!("{base}/v1/chat/completions")).bearer_auth(key).json(&body).send()
    };
    for _ in 0..3 {
        assert_eq!(chat(ALICE, "fast", false).await.unwrap().status(), 200);
    }
    assert_eq!(chat(BOB, "failover", false).await.unwrap().status(), 200);
    let streamed = chat(BOB, "failover", true).await.unwrap();
    assert_eq!(streamed.status(), 200);
    assert!(streamed.text().await.unwrap().contains("[DONE]"));
    Setup { _vendor: vendor, d, base }
}

fn sum(v: &Value) -> f64 {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap_or(0.0)).sum()
}

#[tokio::test]
async fn the_dashboard_shows_what_was_sent_to_whom_it_may_show() {
    let s = setup().await;
    let c = reqwest::Client::new();
    let get = |path: &str| c.get(format!("{}{path}", s.base));

    // the page and its data: the API's caller check
    assert_eq!(get("/ui").send().await.unwrap().status(), 403, "no key, unknown callers denied");
    assert_eq!(get("/ui/data").send().await.unwrap().status(), 403);
    let page = get(&format!("/ui?key={ALICE}")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-security-policy"].to_str().unwrap().contains("default-src 'none'"));
    assert!(page.text().await.unwrap().contains("<script src=\"/ui/app.js\""));
    let evil = get("/ui/data").bearer_auth(ALICE).header("host", "evil.example:80").send().await.unwrap();
    assert_eq!(evil.status(), 403, "a non-loopback Host (DNS rebinding) is refused");
    let js = get("/ui/app.js").send().await.unwrap();
    assert_eq!(js.status(), 200, "the script is static text");
    assert!(js.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));
    assert_eq!(c.post(format!("{}/ui", s.base)).bearer_auth(ALICE).send().await.unwrap().status(), 405);
    assert_eq!(get("/ui/nothing").bearer_auth(ALICE).send().await.unwrap().status(), 404);

    // the history counts what setup() sent
    let v: Value = get("/ui/data").bearer_auth(BOB).send().await.unwrap().json().await.unwrap();
    let h = &v["history"];
    assert_eq!(h["minutes"], 60);
    assert_eq!(sum(&h["callers"]["alice"]["requests"]), 3.0, "{h}");
    assert_eq!(sum(&h["callers"]["bob"]["requests"]), 2.0, "{h}");
    assert_eq!(sum(&h["callers"]["bob"]["errors"]), 0.0, "failed over, answered");
    assert_eq!(sum(&h["routes"]["fast"]["requests"]), 3.0);
    assert_eq!(sum(&h["routes"]["failover"]["requests"]), 2.0);
    assert_eq!(sum(&h["models"]["fake-echo"]["requests"]), 5.0);
    assert_eq!(sum(&h["cache"]["hit"]), 2.0, "{h}");
    assert_eq!(sum(&h["cache"]["miss"]), 1.0);
    let alice_cost = sum(&h["callers"]["alice"]["cost_usd"]);
    assert!(alice_cost > 0.0, "the miss was priced: {h}");
    let latency = h["deployments"]["fake-echo"]["latency_ms"].as_array().unwrap();
    assert!(latency.last().unwrap().as_f64().is_some(), "latency this minute: {h}");
    let ttft: Vec<&Value> = h["deployments"]["fake-echo"]["ttft_ms"].as_array().unwrap().iter().collect();
    assert!(ttft.iter().any(|t| t.is_number()), "the stream's first token: {h}");
    // and the live status beside it
    assert_eq!(v["status"]["requests"]["total"], 5);
    assert!(v["status"]["config"]["version"].as_str().is_some_and(|s| !s.is_empty()));
    let deps: Vec<&str> =
        v["status"]["deployments"].as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert!(deps.contains(&"fake-500") && deps.contains(&"fake-echo"), "{deps:?}");
}

/// The metric names a PromQL expression reads (`sidegate_*` identifiers).
fn metric_names(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let b = expr.as_bytes();
    let mut i = 0;
    while let Some(at) = expr[i..].find("sidegate_") {
        let start = i + at;
        let mut end = start;
        while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_') {
            end += 1;
        }
        out.push(expr[start..end].to_string());
        i = end;
    }
    out
}

#[tokio::test]
async fn every_metric_the_grafana_board_queries_is_in_a_real_scrape() {
    let s = setup().await;
    // a reload, so sidegate_config_reloads_total has a sample
    let text = std::fs::read_to_string(&s.d.config).unwrap();
    std::fs::write(&s.d.config, format!("{text}\n# changed\n")).unwrap();
    let _ = s.d.native().await.call("reload", &json!({}), &json!({})).await;
    let c = reqwest::Client::new();
    let mut scrape = String::new();
    for _ in 0..600 {
        scrape = c.get(format!("{}/metrics", s.base)).send().await.unwrap().text().await.unwrap();
        if scrape.contains("sidegate_config_reloads_total{") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let board: Value =
        serde_json::from_str(include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/grafana/sidegate.json")))
            .unwrap();
    let mut exprs: Vec<String> = Vec::new();
    for p in board["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().into_iter().flatten() {
            exprs.push(t["expr"].as_str().unwrap().to_string());
        }
    }
    for v in board["templating"]["list"].as_array().unwrap() {
        if let Some(q) = v["query"]["query"].as_str() {
            exprs.push(q.to_string());
        }
    }
    let names: std::collections::BTreeSet<String> = exprs.iter().flat_map(|e| metric_names(e)).collect();
    assert!(names.len() >= 15, "{names:?}");
    let sampled = |name: &str| scrape.lines().any(|l| l.strip_prefix(name).is_some_and(|r| r.starts_with(['{', ' '])));
    let missing: Vec<&String> = names.iter().filter(|n| !sampled(n)).collect();
    assert!(missing.is_empty(), "queried by the board but not in /metrics: {missing:?}\n{scrape}");
    for must in ["sidegate_caller_budget_usd{caller=\"alice\"} 100", "sidegate_failovers_total{"] {
        assert!(scrape.contains(must), "{must}: {scrape}");
    }
}

#[tokio::test]
async fn sidegate_dashboard_serves_the_socket_on_a_loopback_port() {
    let d = Daemon::start("", "[providers.mock]\nkind = \"mock\"\n").await;
    let mut child = Command::new(bin())
        .args(["dashboard", "--listen", "127.0.0.1:0", "--socket"])
        .arg(&d.socket)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url =
        line.split_whitespace().find(|w| w.starts_with("http://")).unwrap_or_else(|| panic!("{line}")).to_string();
    let base = url.trim_end_matches("/ui").to_string();
    let c = reqwest::Client::new();
    let body = json!({"model": "mock/x", "messages": [{"role": "user", "content": "x"}]});
    d.http().post("http://sidegate/v1/chat/completions").json(&body).send().await.unwrap();
    let page = c.get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-security-policy"].to_str().unwrap().contains("script-src 'self'"));
    let v: Value = c.get(format!("{base}/ui/data")).send().await.unwrap().json().await.unwrap();
    assert_eq!(sum(&v["history"]["callers"]["unknown"]["requests"]), 1.0, "{v}");
    assert_eq!(c.post(format!("{base}/ui/data")).send().await.unwrap().status(), 405, "read-only");
    assert_eq!(c.get(format!("{base}/metrics")).send().await.unwrap().status(), 404, "only /ui");
    let rebound = c.get(format!("{base}/ui/data")).header("host", "evil.example").send().await.unwrap();
    assert_eq!(rebound.status(), 403);
    let _ = child.kill();
    let _ = child.wait();
    let out =
        Command::new(bin()).args(["dashboard", "--listen", "0.0.0.0:0", "--socket"]).arg(&d.socket).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));
}

#[test]
fn generate_writes_completions_and_man_pages_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let run = |what: &str| Command::new(bin()).args(["generate", what]).arg(dir.path().join(what)).output().unwrap();
    assert!(run("completions").status.success());
    assert!(run("man").status.success());
    let bash = std::fs::read_to_string(dir.path().join("completions/sidegate")).unwrap();
    for sub in ["serve", "check", "status", "reload", "usage", "chat", "dashboard"] {
        assert!(bash.contains(sub), "bash completion lacks {sub}");
        assert!(dir.path().join(format!("man/sidegate-{sub}.1")).exists(), "no man page for {sub}");
    }
    assert!(
        std::fs::read_to_string(dir.path().join("completions/_sidegate")).unwrap().starts_with("#compdef sidegate")
    );
    assert!(
        std::fs::read_to_string(dir.path().join("completions/sidegate.fish")).unwrap().contains("complete -c sidegate")
    );
    let man = std::fs::read_to_string(dir.path().join("man/sidegate-check.1")).unwrap();
    assert!(man.contains(".TH sidegate-check 1") && man.contains("\\-\\-strict"), "{man}");
}
