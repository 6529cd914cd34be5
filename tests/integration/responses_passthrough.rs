//! The Responses ingress in front of an OpenAI Responses upstream (`api = "responses"`): the
//! vendor's event stream relayed verbatim and stored under the vendor's own id when it
//! completes, a later `previous_response_id` with that id continued through another vendor,
//! `store: false`, a stream that breaks after it started closed with an `error` event; and,
//! for sidegate's own streams, `completed_at` on `response.completed` and the store in
//! `sidegate status`.

use std::process::Command;

use fake_vendor::FakeVendor;
use serde_json::{Value, json};

use crate::common::{Daemon, bin};

fn config(fake: &FakeVendor) -> String {
    let addr = fake.addr;
    format!(
        r#"
[providers.oai]
kind = "openai"
base_url = "http://{addr}/v1"
api_key = "sk-fake"
api = "responses"

[providers.claude]
kind = "anthropic"
base_url = "http://{addr}"
api_key = "sk-ant-fake"

[models.gpt-r]
provider = "oai"
model = "gpt-5-mini"

[models.gpt-r-broken]
provider = "oai"
model = "stream-error"

[models.haiku]
provider = "claude"
model = "claude-3-5-haiku-latest"
"#
    )
}

async fn start() -> (FakeVendor, Daemon) {
    let vendor = FakeVendor::start().await.unwrap();
    let d = Daemon::start("", &config(&vendor)).await;
    (vendor, d)
}

/// The raw SSE body and its events (each `event:` name equal to its data's `type`).
async fn stream(d: &Daemon, body: &Value) -> (String, Vec<Value>) {
    let r = d.http().post("http://sidegate/v1/responses").json(body).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let raw = r.text().await.unwrap();
    let mut events = Vec::new();
    for frame in raw.split("\n\n").filter(|f| !f.trim().is_empty()) {
        let name = frame.lines().find_map(|l| l.strip_prefix("event: ")).unwrap_or_else(|| panic!("{frame}"));
        let data: Value = serde_json::from_str(frame.lines().find_map(|l| l.strip_prefix("data: ")).unwrap()).unwrap();
        assert_eq!(data["type"], name, "{frame}");
        events.push(data);
    }
    (raw, events)
}

async fn get(d: &Daemon, id: &str) -> reqwest::Response {
    d.http().get(format!("http://sidegate/v1/responses/{id}")).send().await.unwrap()
}

#[tokio::test]
async fn a_passthrough_stream_is_stored_under_the_vendors_id_and_continues_through_another_vendor() {
    let (vendor, d) = start().await;
    let (_, events) = stream(&d, &json!({"model": "gpt-r", "input": "my name is Ada", "stream": true})).await;
    assert_eq!(vendor.last_request()["path"], "/v1/responses");
    let done = events.last().unwrap();
    assert_eq!(done["type"], "response.completed");
    let id = done["response"]["id"].as_str().unwrap();
    assert!(id.starts_with("resp_fake01_"), "the vendor's own id, relayed: {id}");
    let seqs: Vec<u64> = events.iter().map(|e| e["sequence_number"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (0..events.len() as u64).collect::<Vec<_>>(), "the vendor's numbering, untouched");

    let r = get(&d, id).await;
    assert_eq!(r.status(), 200);
    let stored: Value = r.json().await.unwrap();
    assert_eq!(stored, done["response"], "stored as the vendor sent it");

    let r = d.http().post("http://sidegate/v1/responses");
    let next = json!({"model": "haiku", "previous_response_id": id, "input": "what is my name?"});
    let second: Value = r.json(&next).send().await.unwrap().json().await.unwrap();
    assert_eq!(second["status"], "completed", "{second}");
    let sent = vendor.last_request();
    assert_eq!(sent["path"], "/v1/messages");
    let msgs = sent["body"]["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 3, "the stored turn (user + assistant) and the new input: {sent}");
    assert!(msgs[0].to_string().contains("my name is Ada"), "{sent}");
    assert_eq!(msgs[1]["role"], "assistant");
    assert!(msgs[1].to_string().contains("my name is Ada"), "the vendor's answer echoed it: {sent}");

    // and back through the Responses upstream: the conversation is expanded for it too
    let third = json!({"model": "gpt-r", "previous_response_id": second["id"], "input": "again", "stream": true});
    let (_, events) = stream(&d, &third).await;
    assert_eq!(events.last().unwrap()["type"], "response.completed");
    let sent = vendor.last_request()["body"].clone();
    assert!(sent.get("previous_response_id").is_none(), "the vendor never sees sidegate's ids: {sent}");
    assert_eq!(sent["input"].as_array().unwrap().len(), 5, "two turns and the new input: {sent}");
}

#[tokio::test]
async fn store_false_keeps_no_passthrough_stream_and_a_broken_one_ends_with_an_error_event() {
    let (_vendor, d) = start().await;
    let (_, events) =
        stream(&d, &json!({"model": "gpt-r", "input": "forget me", "stream": true, "store": false})).await;
    let done = events.last().unwrap();
    assert_eq!(done["type"], "response.completed");
    assert_eq!(get(&d, done["response"]["id"].as_str().unwrap()).await.status(), 404);

    let (raw, events) = stream(&d, &json!({"model": "gpt-r-broken", "input": "a b c", "stream": true})).await;
    let last = events.last().unwrap();
    assert_eq!(last["type"], "error", "{raw}");
    assert!(last["message"].as_str().unwrap().contains("server had an error"), "the vendor's message: {last}");
    let before = events[events.len() - 2]["sequence_number"].as_u64().unwrap();
    assert_eq!(last["sequence_number"], before + 1, "numbered after the vendor's last: {raw}");
    assert!(events.iter().any(|e| e["type"] == "response.output_text.delta"), "it had started: {raw}");
}

#[tokio::test]
async fn sidegates_own_stream_has_completed_at_and_status_shows_the_store() {
    let (_vendor, d) = start().await;
    let (_, events) = stream(&d, &json!({"model": "haiku", "input": "when?", "stream": true})).await;
    let done = events.last().unwrap();
    assert_eq!(done["type"], "response.completed");
    let at = done["response"]["completed_at"].as_u64().unwrap_or_else(|| panic!("no completed_at: {done}"));
    assert!(at >= done["response"]["created_at"].as_u64().unwrap());
    let stored: Value = get(&d, done["response"]["id"].as_str().unwrap()).await.json().await.unwrap();
    assert_eq!(stored, done["response"], "stored as streamed");
    assert!(events[..events.len() - 1].iter().all(|e| e["response"].get("completed_at").is_none()));

    let (_, events) = stream(&d, &json!({"model": "gpt-r", "input": "second", "stream": true})).await;
    assert_eq!(events.last().unwrap()["type"], "response.completed");
    let out = Command::new(bin()).args(["status", "--socket"]).arg(&d.socket).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("responses ")).unwrap_or_else(|| panic!("{text}"));
    let path = d.dir.path().join("state").display().to_string();
    assert!(line.starts_with("responses disk at ") && line.contains(&path), "{line}");
    assert!(line.contains(": 2 stored, ") && line.contains("B (bounds "), "{line}");
    let raw = Command::new(bin()).args(["status", "--json", "--socket"]).arg(&d.socket).output().unwrap();
    let s: Value = serde_json::from_slice(&raw.stdout).unwrap();
    assert_eq!(s["responses"]["entries"], 2, "{}", s["responses"]);
    assert!(s["responses"]["bytes"].as_u64().unwrap() > 0);
}
