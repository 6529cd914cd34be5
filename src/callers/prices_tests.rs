//! Costs to the cent on usage as the vendors document it, each number worked by hand.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;

use super::*;

fn cents(usd: f64) -> i64 {
    (usd * 100.0).round() as i64
}

fn built_in(model: &str) -> Price {
    let t = &table().models;
    *t.get(model).unwrap_or_else(|| panic!("{model} is in the table"))
}

#[test]
fn table_parses_and_has_a_date() {
    assert!(!table_date().is_empty());
    assert!(table().models.len() >= 20);
    assert!(table().models.values().all(|p| p.problems().is_empty()));
}

#[test]
fn cost_counts_cached_tokens_at_their_price() {
    let p = Price { input: 2.0, output: 8.0, cache_read: Some(0.5), ..Price::default() };
    let fresh = Usage::new(1_000_000, 500_000);
    assert!((p.cost(&fresh) - 6.0).abs() < 1e-9);
    let mut cached = fresh;
    cached.prompt_tokens_details =
        Some(crate::api::response::PromptTokensDetails { cached_tokens: 1_000_000, ..Default::default() });
    assert!((p.cost(&cached) - 4.5).abs() < 1e-9);
}

#[test]
fn anthropic_cache_reads_and_both_write_ttls_at_their_prices() {
    // claude-sonnet-4-5: input $3, 5m write $3.75 (1.25x), 1h write $6 (2x), read $0.30
    // (0.1x), output $15 per MTok. Anthropic's usage: 50 fresh input tokens, 100,000 read,
    // 20,000 written (15,000 for 5 minutes, 5,000 for an hour), 4,000 out.
    let wire: crate::wire::anthropic::types::WireUsage = serde_json::from_value(json!({
        "input_tokens": 50, "cache_read_input_tokens": 100000, "cache_creation_input_tokens": 20000,
        "cache_creation": {"ephemeral_5m_input_tokens": 15000, "ephemeral_1h_input_tokens": 5000},
        "output_tokens": 4000
    }))
    .unwrap();
    let u = crate::wire::anthropic::call::usage(&wire);
    assert_eq!(
        (u.prompt_tokens, u.cached_tokens(), u.cache_write_tokens(), u.cache_write_1h_tokens()),
        (120050, 100000, 20000, 5000)
    );
    // 50 x 3 = 150; 100,000 x 0.30 = 30,000; 15,000 x 3.75 = 56,250; 5,000 x 6 = 30,000;
    // 4,000 x 15 = 60,000; sum 176,400 micro-dollars per MTok -> $0.1764 -> 18 cents.
    let cost = built_in("claude-sonnet-4-5").cost(&u);
    assert!((cost - 0.1764).abs() < 1e-12, "{cost}");
    assert_eq!(cents(cost), 18);
    // Priced as fresh input (the old defect) it would be 120,050 x 3 + 60,000 = $0.42015.
    assert_eq!(cents(Price { input: 3.0, output: 15.0, ..Price::default() }.cost(&u)), 42);
}

#[test]
fn anthropic_opus_writes_to_the_cent() {
    // claude-opus-4-1: input $15, 5m write $18.75, 1h write $30, read $1.50, output $75.
    // 1,000 fresh + 200,000 written for an hour (first call of a long cached document), 500 out:
    // 1,000 x 15 = 15,000; 200,000 x 30 = 6,000,000; 500 x 75 = 37,500 -> $6.0525 -> 605 cents.
    let wire: crate::wire::anthropic::types::WireUsage = serde_json::from_value(json!({
        "input_tokens": 1000, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 200000,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 200000},
        "output_tokens": 500
    }))
    .unwrap();
    let cost = built_in("claude-opus-4-1").cost(&crate::wire::anthropic::call::usage(&wire));
    assert!((cost - 6.0525).abs() < 1e-12, "{cost}");
    assert_eq!(cents(cost), 605);
}

#[test]
fn openai_cached_and_reasoning_tokens_at_their_prices() {
    // gpt-5: input $1.25, cached $0.125, output $10 (reasoning billed as output). OpenAI's usage:
    // prompt 120,000 of which 100,000 cached; completion 30,000 of which 20,000 reasoning.
    // 20,000 x 1.25 = 25,000; 100,000 x 0.125 = 12,500; 30,000 x 10 = 300,000 -> $0.3375 -> 34 cents.
    let u: Usage = serde_json::from_value(json!({
        "prompt_tokens": 120000, "completion_tokens": 30000, "total_tokens": 150000,
        "prompt_tokens_details": {"cached_tokens": 100000},
        "completion_tokens_details": {"reasoning_tokens": 20000}
    }))
    .unwrap();
    assert_eq!(u.reasoning_tokens(), 20000);
    let cost = built_in("gpt-5").cost(&u);
    assert!((cost - 0.3375).abs() < 1e-12, "{cost}");
    assert_eq!(cents(cost), 34);
}

#[test]
fn gemini_cached_content_and_thoughts_to_the_cent() {
    // gemini-2.5-pro: input $1.25, cached $0.125, output $10 (thinking billed as output).
    // usageMetadata: promptTokenCount 115,000 (includes 100,000 cachedContentTokenCount),
    // candidatesTokenCount 10,000 (excludes thoughtsTokenCount 100,000).
    // 15,000 x 1.25 = 18,750; 100,000 x 0.125 = 12,500; 110,000 x 10 = 1,100,000 -> $1.13125.
    let meta: crate::wire::gemini::types::UsageMetadata = serde_json::from_value(json!({
        "promptTokenCount": 115000, "cachedContentTokenCount": 100000,
        "candidatesTokenCount": 10000, "thoughtsTokenCount": 100000, "totalTokenCount": 225000
    }))
    .unwrap();
    let u = crate::wire::gemini::call::response::usage(&meta);
    assert_eq!((u.prompt_tokens, u.completion_tokens, u.reasoning_tokens()), (115000, 110000, 100000));
    let cost = built_in("gemini-2.5-pro").cost(&u);
    assert!((cost - 1.13125).abs() < 1e-12, "{cost}");
    assert_eq!(cents(cost), 113);
}

#[test]
fn a_separate_reasoning_price_applies_to_reasoning_only() {
    // output $4, reasoning $2: 1,000,000 completion tokens of which 250,000 reasoning:
    // 750,000 x 4 + 250,000 x 2 = 3,500,000 -> $3.50.
    let p = Price { input: 1.0, output: 4.0, reasoning: Some(2.0), ..Price::default() };
    let mut u = Usage::new(0, 1_000_000);
    u.completion_tokens_details =
        Some(crate::api::response::CompletionTokensDetails { reasoning_tokens: 250_000, ..Default::default() });
    assert!((p.cost(&u) - 3.5).abs() < 1e-12);
}

#[test]
fn counts_that_do_not_add_up_are_clamped_not_billed_twice() {
    // A vendor reporting more cached than prompt tokens: everything is a read, nothing fresh.
    let p = Price { input: 10.0, output: 0.0, cache_read: Some(1.0), cache_write: Some(20.0), ..Price::default() };
    let mut u = Usage::new(100, 0);
    u.prompt_tokens_details = Some(crate::api::response::PromptTokensDetails {
        cached_tokens: 150,
        cache_creation_tokens: Some(50),
        ..Default::default()
    });
    assert!((p.cost(&u) - 100.0 / 1e6).abs() < 1e-15);
}

#[test]
fn defaults_fall_back_to_input_and_output() {
    let p = Price { input: 3.0, output: 15.0, cache_write: Some(3.75), ..Price::default() };
    assert_eq!(p.cache_read_price(), 3.0);
    assert_eq!(p.cache_write_1h_price(), 3.75);
    assert_eq!(p.reasoning_price(), 15.0);
}

#[test]
fn the_ceiling_prices_possible_cache_writes_and_reasoning() {
    let p = built_in("claude-sonnet-4-5");
    // 1,000 prompt tokens, 1,000 output: plain 1,000 x 3 + 1,000 x 15 = $0.018; with writes
    // possible the prompt is priced at the 1h write price, 1,000 x 6 + 15,000 = $0.021.
    assert!((p.ceiling(1000, 1000, false) - 0.018).abs() < 1e-12);
    assert!((p.ceiling(1000, 1000, true) - 0.021).abs() < 1e-12);
    let dear_thoughts = Price { input: 1.0, output: 2.0, reasoning: Some(5.0), ..Price::default() };
    assert!((dear_thoughts.ceiling(0, 1_000_000, false) - 5.0).abs() < 1e-12);
}

#[test]
fn bad_prices_are_named() {
    let p = Price { input: -1.0, output: 1.0, cache_write_1h: Some(f64::NAN), ..Price::default() };
    let fields: Vec<&str> = p.problems().into_iter().map(|(f, _)| f).collect();
    assert_eq!(fields, ["input", "cache_write_1h"]);
}
