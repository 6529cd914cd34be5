#![allow(clippy::unwrap_used)]
//! Variant assignment with fixed seeds (every expectation is deterministic: no randomness
//! is involved), the prompt rule (what the caller names wins), and the config's checks.

use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::config::experiments::Variant;

struct NoEnv;

impl crate::config::Env for NoEnv {
    fn var(&self, _: &str) -> Option<String> {
        None
    }
    fn uid(&self) -> u32 {
        1000
    }
}

const BASE: &str = r#"
[providers.mock]
kind = "mock"
[models.m1]
provider = "mock"
model = "echo"
[models.m2]
provider = "mock"
model = "echo"
[routes.other]
targets = ["m2"]
[routes.chat]
targets = ["m1"]
experiment_seed = "fixed"
"#;

fn snapshot(extra: &str) -> Result<crate::config::Snapshot, Vec<String>> {
    crate::config::parse(&format!("{BASE}{extra}"), Path::new("t.toml"), &NoEnv)
        .map_err(|e| e.0.iter().map(|e| e.to_string()).collect())
}

const SPLIT: &str = r#"
[[routes.chat.variants]]
name = "a"
weight = 70
[[routes.chat.variants]]
name = "b"
weight = 30
model = "m2"
[[routes.chat.variants]]
name = "off"
weight = 0
route = "other"
"#;

fn experiment() -> Arc<Experiment> {
    snapshot(SPLIT).unwrap().experiments["chat"].clone()
}

#[test]
fn the_same_episode_always_gets_the_same_variant() {
    let exp = experiment();
    for i in 0..200 {
        let e = format!("episode-{i}");
        let first = variant_for_episode(&exp, &e).unwrap().name.clone();
        for _ in 0..3 {
            assert_eq!(variant_for_episode(&exp, &e).unwrap().name, first);
        }
    }
}

#[test]
fn episodes_split_by_weight_and_a_zero_weight_gets_none() {
    let exp = experiment();
    let mut counts = std::collections::BTreeMap::new();
    for i in 0..10_000 {
        *counts.entry(variant_for_episode(&exp, &format!("e{i}")).unwrap().name.clone()).or_insert(0) += 1;
    }
    // Fixed seed, fixed episodes: the counts are always these; the bounds say what they mean.
    let a = counts.get("a").copied().unwrap_or(0);
    let b = counts.get("b").copied().unwrap_or(0);
    assert!((6_800..=7_200).contains(&a), "{counts:?}");
    assert!((2_800..=3_200).contains(&b), "{counts:?}");
    assert_eq!(counts.get("off"), None, "{counts:?}");
}

#[test]
fn another_seed_reshuffles_who_gets_what() {
    let exp = experiment();
    let mut other = (*exp).clone();
    other.seed = "another".into();
    let moved = (0..1000)
        .filter(|i| {
            let e = format!("e{i}");
            variant_for_episode(&exp, &e).unwrap().name != variant_for_episode(&other, &e).unwrap().name
        })
        .count();
    // Two independent 70/30 draws differ for 2 x 0.7 x 0.3 = 42% of keys.
    assert!((300..=540).contains(&moved), "{moved}");
}

#[test]
fn a_hash_lands_on_the_weights_laid_end_to_end() {
    let v = |name: &str, weight| Arc::new(Variant { name: name.into(), weight, prompt: None, target: None });
    let vs = [v("a", 2), v("z", 0), v("b", 3)];
    let picks: Vec<usize> = (0..5).map(|h| pick_by_hash(&vs, 5, h)).collect();
    assert_eq!(picks, [0, 0, 2, 2, 2]);
    // 7 % 5 = 2: past "a" (2), nothing in "z" (0), the first point of "b".
    assert_eq!(pick_by_hash(&vs, 5, 7), 2);
}

#[test]
fn what_the_caller_names_wins_over_the_variants_prompt() {
    let own = |id: &str| Some(Ok(PromptRef { id: id.into(), variables: Default::default() }));
    let id = |m: &Merged| match &m.prompt {
        Some(Ok(r)) => r.id.clone(),
        _ => String::new(),
    };
    // No prompt of its own, or the same prompt by its bare name: the variant's version.
    let m = with_variant_prompt(Some("sum@2"), None);
    assert!(m.applies && id(&m) == "sum@2");
    let m = with_variant_prompt(Some("sum@2"), own("sum"));
    assert!(m.applies && id(&m) == "sum@2");
    // A version of its own, or another prompt: kept, and the variant does not apply.
    let m = with_variant_prompt(Some("sum@2"), own("sum@1"));
    assert!(!m.applies && id(&m) == "sum@1");
    let m = with_variant_prompt(Some("sum@2"), own("greet"));
    assert!(!m.applies && id(&m) == "greet");
    // A variant without a prompt changes nothing of the request's.
    let m = with_variant_prompt(None, own("sum@1"));
    assert!(m.applies && id(&m) == "sum@1");
}

#[test]
fn bad_experiments_are_config_errors_at_their_keys() {
    for (extra, says) in [
        ("[[routes.chat.variants]]\nname = \"a\"\nweight = 0\n", "at least one variant's weight must be above 0"),
        ("[[routes.chat.variants]]\nname = \"a\"\nweight = 1\nmodel = \"nope\"\n", "unknown model `nope`"),
        ("[[routes.chat.variants]]\nname = \"a\"\nweight = 1\nroute = \"nope\"\n", "unknown route `nope`"),
        ("[[routes.chat.variants]]\nname = \"a\"\nweight = 1\nmodel = \"m1\"\nroute = \"other\"\n", "not both"),
        (
            "[[routes.chat.variants]]\nname = \"a\"\nweight = 1\nprompt = \"p@1\"\n",
            "unknown prompt `p@1` (no `[prompts] dir`",
        ),
        (
            "[[routes.chat.variants]]\nname = \"a\"\nweight = 1\n[[routes.chat.shadow]]\nname = \"a\"\nmodel = \"m2\"\nsample = 1.0\nbudget_usd = 1.0\n",
            "`a` names two variants or shadows of route `chat`",
        ),
        ("[[routes.chat.variants]]\nname = \"a b\"\nweight = 1\n", "may only use letters"),
        (
            "[[routes.chat.shadow]]\nname = \"s\"\nmodel = \"m2\"\nsample = 0.0\nbudget_usd = 1.0\n",
            "not a share of traffic",
        ),
        (
            "[[routes.chat.shadow]]\nname = \"s\"\nmodel = \"m2\"\nsample = 1.5\nbudget_usd = 1.0\n",
            "not a share of traffic",
        ),
        (
            "[[routes.chat.shadow]]\nname = \"s\"\nmodel = \"m2\"\nsample = 0.5\nbudget_usd = 0.0\n",
            "budget_usd: must be above 0",
        ),
        ("[[routes.chat.shadow]]\nname = \"s\"\nmodel = \"m2\"\nsample = 0.5\n", "missing field `budget_usd`"),
        ("[[routes.chat.shadow]]\nname = \"s\"\nsample = 0.5\nbudget_usd = 1.0\n", "would repeat the live call"),
        (
            "[[routes.chat.shadow]]\nname = \"s\"\nmodel = \"m2\"\nsample = 0.5\nbudget_usd = 1.0\nconcurrency = 0\n",
            "at least 1",
        ),
        (
            "[[routes.other.variants]]\nname = \"x\"\nweight = 1\n[[routes.chat.variants]]\nname = \"a\"\nweight = 1\nroute = \"other\"\n",
            "experiments do not nest",
        ),
        ("[[routes.chat.variants]]\nname = \"a\"\nweight = 1\ncolour = \"red\"\n", "unknown field `colour`"),
    ] {
        let errs = snapshot(extra).unwrap_err();
        assert!(errs.iter().any(|e| e.contains(says)), "{extra}\n wanted {says:?} in {errs:?}");
    }
    let errs = snapshot("").unwrap_err();
    assert!(errs.iter().any(|e| e.contains("a seed without")), "{errs:?}");
}

#[test]
fn a_valid_experiment_resolves_its_variants_and_shadows() {
    let snap = snapshot(&format!(
        "{SPLIT}[[routes.chat.shadow]]\nname = \"try-m2\"\nmodel = \"m2\"\nsample = 0.25\nbudget_usd = 2.5\n"
    ))
    .unwrap();
    let exp = &snap.experiments["chat"];
    assert_eq!((exp.seed.as_str(), exp.total_weight, exp.variants.len()), ("fixed", 100, 3));
    assert_eq!(exp.variants[1].target.as_deref(), Some("m2"));
    assert_eq!(exp.variants[2].target.as_deref(), Some("other"));
    let s = &exp.shadows[0];
    assert_eq!(
        (s.sample, s.budget_usd, s.concurrency),
        (0.25, 2.5, crate::config::experiments::DEFAULT_SHADOW_CONCURRENCY)
    );
    assert!(!snap.experiments.contains_key("other"));
}

/// The per-request cost of the experiment step (`cargo test --lib assignment_cost --
/// --ignored --nocapture`): a request with an episode, one without (sticky to its caller),
/// and a request for a route without an experiment. Debug builds are many times slower than
/// the daemon's release build; docs/benchmarks.md has the numbers.
#[test]
#[ignore]
fn assignment_cost() {
    let snap = snapshot(SPLIT).unwrap();
    let req: ChatRequest = serde_json::from_value(serde_json::json!({"model": "chat", "messages": []})).unwrap();
    let other: ChatRequest = serde_json::from_value(serde_json::json!({"model": "other", "messages": []})).unwrap();
    let n = 200_000u32;
    for (what, req, episode) in
        [("episode", &req, Some("conv-42")), ("caller", &req, None), ("no experiment", &other, Some("conv-42"))]
    {
        let start = std::time::Instant::now();
        for _ in 0..n {
            let mut opts = CallOptions { episode: episode.map(str::to_string), ..CallOptions::default() };
            std::hint::black_box(assign(&snap, req, &mut opts));
        }
        println!("{what}: {:.0} ns per request", start.elapsed().as_nanos() as f64 / f64::from(n));
    }
}
