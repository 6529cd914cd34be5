//! Issue 17, item 6: one canary value for every kind of secret a config can hold (an inline
//! key, a key from the environment, a key file, a caller's bearer key, a base_url's userinfo
//! and the `Authorization: Basic` derived from it, an extra header's value, a Redis URL's
//! password, a key put by mistake in a field that is not secret), searched in every output:
//! the log at trace, `status`, `status --json`, `/status`, `/metrics`, `check`, the error
//! bodies of a vendor that echoes the request's headers, `usage` and the ledger's files.

use std::process::Command;

use fake_vendor::FakeVendor;
use serde_json::json;

use crate::common::{Daemon, bin};

const INLINE_KEY: &str = "sk-canary-inline-key-1111";
const ENV_KEY: &str = "sk-canary-env-key-2222";
const ENV_VAR: &str = "SG_TEST_CANARY_ENV_KEY";
const FILE_KEY: &str = "sk-canary-file-key-3333";
const CALLER_KEY: &str = "sk-canary-caller-key-4444";
const CALLER_VAR: &str = "SG_TEST_CANARY_CALLER_KEY";
const USERINFO_PASSWORD: &str = "canary-password-5555";
const HEADER_VALUE: &str = "canary-header-value-6666";
const REDIS_PASSWORD: &str = "canary-redis-password-7777";
const MISPLACED_KEY: &str = "sk-canary-misplaced-8888";

/// Every canary, and the Basic auth value derived from the userinfo.
fn canaries() -> Vec<String> {
    let basic = base64(format!("canary-user:{USERINFO_PASSWORD}").as_bytes());
    [INLINE_KEY, ENV_KEY, FILE_KEY, CALLER_KEY, USERINFO_PASSWORD, HEADER_VALUE, REDIS_PASSWORD, MISPLACED_KEY]
        .iter()
        .map(|s| s.to_string())
        .chain([basic])
        .collect()
}

fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            out.push(if i <= chunk.len() { char::from(ABC[(n >> (18 - 6 * i)) as usize & 63]) } else { '=' });
        }
    }
    out
}

#[track_caller]
fn assert_clean(what: &str, text: &str) {
    for c in canaries() {
        assert!(!text.contains(&c), "{what} shows the secret {c}:\n{text}");
    }
}

fn config(vendor: &str, port: u16, key_file: &std::path::Path) -> String {
    let userinfo_url = format!("http://canary-user:{USERINFO_PASSWORD}@127.0.0.1:{port}/v1");
    format!(
        r#"
[shared]
redis = "redis://:{REDIS_PASSWORD}@127.0.0.1:9/0"

[providers.inline]
kind = "openai-compatible"
base_url = "{vendor}"
api_key = "{INLINE_KEY}"
headers = {{ "x-canary-org" = "{HEADER_VALUE}" }}

[providers.envkey]
kind = "openai-compatible"
base_url = "{vendor}"
api_key = {{ env = "{ENV_VAR}" }}

[providers.filekey]
kind = "openai-compatible"
base_url = "{vendor}"
api_key = {{ file = "{}" }}

[providers.userinfo]
kind = "openai-compatible"
base_url = "{userinfo_url}"

[models.echo-inline]
provider = "inline"
model = "echo-headers"

[models.echo-env]
provider = "envkey"
model = "echo-headers"

[models.echo-file]
provider = "filekey"
model = "echo-headers"

[models.echo-userinfo]
provider = "userinfo"
model = "echo-headers"

[models.answers]
provider = "inline"
model = "healthy"
price = {{ input = 1.0, output = 1.0 }}

[routes.shared-cache]
targets = ["answers"]
cache = {{ ttl = "1m", tiers = ["memory", "redis"] }}

[callers.bearer]
keys = [{{ env = "{CALLER_VAR}" }}]
"#,
        key_file.display()
    )
}

async fn chat(d: &Daemon, model: &str, stream: bool) -> (u16, String) {
    let body = json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "canary"}]});
    let r = d.http().post("http://sidegate/v1/chat/completions").json(&body).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

fn run(args: &[&str], config: &std::path::Path) -> String {
    let out = Command::new(bin())
        .args(args)
        .env(ENV_VAR, ENV_KEY)
        .env(CALLER_VAR, CALLER_KEY)
        .env("SIDEGATE_CONFIG", config)
        .output()
        .unwrap();
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[tokio::test]
async fn no_secret_of_any_kind_reaches_any_output() {
    let vendor = FakeVendor::start().await.unwrap();
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("vendor.key");
    std::fs::write(&key_file, format!("{FILE_KEY}\n")).unwrap();
    let body = config(&vendor.base_url(), vendor.addr.port(), &key_file);
    let env = [(ENV_VAR, ENV_KEY), (CALLER_VAR, CALLER_KEY), ("RUST_LOG", "trace")];
    let d = Daemon::start_with_env("", &body, &env).await;

    // a vendor that echoes the request's headers: the caller's error body hides every secret
    for model in ["echo-inline", "echo-env", "echo-file", "echo-userinfo"] {
        for stream in [false, true] {
            let (code, text) = chat(&d, model, stream).await;
            assert!(code >= 400, "{model}: {code} {text}");
            assert!(text.contains("you sent"), "the vendor's echo reaches the caller: {text}");
            assert!(text.contains("***"), "{model}: redacted, not dropped: {text}");
            assert_clean(&format!("{model} stream={stream} error body"), &text);
        }
    }
    // one call each: the 401 opens the account breaker, the stream gets the same error at once
    assert_eq!(vendor.calls(), 4, "every model's first echo was a real call");
    // the vendor did get them (the canaries are real): the inline key and header, Basic auth
    for _ in 0..2 {
        let (code, text) = chat(&d, "shared-cache", false).await;
        assert_eq!(code, 200, "{text}");
        assert_clean("an answer", &text);
    }

    let status = d.http().get("http://sidegate/status").send().await.unwrap().text().await.unwrap();
    assert!(status.contains("canary-user") || status.contains("***@127.0.0.1"), "{status}");
    assert_clean("/status", &status);
    let metrics = d.http().get("http://sidegate/metrics").send().await.unwrap().text().await.unwrap();
    assert_clean("/metrics", &metrics);
    let socket = d.socket.display().to_string();
    assert_clean("sidegate status", &run(&["status", "--socket", &socket], &d.config));
    assert_clean("sidegate status --json", &run(&["status", "--json", "--socket", &socket], &d.config));
    let check = run(&["check", "--config", &d.config.display().to_string()], &d.config);
    assert!(check.contains("ok ("), "{check}");
    assert_clean("sidegate check", &check);

    // the ledger has every request (its files, WAL included, searched as bytes)
    let usage = loop_until_usage(&d).await;
    assert_clean("sidegate usage", &usage);
    d.signal("TERM");
    let mut d = d;
    assert_eq!(d.wait_exit().await, Some(0));
    for entry in std::fs::read_dir(d.dir.path().join("state")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
            assert_clean(&format!("{}", path.display()), &bytes);
        }
    }
    let log = d.log();
    // the debug line of each failed attempt carries the vendor's echo: it was written, redacted
    assert!(
        log.contains("attempt failed") && log.contains("you sent"),
        "the log ran at trace: {}",
        &log[..log.len().min(2000)]
    );
    assert_clean("the daemon's log at trace", &log);
}

async fn loop_until_usage(d: &Daemon) -> String {
    for _ in 0..100 {
        let out = run(
            &["usage", "--json", "--since", "1h", "--by", "deployment", "--config", &d.config.display().to_string()],
            &d.config,
        );
        if out.contains("answers") {
            return out;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no usage rows");
}

#[test]
fn check_never_prints_a_secret_put_in_a_field_that_is_not_secret() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sidegate.toml");
    let text = format!(
        "[providers.p]\nkind = \"openai-compatible\"\nbase_url = \"ftp://canary-user:{USERINFO_PASSWORD}@h/v1\"\nconnect_timeout = \"{MISPLACED_KEY}\"\nregion = \"{MISPLACED_KEY}\"\n\n\
         [models.m]\nprovider = \"p\"\nmodel = \"{MISPLACED_KEY}\"\ncontext_window = \"{MISPLACED_KEY}\"\n"
    );
    std::fs::write(&path, &text).unwrap();
    let out = run(&["check", "--config", &path.display().to_string()], &path);
    assert!(out.contains("error") || out.contains("expected"), "{out}");
    assert_clean("check (wrong type)", &out);
    // the same key where a duration belongs, with the file otherwise valid
    let text = format!(
        "[providers.p]\nkind = \"openai-compatible\"\nbase_url = \"http://canary-user:{USERINFO_PASSWORD}@h/v1\"\nconnect_timeout = \"{MISPLACED_KEY}\"\n"
    );
    std::fs::write(&path, &text).unwrap();
    let out = run(&["check", "--config", &path.display().to_string()], &path);
    assert!(out.contains("is not a duration"), "{out}");
    assert!(out.contains("`***` is not a duration"), "{out}");
    assert_clean("check (not a duration)", &out);
    // and a URL that is not http(s), its userinfo hidden
    let text = format!(
        "[providers.p]\nkind = \"openai-compatible\"\nbase_url = \"ftp://canary-user:{USERINFO_PASSWORD}@h/v1\"\n"
    );
    std::fs::write(&path, &text).unwrap();
    let out = run(&["check", "--config", &path.display().to_string()], &path);
    assert!(out.contains("is not an http(s) URL") && out.contains("ftp://***@h/v1"), "{out}");
    assert_clean("check (bad URL)", &out);
}
