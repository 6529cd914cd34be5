//! `[[routes.NAME.variants]]` and `[[routes.NAME.shadow]]`: a route's live experiment (its
//! traffic split by weight between variants, each a prompt version and/or another route or
//! model) and its shadow variants (a sampled copy of live traffic, answered in the background
//! and recorded, never returned, within a daily budget). Resolved after the routes and the
//! prompt files, since a variant names both; the result is part of the snapshot, so an
//! experiment is validated and hot-reloaded as the rest of the config is.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::Deserialize;

use super::context::ResolveCx;
use super::models::ModelSettings;
use super::routes::{RouteFile, RouteSettings};
use crate::prompts::Library;

/// Concurrent calls of one shadow variant at most, unless its `concurrency` says otherwise.
pub const DEFAULT_SHADOW_CONCURRENCY: u32 = 4;

/// One `[[routes.NAME.variants]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantFile {
    pub name: String,
    pub weight: u32,
    /// A prompt file version (`summarize@2`) rendered in front of the request's messages.
    pub prompt: Option<String>,
    /// A configured model the variant's requests run on (or `route`; neither: the route's
    /// own targets).
    pub model: Option<String>,
    pub route: Option<String>,
}

/// One `[[routes.NAME.shadow]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShadowFile {
    pub name: String,
    pub prompt: Option<String>,
    pub model: Option<String>,
    pub route: Option<String>,
    /// The share of live requests copied to it, in (0, 1].
    pub sample: f64,
    /// USD it may spend per UTC day; past it, it is skipped until the next day.
    pub budget_usd: f64,
    /// Its calls in flight at most; a sampled request past it is dropped (and counted).
    pub concurrency: Option<u32>,
}

/// A live variant, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    pub name: String,
    pub weight: u32,
    pub prompt: Option<String>,
    /// The route or model its requests are planned on; None: the experiment's route itself.
    pub target: Option<String>,
}

/// A shadow variant, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Shadow {
    pub name: String,
    pub prompt: Option<String>,
    pub target: Option<String>,
    pub sample: f64,
    pub budget_usd: f64,
    pub concurrency: u32,
}

/// A route's experiment: its variants (maybe none: shadows only) and shadows.
#[derive(Debug, Clone, PartialEq)]
pub struct Experiment {
    pub route: String,
    /// Mixed into every assignment's hash: a fixed seed gives a fixed assignment; a new seed
    /// reshuffles who gets which variant.
    pub seed: String,
    pub variants: Vec<Arc<Variant>>,
    /// The sum of the variants' weights (above 0 when there are variants).
    pub total_weight: u64,
    pub shadows: Vec<Arc<Shadow>>,
}

/// What a variant's references are checked against.
pub(super) struct ExperimentRefs<'a> {
    pub routes: &'a BTreeMap<String, Arc<RouteSettings>>,
    pub models: &'a BTreeMap<String, Arc<ModelSettings>>,
    pub prompts: &'a Library,
    /// `[prompts] dir` is set but its files are in error (reported there): prompt names are
    /// not checked again.
    pub prompts_broken: bool,
    /// Routes that have variants or shadows (a variant may not route into one).
    pub with_experiments: BTreeSet<String>,
}

/// The routes of `raw` with variants or shadows.
pub(super) fn routes_with_experiments(raw: &BTreeMap<String, RouteFile>) -> BTreeSet<String> {
    raw.iter()
        .filter(|(_, r)| {
            r.variants.as_ref().is_some_and(|v| !v.is_empty()) || r.shadow.as_ref().is_some_and(|s| !s.is_empty())
        })
        .map(|(n, _)| n.clone())
        .collect()
}

/// Every route's experiment, by route name (routes without variants or shadows have none).
pub(super) fn resolve_experiments(
    cx: &mut ResolveCx<'_>,
    raw: &BTreeMap<String, RouteFile>,
    refs: &ExperimentRefs<'_>,
) -> BTreeMap<String, Arc<Experiment>> {
    let mut out = BTreeMap::new();
    for (route, r) in raw {
        let (variants, shadows) = (r.variants.as_deref().unwrap_or(&[]), r.shadow.as_deref().unwrap_or(&[]));
        if variants.is_empty() && shadows.is_empty() {
            if r.experiment_seed.is_some() {
                cx.err(
                    &["routes", route, "experiment_seed"],
                    "a seed without `[[variants]]` or `[[shadow]]` does nothing",
                );
            }
            continue;
        }
        let mut names = BTreeSet::new();
        let variants: Vec<Arc<Variant>> = variants
            .iter()
            .enumerate()
            .filter_map(|(i, v)| resolve_variant(cx, route, i, v, refs, &mut names))
            .collect();
        let shadows: Vec<Arc<Shadow>> =
            shadows.iter().enumerate().filter_map(|(i, s)| resolve_shadow(cx, route, i, s, refs, &mut names)).collect();
        let total_weight: u64 = variants.iter().map(|v| u64::from(v.weight)).sum();
        if !variants.is_empty() && total_weight == 0 {
            cx.err(&["routes", route, "variants"], "at least one variant's weight must be above 0");
        }
        let seed = r.experiment_seed.clone().unwrap_or_else(|| route.clone());
        out.insert(route.clone(), Arc::new(Experiment { route: route.clone(), seed, variants, total_weight, shadows }));
    }
    out
}

fn resolve_variant(
    cx: &mut ResolveCx<'_>,
    route: &str,
    i: usize,
    v: &VariantFile,
    refs: &ExperimentRefs<'_>,
    names: &mut BTreeSet<String>,
) -> Option<Arc<Variant>> {
    let idx = i.to_string();
    let at = ["routes", route, "variants", idx.as_str()];
    let ok =
        check_arm(cx, &at, route, (&v.name, v.prompt.as_deref(), v.model.as_deref(), v.route.as_deref()), refs, names);
    let target = v.model.clone().or_else(|| v.route.clone());
    ok.then(|| Arc::new(Variant { name: v.name.clone(), weight: v.weight, prompt: v.prompt.clone(), target }))
}

fn resolve_shadow(
    cx: &mut ResolveCx<'_>,
    route: &str,
    i: usize,
    s: &ShadowFile,
    refs: &ExperimentRefs<'_>,
    names: &mut BTreeSet<String>,
) -> Option<Arc<Shadow>> {
    let idx = i.to_string();
    let at = ["routes", route, "shadow", idx.as_str()];
    let mut ok =
        check_arm(cx, &at, route, (&s.name, s.prompt.as_deref(), s.model.as_deref(), s.route.as_deref()), refs, names);
    let key = |k: &'static str| [&at[..], &[k]].concat();
    if !(s.sample > 0.0 && s.sample <= 1.0) {
        cx.err(&key("sample"), format!("{} is not a share of traffic: give one above 0 and at most 1", s.sample));
        ok = false;
    }
    if !(s.budget_usd.is_finite() && s.budget_usd > 0.0) {
        cx.err(&key("budget_usd"), "must be above 0 (USD per UTC day); a shadow always has a cap");
        ok = false;
    }
    if s.concurrency == Some(0) {
        cx.err(&key("concurrency"), "must be at least 1");
        ok = false;
    }
    if s.prompt.is_none() && s.model.is_none() && s.route.is_none() {
        cx.err(&at, "a shadow with neither `prompt` nor `model`/`route` would repeat the live call: give one");
        ok = false;
    }
    let target = s.model.clone().or_else(|| s.route.clone());
    ok.then(|| {
        Arc::new(Shadow {
            name: s.name.clone(),
            prompt: s.prompt.clone(),
            target,
            sample: s.sample,
            budget_usd: s.budget_usd,
            concurrency: s.concurrency.unwrap_or(DEFAULT_SHADOW_CONCURRENCY),
        })
    })
}

/// What variants and shadows share: a unique name, at most one of `model` and `route`, and
/// references that exist. False when any is wrong (each reported at its key).
fn check_arm(
    cx: &mut ResolveCx<'_>,
    at: &[&str],
    route: &str,
    (name, prompt, model, via): (&str, Option<&str>, Option<&str>, Option<&str>),
    refs: &ExperimentRefs<'_>,
    names: &mut BTreeSet<String>,
) -> bool {
    let key = |k: &'static str| [at, &[k]].concat();
    let mut wrong = Vec::new();
    let simple = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !simple {
        wrong.push((key("name"), format!("name `{name}` may only use letters, digits, '-', '_', '.'")));
    }
    if !names.insert(name.to_string()) {
        wrong.push((
            key("name"),
            format!("`{name}` names two variants or shadows of route `{route}`; names must differ"),
        ));
    }
    match (model, via) {
        (Some(_), Some(_)) => wrong.push((at.to_vec(), "give `model` or `route`, not both".to_string())),
        (Some(m), None) if !refs.models.contains_key(m) => {
            let known = refs.models.keys().cloned().collect::<Vec<_>>().join(", ");
            wrong.push((key("model"), format!("unknown model `{m}` (known: {known})")));
        }
        (None, Some(r)) if !refs.routes.contains_key(r) => {
            let known = refs.routes.keys().cloned().collect::<Vec<_>>().join(", ");
            wrong.push((key("route"), format!("unknown route `{r}` (known: {known})")));
        }
        (None, Some(r)) if r != route && refs.with_experiments.contains(r) => {
            wrong.push((
                key("route"),
                format!("route `{r}` has variants or shadows of its own; experiments do not nest"),
            ));
        }
        _ => {}
    }
    if let Some(p) = prompt
        && !refs.prompts_broken
        && refs.prompts.get(p).is_none()
    {
        let why = if refs.prompts.dir.is_none() { " (no `[prompts] dir` in the config)" } else { "" };
        wrong.push((key("prompt"), format!("unknown prompt `{p}`{why}")));
    }
    let ok = wrong.is_empty();
    for (path, message) in wrong {
        cx.err(&path, message);
    }
    ok
}
