//! `sidegate eval` end to end against the fake vendor (it echoes the last user message, so
//! every score is worked out by hand below): through a running daemon and in-process, every
//! scorer kind, resume after `kill -9` (the items done before are not sent again: the fake
//! vendor counts the calls), the budget cap, `eval compare`, and the HTML report.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::common::{Daemon, FakeToml, bin, eventually};

/// `say@2` says the text; `say@1` puts "Say: " in front.
const SAY_2: &str = "name = \"say\"\nversion = \"2\"\n[variables.text]\ntype = \"string\"\n[[messages]]\nrole = \"user\"\ncontent = \"{{ text }}\"\n";
const SAY_1: &str = "name = \"say\"\nversion = \"1\"\n[variables.text]\ntype = \"string\"\n[[messages]]\nrole = \"user\"\ncontent = \"Say: {{ text }}\"\n";

/// Echoed: "Paris" (exact and contains), "It is 42" (contains only), "nope" (neither).
const CASES: &str = r#"{"vars": {"text": "Paris"}, "expect": "Paris"}
{"vars": {"text": "It is 42 <b>"}, "expect": "42 <b>"}
{"vars": {"text": "nope"}, "expect": "Paris"}
"#;

struct Setup {
    vendor: fake_vendor::FakeVendor,
    d: Daemon,
    dir: PathBuf,
}

/// A daemon on the fake vendor with the `say` prompts; `extra` models (TOML) added.
async fn start(extra: &str) -> Setup {
    let vendor = fake_vendor::FakeVendor::start().await.unwrap();
    let prompts = tempfile::tempdir().unwrap().keep();
    std::fs::write(prompts.join("say.toml"), SAY_2).unwrap();
    std::fs::write(prompts.join("say@1.toml"), SAY_1).unwrap();
    let config = FakeToml::new(vendor.addr)
        .openai_compatible("fake")
        .models("fake", &[("echo", "echo"), ("tools", "tool-call"), ("slow", "slow-first")])
        .route("fast", &["echo"])
        .raw(extra)
        .raw(&format!("[prompts]\ndir = \"{}\"", prompts.display()))
        .build();
    let d = Daemon::start("", &config).await;
    let dir = d.dir.path().to_path_buf();
    Setup { vendor, d, dir }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// `sidegate eval --config CONFIG ARGS...`: exit code, stdout, stderr. (Waited for off the
/// runtime: the fake vendor answers on it meanwhile.)
async fn eval(config: &Path, args: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::new(bin());
    cmd.arg("eval").arg("--config").arg(config).args(args);
    let out = tokio::task::spawn_blocking(move || cmd.output()).await.unwrap().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

async fn eval_json(config: &Path, args: &[&str]) -> Value {
    let (code, out, err) = eval(config, args).await;
    assert_eq!(code, 0, "sidegate eval {args:?} failed: {err}\n{out}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}\n{err}"))
}

fn variant<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["variants"].as_array().unwrap().iter().find(|v| v["name"] == name).unwrap()
}

fn close(a: &Value, b: f64) -> bool {
    (a.as_f64().unwrap() - b).abs() < 1e-9
}

const TWO_VARIANTS: &str = r#"dataset = "cases.jsonl"
prompt = "say"
variants = ["fast", { name = "say-1", model = "echo", prompt = "say@1" }]
concurrency = 4
[[scorers]]
kind = "contains"
[[scorers]]
kind = "exact"
"#;

#[tokio::test]
async fn known_scores_through_the_daemon_then_in_process() {
    let mut s = start("").await;
    write(&s.dir, "cases.jsonl", CASES);
    let file = write(&s.dir, "two.toml", TWO_VARIANTS);
    let f = file.to_str().unwrap();
    let html = s.dir.join("report.html");
    let r = eval_json(&s.d.config, &[f, "--json", "--html", html.to_str().unwrap()]).await;
    assert!(r["via"].as_str().unwrap().contains("daemon"), "{r}");
    assert_eq!(s.vendor.calls(), 6, "3 items x 2 variants");
    // fast: Paris 1, "It is 42 <b>" (1 + 0) / 2, nope 0 -> mean 0.5, one pass
    let fast = variant(&r, "fast");
    assert_eq!(fast["items"], 3);
    assert!(close(&fast["score_mean"], 0.5) && close(&fast["pass_rate"], 1.0 / 3.0), "{fast}");
    // say@1 answers "Say: ...": contains only, twice -> (0.5 + 0.5 + 0) / 3, no pass
    let old = variant(&r, "say-1");
    assert!(close(&old["score_mean"], 1.0 / 3.0) && close(&old["pass_rate"], 0.0), "{old}");
    for v in [fast, old] {
        assert!(
            v["latency_p50_ms"].as_f64().unwrap() > 0.0
                && v["latency_p95_ms"].as_f64().unwrap() >= v["latency_p50_ms"].as_f64().unwrap()
        );
        assert!(v["ttft_p50_ms"].as_f64().is_some() && v["prompt_tokens"].as_u64().unwrap() > 0, "{v}");
        assert_eq!(v["errors"], 0);
    }
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("It is 42 &lt;b&gt;") && !page.contains("42 <b>"), "dataset and answer text is escaped");
    assert!(!page.contains("src=\"http") && !page.contains("href=\"http"), "nothing is fetched");
    assert_eq!(page.matches("class=\"point\"").count(), 2);
    // The daemon stopped: the same file runs in-process, with the same scores.
    s.d.signal("TERM");
    assert_eq!(s.d.wait_exit().await, Some(0));
    let again = eval_json(&s.d.config, &[f, "--json", "--fresh"]).await;
    assert!(again["via"].as_str().unwrap().contains("in-process"), "{again}");
    assert_eq!(s.vendor.calls(), 12);
    for name in ["fast", "say-1"] {
        assert_eq!(variant(&again, name)["score_mean"], variant(&r, name)["score_mean"]);
        assert_eq!(variant(&again, name)["cached"], 0);
    }
    // Without --fresh a new run reuses every stored answer: no call.
    let cached = eval_json(&s.d.config, &[f, "--json"]).await;
    assert_eq!(s.vendor.calls(), 12);
    assert_eq!(variant(&cached, "fast")["cached"], 3);
    assert_ne!(cached["run"], again["run"]);
}

const STRUCTURED: &str = r#"dataset = "structured.jsonl"
variants = ["tools"]
[judge]
route = "fast"
[[scorers]]
kind = "json_schema"
schema = { type = "object", required = ["user"] }
[[scorers]]
kind = "json_field"
path = "user.name"
expect = "name"
[[scorers]]
kind = "numeric"
tolerance = 0.1
expect = "n"
[[scorers]]
kind = "tool_call"
expect = "call"
[[scorers]]
kind = "judge"
[[scorers]]
kind = "regex"
pattern = "\"name\": \"A"
"#;

#[tokio::test]
async fn every_scorer_kind_in_process() {
    let s = start("").await;
    let user = |t: &str| serde_json::json!([{"role": "user", "content": t}]);
    let tools =
        serde_json::json!([{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]);
    let lines = [
        serde_json::json!({"messages": user(r#"{"user": {"name": "Ada"}, "n": 3.01}"#), "expect": {"name": "Ada", "n": 3}}),
        serde_json::json!({"messages": user(r#"{"user": {"name": "Bob"}, "n": 7}"#), "expect": {"name": "Ada", "n": 3}}),
        serde_json::json!({"messages": user("Paris"), "tools": tools, "expect": {"call": {"name": "weather", "arguments": {"q": "Paris"}}}}),
        serde_json::json!({"messages": user("SCORE: 9"), "expect": {}}),
    ];
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    write(&s.dir, "structured.jsonl", &text);
    let file = write(&s.dir, "structured.toml", STRUCTURED);
    let r = eval_json(&s.d.config, &[file.to_str().unwrap(), "--json", "--in-process"]).await;
    assert!(r["via"].as_str().unwrap().contains("in-process"));
    let store = sidegate::eval::store::Store::open(&s.dir.join("state/eval.sqlite")).unwrap();
    let rows = store.results(r["run"].as_i64().unwrap()).unwrap();
    let got: Vec<Vec<(String, f64)>> =
        rows.iter().map(|row| row.scores.iter().map(|(n, v)| (n.clone(), v.score)).collect()).collect();
    let want = |xs: [f64; 6]| -> Vec<(String, f64)> {
        ["json_schema", "json_field", "numeric", "tool_call", "judge", "regex"]
            .iter()
            .map(|n| n.to_string())
            .zip(xs)
            .collect()
    };
    // The judge (an echo) sees its own prompt: only item 4's "SCORE: 9" is a verdict.
    assert_eq!(got[0], want([1.0, 1.0, 1.0, 0.0, 0.0, 1.0]), "{:?}", rows[0].scores);
    assert_eq!(got[1], want([1.0, 0.0, 0.0, 0.0, 0.0, 0.0]), "{:?}", rows[1].scores);
    assert_eq!(got[2], want([0.0, 0.0, 0.0, 1.0, 0.0, 0.0]), "{:?}", rows[2].scores);
    assert_eq!(got[3], want([0.0, 0.0, 0.0, 0.0, 0.9, 0.0]), "{:?}", rows[3].scores);
    // (4 + 1 + 1 + 0.9) / 6 / 4
    assert!(close(&variant(&r, "tools")["score_mean"], 6.9 / 24.0), "{r}");
    assert_eq!(s.vendor.calls(), 8, "4 answers and 4 judge calls");
}

/// Item-major, one at a time: item 1 on `echo`, then item 1 on `stuck` (a model that never
/// answers) holds the run until it is killed.
const STUCK: &str =
    "dataset = \"two.jsonl\"\nvariants = [\"echo\", \"stuck\"]\nconcurrency = 1\n[[scorers]]\nkind = \"contains\"\n";

fn results_in(db: &Path, run: i64) -> usize {
    let Ok(store) = sidegate::eval::store::Store::open(db) else { return 0 };
    store.done(run).map(|d| d.len()).unwrap_or(0)
}

#[tokio::test]
async fn a_run_killed_mid_way_resumes_without_resending_what_was_done() {
    let s = start("[models.stuck]\nprovider = \"fake\"\nmodel = \"hang\"").await;
    let text: String = (1..=2)
        .map(|i| {
            format!("{{\"messages\": [{{\"role\": \"user\", \"content\": \"item {i}\"}}], \"expect\": \"item {i}\"}}\n")
        })
        .collect();
    write(&s.dir, "two.jsonl", &text);
    let file = write(&s.dir, "stuck.toml", STUCK);
    let db = s.dir.join("state/eval.sqlite");
    let mut child = Command::new(bin())
        .args(["eval", "--config"])
        .arg(&s.d.config)
        .arg(&file)
        .args(["--json", "--in-process"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    eventually("item 1 on echo done and item 1 on stuck sent", || results_in(&db, 1) == 1 && s.vendor.calls() == 2)
        .await;
    child.kill().unwrap(); // SIGKILL
    let _ = child.wait();
    assert_eq!((results_in(&db, 1), s.vendor.calls()), (1, 2));
    // The model answers now (the eval file, its dataset and prompts are unchanged: same run).
    let config = std::fs::read_to_string(&s.d.config).unwrap().replace("model = \"hang\"", "model = \"echo#unstuck\"");
    std::fs::write(&s.d.config, config).unwrap();
    let r = eval_json(&s.d.config, &[file.to_str().unwrap(), "--json", "--in-process"]).await;
    assert_eq!(r["run"], 1, "the unfinished run of the same file is resumed");
    assert_eq!(s.vendor.calls(), 2 + 3, "the three results not done are sent, the done one is not");
    for v in ["echo", "stuck"] {
        assert_eq!(variant(&r, v)["items"], 2);
        assert!(close(&variant(&r, v)["score_mean"], 1.0), "{r}");
    }
    assert_eq!(r["status"], "done");
}

#[tokio::test]
async fn the_budget_cap_stops_starting_items() {
    let s =
        start("[models.priced]\nprovider = \"fake\"\nmodel = \"echo#p\"\nprice = { input = 1000.0, output = 1000.0 }")
            .await;
    let text: String = (1..=5)
        .map(|i| {
            format!("{{\"messages\": [{{\"role\": \"user\", \"content\": \"item {i}\"}}], \"expect\": \"item\"}}\n")
        })
        .collect();
    write(&s.dir, "five.jsonl", &text);
    let plain =
        "dataset = \"five.jsonl\"\nvariants = [\"priced\"]\nconcurrency = 4\n[[scorers]]\nkind = \"contains\"\n";
    let file = write(&s.dir, "five.toml", plain);
    let r = eval_json(&s.d.config, &[file.to_str().unwrap(), "--json"]).await;
    let per_item = variant(&r, "priced")["cost_per_item_usd"].as_f64().unwrap();
    assert!(per_item > 0.0, "{r}");
    // Room for two and a half items: the first alone, a second, then the cap.
    let capped = write(&s.dir, "capped.toml", &format!("budget_usd = {}\n{plain}", per_item * 2.5));
    let calls = s.vendor.calls();
    let r = eval_json(&s.d.config, &[capped.to_str().unwrap(), "--json", "--fresh"]).await;
    assert_eq!(s.vendor.calls() - calls, 2);
    assert_eq!((r["budget_stopped"].as_bool(), r["skipped"].as_u64()), (Some(true), Some(3)), "{r}");
    assert_eq!(variant(&r, "priced")["items"], 2);
    assert!(r["cost_usd"].as_f64().unwrap() <= per_item * 2.5);
    let (_, table, _) = eval(&s.d.config, &["show", &r["run"].to_string()]).await;
    assert!(table.contains("item(s) not run"), "{table}");
}

#[tokio::test]
async fn compare_lists_what_got_better_and_worse() {
    let s = start("").await;
    write(&s.dir, "cases.jsonl", CASES);
    let old = write(
        &s.dir,
        "old.toml",
        "dataset = \"cases.jsonl\"\nprompt = \"say@1\"\nvariants = [\"fast\"]\n[[scorers]]\nkind = \"exact\"\n[[scorers]]\nkind = \"contains\"\n",
    );
    let new = write(
        &s.dir,
        "new.toml",
        "dataset = \"cases.jsonl\"\nprompt = \"say@2\"\nvariants = [\"fast\"]\n[[scorers]]\nkind = \"exact\"\n[[scorers]]\nkind = \"contains\"\n",
    );
    let a = eval_json(&s.d.config, &[old.to_str().unwrap(), "--json"]).await["run"].as_i64().unwrap();
    let b = eval_json(&s.d.config, &[new.to_str().unwrap(), "--json"]).await["run"].as_i64().unwrap();
    let c = eval_json(&s.d.config, &["compare", &a.to_string(), &b.to_string(), "--json"]).await;
    // Line 1: "Say: Paris" (0.5) -> "Paris" (1); line 2 stays 0.5, line 3 stays 0.
    assert_eq!(c["better"].as_array().unwrap().len(), 1, "{c}");
    assert_eq!(
        (c["better"][0]["line"].as_u64(), c["better"][0]["before"].as_f64(), c["better"][0]["after"].as_f64()),
        (Some(1), Some(0.5), Some(1.0))
    );
    assert_eq!((c["worse"].as_array().unwrap().len(), c["same"].as_u64()), (0, Some(2)));
    let (code, text, _) = eval(&s.d.config, &["compare", &b.to_string(), &a.to_string()]).await;
    assert_eq!(code, 0);
    assert!(text.contains("worse (1):") && text.contains("better (0):"), "{text}");
    let (code, _, err) = eval(&s.d.config, &["compare", &a.to_string(), "99"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("no run 99"), "{err}");
}

#[tokio::test]
async fn a_bad_eval_file_or_dataset_is_located() {
    let s = start("").await;
    write(&s.dir, "bad.jsonl", "{\"vars\": {\"text\": \"a\"}}\n{\"vars\": 1}\n");
    let file = write(
        &s.dir,
        "bad.toml",
        "dataset = \"bad.jsonl\"\nprompt = \"say\"\nvariants = [\"fast\"]\n[[scorers]]\nkind = \"contains\"\n",
    );
    let (code, _, err) = eval(&s.d.config, &[file.to_str().unwrap()]).await;
    assert_eq!(code, 1);
    assert!(err.contains("bad.jsonl:2: `vars` must be an object"), "{err}");
    let file = write(
        &s.dir,
        "worse.toml",
        "dataset = \"bad.jsonl\"\nvariants = [\"fast\"]\nconcurrency = -1\n[[scorers]]\nkind = \"contains\"\n",
    );
    let (code, _, err) = eval(&s.d.config, &[file.to_str().unwrap()]).await;
    assert_eq!(code, 1);
    assert!(err.contains("worse.toml:3:1: concurrency"), "{err}");
}
