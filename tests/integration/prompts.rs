//! Prompt files through the real daemon: a chat request, a native request, a Messages request
//! passed through to Anthropic and a Responses request name a prompt and the vendor gets its
//! rendered messages first (with the Anthropic family's own phrasing there); bad references
//! and variables are 400s with their log line; a changed file is served at once (under load
//! too, with no request failing), a broken one never replaces the good library.

use serde_json::{Value, json};

use crate::common::{Daemon, FakeToml, eventually};

const GREET: &str = r#"name = "greet"
version = "2"
model = "oai-echo"

[variables.who]
type = "string"

[variables.tone]
type = "string"
default = "tersely"

[[messages]]
role = "system"
content = "You greet people {{ tone }}."

[[messages]]
role = "user"
content = "Greet {{ who }}."

[overrides.anthropic]
[[overrides.anthropic.messages]]
role = "user"
content = "<task>Greet {{ who }} {{ tone }}.</task>"
"#;

struct Setup {
    vendor: fake_vendor::FakeVendor,
    d: Daemon,
    prompts: tempfile::TempDir,
}

async fn start() -> Setup {
    let prompts = tempfile::tempdir().unwrap();
    std::fs::write(prompts.path().join("greet.toml"), GREET).unwrap();
    std::fs::write(
        prompts.path().join("greet@1.toml"),
        GREET.replace("version = \"2\"", "version = \"1\"").replace("Greet {{ who }}.", "Hello {{ who }}."),
    )
    .unwrap();
    let vendor = fake_vendor::FakeVendor::start().await.unwrap();
    let config = FakeToml::new(vendor.addr)
        .anthropic("claude")
        .openai_compatible("oai")
        .provider("oai-r", "openai", "/v1", "sk-fake-responses-key")
        .raw("api = \"responses\"")
        .models("claude", &[("haiku", "echo")])
        .models("oai", &[("oai-echo", "echo")])
        .models("oai-r", &[("gpt", "gpt-5")])
        .raw(&format!("[prompts]\ndir = \"{}\"", prompts.path().display()))
        .build();
    let d = Daemon::start("", &config).await;
    Setup { vendor, d, prompts }
}

async fn post(
    d: &Daemon,
    path: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut r = d.http().post(format!("http://sidegate{path}")).header("anthropic-version", "2023-06-01").json(body);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let resp = r.send().await.unwrap();
    let (status, h) = (resp.status().as_u16(), resp.headers().clone());
    (status, h, resp.json().await.unwrap_or(Value::Null))
}

fn texts(body: &Value, key: &str) -> Vec<String> {
    body[key]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| m["content"].as_str().map_or_else(|| m["content"].to_string(), str::to_string))
        .collect()
}

#[tokio::test]
async fn each_ingress_renders_the_prompt_before_the_callers_messages() {
    let s = start().await;
    // Chat: no model and no messages of its own; the prompt names the target.
    let (st, h, a) =
        post(&s.d, "/v1/chat/completions", &json!({"prompt": {"id": "greet", "variables": {"who": "Ada"}}}), &[]).await;
    assert_eq!(st, 200, "{a}");
    assert_eq!(h["x-sidegate-model"], "oai-echo");
    let sent = s.vendor.last_request()["body"].clone();
    assert_eq!(texts(&sent, "messages"), ["You greet people tersely.", "Greet Ada."]);
    assert!(sent.get("prompt").is_none(), "the extension field never reaches the vendor: {sent}");
    // An older version, by header, with the caller's message after the prompt's.
    let body = json!({"model": "oai-echo", "messages": [{"role": "user", "content": "be quick"}]});
    let (st, _, a) = post(
        &s.d,
        "/v1/chat/completions",
        &body,
        &[("x-sidegate-prompt", "greet@1"), ("x-sidegate-prompt-variables", r#"{"who": "Bo", "tone": "warmly"}"#)],
    )
    .await;
    assert_eq!(st, 200, "{a}");
    assert_eq!(
        texts(&s.vendor.last_request()["body"], "messages"),
        ["You greet people warmly.", "Hello Bo.", "be quick"]
    );
    // Messages, passed through to Anthropic: the Anthropic phrasing, as Anthropic blocks.
    let body = json!({"model": "haiku", "max_tokens": 32, "prompt": {"id": "greet@2", "variables": {"who": "Cy"}},
        "messages": [{"role": "user", "content": "thanks"}]});
    let (st, _, a) = post(&s.d, "/v1/messages", &body, &[]).await;
    assert_eq!(st, 200, "{a}");
    let sent = s.vendor.last_request()["body"].clone();
    assert!(sent.get("system").is_none(), "the family's messages replace all of the prompt's: {sent}");
    let turn = &sent["messages"][0]["content"];
    assert_eq!(
        turn,
        &json!([{"type": "text", "text": "<task>Greet Cy tersely.</task>"}, {"type": "text", "text": "thanks"}]),
        "{sent}"
    );
    assert!(sent.get("prompt").is_none(), "{sent}");
    // Responses, passed through to a Responses upstream.
    let body = json!({"model": "gpt", "input": "and you?", "prompt": {"id": "greet", "variables": {"who": "Di"}}});
    let (st, _, a) = post(&s.d, "/v1/responses", &body, &[]).await;
    assert_eq!(st, 200, "{a}");
    let sent = s.vendor.last_request()["body"].clone();
    assert_eq!(sent["instructions"], "You greet people tersely.", "{sent}");
    assert_eq!(texts(&sent, "input"), ["Greet Di.", "and you?"]);
    // Chat to Anthropic (translated): the family phrasing there too.
    let body = json!({"model": "haiku", "prompt": {"id": "greet", "variables": {"who": "Ed"}}});
    let (st, _, a) = post(&s.d, "/v1/chat/completions", &body, &[]).await;
    assert_eq!(st, 200, "{a}");
    let sent = s.vendor.last_request()["body"].clone();
    assert_eq!(sent["messages"][0]["content"][0]["text"], "<task>Greet Ed tersely.</task>", "{sent}");
    // The log line names the prompt version, and so does the ledger (`sidegate usage --by prompt`).
    assert!(s.d.log().contains("prompt=\"greet@1\"") || s.d.log().contains("prompt=greet@1"), "{}", s.d.log());
    let by_prompt = || {
        let out = std::process::Command::new(crate::common::bin())
            .args(["usage", "--json", "--since", "1h", "--by", "prompt", "--config"])
            .arg(&s.d.config)
            .output()
            .unwrap();
        serde_json::from_slice::<Value>(&out.stdout).unwrap_or(Value::Null)
    };
    eventually("ledger rows for both prompt versions", || {
        let rows = by_prompt();
        let n =
            |p: &str| rows.as_array().into_iter().flatten().find(|r| r["prompt"] == p).map(|r| r["requests"].clone());
        n("greet@1") == Some(json!(1)) && n("greet@2") == Some(json!(4))
    })
    .await;
}

#[tokio::test]
async fn the_native_protocol_names_a_prompt_in_its_options() {
    let s = start().await;
    let c = s.d.native().await;
    let opts = json!({"prompt": {"id": "greet", "variables": {"who": "Fay"}}});
    let a = c.call("chat", &json!({"model": "oai-echo"}), &opts).await.unwrap();
    assert!(a.body["choices"][0]["message"]["content"].is_string(), "{:?}", a.body);
    assert_eq!(texts(&s.vendor.last_request()["body"], "messages"), ["You greet people tersely.", "Greet Fay."]);
}

#[tokio::test]
async fn bad_references_and_variables_are_400s_with_their_log_line() {
    let s = start().await;
    for (body, says) in [
        (json!({"prompt": {"id": "nope"}}), "unknown prompt `nope`"),
        (json!({"prompt": {"id": "greet@7", "variables": {"who": "A"}}}), "its versions: 1, 2"),
        (json!({"prompt": {"id": "greet"}}), "variable `who` (string) is required"),
        (json!({"prompt": {"id": "greet", "variables": {"who": 3}}}), "must be a string"),
        (json!({"prompt": {"id": "greet", "variables": {"who": "A", "x": 1}}}), "`x` is not one of its variables"),
        (json!({"prompt": 42}), "`prompt` must be"),
    ] {
        let (st, h, a) = post(&s.d, "/v1/chat/completions", &body, &[]).await;
        assert_eq!(st, 400, "{body}: {a}");
        let msg = a["error"]["message"].as_str().unwrap_or("");
        assert!(msg.contains(says), "{body}: {msg}");
        assert_eq!(a["error"]["param"], "prompt", "{a}");
        let id = h["x-sidegate-request-id"].to_str().unwrap().to_string();
        eventually("the log line of the refused request", || s.d.log().contains(&id)).await;
    }
    let (st, _, a) =
        post(&s.d, "/v1/embeddings", &json!({"model": "oai-echo", "input": "x", "prompt": "greet"}), &[]).await;
    assert_eq!(st, 400, "{a}");
}

#[tokio::test]
async fn a_changed_prompt_is_served_and_a_broken_one_never_replaces_the_library() {
    let s = start().await;
    let ask = json!({"prompt": {"id": "greet", "variables": {"who": "Gus"}}});
    let path = s.prompts.path().join("greet.toml");
    std::fs::write(&path, GREET.replace("Greet {{ who }}.", "Salute {{ who }}.")).unwrap();
    let mut seen = String::new();
    for _ in 0..100 {
        let (st, _, _) = post(&s.d, "/v1/chat/completions", &ask, &[]).await;
        assert_eq!(st, 200);
        seen = texts(&s.vendor.last_request()["body"], "messages").join("|");
        if seen.contains("Salute") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(seen.contains("Salute Gus."), "{seen}");
    // Broken: a template that does not parse. The daemon keeps the good one and says why.
    std::fs::write(&path, GREET.replace("Greet {{ who }}.", "Greet {{ who ")).unwrap();
    eventually("the reload error naming the file", || s.d.log().contains("greet.toml:")).await;
    let (st, _, a) = post(&s.d, "/v1/chat/completions", &ask, &[]).await;
    assert_eq!(st, 200, "{a}");
    assert!(texts(&s.vendor.last_request()["body"], "messages").join("|").contains("Salute Gus."));
}

#[test]
fn the_prompts_commands_read_the_files_without_secrets_or_a_daemon() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("prompts")).unwrap();
    std::fs::write(dir.path().join("prompts/greet.toml"), GREET).unwrap();
    // The provider's key is in a variable this shell does not have: only `serve` needs it.
    let config = dir.path().join("sidegate.toml");
    std::fs::write(
        &config,
        "[prompts]\ndir = \"prompts\"\n[providers.oai]\nkind = \"openai\"\napi_key = { env = \"SIDEGATE_TEST_UNSET_KEY\" }\n[models.oai-echo]\nprovider = \"oai\"\nmodel = \"gpt-5\"\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(crate::common::bin())
            .arg("prompts")
            .arg("--config")
            .arg(&config)
            .args(args)
            .env_remove("SIDEGATE_TEST_UNSET_KEY")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = run(&["list"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("greet") && out.contains("2 *") && out.contains("tone?,who"), "{out}");
    let (code, out, _) = run(&["show", "greet"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("who: string (required)") && out.contains("own phrasing for: anthropic"), "{out}");
    let (code, out, err) = run(&["render", "greet", "--var", "who=Ada"]);
    assert_eq!(code, Some(0), "{err}");
    let body: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(body["messages"][1]["content"], "Greet Ada.");
    assert_eq!(body["x_sidegate_overrides"]["anthropic"][0]["content"], "<task>Greet Ada tersely.</task>");
    let (code, _, err) = run(&["render", "greet"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("variable `who` (string) is required"), "{err}");
}

/// The answer's text, from a Chat Completions body.
fn answer_text(body: &Value) -> String {
    body["choices"][0]["message"]["content"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn prompt_reloads_under_load_fail_no_request_and_a_broken_file_is_never_served() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let s = start().await;
    let path = s.prompts.path().join("greet.toml");
    let ask = json!({"prompt": {"id": "greet", "variables": {"who": "Gus"}}});
    let stop = Arc::new(AtomicBool::new(false));
    let load: Vec<_> = (0..8)
        .map(|_| {
            let (http, stop, ask) = (s.d.http(), stop.clone(), ask.clone());
            tokio::spawn(async move {
                let mut seen = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let r = http.post("http://sidegate/v1/chat/completions").json(&ask).send().await.unwrap();
                    let status = r.status().as_u16();
                    seen.push((status, answer_text(&r.json::<Value>().await.unwrap_or(Value::Null))));
                }
                seen
            })
        })
        .collect();
    let served = |text: &'static str| {
        let http = s.d.http();
        let ask = ask.clone();
        async move {
            let r = http.post("http://sidegate/v1/chat/completions").json(&ask).send().await.unwrap();
            answer_text(&r.json::<Value>().await.unwrap()).contains(text)
        }
    };
    let phrased = |word: &str| GREET.replace("Greet {{ who }}.", &format!("{word} {{{{ who }}}}."));
    std::fs::write(&path, phrased("Salute")).unwrap();
    let mut changed = false;
    for _ in 0..200 {
        if served("Salute").await {
            changed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(changed, "the changed prompt was never served: {}", s.d.log());
    // Broken while under load: the error is logged, and the good library keeps serving.
    std::fs::write(&path, GREET.replace("Greet {{ who }}.", "Greet {{ who ")).unwrap();
    eventually("the reload error naming the file", || s.d.log().contains("greet.toml:")).await;
    assert!(served("Salute").await);
    std::fs::write(&path, phrased("Hail")).unwrap();
    let mut fixed = false;
    for _ in 0..200 {
        if served("Hail").await {
            fixed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(fixed, "the fixed prompt was never served: {}", s.d.log());
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for t in load {
        all.extend(t.await.unwrap());
    }
    assert!(!all.is_empty());
    let bad: Vec<_> = all.iter().filter(|(status, _)| *status != 200).collect();
    assert!(bad.is_empty(), "{} of {} requests failed: {:?}", bad.len(), all.len(), &bad[..bad.len().min(5)]);
    for (_, text) in &all {
        assert!(["Greet Gus.", "Salute Gus.", "Hail Gus."].iter().any(|t| text.contains(t)), "answer {text:?}");
    }
}
