//! The Anthropic Messages ingress (`POST /v1/messages`, `/v1/messages/count_tokens`) through
//! the real daemon: what a caller sees ([`fidelity`]: passthrough to the Anthropic-shaped fake
//! with every field and header intact, translation to the OpenAI-shaped and Gemini-shaped
//! fakes, whole, streamed and tool use), Anthropic-shaped errors ([`errors`]), and the
//! pipeline through this ingress ([`pipeline`]: failover, cache, ledger, metrics, counts).
//! This file: the config and the helpers the three share.

mod errors;
mod fidelity;
mod pipeline;

use fake_vendor::FakeVendor;
use serde_json::{Value, json};

use crate::common::{Daemon, FakeToml, with_fake_vendor};

pub(super) fn config(addr: &str) -> String {
    FakeToml::new(addr)
        .anthropic("claude")
        .openai_compatible("oai")
        .gemini("gem")
        .models("claude", &[("haiku", "claude-3-5-haiku-latest"), ("claude-think", "thinking"), ("claude-tools", "tool-call")])
        .raw("[models.haiku-window]\nprovider = \"claude\"\nmodel = \"claude-3-5-haiku-latest\"\ncontext_window = 200000")
        .models(
            "oai",
            &[("oai-echo", "echo-model"), ("oai-tools", "tool-call"), ("oai-500", "fail-500"), ("oai-broken", "stream-error")],
        )
        .raw("[models.oai-text-only]\nprovider = \"oai\"\nmodel = \"echo-model#text\"\ncapabilities = [\"tools\"]")
        .models("gem", &[("gem-echo", "gemini-2.0-flash"), ("gem-tools", "text-tool-call")])
        .route("failover", &["oai-500", "haiku"])
        .route("openai-first", &["oai-echo", "haiku"])
        .cached_route("cached", &["oai-echo"])
        .build()
}

pub(super) async fn start() -> (FakeVendor, Daemon) {
    with_fake_vendor(config).await
}

pub(super) struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

pub(super) async fn post(d: &Daemon, path: &str, body: &Value, headers: &[(&str, &str)]) -> Answer {
    let mut r = d.http().post(format!("http://sidegate{path}")).json(body);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let resp = r.send().await.unwrap();
    let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
    Answer { status, headers, text: resp.text().await.unwrap() }
}

pub(super) async fn messages(d: &Daemon, body: &Value) -> Answer {
    post(d, "/v1/messages", body, &[("anthropic-version", "2023-06-01")]).await
}

/// `(event name, data)` of each server-sent event.
pub(super) fn events(raw: &str) -> Vec<(String, Value)> {
    raw.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let name = e.lines().find_map(|l| l.strip_prefix("event: ")).unwrap_or("").to_string();
            let data = e.lines().find_map(|l| l.strip_prefix("data: ")).unwrap_or("null");
            (name, serde_json::from_str(data).unwrap_or_else(|_| panic!("bad event data: {e}")))
        })
        .collect()
}

pub(super) fn names(evs: &[(String, Value)]) -> Vec<&str> {
    evs.iter().map(|(n, _)| n.as_str()).collect()
}

/// Each event's `type` is its SSE name, as Anthropic sends them.
pub(super) fn assert_well_named(evs: &[(String, Value)]) {
    for (n, v) in evs {
        assert_eq!(v["type"], n.as_str(), "{v}");
    }
}

pub(super) fn text_of(evs: &[(String, Value)]) -> String {
    evs.iter().filter_map(|(_, v)| v["delta"]["text"].as_str()).collect()
}

pub(super) fn ask(model: &str, text: &str) -> Value {
    json!({"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": text}]})
}

pub(super) const WEATHER: &str = r#"{"name": "weather", "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}}"#;

pub(super) fn with_tools(model: &str, text: &str) -> Value {
    let mut b = ask(model, text);
    b["tools"] = json!([serde_json::from_str::<Value>(WEATHER).unwrap()]);
    b
}
