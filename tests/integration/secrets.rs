//! Issue 12, part 7: a vendor key's variable not set in the operator's shell. `check` warns
//! (and `--strict` refuses), `usage` and `status` never read secrets, and `serve` starts with
//! that provider unavailable, routing around it.

use std::process::Command;
use std::time::Duration;

use fake_vendor::FakeVendor;
use serde_json::{Value, json};

use crate::common::{Daemon, bin};

/// Never set anywhere: the key of provider `keyless`.
const UNSET: &str = "SIDEGATE_TEST_NEVER_SET_VENDOR_KEY";
/// Set for the daemon only: the key of provider `fake`.
const SET: &str = "SIDEGATE_TEST_SET_VENDOR_KEY";

fn config(base_url: &str) -> String {
    format!(
        r#"
[providers.keyless]
kind = "openai"
base_url = "{base_url}"
api_key = {{ env = "{UNSET}" }}

[providers.fake]
kind = "openai-compatible"
base_url = "{base_url}"
api_key = {{ env = "{SET}" }}

[models.lost]
provider = "keyless"
model = "echo-lost"

[models.good]
provider = "fake"
model = "echo-good"

[routes.mixed]
targets = ["lost", "good"]

[routes.stranded]
targets = ["lost"]
"#
    )
}

/// `sidegate` with neither key in its environment, as in an operator's shell.
fn sidegate() -> Command {
    let mut c = Command::new(bin());
    c.env_remove(UNSET).env_remove(SET);
    c
}

#[test]
fn check_warns_about_an_unset_key_and_strict_refuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sidegate.toml");
    std::fs::write(&path, format!("[server]\nsocket = \"/tmp/sg-unused.sock\"\n{}", config("http://127.0.0.1:9/v1")))
        .unwrap();
    let p = path.display().to_string();
    let warned = |stderr: &str, var: &str, key: &str| {
        stderr.contains(&format!("{p}:"))
            && stderr.contains(&format!("warning: {key}: environment variable `{var}` is not set"))
    };

    let out = sidegate().args(["check", "--config"]).arg(&path).env(SET, "sk-set-in-this-shell").output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(warned(&stderr, UNSET, "providers.keyless.api_key"), "{stderr}");
    assert!(!stderr.contains(SET), "only the unset key is named: {stderr}");
    assert!(stdout.contains("ok (2 providers, 2 models, 2 routes, 1 warning)"), "{stdout}");

    let out = sidegate().args(["check", "--strict", "--config"]).arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(warned(&stderr, UNSET, "providers.keyless.api_key"), "{stderr}");
    assert!(warned(&stderr, SET, "providers.fake.api_key"), "{stderr}");
    assert!(stderr.contains("refused with --strict, 2 warnings"), "{stderr}");

    // a real error next to the warning is still an error, with or without --strict
    std::fs::write(&path, format!("{}\n[routes.ghostly]\ntargets = [\"ghost\"]\n", config("http://127.0.0.1:9/v1")))
        .unwrap();
    let out = sidegate().args(["check", "--config"]).arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("routes.ghostly.targets.0: unknown model `ghost`"));
}

async fn chat(d: &Daemon, model: &str) -> (u16, Option<String>, Value) {
    let body = json!({"model": model, "messages": [{"role": "user", "content": "around the missing key"}]});
    let r = d.http().post("http://sidegate/v1/chat/completions").json(&body).send().await.unwrap();
    let status = r.status().as_u16();
    let log = r.headers().get("x-sidegate-attempt-log").map(|v| v.to_str().unwrap().to_string());
    (status, log, r.json().await.unwrap())
}

#[tokio::test]
async fn serve_starts_without_a_key_and_routes_around_its_provider() {
    let vendor = FakeVendor::start().await.unwrap();
    let d = Daemon::start_with_env("", &config(&vendor.base_url()), &[(SET, "sk-test-set-vendor-key")]).await;

    // /status names the provider and why
    let status: Value = d.http().get("http://sidegate/status").send().await.unwrap().json().await.unwrap();
    let providers = status["providers"].as_array().unwrap();
    let by_name = |n: &str| providers.iter().find(|p| p["name"] == n).unwrap().clone();
    let why = by_name("keyless")["unavailable"].as_str().unwrap().to_string();
    assert_eq!(why, format!("environment variable `{UNSET}` is not set (providers.keyless.api_key)"));
    assert!(by_name("fake")["unavailable"].is_null());

    // a route with a working target answers from it; the keyless one is never called
    let (code, log, body) = chat(&d, "mixed").await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["choices"][0]["message"]["content"], "around the missing key");
    let log = log.unwrap();
    assert!(log.starts_with("good;") && !log.contains("lost"), "{log}");
    assert_eq!(vendor.calls(), 1);

    // a route, a model or `provider/model` with only the keyless provider: 503, the operator's problem
    for model in ["stranded", "lost", "keyless/gpt-4o"] {
        let (code, _, body) = chat(&d, model).await;
        assert_eq!(code, 503, "{model}: {body}");
        assert_eq!(body["error"]["code"], "provider_unavailable", "{body}");
        let msg = body["error"]["message"].as_str().unwrap();
        assert!(msg.contains("provider `keyless` is unavailable") && msg.contains(UNSET), "{msg}");
    }
    assert_eq!(vendor.calls(), 1, "no call to the keyless provider");

    // the start-up log says it once
    let log = d.log();
    assert_eq!(log.matches("key=providers.keyless.api_key").count(), 1, "{log}");

    // `sidegate status` finds the socket through the config without reading a key, and shows why
    let out = sidegate().arg("status").env("SIDEGATE_CONFIG", &d.config).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains(&format!("unavailable: {why}")), "{stdout}");

    // `sidegate usage` reads the ledger with neither key set in this shell
    let rows = usage_rows(&d).await;
    let served: Vec<&Value> = rows.iter().filter(|r| r["deployment"] == "good").collect();
    assert_eq!(served.len(), 1, "{rows:?}");
}

/// `sidegate usage --json` once the ledger has the first request (rows are written off the
/// request path).
async fn usage_rows(d: &Daemon) -> Vec<Value> {
    let mut last = String::new();
    for _ in 0..200 {
        let out = sidegate()
            .args(["usage", "--json", "--since", "1h", "--by", "deployment", "--config"])
            .arg(&d.config)
            .output()
            .unwrap();
        last = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(!last.contains("is not set"), "usage read a secret: {last}");
        if out.status.success() {
            let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
            if rows.iter().any(|r| r["deployment"] == "good") {
                return rows;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no usage row: {last}");
}

#[tokio::test]
async fn a_key_file_that_appears_later_makes_its_provider_available() {
    let vendor = FakeVendor::start().await.unwrap();
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("vendor.key");
    let body = format!(
        "[providers.late]\nkind = \"openai\"\nbase_url = \"{}\"\napi_key = {{ file = \"{}\" }}\n\n[models.m]\nprovider = \"late\"\nmodel = \"echo\"\n",
        vendor.base_url(),
        key.display()
    );
    let d = Daemon::start("", &body).await;
    let (code, _, err) = chat(&d, "m").await;
    assert_eq!((code, err["error"]["code"].as_str()), (503, Some("provider_unavailable")), "{err}");
    assert!(err["error"]["message"].as_str().unwrap().contains("cannot read key file"), "{err}");

    std::fs::write(&key, "sk-arrived-later\n").unwrap();
    let status = || async {
        let s: Value = d.http().get("http://sidegate/status").send().await.unwrap().json().await.unwrap();
        s["providers"][0]["unavailable"].is_null()
    };
    let mut available = false;
    for _ in 0..600 {
        if status().await {
            available = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(available, "the key file was not picked up: {}", d.log());
    let (code, _, answer) = chat(&d, "m").await;
    assert_eq!(code, 200, "{answer}");
    assert_eq!(vendor.last_request()["authorization"], "Bearer sk-arrived-later");
}

mod canaries;
