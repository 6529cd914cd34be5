#![allow(clippy::unwrap_used)]
//! The effort table per model family, and foreign reasoning kept out of requests.

use serde_json::json;

use super::*;
use crate::api::reasoning::{DetailKind, ReasoningDetail};

fn ask(e: Effort) -> ReasoningAsk {
    ReasoningAsk { effort: Some(e), ..ReasoningAsk::default() }
}

fn sent(kind: ProviderKind, model: &str, a: &ReasoningAsk) -> Resolved {
    resolve(a, &control(kind, None, model, None), model)
}

#[test]
fn the_effort_table_per_model_family() {
    use ProviderKind::*;
    use Resolved::{Budget, Level, Unasked};
    let cases: &[(ProviderKind, &str, Effort, Resolved)] = &[
        // Anthropic: adaptive + effort on 4.6 and later, budgets before, nothing on 3.5.
        (Anthropic, "claude-opus-4-6", High, Level(High)),
        (Anthropic, "claude-opus-4-6", Xhigh, Level(Xhigh)),
        (Anthropic, "claude-sonnet-4-6", Xhigh, Level(High)),
        (Anthropic, "claude-sonnet-4-6", Minimal, Level(Low)),
        (Anthropic, "claude-opus-4-7", Medium, Level(Medium)),
        (Anthropic, "claude-sonnet-4-5-20250929", Medium, Budget(8_192)),
        (Anthropic, "claude-sonnet-4-5-20250929", Minimal, Budget(1_024)),
        (Anthropic, "claude-opus-4-1", Xhigh, Budget(31_999)),
        (Anthropic, "claude-3-7-sonnet-latest", Low, Budget(2_048)),
        (Anthropic, "claude-3-5-haiku-latest", High, Unasked),
        (Anthropic, "claude-sonnet-4-6", Effort::None, Resolved::Off),
        // Gemini: levels on 3, budgets on 2.5 (Pro cannot be off).
        (Gemini, "gemini-3-pro-preview", Medium, Level(High)),
        (Gemini, "gemini-3-pro-preview", Minimal, Level(Low)),
        (Gemini, "gemini-3-flash-preview", Minimal, Level(Minimal)),
        (Gemini, "gemini-2.5-pro", Effort::None, Budget(128)),
        (Gemini, "gemini-2.5-flash", Effort::None, Resolved::Off),
        (Gemini, "gemini-2.5-flash", High, Budget(16_384)),
        (Gemini, "gemini-2.5-flash-lite", Minimal, Budget(1_024)),
        (Gemini, "gemini-2.0-flash", High, Unasked),
        // OpenAI: the levels each generation has.
        (OpenAi, "gpt-5", Effort::None, Level(Minimal)),
        (OpenAi, "gpt-5-mini", Minimal, Level(Minimal)),
        (OpenAi, "gpt-5.1", Minimal, Level(Low)),
        (OpenAi, "gpt-5.1", Effort::None, Resolved::Off),
        (OpenAi, "gpt-5.2", Xhigh, Level(Xhigh)),
        (OpenAi, "gpt-5.1-codex-max", Xhigh, Level(Xhigh)),
        (OpenAi, "o3-mini", Minimal, Level(Low)),
        (OpenAi, "o4-mini", Xhigh, Level(High)),
        (OpenAi, "gpt-4o", High, Unasked),
        (Azure, "gpt-5-pro", Low, Level(High)),
    ];
    for (kind, model, asked, want) in cases {
        assert_eq!(sent(*kind, model, &ask(*asked)), *want, "{kind:?} {model} {asked:?}");
    }
}

#[test]
fn compatible_presets_take_their_field_and_unknown_models_the_level_asked() {
    let c = control(ProviderKind::OpenAiCompatible, Some(Preset::Groq), "openai/gpt-oss-120b", None);
    assert_eq!(c.resolve(&ask(Xhigh)), Resolved::Level(High));
    let c = control(ProviderKind::OpenAiCompatible, Some(Preset::DeepSeek), "deepseek-reasoner", None);
    assert_eq!(c.resolve(&ask(High)), Resolved::Unasked, "DeepSeek has no such field");
    let c = control(ProviderKind::OpenAiCompatible, None, "anything", None);
    assert_eq!(c.resolve(&ask(Minimal)), Resolved::Level(Minimal));
    assert_eq!(sent(ProviderKind::Anthropic, "claude-next-9", &ask(Xhigh)), Resolved::Level(Xhigh));
}

#[test]
fn a_configured_control_overrides_the_table() {
    let mine = Control::Budget { min: 2_000, max: 4_000, can_off: false };
    let c = control(ProviderKind::Anthropic, None, "claude-opus-4-6", Some(&mine));
    assert_eq!(c.resolve(&ask(High)), Resolved::Budget(4_000));
    let budget = ReasoningAsk { budget_tokens: Some(3_000), ..ReasoningAsk::default() };
    assert_eq!(c.resolve(&budget), Resolved::Budget(3_000));
}

fn detail(format: &str, provider: Option<&str>, text: &str) -> serde_json::Value {
    let mut d = ReasoningDetail::new(DetailKind::Text, format);
    d.text = Some(text.into());
    d.signature = Some(format!("sig-{text}"));
    d.provider = provider.map(str::to_string);
    serde_json::to_value(d).unwrap()
}

fn conversation() -> ChatRequest {
    serde_json::from_value(json!({"model": "m", "messages": [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": null, "reasoning_content": "claude thinks",
         "reasoning_details": [detail(FORMAT_ANTHROPIC, Some("claude"), "claude thinks")],
         "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "w", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "t1", "content": "sunny"},
        {"role": "assistant", "content": "It is sunny.", "reasoning_content": "gemini thinks",
         "reasoning_details": [detail(FORMAT_GEMINI, Some("gem"), "gemini thinks")]},
        {"role": "user", "content": "and tomorrow?"}
    ]}))
    .unwrap()
}

#[test]
fn foreign_reasoning_is_removed_and_its_text_kept_only_when_asked() {
    let req = conversation();
    let kept = keep_own(&req, Some(FORMAT_ANTHROPIC), "claude", ForeignReasoning::Drop);
    let v = serde_json::to_value(&*kept).unwrap();
    assert_eq!(v["messages"][1]["reasoning_details"][0]["signature"], "sig-claude thinks", "its own, verbatim");
    assert!(v["messages"][3].get("reasoning_details").is_none(), "Gemini's removed");
    assert_eq!(v["messages"][3]["content"], "It is sunny.", "and its text dropped");
    assert!(v["messages"].as_array().unwrap().iter().all(|m| m.get("reasoning_content").is_none()));

    let other = keep_own(&req, Some(FORMAT_ANTHROPIC), "claude-eu", ForeignReasoning::Text);
    let v = serde_json::to_value(&*other).unwrap();
    assert!(v["messages"][1].get("reasoning_details").is_none(), "another account's signature is foreign");
    assert_eq!(v["messages"][1]["content"], "claude thinks");
    assert_eq!(v["messages"][3]["content"], "gemini thinks\n\nIt is sunny.");

    let chat = keep_own(&req, None, "openai", ForeignReasoning::Drop);
    let v = serde_json::to_value(&*chat).unwrap();
    assert!(v.to_string().find("sig-").is_none(), "Chat Completions gets no reasoning blocks");
}

#[test]
fn a_request_without_reasoning_is_not_copied() {
    let req: ChatRequest =
        serde_json::from_value(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]})).unwrap();
    assert!(matches!(keep_own(&req, Some(FORMAT_ANTHROPIC), "c", ForeignReasoning::Drop), Cow::Borrowed(_)));
}

#[test]
fn answers_are_tagged_with_the_minting_provider() {
    let mut resp: ChatResponse = serde_json::from_value(json!({"id": "r", "choices": [{"index": 0,
        "message": {"role": "assistant", "content": "x",
            "reasoning_details": [detail(FORMAT_ANTHROPIC, None, "t")]}, "finish_reason": "stop"}]}))
    .unwrap();
    resp.verbatim = Some(bytes::Bytes::from_static(b"{}"));
    let mut plain = resp.clone();
    plain.choices[0].message.reasoning_details = None;
    tag_answer(&mut resp, "claude");
    let d = &resp.choices[0].message.reasoning_details.as_ref().unwrap()[0];
    assert_eq!(d.provider.as_deref(), Some("claude"));
    assert!(resp.verbatim.is_none(), "tagged: no longer what the vendor sent");
    tag_answer(&mut plain, "claude");
    assert!(plain.verbatim.is_some(), "nothing to tag: unchanged");
}

#[test]
fn tools_with_reasoning_on_chat_completions_go_where_they_are_taken() {
    use crate::config::UpstreamApi;
    let mut req = conversation();
    req.tools = Some(serde_json::from_value(json!([{"type": "function", "function": {"name": "w"}}])).unwrap());
    let high = Resolved::Level(High);
    let e = check_combination(ProviderKind::OpenAi, UpstreamApi::Chat, "gpt-5.2", &req, high).unwrap_err();
    assert_eq!(e.failure, crate::providers::Failure::Unsupported, "the router fails over, no bare 400");
    assert!(check_combination(ProviderKind::OpenAi, UpstreamApi::Responses, "gpt-5.2", &req, high).is_ok());
    assert!(check_combination(ProviderKind::OpenAi, UpstreamApi::Chat, "gpt-5.2", &req, Resolved::Off).is_ok());
    assert!(check_combination(ProviderKind::OpenAi, UpstreamApi::Chat, "gpt-5", &req, high).is_ok());
    assert!(check_combination(ProviderKind::OpenAiCompatible, UpstreamApi::Chat, "gpt-5.2", &req, high).is_ok());
    req.tools = None;
    assert!(check_combination(ProviderKind::OpenAi, UpstreamApi::Chat, "gpt-5.2", &req, high).is_ok());
}
