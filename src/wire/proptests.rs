//! Property tests of the calling-side conversions: for random valid OpenAI conversations (unicode,
//! empty and whitespace text, parallel tool calls with foreign ids, results out of order),
//! translating to Anthropic and to Gemini keeps every message's content in order, keeps tool
//! ids (or names) paired, and produces turns those vendors accept. A round trip (vendor answer
//! -> OpenAI -> appended to the history -> vendor again) must translate too, and a Messages
//! or generateContent or Responses request the calling side wrote reads back (serving side)
//! into the same request.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::anthropic::call as anth;
use super::anthropic::types as awire;
use super::canonical::safe_tool_id;
use super::gemini::call as gem;
use super::gemini::types as gwire;
use crate::api::ChatRequest;

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just(String::new()),
        1 => Just("  \n".to_string()),
        6 => "\\PC{1,16}",
        2 => "[a-z ]{1,12}",
    ]
}

fn tool_name() -> impl Strategy<Value = String> {
    "[a-z_][a-z0-9_]{0,8}"
}

fn tool_id() -> impl Strategy<Value = String> {
    prop_oneof!["call_[A-Za-z0-9]{4,10}", "toolu_[A-Za-z0-9]{6}", "functions\\.[A-Za-z]{1,5}:[0-9]", "\\PC{1,8}"]
}

#[derive(Debug, Clone)]
enum Step {
    User(String),
    /// Text, then calls (name, arguments JSON), answered in the given order (a permutation).
    Assistant(String, Vec<(String, String)>, Vec<usize>, Vec<String>),
    System(String),
}

fn step() -> impl Strategy<Value = Step> {
    let calls = prop::collection::vec(
        (tool_name(), prop_oneof![Just(String::new()), Just("{}".into()), "\\{\"a\":[1-9][0-9]{0,2}\\}"]),
        0..4,
    );
    prop_oneof![
        4 => text().prop_map(Step::User),
        4 => (text(), calls, any::<u64>(), prop::collection::vec(text(), 4)).prop_map(|(t, calls, seed, results)| {
            // a permutation of the call indexes, from the seed
            let mut order: Vec<usize> = (0..calls.len()).collect();
            let mut s = seed;
            for i in (1..order.len()).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                order.swap(i, (s >> 33) as usize % (i + 1));
            }
            Step::Assistant(t, calls, order, results)
        }),
        1 => text().prop_map(Step::System),
    ]
}

/// A valid OpenAI request: the steps in order, every tool call answered right after its
/// assistant message, a user message last so the vendors have something to answer.
fn conversation() -> impl Strategy<Value = (Value, Vec<String>)> {
    (prop::collection::vec(step(), 1..8), prop::collection::vec(tool_id(), 16), text()).prop_map(|(steps, ids, last)| {
        let mut msgs = Vec::new();
        let mut k = 0;
        let mut used_ids = Vec::new();
        for s in steps {
            match s {
                Step::User(t) => msgs.push(json!({"role": "user", "content": t})),
                Step::System(t) => msgs.push(json!({"role": "system", "content": t})),
                Step::Assistant(t, calls, order, results) => {
                    let mut tc = Vec::new();
                    let mut call_ids = Vec::new();
                    for (name, args) in &calls {
                        // ids unique per conversation, however the generator chose them
                        let id = format!("{}{k}", ids[k % ids.len()]);
                        k += 1;
                        call_ids.push(id.clone());
                        used_ids.push(id.clone());
                        tc.push(json!({"id": id, "type": "function", "function": {"name": name, "arguments": args}}));
                    }
                    let mut m = json!({"role": "assistant", "content": t});
                    if !tc.is_empty() {
                        m["tool_calls"] = Value::Array(tc);
                    }
                    msgs.push(m);
                    for i in order {
                        msgs.push(json!({"role": "tool", "tool_call_id": call_ids[i], "content": results[i % results.len()]}));
                    }
                }
            }
        }
        msgs.push(json!({"role": "user", "content": format!("q{last}")}));
        (json!({"model": "m", "messages": msgs}), used_ids)
    })
}

/// Whether the first message that carries anything (text or tool calls) is the assistant's:
/// the adapters then open with a minimal user turn.
fn opens_with_assistant(req: &Value) -> bool {
    req["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["role"] != "system")
        .find(|m| {
            m["content"].as_str().is_some_and(|s| !s.is_empty()) || m.get("tool_calls").is_some() || m["role"] == "tool"
        })
        .is_some_and(|m| m["role"] == "assistant")
}

/// Non-empty user/assistant texts in order (what the vendor must see, in this order).
fn expected_texts(req: &Value) -> Vec<String> {
    req["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| matches!(m["role"].as_str(), Some("user" | "assistant")))
        .filter_map(|m| m["content"].as_str().filter(|s| !s.is_empty()).map(str::to_string))
        .collect()
}

fn anthropic_invariants(req: &Value, ids: &[String]) -> Result<(), TestCaseError> {
    let r: ChatRequest = serde_json::from_value(req.clone()).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let (w, _) = anth::to_wire(&r, "claude-3-5-haiku-latest", false, &anth::Options::default())
        .map_err(|e| TestCaseError::fail(format!("rejected a valid request: {e}")))?;
    let w = serde_json::to_value(&w).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let turns = w["messages"].as_array().cloned().unwrap_or_default();
    prop_assert_eq!(&turns[0]["role"], "user");
    for pair in turns.windows(2) {
        prop_assert_ne!(&pair[0]["role"], &pair[1]["role"], "roles alternate");
    }
    let mut texts = Vec::new();
    let (mut uses, mut results) = (Vec::new(), Vec::new());
    for (k, t) in turns.iter().enumerate() {
        let blocks = t["content"].as_array().cloned().unwrap_or_default();
        prop_assert!(!blocks.is_empty());
        let first_non_result = blocks.iter().position(|b| b["type"] != "tool_result").unwrap_or(blocks.len());
        prop_assert!(blocks[first_non_result..].iter().all(|b| b["type"] != "tool_result"), "tool results first");
        for b in &blocks {
            match b["type"].as_str() {
                Some("text") => {
                    let s = b["text"].as_str().unwrap_or("");
                    prop_assert!(!s.is_empty(), "no empty text blocks");
                    texts.push(s.to_string());
                }
                Some("tool_use") => uses.push((k, b["id"].as_str().unwrap_or("").to_string())),
                Some("tool_result") => results.push((k, b["tool_use_id"].as_str().unwrap_or("").to_string())),
                _ => {}
            }
        }
    }
    // every text in order (the inserted opener aside; a final prefill loses trailing whitespace)
    let mut want = expected_texts(req);
    if opens_with_assistant(req) {
        want.insert(0, "…".into());
    }
    let got: Vec<String> = texts;
    prop_assert_eq!(got, want, "texts in order");
    // tool ids: every call kept (sanitized), every result right after its call's turn
    let want_ids: Vec<String> = ids.iter().map(|i| safe_tool_id(i).into_owned()).collect();
    prop_assert_eq!(uses.iter().map(|(_, i)| i.clone()).collect::<Vec<_>>(), want_ids.clone());
    for (k, id) in &results {
        prop_assert!(uses.iter().any(|(uk, uid)| uk + 1 == *k && uid == id), "result {id} follows its call");
    }
    prop_assert_eq!(results.len(), want_ids.len());
    for id in &want_ids {
        prop_assert!(id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'));
    }
    Ok(())
}

fn gemini_invariants(req: &Value, ids: &[String]) -> Result<(), TestCaseError> {
    let r: ChatRequest = serde_json::from_value(req.clone()).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let w = gem::to_wire(&r).map_err(|e| TestCaseError::fail(format!("rejected a valid request: {e}")))?;
    let w = serde_json::to_value(&w).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let turns = w["contents"].as_array().cloned().unwrap_or_default();
    prop_assert_eq!(&turns[0]["role"], "user");
    for pair in turns.windows(2) {
        prop_assert_ne!(&pair[0]["role"], &pair[1]["role"]);
    }
    let mut texts = Vec::new();
    let mut calls = Vec::new();
    let mut responses = 0;
    for (k, t) in turns.iter().enumerate() {
        let parts = t["parts"].as_array().cloned().unwrap_or_default();
        prop_assert!(!parts.is_empty());
        let names: Vec<String> =
            parts.iter().filter_map(|p| p["functionCall"]["name"].as_str().map(str::to_string)).collect();
        if !names.is_empty() {
            // the next turn answers exactly these calls, in this order, by name
            let next: Vec<String> = turns[k + 1]["parts"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p["functionResponse"]["name"].as_str().map(str::to_string))
                .collect();
            prop_assert_eq!(&next, &names);
        }
        for p in &parts {
            if let Some(s) = p["text"].as_str() {
                prop_assert!(!s.is_empty());
                texts.push(s.to_string());
            }
            prop_assert!(p.get("functionResponse").is_none_or(|r| r["response"].is_object()));
            responses += usize::from(p.get("functionResponse").is_some());
        }
        calls.extend(names);
    }
    let mut want = expected_texts(req);
    if opens_with_assistant(req) {
        want.insert(0, "…".into());
    }
    prop_assert_eq!(texts, want);
    prop_assert_eq!(calls.len(), ids.len());
    prop_assert_eq!(responses, ids.len());
    Ok(())
}

/// Canonical -> Messages -> canonical (serving side) -> Messages: the second Messages
/// request is the first, so reading what the calling side writes loses nothing.
fn anthropic_serve_round_trip(req: &Value) -> Result<(), TestCaseError> {
    let fail = |e: &dyn std::fmt::Display| TestCaseError::fail(e.to_string());
    let r: ChatRequest = serde_json::from_value(req.clone()).map_err(|e| fail(&e))?;
    let (w, _) = anth::to_wire(&r, "claude", false, &anth::Options::default()).map_err(|e| fail(&e))?;
    let first = serde_json::to_vec(&w).map_err(|e| fail(&e))?;
    let back = super::anthropic::serve::from_json(&first).map_err(|e| fail(&e))?;
    let (w2, _) = anth::to_wire(&back, &back.model, false, &anth::Options::default()).map_err(|e| fail(&e))?;
    let second = serde_json::to_value(&w2).map_err(|e| fail(&e))?;
    let first: Value = serde_json::from_slice(&first).map_err(|e| fail(&e))?;
    prop_assert_eq!(second, first);
    Ok(())
}

/// Canonical -> generateContent -> canonical (serving side) -> generateContent: the second
/// request is the first (tool-call ids synthesized from names and positions pair the same).
fn gemini_serve_round_trip(req: &Value) -> Result<(), TestCaseError> {
    let fail = |e: &dyn std::fmt::Display| TestCaseError::fail(e.to_string());
    let r: ChatRequest = serde_json::from_value(req.clone()).map_err(|e| fail(&e))?;
    let first = serde_json::to_vec(&gem::to_wire(&r).map_err(|e| fail(&e))?).map_err(|e| fail(&e))?;
    let back = super::gemini::serve::from_json(&first, "m", false).map_err(|e| fail(&e))?;
    let second = serde_json::to_value(gem::to_wire(&back).map_err(|e| fail(&e))?).map_err(|e| fail(&e))?;
    let first: Value = serde_json::from_slice(&first).map_err(|e| fail(&e))?;
    prop_assert_eq!(second, first);
    Ok(())
}

/// Canonical -> Responses request -> canonical (serving side) -> Responses request: the
/// second request is the first.
fn responses_serve_round_trip(req: &Value) -> Result<(), TestCaseError> {
    use super::openai_responses as resp;
    let fail = |e: &dyn std::fmt::Display| TestCaseError::fail(e.to_string());
    let r: ChatRequest = serde_json::from_value(req.clone()).map_err(|e| fail(&e))?;
    let first = resp::to_create_response(&r, "m", false).map_err(|e| fail(&e))?.value;
    let bytes = serde_json::to_vec(&first).map_err(|e| fail(&e))?;
    let parsed: resp::CreateResponse = serde_json::from_slice(&bytes).map_err(|e| fail(&e))?;
    let back = resp::to_chat_request(&parsed).map_err(|e| fail(&e))?.chat;
    let second = resp::to_create_response(&back, "m", false).map_err(|e| fail(&e))?.value;
    let (first, second) =
        (serde_json::to_value(&first).map_err(|e| fail(&e))?, serde_json::to_value(&second).map_err(|e| fail(&e))?);
    prop_assert_eq!(second, first);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn responses_requests_read_back_unchanged((req, _) in conversation()) {
        responses_serve_round_trip(&req)?;
    }

    #[test]
    fn anthropic_requests_read_back_unchanged((req, _) in conversation()) {
        anthropic_serve_round_trip(&req)?;
    }

    #[test]
    fn gemini_requests_read_back_unchanged((req, _) in conversation()) {
        gemini_serve_round_trip(&req)?;
    }

    #[test]
    fn translations_keep_messages_ids_and_order((req, ids) in conversation()) {
        anthropic_invariants(&req, &ids)?;
        gemini_invariants(&req, &ids)?;
    }

    /// OpenAI history -> vendor answer (random text and tool calls) -> OpenAI -> appended,
    /// with tool results -> the vendor request must translate again, ids intact.
    #[test]
    fn round_trips_through_vendor_answers(
        (req, _) in conversation(),
        reply in text(),
        calls in prop::collection::vec((tool_name(), "[A-Za-z0-9_-]{4,12}", "[a-z]{0,6}"), 0..3),
        sig in prop::option::of("[A-Za-z0-9+/]{4,20}={0,2}"),
    ) {
        // Anthropic
        let content: Vec<Value> = std::iter::once(json!({"type": "text", "text": reply}))
            .filter(|_| !reply.is_empty())
            .chain(calls.iter().enumerate().map(|(i, (n, id, v))| json!({"type": "tool_use", "id": format!("toolu_{id}{i}"), "name": n, "input": {"v": v}})))
            .collect();
        let stop = if calls.is_empty() { "end_turn" } else { "tool_use" };
        let resp: awire::MessagesResponse = serde_json::from_value(json!({"id": "m", "model": "c", "content": content,
            "stop_reason": stop, "usage": {"input_tokens": 1, "output_tokens": 1}})).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let answer = anth::from_wire(resp, anth::ReplyCtx::default(), 0);
        let history = append(&req, &answer)?;
        let ids: Vec<String> = answer.choices[0].message.tool_calls.iter().flatten().map(|c| c.id.clone()).collect();
        prop_assert_eq!(&ids, &calls.iter().enumerate().map(|(i, (_, id, _))| format!("toolu_{id}{i}")).collect::<Vec<_>>());
        let r: ChatRequest = serde_json::from_value(history).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(anth::to_wire(&r, "claude", false, &anth::Options::default()).is_ok());

        // Gemini, with a thought signature on the calls
        let parts: Vec<Value> = std::iter::once(json!({"text": reply}))
            .filter(|_| !reply.is_empty())
            .chain(calls.iter().map(|(n, _, v)| {
                let mut p = json!({"functionCall": {"name": n, "args": {"v": v}}});
                if let Some(s) = &sig { p["thoughtSignature"] = json!(s); }
                p
            }))
            .collect();
        let resp: gwire::GenerateResponse = serde_json::from_value(json!({"candidates": [{"content": {"role": "model", "parts": parts},
            "finishReason": "STOP"}], "responseId": "r"})).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let answer = gem::from_wire(resp, "g", 0).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let history = append(&req, &answer)?;
        let r: ChatRequest = serde_json::from_value(history).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let w = serde_json::to_value(gem::to_wire(&r).map_err(|e| TestCaseError::fail(e.to_string()))?)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let sigs: Vec<&Value> = w["contents"].as_array().into_iter().flatten()
            .flat_map(|c| c["parts"].as_array().into_iter().flatten())
            .filter(|p| p.get("functionCall").is_some())
            .filter_map(|p| p.get("thoughtSignature"))
            .collect();
        let replayed = calls.len();
        prop_assert_eq!(sigs.len(), if sig.is_some() { replayed } else { 0 }, "signatures come back on the replayed calls");
    }
}

/// The request's history + the answer as an assistant message + a result per tool call + a
/// new user question.
fn append(req: &Value, answer: &crate::api::ChatResponse) -> Result<Value, TestCaseError> {
    let mut out = req.clone();
    let msg = serde_json::to_value(&answer.choices[0].message).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let msgs = out["messages"].as_array_mut().ok_or_else(|| TestCaseError::fail("no messages"))?;
    let calls = msg["tool_calls"].as_array().cloned().unwrap_or_default();
    msgs.push(msg);
    for c in calls.iter().rev() {
        msgs.push(json!({"role": "tool", "tool_call_id": c["id"], "content": "ok"}));
    }
    msgs.push(json!({"role": "user", "content": "next"}));
    Ok(out)
}
