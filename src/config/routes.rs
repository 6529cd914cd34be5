//! `[routes.NAME]`: what clients ask for. A route's targets (models), the strategy that orders
//! them, its region filter, its time budgets and its response cache.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::cache::{RouteCache, RouteCacheFile, TierBacking, resolve_route_cache};
use super::context::ResolveCx;
use super::models::{ModelFile, ModelSettings};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteFile {
    pub strategy: Option<String>,
    pub targets: Vec<String>,
    /// For `strategy = "weighted"`: one weight per target.
    pub weights: Option<Vec<u32>>,
    /// Only deployments tagged with one of these regions serve this route.
    pub regions: Option<Vec<String>>,
    pub timeout: Option<String>,
    pub attempt_timeout: Option<String>,
    pub first_token_timeout: Option<String>,
    /// A committed stream that sends nothing for this long ends with an error event.
    pub stream_idle_timeout: Option<String>,
    /// Start the next candidate if the first has produced nothing by then.
    pub hedge_after: Option<String>,
    /// Before a stream is committed, it must produce this many tokens within this time.
    pub min_stream_rate: Option<StreamRateFile>,
    /// Response cache for this route; off when absent.
    pub cache: Option<RouteCacheFile>,
    /// "auto": Anthropic targets get prompt-cache breakpoints on the tools, the system prompt
    /// and the last user turn; "off" (the default): only the caller's own.
    pub prompt_cache: Option<String>,
    /// "drop" (default) or "text": what becomes of reasoning another vendor minted when a
    /// conversation fails over (its signed blocks are never sent; "text" keeps their visible
    /// text as plain text of the assistant turn).
    pub foreign_reasoning: Option<String>,
    /// A live experiment: the route's traffic split by weight (`[[routes.NAME.variants]]`).
    pub variants: Option<Vec<super::experiments::VariantFile>>,
    /// Shadow variants: a sampled copy of its traffic, recorded, never returned.
    pub shadow: Option<Vec<super::experiments::ShadowFile>>,
    /// Mixed into the variant assignment's hash (default: the route's name).
    pub experiment_seed: Option<String>,
}

/// Who places Anthropic prompt-cache breakpoints for a route's requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PromptCache {
    /// Only the caller's own `cache_control` markers.
    #[default]
    Off,
    /// sidegate adds breakpoints (tools, system prompt, last user turn) up to Anthropic's four.
    Auto,
}

impl PromptCache {
    pub fn is_auto(self) -> bool {
        self == PromptCache::Auto
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Targets in the configured order.
    Fallback,
    /// Random order drawn by weight (first pick by weight, then the rest).
    Weighted,
    /// Lowest moving latency estimate first (time to first token for streams).
    LeastLatency,
    /// Lowest estimated cost first (price table x estimated tokens).
    Cheapest,
}

#[derive(Debug, Clone)]
pub struct RouteSettings {
    pub name: String,
    pub strategy: Strategy,
    pub targets: Vec<Arc<ModelSettings>>,
    /// Same length as `targets` for `Weighted`; empty otherwise.
    pub weights: Vec<u32>,
    pub regions: Vec<String>,
    pub timing: Timing,
    /// Response cache; None = off.
    pub cache: Option<RouteCache>,
    pub prompt_cache: PromptCache,
    pub foreign_reasoning: crate::api::reasoning::ForeignReasoning,
}

/// `min_stream_rate = { tokens = N, within = "2s" }` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamRateFile {
    pub tokens: u64,
    pub within: String,
}

/// The least a stream must deliver before it is committed to the caller: `tokens` (estimated
/// from the text, about 4 characters each) within `within` of its first output. A slower one
/// is abandoned for the next candidate while the caller has seen nothing yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamRate {
    pub tokens: u64,
    pub within: Duration,
}

/// Time budgets of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// The whole request, all attempts.
    pub timeout: Duration,
    /// One vendor call.
    pub attempt_timeout: Duration,
    /// No first chunk of a stream by then: next candidate.
    pub first_token_timeout: Duration,
    /// A committed stream silent for this long ends with an error event.
    pub stream_idle_timeout: Duration,
    /// Start the next candidate when the current one produced nothing by then.
    pub hedge_after: Option<Duration>,
    /// Off when None: a stream is committed at its first output.
    pub min_stream_rate: Option<StreamRate>,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            timeout: Duration::from_secs(120),
            attempt_timeout: Duration::from_secs(60),
            first_token_timeout: Duration::from_secs(30),
            stream_idle_timeout: Duration::from_secs(60),
            hedge_after: None,
            min_stream_rate: None,
        }
    }
}

/// What a route's references are checked against.
pub(super) struct RouteRefs<'a> {
    /// Models as written (a target in error there is not reported again here).
    pub raw_models: &'a BTreeMap<String, ModelFile>,
    pub models: &'a BTreeMap<String, Arc<ModelSettings>>,
    /// What the cache tiers a route names need from elsewhere in the file.
    pub tiers: TierBacking,
}

pub(super) fn resolve_routes(
    cx: &mut ResolveCx<'_>,
    raw: &BTreeMap<String, RouteFile>,
    refs: &RouteRefs<'_>,
) -> BTreeMap<String, Arc<RouteSettings>> {
    let mut routes = BTreeMap::new();
    for (name, r) in raw {
        cx.check_name(&["routes", name], name);
        if refs.raw_models.contains_key(name) {
            cx.err(
                &["routes", name],
                format!("`{name}` is both a route and a model; a request for it would be ambiguous"),
            );
        }
        routes.insert(name.clone(), Arc::new(resolve_route(cx, name, r, refs)));
    }
    routes
}

fn resolve_route(cx: &mut ResolveCx<'_>, name: &str, r: &RouteFile, refs: &RouteRefs<'_>) -> RouteSettings {
    let strategy = resolve_strategy(cx, name, r.strategy.as_deref());
    let weights = resolve_weights(cx, name, strategy, r);
    let targets = resolve_targets(cx, name, &r.targets, refs);
    let timing = resolve_timing(cx, name, r);
    let cache = resolve_route_cache(cx, name, r.cache.as_ref(), refs.tiers);
    let regions = r.regions.clone().unwrap_or_default();
    if r.regions.as_ref().is_some_and(Vec::is_empty) {
        cx.err(&["routes", name, "regions"], "an empty list would exclude every target; omit the key instead");
    }
    let prompt_cache = resolve_prompt_cache(cx, name, r.prompt_cache.as_deref());
    let foreign_reasoning = resolve_foreign_reasoning(cx, name, r.foreign_reasoning.as_deref());
    RouteSettings {
        name: name.to_string(),
        strategy,
        targets,
        weights,
        regions,
        timing,
        cache,
        prompt_cache,
        foreign_reasoning,
    }
}

fn resolve_foreign_reasoning(
    cx: &mut ResolveCx<'_>,
    name: &str,
    raw: Option<&str>,
) -> crate::api::reasoning::ForeignReasoning {
    match raw {
        None | Some("drop") => crate::api::reasoning::ForeignReasoning::Drop,
        Some("text") => crate::api::reasoning::ForeignReasoning::Text,
        Some(other) => {
            cx.err(&["routes", name, "foreign_reasoning"], format!("unknown value `{other}` (known: drop, text)"));
            crate::api::reasoning::ForeignReasoning::Drop
        }
    }
}

fn resolve_prompt_cache(cx: &mut ResolveCx<'_>, name: &str, raw: Option<&str>) -> PromptCache {
    match raw {
        None | Some("off") => PromptCache::Off,
        Some("auto") => PromptCache::Auto,
        Some(other) => {
            cx.err(&["routes", name, "prompt_cache"], format!("unknown prompt_cache `{other}` (known: off, auto)"));
            PromptCache::Off
        }
    }
}

fn resolve_strategy(cx: &mut ResolveCx<'_>, name: &str, raw: Option<&str>) -> Strategy {
    match raw {
        None | Some("fallback") => Strategy::Fallback,
        Some("weighted") => Strategy::Weighted,
        Some("least-latency") => Strategy::LeastLatency,
        Some("cheapest") => Strategy::Cheapest,
        Some(other) => {
            cx.err(
                &["routes", name, "strategy"],
                format!("unknown strategy `{other}` (known: fallback, weighted, least-latency, cheapest)"),
            );
            Strategy::Fallback
        }
    }
}

fn resolve_weights(cx: &mut ResolveCx<'_>, name: &str, strategy: Strategy, r: &RouteFile) -> Vec<u32> {
    let path = ["routes", name, "weights"];
    match (&r.weights, strategy) {
        (Some(w), Strategy::Weighted) if w.len() != r.targets.len() => {
            cx.err(&path, format!("{} weights for {} targets; give one weight per target", w.len(), r.targets.len()));
            Vec::new()
        }
        (Some(w), Strategy::Weighted) if w.iter().all(|x| *x == 0) => {
            cx.err(&path, "at least one weight must be above 0");
            Vec::new()
        }
        (Some(w), Strategy::Weighted) => w.clone(),
        (None, Strategy::Weighted) => vec![1; r.targets.len()],
        (Some(_), _) => {
            cx.err(&path, "weights only apply to strategy = \"weighted\"");
            Vec::new()
        }
        (None, _) => Vec::new(),
    }
}

fn resolve_targets(
    cx: &mut ResolveCx<'_>,
    name: &str,
    raw: &[String],
    refs: &RouteRefs<'_>,
) -> Vec<Arc<ModelSettings>> {
    if raw.is_empty() {
        cx.err(&["routes", name, "targets"], "a route needs at least one target");
    }
    let mut targets = Vec::new();
    for (i, t) in raw.iter().enumerate() {
        match refs.models.get(t) {
            Some(m) => targets.push(m.clone()),
            None if refs.raw_models.contains_key(t) => {} // the model itself is in error; reported there
            None => {
                let known = refs.raw_models.keys().cloned().collect::<Vec<_>>().join(", ");
                let idx = i.to_string();
                cx.err(&["routes", name, "targets", &idx], format!("unknown model `{t}` (known: {known})"));
            }
        }
    }
    targets
}

fn resolve_timing(cx: &mut ResolveCx<'_>, name: &str, r: &RouteFile) -> Timing {
    let d = Timing::default();
    let timeout = cx.duration(&["routes", name, "timeout"], &r.timeout, d.timeout);
    let attempt_timeout =
        cx.duration(&["routes", name, "attempt_timeout"], &r.attempt_timeout, d.attempt_timeout.min(timeout));
    let first_token_timeout = cx.duration(
        &["routes", name, "first_token_timeout"],
        &r.first_token_timeout,
        d.first_token_timeout.min(attempt_timeout),
    );
    if attempt_timeout > timeout {
        cx.err(&["routes", name, "attempt_timeout"], "must not be longer than the route's `timeout`");
    }
    let stream_idle_timeout =
        cx.duration(&["routes", name, "stream_idle_timeout"], &r.stream_idle_timeout, d.stream_idle_timeout);
    let hedge_after =
        r.hedge_after.as_ref().map(|_| cx.duration(&["routes", name, "hedge_after"], &r.hedge_after, Duration::ZERO));
    if hedge_after.is_some_and(|h| h >= timeout) {
        cx.err(&["routes", name, "hedge_after"], "must be shorter than the route's `timeout`");
    }
    let min_stream_rate = r.min_stream_rate.as_ref().and_then(|m| resolve_stream_rate(cx, name, m, timeout));
    Timing { timeout, attempt_timeout, first_token_timeout, stream_idle_timeout, hedge_after, min_stream_rate }
}

fn resolve_stream_rate(
    cx: &mut ResolveCx<'_>,
    name: &str,
    m: &StreamRateFile,
    timeout: Duration,
) -> Option<StreamRate> {
    let path = ["routes", name, "min_stream_rate"];
    let within = cx.duration(&[&path[..], &["within"]].concat(), &Some(m.within.clone()), Duration::ZERO);
    if m.tokens == 0 {
        cx.err(&[&path[..], &["tokens"]].concat(), "must be at least 1 (omit `min_stream_rate` to turn it off)");
        return None;
    }
    let parsed = humantime::parse_duration(&m.within).is_ok();
    if parsed && (within.is_zero() || within >= timeout) {
        cx.err(&[&path[..], &["within"]].concat(), "must be more than zero and shorter than the route's `timeout`");
        return None;
    }
    if !parsed {
        return None;
    }
    Some(StreamRate { tokens: m.tokens, within })
}
