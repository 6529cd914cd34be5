//! What a Messages caller gets from each vendor kind: an Anthropic upstream's request and
//! answer byte-faithful (thinking streamed as it came), OpenAI and Gemini upstreams translated
//! both ways, and `tool_use` whenever a turn ends in a tool call.

use serde_json::{Value, json};

use crate::common::ANTHROPIC_KEY;

use super::{ask, assert_well_named, events, messages, names, post, start, text_of, with_tools};

#[tokio::test]
async fn an_anthropic_upstream_gets_every_field_and_header_as_sent() {
    let (vendor, d) = start().await;
    let body = json!({
        "model": "haiku", "max_tokens": 2048, "temperature": 0.5, "top_p": 0.9, "top_k": 7,
        "stop_sequences": ["END"], "metadata": {"user_id": "u-42"}, "service_tier": "auto",
        "thinking": {"type": "enabled", "budget_tokens": 1024}, "output_config": {"effort": "high"},
        "context_management": {"edits": [{"type": "clear_tool_uses_20250919"}]},
        "system": [{"type": "text", "text": "Be terse.", "cache_control": {"type": "ephemeral"}}],
        "tools": [{"name": "weather", "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
                   "cache_control": {"type": "ephemeral"}}],
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": true},
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "weather?", "cache_control": {"type": "ephemeral"}},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
                {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "notes"}},
                {"type": "search_result", "source": "https://x/a", "title": "A", "content": [{"type": "text", "text": "sunny"}]}]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "I should call the tool.", "signature": "c2lnLWZha2U="},
                {"type": "redacted_thinking", "data": "ZW5jLWZha2U="},
                {"type": "tool_use", "id": "toolu_01", "name": "weather", "input": {"q": "Paris"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01", "is_error": true,
                 "content": [{"type": "text", "text": "station offline"}]}]}]
    });
    let beta = [
        ("anthropic-version", "2023-06-01"),
        ("anthropic-beta", "context-management-2025-06-27"),
        // The caller's own credentials never reach the vendor.
        ("x-api-key", "sk-caller-own-key"),
        ("authorization", "Bearer sk-caller-own-token"),
        ("x-goog-api-key", "caller-goog-key"),
    ];
    let a = post(&d, "/v1/messages", &body, &beta).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.header("x-sidegate-provider"), "claude");
    let last = vendor.last_request();
    let mut want = body.clone();
    want["model"] = json!("claude-3-5-haiku-latest");
    assert_eq!(last["body"], want, "only `model` is rewritten");
    assert_eq!(last["headers"]["anthropic-version"], "2023-06-01");
    assert_eq!(last["headers"]["anthropic-beta"], "context-management-2025-06-27");
    assert_eq!(last["headers"]["x-api-key"], ANTHROPIC_KEY, "sidegate's key, not the caller's");
    assert!(last["authorization"].is_null() && last["headers"].get("x-goog-api-key").is_none(), "{last}");
    // The vendor's answer, as it sent it (its own model id, its id, its key order).
    let v = a.json();
    assert_eq!(v["id"], "msg_fake01");
    assert_eq!(v["model"], "claude-3-5-haiku-latest");
    // Thinking was on: the vendor's thinking block first, then the answer.
    assert_eq!(v["content"][0]["type"], "thinking");
    assert_eq!(v["content"][1]["text"], "results: station offline");
    assert!(a.text.starts_with(r#"{"content":"#), "the vendor's bytes, not a re-encoding: {}", a.text);
}

#[tokio::test]
async fn a_passthrough_stream_carries_thinking_and_signature_deltas() {
    let (_vendor, d) = start().await;
    let mut body = ask("claude-think", "think about it");
    body["stream"] = json!(true);
    body["thinking"] = json!({"type": "enabled", "budget_tokens": 2048});
    body["max_tokens"] = json!(4096); // Anthropic takes a budget below max_tokens only
    let a = messages(&d, &body).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert!(a.header("content-type").starts_with("text/event-stream"));
    let evs = events(&a.text);
    assert_well_named(&evs);
    let n = names(&evs);
    assert_eq!(&n[..3], ["message_start", "ping", "content_block_start"]);
    assert_eq!(n.last(), Some(&"message_stop"));
    assert_eq!(evs[2].1["content_block"]["type"], "thinking");
    let kinds: Vec<&str> = evs.iter().filter_map(|(_, v)| v["delta"]["type"].as_str()).collect();
    assert!(kinds.contains(&"thinking_delta") && kinds.contains(&"signature_delta"), "{kinds:?}");
    let sig = evs.iter().find_map(|(_, v)| v["delta"]["signature"].as_str());
    assert_eq!(sig, Some("c2lnLWZha2U="));
    assert_eq!(text_of(&evs), "think about it");
}

#[tokio::test]
async fn openai_and_gemini_upstreams_answer_in_messages_shapes() {
    let (vendor, d) = start().await;
    for model in ["oai-echo", "gem-echo"] {
        let mut body = ask(model, "hello there friend");
        body["top_k"] = json!(3);
        body["thinking"] = json!({"type": "enabled", "budget_tokens": 1024});
        let a = messages(&d, &body).await;
        assert_eq!(a.status, 200, "{model}: {}", a.text);
        let v = a.json();
        assert_eq!(v["type"], "message");
        assert_eq!(v["role"], "assistant");
        assert_eq!(v["content"], json!([{"type": "text", "text": "hello there friend"}]), "{model}");
        assert_eq!(v["stop_reason"], "end_turn");
        assert!(v["stop_sequence"].is_null());
        assert!(v["usage"]["input_tokens"].as_u64().unwrap() > 0 && v["usage"]["output_tokens"].as_u64().unwrap() > 0);
        let sent = vendor.last_request()["body"].to_string();
        assert!(
            !sent.contains("top_k") && !sent.contains("budget_tokens"),
            "{model} got Anthropic-only fields: {sent}"
        );

        body["stream"] = json!(true);
        let a = messages(&d, &body).await;
        assert_eq!(a.status, 200, "{model}: {}", a.text);
        let evs = events(&a.text);
        assert_well_named(&evs);
        let n = names(&evs);
        assert_eq!(&n[..3], ["message_start", "ping", "content_block_start"], "{model}");
        assert_eq!(&n[n.len() - 3..], ["content_block_stop", "message_delta", "message_stop"], "{model}");
        assert!(n[3..n.len() - 3].iter().all(|e| *e == "content_block_delta"), "{n:?}");
        assert_eq!(text_of(&evs), "hello there friend");
        let delta = &evs[n.len() - 2].1;
        assert_eq!(delta["delta"]["stop_reason"], "end_turn");
        assert!(delta["usage"]["output_tokens"].as_u64().unwrap() > 0, "{delta}");
    }
}

#[tokio::test]
async fn a_turn_that_ends_in_a_tool_call_is_tool_use_from_every_upstream() {
    let (_vendor, d) = start().await;
    for model in ["claude-tools", "oai-tools", "gem-tools"] {
        let body = with_tools(model, "Paris");
        let a = messages(&d, &body).await;
        assert_eq!(a.status, 200, "{model}: {}", a.text);
        let v = a.json();
        assert_eq!(v["stop_reason"], "tool_use", "{model}: {v}");
        assert_eq!(v["content"][0], json!({"type": "text", "text": "Let me check."}), "{model}");
        let call = &v["content"][1];
        assert_eq!((call["type"].as_str(), call["name"].as_str()), (Some("tool_use"), Some("weather")), "{v}");
        assert_eq!(call["input"], json!({"q": "Paris"}));

        let mut streamed = body.clone();
        streamed["stream"] = json!(true);
        let a = messages(&d, &streamed).await;
        let evs = events(&a.text);
        assert_well_named(&evs);
        let starts: Vec<&str> = evs.iter().filter_map(|(_, v)| v["content_block"]["type"].as_str()).collect();
        assert_eq!(starts, ["text", "tool_use"], "{model}: {}", a.text);
        let args: String = evs.iter().filter_map(|(_, v)| v["delta"]["partial_json"].as_str()).collect();
        assert_eq!(serde_json::from_str::<Value>(&args).unwrap(), json!({"q": "Paris"}), "{model}");
        let stop = evs.iter().find_map(|(_, v)| v["delta"]["stop_reason"].as_str());
        assert_eq!(stop, Some("tool_use"), "{model}: {}", a.text);

        // The round trip: the tool's result goes back, the model answers it.
        let mut next = body.clone();
        let id = call["id"].clone();
        let history = next["messages"].as_array_mut().unwrap();
        history.push(json!({"role": "assistant", "content": v["content"]}));
        history.push(json!({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": id, "content": "21C and sunny"}]}));
        let a = messages(&d, &next).await;
        assert_eq!(a.status, 200, "{model}: {}", a.text);
        let v = a.json();
        assert_eq!(v["stop_reason"], "end_turn", "{model}: {v}");
        assert_eq!(v["content"][0]["type"], "text");
    }
}
