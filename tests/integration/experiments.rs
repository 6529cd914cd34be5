//! Experiments through the real daemon: a route's variants split by weight with a fixed seed
//! (every count here is deterministic for that seed: no randomness is involved) and stick to
//! the episode or the caller, over HTTP and native; a variant's prompt version is what the
//! vendor gets unless the caller names its own; shadow copies reach the vendor and the ledger
//! but never the caller, and stop at their budget; feedback over HTTP and native;
//! `sidegate experiments`; config errors; a reload that changes the split.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Daemon, FakeToml, bin};

const GREET: &str = r#"name = "greet"
version = "2"
[variables.who]
type = "string"
[[messages]]
role = "system"
content = "Version two."
[[messages]]
role = "user"
content = "Greet {{ who }}."
"#;

/// Route `chat`: variant `a` (70, greet@1 on the route's own target) and `b` (30, greet@2 on
/// model `m-b`), seed "s1"; `extra` adds more.
fn config(addr: &str, prompts: &std::path::Path, split: (u32, u32), extra: &str) -> String {
    FakeToml::new(addr)
        .openai_compatible("oai")
        .models("oai", &[("m-a", "echo-a"), ("m-b", "echo-b")])
        .raw(
            "[models.m-shadow]\nprovider = \"oai\"\nmodel = \"echo-shadow\"\n\
             price = { input = 1000.0, output = 1000.0 }",
        )
        .route("chat", &["m-a"])
        .raw(&format!(
            "experiment_seed = \"s1\"\n\
             [[routes.chat.variants]]\nname = \"a\"\nweight = {}\nprompt = \"greet@1\"\n\
             [[routes.chat.variants]]\nname = \"b\"\nweight = {}\nprompt = \"greet@2\"\nmodel = \"m-b\"\n{extra}",
            split.0, split.1
        ))
        .raw(&format!("[prompts]\ndir = \"{}\"", prompts.display()))
        .build()
}

struct Setup {
    vendor: fake_vendor::FakeVendor,
    d: Daemon,
    prompts: tempfile::TempDir,
}

async fn start(extra: &str) -> Setup {
    let prompts = tempfile::tempdir().unwrap();
    std::fs::write(prompts.path().join("greet.toml"), GREET).unwrap();
    let v1 = GREET.replace("version = \"2\"", "version = \"1\"").replace("Version two.", "Version one.");
    std::fs::write(prompts.path().join("greet@1.toml"), v1).unwrap();
    let vendor = fake_vendor::FakeVendor::start().await.unwrap();
    let d = Daemon::start("", &config(&vendor.addr.to_string(), prompts.path(), (70, 30), extra)).await;
    Setup { vendor, d, prompts }
}

/// A chat request for route `chat` naming prompt `prompt`: (status, variant header, model
/// header, request id, body).
async fn ask(d: &Daemon, prompt: &str, episode: Option<&str>) -> (u16, String, String, String, Value) {
    let body = json!({"model": "chat", "max_tokens": 3, "prompt": {"id": prompt, "variables": {"who": "Ada"}}});
    let mut r = d.http().post("http://sidegate/v1/chat/completions").json(&body);
    if let Some(e) = episode {
        r = r.header("x-sidegate-episode", e);
    }
    let resp = r.send().await.unwrap();
    let h = |n: &str| resp.headers().get(n).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let (variant, model, id) = (h("x-sidegate-variant"), h("x-sidegate-model"), h("x-sidegate-request-id"));
    let status = resp.status().as_u16();
    (status, variant, model, id, resp.json().await.unwrap_or(Value::Null))
}

fn system_text(vendor: &fake_vendor::FakeVendor) -> String {
    vendor.last_request()["body"]["messages"][0]["content"].as_str().unwrap_or_default().to_string()
}

/// `sidegate experiments --json` once `want(report)` holds.
async fn experiments_report(d: &Daemon, want: impl Fn(&Value) -> bool) -> Value {
    let mut last = String::new();
    for _ in 0..200 {
        let out = Command::new(bin())
            .args(["experiments", "--json", "--since", "1h", "--config"])
            .arg(&d.config)
            .output()
            .unwrap();
        last = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        if out.status.success() {
            let v: Value = serde_json::from_slice(&out.stdout).unwrap();
            if want(&v) {
                return v;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the experiments report never got there: {last}");
}

fn row<'a>(report: &'a Value, variant: &str) -> &'a Value {
    let rows = report["variants"].as_array().unwrap();
    rows.iter().find(|r| r["variant"] == variant).unwrap_or_else(|| panic!("no row for {variant}: {report}"))
}

fn requests_of(report: &Value, variant: &str) -> u64 {
    report["variants"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["variant"] == variant)
        .map(|r| r["requests"].as_u64().unwrap())
        .sum()
}

#[tokio::test]
async fn variants_split_by_weight_stick_to_their_episode_and_render_their_prompt_version() {
    let s = start("").await;
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for i in 0..100 {
        let e = format!("episode-{i}");
        let (status, variant, model, _, _) = ask(&s.d, "greet", Some(&e)).await;
        assert_eq!(status, 200);
        // Each variant's own target and prompt version.
        match variant.as_str() {
            "a" => assert_eq!((model.as_str(), system_text(&s.vendor).as_str()), ("m-a", "Version one.")),
            "b" => assert_eq!((model.as_str(), system_text(&s.vendor).as_str()), ("m-b", "Version two.")),
            other => panic!("variant {other:?}"),
        }
        *counts.entry(variant.clone()).or_default() += 1;
        seen.insert(e, variant);
    }
    // Seed "s1" and these 100 episodes always split the same way; the bounds say what it is.
    let a = counts.get("a").copied().unwrap_or(0);
    assert!((55..=85).contains(&a) && a + counts.get("b").copied().unwrap_or(0) == 100, "{counts:?}");
    // The same episode gets the same variant again, over HTTP and over the native protocol.
    let c = s.d.native().await;
    for (e, v) in seen.iter().take(10) {
        assert_eq!(&ask(&s.d, "greet", Some(e)).await.1, v, "{e}");
        let opts = json!({"episode": e, "prompt": {"id": "greet", "variables": {"who": "Bo"}}});
        let reply = c.call("chat", &json!({"model": "chat", "max_tokens": 3}), &opts).await.unwrap();
        assert_eq!(reply.meta["variant"].as_str(), Some(v.as_str()), "{e}: {:?}", reply.meta);
    }
    // Without an episode, the caller (this test's uid) sticks to one variant.
    let first = ask(&s.d, "greet", None).await.1;
    for _ in 0..5 {
        assert_eq!(ask(&s.d, "greet", None).await.1, first);
    }
    // A caller naming its own version keeps it, and is left out of the experiment (an
    // episode of `a`, whose version is 1).
    let of_a = seen.iter().find(|(_, v)| *v == "a").map(|(e, _)| e.clone()).unwrap();
    let (status, variant, model, _, _) = ask(&s.d, "greet@2", Some(&of_a)).await;
    assert_eq!((status, variant.as_str(), model.as_str()), (200, "", "m-a"));
    assert_eq!(system_text(&s.vendor), "Version two.");
    assert!(s.d.log().contains("variant=a") || s.d.log().contains("variant=\"a\""), "{}", s.d.log());
    // Naming the variant's own version is no conflict.
    let of_b = seen.iter().find(|(_, v)| *v == "b").map(|(e, _)| e.clone()).unwrap();
    assert_eq!(ask(&s.d, "greet@2", Some(&of_b)).await.1, "b");
    // The ledger has every request of the experiment under its variant (100 + 20 + 6 + 1).
    let total = 100 + 20 + 6 + 1;
    let report = experiments_report(&s.d, |r| requests_of(r, "a") + requests_of(r, "b") >= total).await;
    assert_eq!(requests_of(&report, "a") + requests_of(&report, "b"), total);
    assert_eq!(row(&report, "a")["route"], "chat");
    assert_eq!(row(&report, "b")["shadow"], false);
}

const SHADOW: &str = "[[routes.chat.shadow]]\nname = \"try\"\nmodel = \"m-shadow\"\nsample = 1.0\nbudget_usd = 0.03\n";

/// `sidegate_shadow_requests_total` by outcome.
async fn shadow_outcomes(d: &Daemon) -> BTreeMap<String, u64> {
    let text = d.http().get("http://sidegate/metrics").send().await.unwrap().text().await.unwrap();
    let mut out = BTreeMap::new();
    for l in text.lines().filter(|l| l.starts_with("sidegate_shadow_requests_total{")) {
        let outcome = l.split("outcome=\"").nth(1).and_then(|r| r.split('"').next()).unwrap_or_default();
        let n: f64 = l.rsplit(' ').next().unwrap().parse().unwrap();
        out.insert(outcome.to_string(), n as u64);
    }
    out
}

#[tokio::test]
async fn shadow_copies_reach_the_vendor_and_the_ledger_never_the_caller_and_stop_at_their_budget() {
    let s = start(SHADOW).await;
    for i in 1..=8u64 {
        let (status, variant, model, _, body) = ask(&s.d, "greet", Some("episode-7")).await;
        assert_eq!(status, 200);
        // The caller gets the live variant's answer, from its own deployment.
        assert_ne!(variant, "try");
        assert!(model == "m-a" || model == "m-b", "{model}");
        assert_eq!(body["model"].as_str().map(|m| m.contains("shadow")), Some(false), "{body}");
        // One copy per live request, run or skipped, before the next (so the count is exact).
        let mut done = 0;
        for _ in 0..200 {
            done = shadow_outcomes(&s.d).await.values().sum::<u64>();
            if done >= i {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert_eq!(done, i);
    }
    let outcomes = shadow_outcomes(&s.d).await;
    // Each copy costs $0.004 (the fake counts "Greet Ada." as 2 prompt tokens and echoes 2,
    // at $1000/M each) and reserves up to $0.017 (22 prompt characters = 6 tokens, plus 4 per
    // message, plus max_tokens 3: 17 tokens). Spent + reserved stays within $0.03 for the
    // 4th (0.012 + 0.017) but not the 5th (0.016 + 0.017): 4 run, then the cap refuses.
    assert_eq!((outcomes.get("ran"), outcomes.get("budget")), (Some(&4), Some(&4)), "{outcomes:?}");
    // The vendor saw the 8 live calls and the 4 shadow calls.
    assert_eq!(s.vendor.calls(), 12);
    let report = experiments_report(&s.d, |r| requests_of(r, "try") >= 4).await;
    let shadow = row(&report, "try");
    assert_eq!((shadow["shadow"].as_bool(), shadow["requests"].as_u64()), (Some(true), Some(4)));
    let cost = shadow["cost_usd"].as_f64().unwrap();
    assert!((cost - 0.016).abs() < 1e-9, "{shadow}");
    // The table marks it.
    let out =
        Command::new(bin()).args(["experiments", "--route", "chat", "--config"]).arg(&s.d.config).output().unwrap();
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.lines().any(|l| l.contains("try") && l.contains("shadow")), "{table}");
}

#[tokio::test]
async fn feedback_over_http_and_native_shows_in_the_experiments_report() {
    let s = start("").await;
    let (_, variant, _, id, _) = ask(&s.d, "greet", Some("episode-1")).await;
    let post = |body: Value| {
        let http = s.d.http();
        async move {
            let r = http.post("http://sidegate/v1/feedback").json(&body).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, answer) = post(json!({"request_id": id, "score": 0.25, "label": "meh"})).await;
    assert_eq!((status, answer["recorded"].as_bool(), answer["replaced"].as_bool()), (200, Some(true), Some(false)));
    // A second feedback for the same request replaces the first.
    let (status, answer) = post(json!({"request_id": id, "score": 0.75, "label": "good", "comment": "ok"})).await;
    assert_eq!((status, answer["replaced"].as_bool()), (200, Some(true)));
    // Over the native protocol, for another request.
    let c = s.d.native().await;
    let opts = json!({"episode": "episode-1", "prompt": {"id": "greet", "variables": {"who": "Cy"}}});
    let reply = c.call("chat", &json!({"model": "chat", "max_tokens": 3}), &opts).await.unwrap();
    let native_id = reply.meta["request_id"].as_str().unwrap().to_string();
    let stored = c.call("feedback", &json!({"request_id": native_id, "score": 0.25}), &json!({})).await.unwrap();
    assert_eq!(stored.body["recorded"], true);
    // An id no request had: accepted, and counted as unmatched.
    assert_eq!(post(json!({"request_id": "sg-not-a-request", "label": "bad"})).await.0, 200);
    // Bad bodies: 400s naming the field, over both fronts.
    for (body, param) in [
        (json!({"score": 1}), "request_id"),
        (json!({"request_id": id}), "score"),
        (json!({"request_id": id, "score": "x"}), "score"),
        (json!({"request_id": id, "label": "x", "stars": 5}), "body"),
    ] {
        let (status, answer) = post(body.clone()).await;
        assert_eq!((status, answer["error"]["param"].as_str()), (400, Some(param)), "{body}: {answer}");
        let e = c.call("feedback", &body, &json!({})).await.unwrap_err();
        assert!(matches!(e, sidegate::client::ClientError::Api { status: 400, .. }), "{e}");
    }
    // Every feedback call has its log line, naming the request it is about; refusals too.
    let (about, refused) = (format!("for_request={id}"), "op=\"feedback\" for_request= status=400");
    let mut logged = false;
    for _ in 0..200 {
        let log = s.d.log();
        if log.contains(&about) && log.contains(&format!("for_request={native_id}")) && log.contains(refused) {
            logged = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(logged, "{}", s.d.log());
    let report = experiments_report(&s.d, |r| {
        r["variants"].as_array().unwrap().iter().map(|v| v["feedback"].as_u64().unwrap()).sum::<u64>() >= 2
    })
    .await;
    let v = row(&report, &variant);
    assert_eq!(v["feedback"], 2, "{report}");
    assert_eq!(v["score_mean"].as_f64(), Some(0.5), "{report}");
    assert_eq!(v["labels"], json!({"good": 1}), "{report}");
    assert_eq!(report["unmatched_feedback"], 1, "{report}");
}

#[tokio::test]
async fn a_reload_changes_the_split_and_a_broken_experiment_never_replaces_a_good_one() {
    let s = start("").await;
    let addr = s.vendor.addr.to_string();
    let write = |text: String| {
        let server = std::fs::read_to_string(&s.d.config).unwrap();
        let head = server.split("\n\n").next().unwrap().to_string();
        std::fs::write(&s.d.config, format!("{head}\n\n{text}\n")).unwrap();
    };
    // Everyone to `b`.
    write(config(&addr, s.prompts.path(), (0, 1), ""));
    let mut moved = false;
    for _ in 0..200 {
        if ask(&s.d, "greet", Some("episode-3")).await.1 == "b" && ask(&s.d, "greet", Some("episode-4")).await.1 == "b"
        {
            moved = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(moved, "the reload never applied: {}", s.d.log());
    // A variant on an unknown model: the reload fails and `b` keeps serving everyone.
    write(config(&addr, s.prompts.path(), (0, 1), "").replace("model = \"m-b\"", "model = \"m-nope\""));
    let mut failed = false;
    for _ in 0..200 {
        if s.d.log().contains("unknown model `m-nope`") {
            failed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(failed, "{}", s.d.log());
    for i in 0..5 {
        assert_eq!(ask(&s.d, "greet", Some(&format!("episode-{i}"))).await.1, "b");
    }
    // `sidegate check` names the error at its key.
    let out = Command::new(bin()).args(["check", "--config"]).arg(&s.d.config).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success() && err.contains("routes.chat.variants.1.model") && err.contains("m-nope"), "{err}");
}

#[tokio::test]
async fn a_failing_shadow_never_touches_a_streamed_live_answer() {
    let broken = "[models.m-500]\nprovider = \"oai\"\nmodel = \"fail-500\"\nprice = { input = 1.0, output = 1.0 }\n\
                  [[routes.chat.shadow]]\nname = \"broken\"\nmodel = \"m-500\"\nsample = 1.0\nbudget_usd = 1.0\n";
    let s = start(broken).await;
    let body = json!({"model": "chat", "stream": true, "prompt": {"id": "greet", "variables": {"who": "Di"}}});
    let r =
        s.d.http()
            .post("http://sidegate/v1/chat/completions")
            .header("x-sidegate-episode", "e-9")
            .json(&body)
            .send()
            .await
            .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let variant = r.headers()["x-sidegate-variant"].to_str().unwrap().to_string();
    let (chunks, done) = crate::common::chat_sse(&r.text().await.unwrap());
    assert!(done && !chunks.is_empty());
    let text: String = chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
    assert_eq!(text, "Greet Di.");
    let mut outcomes = BTreeMap::new();
    for _ in 0..200 {
        outcomes = shadow_outcomes(&s.d).await;
        if outcomes.contains_key("failed") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(outcomes.get("failed"), Some(&1), "{outcomes:?}");
    // Its failure is recorded under the shadow, the live answer under its variant.
    let report = experiments_report(&s.d, |r| requests_of(r, "broken") >= 1 && requests_of(r, &variant) >= 1).await;
    assert_eq!(
        (row(&report, "broken")["errors"].as_u64(), row(&report, "broken")["shadow"].as_bool()),
        (Some(1), Some(true))
    );
    assert_eq!(row(&report, &variant)["errors"], 0);
}
