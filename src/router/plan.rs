//! Turns a request's `model` into an ordered plan of candidate deployments: a route name (its
//! targets, filtered, then ordered by the route's strategy), a configured model, or
//! `provider/vendor-model`. Filters run before the strategy: capabilities the request needs,
//! the context window against an estimate of the prompt, and region tags. Breaker state is
//! the attempt loop's business, not the plan's.

use std::sync::Arc;

use super::health::Health;
use crate::api::error::GatewayError;
use crate::api::{ChatRequest, EmbeddingsRequest};
use crate::config::{ModelSettings, RouteSettings, Snapshot, Strategy, Timing};

#[derive(Debug, Clone)]
pub struct Plan {
    /// The route (or model) name the caller asked for.
    pub route: String,
    pub timing: Timing,
    pub candidates: Vec<Arc<ModelSettings>>,
    /// Estimated tokens of the call (prompt + requested output), for rate limits.
    pub tokens: f64,
    /// The route's `foreign_reasoning` (what failover does with another vendor's reasoning).
    pub foreign_reasoning: crate::api::reasoning::ForeignReasoning,
}

/// What a request needs from a deployment.
#[derive(Debug, Clone, Default)]
pub struct Needs {
    pub tools: bool,
    pub vision: bool,
    pub json: bool,
    pub stream: bool,
    pub embeddings: bool,
    /// Estimated prompt tokens (about 4 characters per token, plus per-message overhead).
    pub prompt_tokens: u64,
    pub max_output: Option<u64>,
    /// The call may write to a vendor's prompt cache (it carries breakpoints, or its route
    /// places them): its budget ceiling prices the prompt at the dearest cache-write price.
    pub cache_writes: bool,
    /// Per-request region filter.
    pub regions: Option<Vec<String>>,
}

impl Needs {
    pub fn chat(req: &ChatRequest, regions: Option<Vec<String>>) -> Self {
        use crate::api::chat::{Content, ContentPart, ResponseFormat};
        let vision = req.messages.iter().any(|m| matches!(&m.content, Some(Content::Parts(p)) if p.iter().any(|p| matches!(p, ContentPart::ImageUrl { .. }))));
        Needs {
            tools: req.tools.as_ref().is_some_and(|t| !t.is_empty()),
            vision,
            json: matches!(req.response_format, Some(ResponseFormat::JsonObject | ResponseFormat::JsonSchema { .. })),
            stream: req.is_stream(),
            embeddings: false,
            prompt_tokens: (req.prompt_chars() as u64).div_ceil(4) + 4 * req.messages.len() as u64,
            max_output: req.max_output_tokens(),
            cache_writes: req.prompt_cache || crate::wire::cache_control::has_markers(req),
            regions,
        }
    }

    pub fn embeddings(req: &EmbeddingsRequest, regions: Option<Vec<String>>) -> Self {
        let chars: usize = req.texts().map_or(0, |t| t.iter().map(|s| s.len()).sum());
        // embeddings produce no output tokens
        Needs {
            embeddings: true,
            prompt_tokens: (chars as u64).div_ceil(4),
            max_output: Some(0),
            regions,
            ..Needs::default()
        }
    }

    /// Why `m` cannot serve this request, if it cannot.
    fn exclusion(&self, m: &ModelSettings, route_regions: &[String]) -> Option<Exclusion> {
        if let Some(why) = self.unfit(m, route_regions) {
            return Some(why);
        }
        // Checked last, so it is named only when it alone keeps the deployment out.
        let why = m.provider.unavailable.as_ref()?;
        Some(Exclusion::ProviderUnavailable { provider: m.provider.name.clone(), why: why.clone() })
    }

    /// What `m` lacks that this request needs, if anything.
    fn unfit(&self, m: &ModelSettings, route_regions: &[String]) -> Option<Exclusion> {
        let caps = &m.capabilities;
        let lacks = |c: &str| !caps.is_empty() && !caps.iter().any(|x| x == c);
        for (need, cap) in [(self.tools, "tools"), (self.vision, "vision"), (self.json, "json")] {
            if need && lacks(cap) {
                return Some(Exclusion::Capability(cap));
            }
        }
        if self.embeddings && (lacks("embeddings") || !m.provider.kind.can_embed()) {
            return Some(Exclusion::NoEmbeddings);
        }
        if let Some(window) = m.context_window {
            // (saturating: a caller's `max_tokens` may be any u64)
            let need = self.prompt_tokens.saturating_add(self.max_output.unwrap_or(0));
            if need > window {
                return Some(Exclusion::ContextWindow { window, need });
            }
        }
        for (filter, what) in [(Some(route_regions), "route"), (self.regions.as_deref(), "request")] {
            let Some(filter) = filter.filter(|f| !f.is_empty()) else { continue };
            if m.region.as_ref().is_none_or(|r| !filter.contains(r)) {
                return Some(Exclusion::Region { region: m.region.clone(), by: what, wanted: filter.to_vec() });
            }
        }
        None
    }

    fn tokens(&self) -> f64 {
        self.prompt_tokens.saturating_add(self.max_output.unwrap_or(0)) as f64
    }
}

/// Why a deployment cannot serve a request.
#[derive(Debug, Clone, PartialEq)]
enum Exclusion {
    Capability(&'static str),
    NoEmbeddings,
    ContextWindow {
        window: u64,
        need: u64,
    },
    /// Its region (if tagged) is not among those the route or request (`by`) wants.
    Region {
        region: Option<String>,
        by: &'static str,
        wanted: Vec<String>,
    },
    /// Its provider cannot be called (the config could not read its key).
    ProviderUnavailable {
        provider: String,
        why: String,
    },
}

impl std::fmt::Display for Exclusion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exclusion::Capability(cap) => write!(f, "no `{cap}` capability"),
            Exclusion::NoEmbeddings => f.write_str("does not embed"),
            Exclusion::ContextWindow { window, need } => write!(f, "context window {window} < ~{need} tokens needed"),
            Exclusion::Region { region: Some(r), by, wanted } => {
                write!(f, "region `{r}` not in the {by}'s regions [{}]", wanted.join(", "))
            }
            Exclusion::Region { region: None, by, wanted } => {
                write!(f, "no region tag; the {by} wants [{}]", wanted.join(", "))
            }
            Exclusion::ProviderUnavailable { provider, why } => {
                write!(f, "provider `{provider}` is unavailable: {why}")
            }
        }
    }
}

pub fn plan(snap: &Snapshot, name: &str, needs: &Needs, health: &Health) -> Result<Plan, GatewayError> {
    if let Some(route) = snap.routes.get(name) {
        return route_plan(route, needs, health);
    }
    let single = if let Some(model) = snap.models.get(name) {
        model.clone()
    } else {
        match name.split_once('/') {
            Some((provider, vendor_model)) if !vendor_model.is_empty() && snap.providers.contains_key(provider) => {
                let p = snap.providers[provider].clone();
                Arc::new(ModelSettings::ad_hoc(p, name.to_string(), vendor_model.to_string()))
            }
            _ => return Err(unknown_model(snap, name)),
        }
    };
    if let Some(why) = needs.exclusion(&single, &[]) {
        return Err(nobody_can(name, &[(single.name.clone(), why)]));
    }
    Ok(Plan {
        route: name.to_string(),
        timing: Timing::default(),
        candidates: vec![single],
        tokens: needs.tokens(),
        foreign_reasoning: Default::default(),
    })
}

fn route_plan(route: &RouteSettings, needs: &Needs, health: &Health) -> Result<Plan, GatewayError> {
    let mut eligible = Vec::new();
    let mut excluded = Vec::new();
    for (i, t) in route.targets.iter().enumerate() {
        match needs.exclusion(t, &route.regions) {
            None => eligible.push((t.clone(), route.weights.get(i).copied().unwrap_or(1))),
            Some(why) => excluded.push((t.name.clone(), why)),
        }
    }
    if eligible.is_empty() {
        return Err(nobody_can(&route.name, &excluded));
    }
    let candidates = order(route.strategy, eligible, needs, health);
    Ok(Plan {
        route: route.name.clone(),
        timing: route.timing,
        candidates,
        tokens: needs.tokens(),
        foreign_reasoning: route.foreign_reasoning,
    })
}

/// Orders eligible targets by the route's strategy.
fn order(
    strategy: Strategy,
    mut eligible: Vec<(Arc<ModelSettings>, u32)>,
    needs: &Needs,
    health: &Health,
) -> Vec<Arc<ModelSettings>> {
    match strategy {
        Strategy::Fallback => {}
        Strategy::Weighted => {
            // Weighted sampling without replacement: each pick by weight among the rest.
            let mut out = Vec::with_capacity(eligible.len());
            while !eligible.is_empty() {
                let total: u64 = eligible.iter().map(|(_, w)| u64::from(*w)).sum();
                let idx = if total == 0 {
                    0
                } else {
                    let mut r = rand::random::<u64>() % total;
                    eligible
                        .iter()
                        .position(|(_, w)| {
                            let w = u64::from(*w);
                            if r < w {
                                true
                            } else {
                                r -= w;
                                false
                            }
                        })
                        .unwrap_or(0)
                };
                out.push(eligible.remove(idx));
            }
            eligible = out;
        }
        Strategy::LeastLatency => {
            // Deployments with no estimate yet go first, so each gets measured.
            let key = |m: &ModelSettings| health.get(m).latency_estimate(needs.stream).unwrap_or(0.0);
            let mut keyed: Vec<(f64, (Arc<ModelSettings>, u32))> =
                eligible.into_iter().map(|e| (key(&e.0), e)).collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
            eligible = keyed.into_iter().map(|(_, e)| e).collect();
        }
        Strategy::Cheapest => {
            let out_tokens = needs.max_output.unwrap_or(EXPECTED_OUTPUT_TOKENS) as f64;
            let cost = |m: &ModelSettings| match m.price {
                Some(p) => (needs.prompt_tokens as f64 * p.input + out_tokens * p.output) / 1e6,
                None => f64::INFINITY,
            };
            eligible.sort_by(|a, b| cost(&a.0).total_cmp(&cost(&b.0)));
        }
    }
    eligible.into_iter().map(|(m, _)| m).collect()
}

/// Output length assumed by `cheapest` when the caller sets no `max_tokens`.
const EXPECTED_OUTPUT_TOKENS: u64 = 256;

fn nobody_can(route: &str, excluded: &[(String, Exclusion)]) -> GatewayError {
    let why: Vec<String> = excluded.iter().map(|(n, w)| format!("{n}: {w}")).collect();
    if excluded.iter().any(|(_, w)| matches!(w, Exclusion::ProviderUnavailable { .. })) {
        // A target would serve it if its provider were available: the operator's to fix.
        return GatewayError::ProviderUnavailable {
            message: format!("no target of `{route}` is available: {}", why.join("; ")),
        };
    }
    let all = |f: fn(&Exclusion) -> bool| excluded.iter().all(|(_, w)| f(w));
    let code = if all(|w| matches!(w, Exclusion::ContextWindow { .. })) {
        "context_length_exceeded"
    } else if all(|w| *w == Exclusion::NoEmbeddings) {
        "unsupported_endpoint"
    } else {
        "no_eligible_target"
    };
    GatewayError::NoEligibleTarget {
        message: format!("no target of `{route}` can serve this request: {}", why.join("; ")),
        code,
    }
}

fn unknown_model(snap: &Snapshot, name: &str) -> GatewayError {
    let routes: Vec<&str> = snap.routes.keys().map(String::as_str).collect();
    let models: Vec<&str> = snap.models.keys().map(String::as_str).collect();
    let providers: Vec<String> = snap.providers.keys().map(|p| format!("{p}/<model>")).collect();
    GatewayError::UnknownModel {
        message: format!(
            "unknown model `{name}`; known routes: [{}], models: [{}], or a provider's model as [{}]",
            routes.join(", "),
            models.join(", "),
            providers.join(", ")
        ),
    }
}
