//! Reasoning through the daemon: thinking shown in chat answers (whole and streamed), signed
//! blocks going back only to the vendor that minted them, and a tool conversation with
//! thinking that fails over Anthropic -> OpenAI -> Anthropic without ever sending a vendor a
//! foreign signature (the fakes answer one with a 400, as the vendors do).

use fake_vendor::FakeVendor;
use serde_json::{Value, json};

use crate::common::{Daemon, FakeToml, chat_sse, with_fake_vendor};

/// The signature the Anthropic-shaped fake mints (and the only one it accepts).
const CLAUDE_SIG: &str = "c2lnLWZha2U=";

fn config(addr: &str) -> String {
    FakeToml::new(addr)
        .anthropic("claude")
        .openai_compatible("oai")
        .models("claude", &[("claude-tools", "tool-call"), ("claude-529", "fail-529"), ("claude-echo", "echo")])
        .models("oai", &[("oai-tools", "tool-call"), ("oai-reasoner", "reasoner")])
        .route("think", &["claude-529", "oai-tools"])
        .route("think-text", &["claude-529", "oai-tools"])
        .raw("foreign_reasoning = \"text\"")
        .build()
}

async fn start() -> (FakeVendor, Daemon) {
    with_fake_vendor(config).await
}

async fn chat(d: &Daemon, body: &Value) -> (u16, Value) {
    let r = d.http().post("http://sidegate/v1/chat/completions").json(body).send().await.expect("request");
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn tools() -> Value {
    json!([{"type": "function", "function": {"name": "weather", "parameters": {"type": "object",
        "properties": {"q": {"type": "string"}}}}}])
}

/// The assistant message of an answer, as a caller sends it back.
fn assistant_of(answer: &Value) -> Value {
    answer["choices"][0]["message"].clone()
}

#[tokio::test]
async fn anthropic_thinking_shows_up_in_chat_answers_whole_and_streamed() {
    let (vendor, d) = start().await;
    let body = json!({"model": "claude-echo", "reasoning_effort": "high", "max_tokens": 64,
        "messages": [{"role": "user", "content": "think about it"}]});
    let (status, a) = chat(&d, &body).await;
    assert_eq!(status, 200, "{a}");
    let sent = vendor.last_request()["body"].clone();
    assert_eq!(sent["thinking"]["type"], "adaptive", "an unknown Claude is a new one: {sent}");
    assert_eq!(sent["output_config"]["effort"], "high");
    let m = assistant_of(&a);
    assert_eq!(m["content"], "think about it");
    assert_eq!(m["reasoning_content"], "Let me think about it.");
    assert_eq!(
        m["reasoning_details"],
        json!([{"type": "reasoning.text", "text": "Let me think about it.", "signature": CLAUDE_SIG,
                "format": "anthropic-claude-v1", "index": 0, "provider": "claude"}])
    );

    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let r = d.http().post("http://sidegate/v1/chat/completions").json(&streamed).send().await.unwrap();
    let (chunks, done) = chat_sse(&r.text().await.unwrap());
    assert!(done);
    let deltas: Vec<&Value> = chunks.iter().filter_map(|c| c["choices"].get(0)).map(|c| &c["delta"]).collect();
    let thought: String = deltas.iter().filter_map(|d| d["reasoning_content"].as_str()).collect();
    assert_eq!(thought, "Let me think about it.");
    let details: Vec<&Value> = deltas.iter().filter_map(|d| d["reasoning_details"].as_array()).flatten().collect();
    assert_eq!(details.len(), 1, "one whole block, once");
    assert_eq!(details[0]["signature"], CLAUDE_SIG);
    assert_eq!(details[0]["provider"], "claude");
    let first_reasoning = deltas.iter().position(|d| d.get("reasoning_content").is_some()).unwrap();
    let first_text = deltas.iter().position(|d| d["content"].as_str().is_some_and(|t| !t.is_empty())).unwrap();
    assert!(first_reasoning < first_text, "thinking comes before the answer");
}

#[tokio::test]
async fn an_openai_compatible_servers_reasoning_content_passes_and_never_goes_back() {
    let (vendor, d) = start().await;
    let body = json!({"model": "oai-reasoner", "messages": [{"role": "user", "content": "why is the sky blue"}]});
    let (status, a) = chat(&d, &body).await;
    assert_eq!(status, 200, "{a}");
    assert_eq!(assistant_of(&a)["reasoning_content"], "Thinking it over.");
    let next = json!({"model": "oai-reasoner", "messages": [
        {"role": "user", "content": "why is the sky blue"}, assistant_of(&a),
        {"role": "user", "content": "and at sunset"}]});
    let (status, b) = chat(&d, &next).await;
    assert_eq!(status, 200, "{b}");
    let sent = vendor.last_request()["body"].to_string();
    assert!(!sent.contains("reasoning_content") && !sent.contains("reasoning_details"), "{sent}");
}

#[tokio::test]
async fn a_tool_conversation_with_thinking_fails_over_and_back_without_a_foreign_signature() {
    let (vendor, d) = start().await;
    // Turn 1, Anthropic: thinking, then a tool call.
    let mut messages = vec![json!({"role": "user", "content": "weather in Paris?"})];
    let ask = |model: &str, messages: &[Value]| json!({"model": model, "reasoning_effort": "medium", "max_tokens": 256, "tools": tools(), "messages": messages});
    let (status, a1) = chat(&d, &ask("claude-tools", &messages)).await;
    assert_eq!(status, 200, "{a1}");
    let m1 = assistant_of(&a1);
    assert_eq!(m1["reasoning_details"][0]["signature"], CLAUDE_SIG);
    let call = m1["tool_calls"][0]["id"].as_str().unwrap().to_string();
    messages.push(m1);
    messages.push(json!({"role": "tool", "tool_call_id": call, "content": "sunny"}));

    // Turn 2: Anthropic is overloaded, OpenAI answers the tool result. It is sent no
    // reasoning blocks (it would reject the fields).
    let (status, a2) = chat(&d, &ask("think", &messages)).await;
    assert_eq!(status, 200, "{a2}");
    let sent = vendor.last_request();
    assert_eq!(sent["path"], "/v1/chat/completions", "{sent}");
    assert!(!sent["body"].to_string().contains(CLAUDE_SIG), "{sent}");
    messages.push(assistant_of(&a2));
    // A caller's history may carry another vendor's reasoning too (a Gemini turn earlier).
    messages[1]["reasoning_details"].as_array_mut().unwrap().push(json!({"type": "reasoning.encrypted",
        "signature": "Z2VtaW5pLXNpZw==", "format": "google-gemini-v1", "provider": "gem"}));
    messages.push(json!({"role": "user", "content": "and tomorrow?"}));

    // Turn 3, Anthropic again: its own signed thinking goes back verbatim, in its turn; the
    // fake would 400 on any signature it did not mint.
    let (status, a3) = chat(&d, &ask("claude-tools", &messages)).await;
    assert_eq!(status, 200, "{a3}");
    let body = vendor.last_request()["body"].clone();
    assert_eq!(body["thinking"]["type"], "adaptive");
    let first_assistant = &body["messages"][1];
    assert_eq!(first_assistant["role"], "assistant");
    assert_eq!(
        first_assistant["content"][0],
        json!({"type": "thinking", "thinking": "Let me think about it.", "signature": CLAUDE_SIG})
    );
    assert!(!body.to_string().contains("Z2VtaW5pLXNpZw=="), "the Gemini signature never reaches Anthropic");
    assert_eq!(assistant_of(&a3)["reasoning_details"][0]["provider"], "claude");
}

#[tokio::test]
async fn answering_another_vendors_tool_call_goes_without_thinking_and_text_mode_keeps_the_words() {
    let (vendor, d) = start().await;
    // OpenAI made the call (no Anthropic thinking in that turn); Anthropic answers the result.
    let messages = json!([
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": null, "reasoning_content": "I will look it up.",
         "reasoning_details": [{"type": "reasoning.encrypted", "data": "b3BlbmFp", "id": "rs_1",
                                "format": "openai-responses-v1", "provider": "openai", "summary": "I will look it up."}],
         "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "rain"}]);
    let body = json!({"model": "claude-tools", "reasoning_effort": "high", "tools": tools(), "messages": messages});
    let (status, a) = chat(&d, &body).await;
    assert_eq!(status, 200, "{a}");
    let sent = vendor.last_request()["body"].clone();
    assert!(sent.get("thinking").is_none(), "Anthropic rejects thinking on a turn it did not think: {sent}");
    assert!(!sent.to_string().contains("b3BlbmFp"));
    assert_eq!(sent["messages"][1]["content"][0]["type"], "tool_use", "its words dropped by default");

    // `foreign_reasoning = "text"` (Anthropic overloaded, the Chat Completions server answers):
    // the words stay as plain text of the turn, the encrypted reasoning is not sent.
    let mut body = body;
    body["model"] = json!("think-text");
    let (status, a) = chat(&d, &body).await;
    assert_eq!(status, 200, "{a}");
    let sent = vendor.last_request()["body"].clone();
    assert_eq!(sent["messages"][1]["content"], "I will look it up.", "{sent}");
    assert!(!sent.to_string().contains("b3BlbmFp") && sent["messages"][1].get("reasoning_details").is_none());
}
