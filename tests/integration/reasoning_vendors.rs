//! Reasoning round trips with the Responses API and Gemini through the daemon: encrypted
//! reasoning and thought signatures come back to the vendor that minted them verbatim (the
//! fakes verify them), and never reach another vendor.

use serde_json::{Value, json};

use crate::common::{Daemon, FakeToml, with_fake_vendor};

fn config(addr: &str) -> String {
    FakeToml::new(addr)
        .provider("oai", "openai", "/v1", "sk-fake-responses-key")
        .raw("api = \"responses\"")
        .gemini("gem")
        .anthropic("claude")
        .models("oai", &[("oai-reasoning", "reasoning")])
        .models("gem", &[("gem-echo", "gemini-3-pro-preview")])
        .models("claude", &[("claude-echo", "echo")])
        .provider("chatty", "openai", "/v1", "sk-fake-chat-key")
        .models("chatty", &[("gpt52-chat", "gpt-5.2")])
        .raw("[models.gpt52-responses]\nprovider = \"chatty\"\nmodel = \"gpt-5.2\"\napi = \"responses\"")
        .route("gpt52", &["gpt52-chat", "gpt52-responses"])
        .build()
}

async fn chat(d: &Daemon, body: &Value) -> Value {
    let r = d.http().post("http://sidegate/v1/chat/completions").json(body).send().await.expect("request");
    let status = r.status().as_u16();
    let v: Value = r.json().await.expect("json");
    assert_eq!(status, 200, "{v}");
    v
}

#[tokio::test]
async fn encrypted_reasoning_goes_back_to_the_responses_api_and_nowhere_else() {
    let (vendor, d) = with_fake_vendor(config).await;
    let mut messages = vec![json!({"role": "user", "content": "why?"})];
    let a = chat(&d, &json!({"model": "oai-reasoning", "reasoning_effort": "low", "messages": messages})).await;
    let sent = vendor.last_request()["body"].clone();
    assert_eq!(sent["reasoning"]["effort"], "low");
    assert_eq!(sent["include"], json!(["reasoning.encrypted_content"]));
    let m = a["choices"][0]["message"].clone();
    assert_eq!(m["reasoning_details"][0]["data"], "gAAAAABfake-encrypted-reasoning");
    assert_eq!(m["reasoning_details"][0]["provider"], "oai");
    messages.push(m);
    messages.push(json!({"role": "user", "content": "and then?"}));
    chat(&d, &json!({"model": "oai-reasoning", "reasoning_effort": "low", "messages": messages})).await;
    let input = vendor.last_request()["body"]["input"].clone();
    assert_eq!(input[1]["type"], "reasoning", "{input}");
    assert_eq!(input[1]["encrypted_content"], "gAAAAABfake-encrypted-reasoning");
    chat(&d, &json!({"model": "claude-echo", "messages": messages})).await;
    assert!(!vendor.last_request()["body"].to_string().contains("gAAAAB"), "Anthropic never gets it");
}

#[tokio::test]
async fn gemini_thoughts_show_and_its_signature_goes_back_on_its_part() {
    let (vendor, d) = with_fake_vendor(config).await;
    let mut messages = vec![json!({"role": "user", "content": "hello there"})];
    let a = chat(&d, &json!({"model": "gem-echo", "reasoning_effort": "medium", "messages": messages})).await;
    let sent = vendor.last_request()["body"].clone();
    assert_eq!(
        sent["generationConfig"]["thinkingConfig"],
        json!({"thinkingLevel": "high", "includeThoughts": true}),
        "Gemini 3 Pro has low and high: medium goes up"
    );
    let m = a["choices"][0]["message"].clone();
    assert_eq!(m["reasoning_content"], "Thinking it over.");
    assert_eq!(m["content"], "hello there");
    let sig = m["reasoning_details"].as_array().unwrap().iter().find_map(|d| d["signature"].as_str()).unwrap();
    assert_eq!(sig, "c2lnLWZha2UtdGhvdWdodA==");
    messages.push(m);
    messages.push(json!({"role": "user", "content": "again"}));
    chat(&d, &json!({"model": "gem-echo", "messages": messages})).await;
    let contents = vendor.last_request()["body"]["contents"].clone();
    assert_eq!(contents[1]["parts"], json!([{"text": "hello there", "thoughtSignature": "c2lnLWZha2UtdGhvdWdodA=="}]));
    chat(&d, &json!({"model": "claude-echo", "messages": messages})).await;
    assert!(!vendor.last_request()["body"].to_string().contains("c2lnLWZha2UtdGhvdWdodA"));
}

#[tokio::test]
async fn tools_with_reasoning_go_to_the_responses_api_where_chat_completions_rejects_them() {
    let (vendor, d) = with_fake_vendor(config).await;
    let tools = json!([{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]);
    let body = json!({"model": "gpt52", "reasoning_effort": "high", "tools": tools,
        "messages": [{"role": "user", "content": "hi"}]});
    let a = chat(&d, &body).await;
    assert_eq!(a["choices"][0]["message"]["content"], "hi");
    let last = vendor.last_request();
    assert_eq!(last["path"], "/v1/responses", "never sent to Chat Completions: {last}");
    assert_eq!(last["body"]["reasoning"]["effort"], "high");
    assert_eq!(vendor.calls(), 1, "no call was made that the vendor would have rejected");
    // Without tools, Chat Completions takes it.
    let plain = json!({"model": "gpt52", "reasoning_effort": "high", "messages": [{"role": "user", "content": "hi"}]});
    chat(&d, &plain).await;
    assert_eq!(vendor.last_request()["path"], "/v1/chat/completions");
}
