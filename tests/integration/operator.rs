//! Issue 12's operator fixes, as a new user meets them: every HTTP answer (errors included)
//! carries the id its log line has; requests for endpoints sidegate does not serve are
//! logged; `GET /v1/models/{id}`; an embeddings request to a model that cannot embed says so;
//! with no config file the start-up log says the built-in default is in use.

use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::common::{Daemon, bin, eventually, wait_for_socket};

const CONFIG: &str = r#"
[providers.mock]
kind = "mock"

[providers.claude]
kind = "anthropic"
base_url = "http://127.0.0.1:9"
api_key = "sk-ant-not-used"

[models.echo]
provider = "mock"
model = "e"

[models.haiku]
provider = "claude"
model = "claude-haiku-4-5"

[routes.r]
targets = ["echo"]
"#;

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string()
}

/// The daemon's request log lines that carry `id`.
fn log_lines_with(d: &Daemon, id: &str) -> Vec<String> {
    d.log().lines().filter(|l| l.contains(id)).map(str::to_string).collect()
}

#[tokio::test]
async fn every_answer_carries_the_request_id_of_its_log_line() {
    let d = Daemon::start("", CONFIG).await;
    let http = d.http();
    let cases = [
        // routed: an unknown model (404), a bad field (400), an answer (200)
        (json!({"model": "nope", "messages": [{"role": "user", "content": "x"}]}), 404),
        (json!({"model": "r", "messages": []}), 400),
        (json!({"model": "r", "messages": [{"role": "user", "content": "x"}]}), 200),
    ];
    for (body, status) in cases {
        let r = http.post("http://sidegate/v1/chat/completions").json(&body).send().await.unwrap();
        assert_eq!(r.status(), status, "{body}");
        let id = header(&r, "x-sidegate-request-id");
        assert!(id.starts_with("sg-"), "{status}: no request id header");
        eventually("the request's log line", || !log_lines_with(&d, &id).is_empty()).await;
        let lines = log_lines_with(&d, &id);
        assert!(lines.iter().any(|l| l.contains(&format!("status={status}"))), "{lines:?}");
    }
    // not JSON at all: the front answers, and writes the log line itself
    let r = http.post("http://sidegate/v1/chat/completions").body("{not json").send().await.unwrap();
    assert_eq!(r.status(), 400);
    let id = header(&r, "x-sidegate-request-id");
    eventually("the bad body's log line", || !log_lines_with(&d, &id).is_empty()).await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["type"], "invalid_request_error");
}

#[tokio::test]
async fn unknown_endpoints_are_answered_and_logged() {
    let d = Daemon::start("", CONFIG).await;
    let r = d.http().get("http://sidegate/v1/no/such/thing").send().await.unwrap();
    assert_eq!(r.status(), 404);
    let id = header(&r, "x-sidegate-request-id");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "not_found");
    eventually("the unknown endpoint's log line", || !log_lines_with(&d, &id).is_empty()).await;
    let line = log_lines_with(&d, &id).join("\n");
    for want in ["method=GET", "/v1/no/such/thing", "status=404", "caller=unknown"] {
        assert!(line.contains(want), "{want} missing from: {line}");
    }
    let r = d.http().delete("http://sidegate/v1/models").send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert!(header(&r, "x-sidegate-request-id").starts_with("sg-"));
}

#[tokio::test]
async fn models_retrieve_serves_one_entry() {
    let d = Daemon::start("", CONFIG).await;
    for id in ["r", "echo", "haiku"] {
        let r = d.http().get(format!("http://sidegate/v1/models/{id}")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{id}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["id"], id);
        assert_eq!(v["object"], "model");
    }
    let r = d.http().get("http://sidegate/v1/models/nope").send().await.unwrap();
    assert_eq!(r.status(), 404);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "model_not_found");
}

#[tokio::test]
async fn embeddings_to_a_model_that_cannot_embed_is_unsupported_endpoint() {
    let d = Daemon::start("", CONFIG).await;
    let r = d
        .http()
        .post("http://sidegate/v1/embeddings")
        .json(&json!({"model": "haiku", "input": ["a"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "unsupported_endpoint", "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("does not embed"), "{v}");
}

#[tokio::test]
async fn with_no_config_file_the_log_says_the_builtin_default_is_in_use() {
    if std::path::Path::new("/etc/sidegate/sidegate.toml").exists() {
        panic!("/etc/sidegate/sidegate.toml exists on this machine: this test needs the no-file case");
    }
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("sg.sock");
    let log = std::fs::File::create(dir.path().join("daemon.log")).unwrap();
    let mut child = Command::new(bin())
        .arg("serve")
        .env_remove("SIDEGATE_CONFIG")
        .env("SIDEGATE_SOCKET", &socket)
        .env("STATE_DIRECTORY", dir.path().join("state"))
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    wait_for_socket(&socket, Some(&mut child)).await;
    let text = std::fs::read_to_string(dir.path().join("daemon.log")).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(text.contains("built-in default"), "{text}");
    assert!(text.contains("picked up when created"), "{text}");
}

#[tokio::test]
async fn native_errors_carry_the_request_id_of_their_log_line() {
    let d = Daemon::start("", CONFIG).await;
    let c = d.native().await;
    let err = c
        .call("chat", &json!({"model": "nope", "messages": [{"role": "user", "content": "x"}]}), &json!({}))
        .await
        .expect_err("an unknown model is an error");
    let sidegate::client::ClientError::Api { status, body, .. } = err else { panic!("not an ERROR frame: {err}") };
    assert_eq!(status, 404);
    let id = body["meta"]["request_id"].as_str().unwrap_or_default().to_string();
    assert!(id.starts_with("sg-"), "{body}");
    eventually("the request's log line", || !log_lines_with(&d, &id).is_empty()).await;
    assert!(log_lines_with(&d, &id).join("\n").contains("status=404"));
}
