//! What a request costs, through the real daemon: cache reads, cache writes (per TTL) and
//! reasoning tokens at their own prices (built in, or a model's `price` in config), the same
//! in the `x-sidegate-cost-usd` header, the ledger, `sidegate usage` and the metrics; budgets
//! settled with those prices. Every expected number is worked by hand in a comment.

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Daemon, FakeToml, bin};

fn config(addr: &str, extra: &str) -> String {
    FakeToml::new(addr)
        .anthropic("claude")
        .openai_compatible("oai")
        .gemini("gem")
        .models("claude", &[("sonnet", "claude-sonnet-4-5")])
        .models("gem", &[("flash", "gemini-2.5-flash")])
        // Prices large enough that every part shows in cents.
        .raw(
            "[models.priced]\nprovider = \"claude\"\nmodel = \"claude-sonnet-4-5\"\n\
             price = { input = 10000.0, output = 0.0, cache_read = 1000.0, cache_write = 12500.0, cache_write_1h = 20000.0 }",
        )
        .raw(
            "[models.thinker]\nprovider = \"oai\"\nmodel = \"echo-model\"\n\
             price = { input = 0.0, output = 100000.0, reasoning = 2000000.0 }",
        )
        .raw(extra)
        .build()
}

async fn start(extra: &str) -> (fake_vendor::FakeVendor, Daemon) {
    let vendor = fake_vendor::FakeVendor::start().await.expect("fake vendor");
    let d = Daemon::start("", &config(&vendor.addr.to_string(), extra)).await;
    (vendor, d)
}

/// POST: the answer and its `x-sidegate-cost-usd` header.
async fn post(d: &Daemon, path: &str, body: &Value) -> (Value, String) {
    let r = d.http().post(format!("http://sidegate{path}")).json(body).send().await.unwrap();
    let status = r.status().as_u16();
    let cost = r.headers().get("x-sidegate-cost-usd").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let text = r.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    (serde_json::from_str(&text).unwrap(), cost)
}

fn words(n: usize) -> String {
    (0..n).map(|i| format!("w{i}")).collect::<Vec<_>>().join(" ")
}

/// `sidegate usage --json --by route`, once every one of `n` requests is in the ledger.
async fn usage_rows(d: &Daemon, n: u64) -> Vec<Value> {
    for _ in 0..200 {
        let out = Command::new(bin())
            .args(["usage", "--json", "--since", "1h", "--by", "route", "--config"])
            .arg(&d.config)
            .output()
            .unwrap();
        if out.status.success() {
            let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
            if rows.iter().map(|r| r["requests"].as_u64().unwrap()).sum::<u64>() >= n {
                return rows;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the ledger never had {n} requests");
}

fn row<'a>(rows: &'a [Value], route: &str) -> &'a Value {
    rows.iter().find(|r| r["route"] == route).unwrap_or_else(|| panic!("no row for {route}: {rows:?}"))
}

#[tokio::test]
async fn anthropic_cache_writes_and_reads_are_billed_at_their_prices_everywhere() {
    let (_vendor, d) = start("").await;
    // 100 system words marked for an hour, 50 user words marked for 5 minutes, 2 fresh words.
    let body = json!({"model": "priced", "max_tokens": 20, "messages": [
        {"role": "system", "content": words(100), "cache_control": {"type": "ephemeral", "ttl": "1h"}},
        {"role": "user", "content": [{"type": "text", "text": words(50), "cache_control": {"type": "ephemeral"}},
                                     {"type": "text", "text": "why so"}]}]});
    let (first, cost1) = post(&d, "/v1/chat/completions", &body).await;
    let d1 = &first["usage"]["prompt_tokens_details"];
    assert_eq!((d1["cache_creation_tokens"].as_u64(), d1["cache_creation_1h_tokens"].as_u64()), (Some(150), Some(100)));
    // first call: 2 fresh x $10,000 + 50 (5m) x $12,500 + 100 (1h) x $20,000 per MTok,
    // output free: 20,000 + 625,000 + 2,000,000 = 2,645,000 / 1e6 = $2.645
    assert_eq!(cost1, "2.64500000");
    let (second, cost2) = post(&d, "/v1/chat/completions", &body).await;
    assert_eq!(second["usage"]["prompt_tokens_details"]["cached_tokens"], 150, "{second}");
    // second call: 2 fresh x $10,000 + 150 read x $1,000 = 170,000 / 1e6 = $0.17
    assert_eq!(cost2, "0.17000000");
    // the ledger and `sidegate usage`: the same cost, the new columns
    let rows = usage_rows(&d, 2).await;
    let r = row(&rows, "priced");
    assert!((r["cost_usd"].as_f64().unwrap() - 2.815).abs() < 1e-9, "{r}");
    assert_eq!(r["cached_tokens"], 150);
    assert_eq!(r["cache_write_tokens"], 150);
    assert_eq!(r["cache_write_1h_tokens"], 100);
    // and the metrics
    let text = d.http().get("http://sidegate/metrics").send().await.unwrap().text().await.unwrap();
    for (kind, n) in [("cached", 150), ("cache_write", 150), ("cache_write_1h", 100)] {
        let any_caller = text.lines().any(|l| {
            l.starts_with("sidegate_tokens_total{route=\"priced\"")
                && l.contains(&format!("kind=\"{kind}\"}}"))
                && l.ends_with(&format!(" {n}"))
        });
        assert!(any_caller, "{kind} {n} in {text}");
    }
    assert!(text.contains("sidegate_cost_usd_total{route=\"priced\""), "{text}");
}

#[tokio::test]
async fn reasoning_tokens_are_billed_at_the_reasoning_price() {
    let (_vendor, d) = start("").await;
    let body =
        json!({"model": "thinker", "reasoning_effort": "high", "messages": [{"role": "user", "content": "ab cd"}]});
    let (v, cost) = post(&d, "/v1/chat/completions", &body).await;
    assert_eq!(v["usage"]["completion_tokens_details"]["reasoning_tokens"], 5, "{v}");
    assert_eq!(v["usage"]["completion_tokens"], 7);
    // 2 visible words x $100,000 + 5 reasoning x $2,000,000 = 10,200,000 / 1e6 = $10.20
    assert_eq!(cost, "10.20000000");
    let rows = usage_rows(&d, 1).await;
    assert_eq!(row(&rows, "thinker")["reasoning_tokens"], 5);
}

#[tokio::test]
async fn gemini_implicit_caching_and_thoughts_at_built_in_prices() {
    let (_vendor, d) = start("").await;
    let body = json!({"systemInstruction": {"parts": [{"text": words(1200)}]},
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "generationConfig": {"thinkingConfig": {"thinkingBudget": 1024}}});
    let path = "/v1beta/models/flash:generateContent";
    let (_, _) = post(&d, path, &body).await;
    let (v, cost) = post(&d, path, &body).await;
    let u = &v["usageMetadata"];
    assert_eq!(
        (u["promptTokenCount"].as_u64(), u["cachedContentTokenCount"].as_u64()),
        (Some(1201), Some(1152)),
        "{v}"
    );
    assert_eq!((u["candidatesTokenCount"].as_u64(), u["thoughtsTokenCount"].as_u64()), (Some(1), Some(7)));
    // gemini-2.5-flash: input $0.30, cached $0.03, output (thoughts included) $2.50 per MTok:
    // 49 x 0.30 + 1,152 x 0.03 + 8 x 2.50 = 14.70 + 34.56 + 20.00 = 69.26 / 1e6 = $0.00006926
    assert_eq!(cost, "0.00006926");
}

#[tokio::test]
async fn budgets_settle_at_cache_prices() {
    let uid = sidegate::sys::uid();
    let caller = format!("[callers.me]\nuid = {uid}\nbudget = {{ usd = 5.0, per = \"day\" }}\n");
    let (_vendor, d) = start(&caller).await;
    // 100 marked system words (5 minutes) + 2 fresh. The first call writes:
    // 2 x $10,000 + 100 x $12,500 = 1,270,000 / 1e6 = $1.27; each repeat reads:
    // 2 x $10,000 + 100 x $1,000 = $0.12. Each call reserves its ceiling (about 107 estimated
    // prompt tokens x $20,000, the dearest write price: ~$2.14) and settles at its cost.
    // Billed as fresh input ($1.02 a call) the budget would refuse the 4th call
    // ($1.27 + 2 x $1.02 + $2.14 > $5); at cache prices six calls spend $1.27 + 5 x $0.12.
    let body = json!({"model": "priced", "max_tokens": 5, "messages": [
        {"role": "system", "content": words(100), "cache_control": {"type": "ephemeral", "ttl": "5m"}},
        {"role": "user", "content": "go on"}]});
    let mut total = 0.0;
    for i in 0..6 {
        let r = d.http().post("http://sidegate/v1/chat/completions").json(&body).send().await.unwrap();
        let status = r.status().as_u16();
        let cost = r.headers().get("x-sidegate-cost-usd").map(|v| v.to_str().unwrap().parse::<f64>().unwrap());
        assert_eq!(status, 200, "call {i}: {}", r.text().await.unwrap());
        total += cost.unwrap();
    }
    assert!((total - 1.87).abs() < 1e-9, "{total}");
    let rows = usage_rows(&d, 6).await;
    assert!((row(&rows, "priced")["cost_usd"].as_f64().unwrap() - 1.87).abs() < 1e-9, "{rows:?}");
    // The budget ends before anything spends past it.
    let mut answered = 6;
    let refused = loop {
        let r = d.http().post("http://sidegate/v1/chat/completions").json(&body).send().await.unwrap();
        match r.status().as_u16() {
            200 => answered += 1,
            429 => break r.json::<Value>().await.unwrap(),
            other => panic!("{other}: {}", r.text().await.unwrap()),
        }
        assert!(answered < 40, "the budget never ended");
    };
    assert_eq!(refused["error"]["code"], "budget_exceeded", "{refused}");
    let rows = usage_rows(&d, answered).await;
    let spent = row(&rows, "priced")["cost_usd"].as_f64().unwrap();
    // $1.27 + $0.12 per further answer, never past $5
    assert!((spent - (1.27 + 0.12 * (answered - 1) as f64)).abs() < 1e-9, "{spent} after {answered}");
    assert!(spent <= 5.0, "{spent}");
}
