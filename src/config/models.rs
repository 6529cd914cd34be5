//! `[models.NAME]`: deployments, each a provider account plus the vendor's model id and facts
//! about it (context window, price, capabilities, region, client-side limits).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;

use super::context::ResolveCx;
use super::providers::{ProviderFile, ProviderSettings, UpstreamApi, resolve_api};
use crate::api::reasoning::{Control, Effort};
use crate::callers::prices::Price;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFile {
    pub provider: String,
    pub model: String,
    pub context_window: Option<u64>,
    pub price: Option<PriceFile>,
    #[serde(default)]
    pub capabilities: Vec<String>,
    pub region: Option<String>,
    /// Calls in flight at once to this deployment (client-side limit).
    pub max_concurrent: Option<u32>,
    /// Requests per minute sidegate sends at most (client-side rate limit).
    pub rpm: Option<u32>,
    /// Tokens per minute (estimated prompt + requested output) sidegate sends at most.
    pub tpm: Option<u64>,
    /// "chat" or "responses": overrides the provider's `api` for this deployment.
    pub api: Option<String>,
    /// How this model takes reasoning, overriding the built-in effort table.
    pub reasoning: Option<ReasoningFile>,
}

/// `[models.X.reasoning]`: `levels = ["low", "high"]` (a level control: OpenAI effort,
/// Gemini 3 thinkingLevel, Anthropic adaptive thinking), or `budget = [min, max]` with
/// `can_off` (a token budget: Anthropic budget_tokens, Gemini 2.5 thinkingBudget), or
/// `none = true` (the model takes no reasoning control).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReasoningFile {
    pub levels: Option<Vec<String>>,
    pub budget: Option<[u64; 2]>,
    #[serde(default)]
    pub can_off: bool,
    #[serde(default)]
    pub none: bool,
}

/// `price = { input = 3.0, output = 15.0 }`, USD per 1M tokens, optionally with the prices a
/// vendor bills apart: `cache_read`, `cache_write` (5-minute TTL), `cache_write_1h` and
/// `reasoning`. It replaces the built-in entry whole: an absent one takes its default
/// (`input` for cache reads and writes, `cache_write` for 1-hour writes, `output` for
/// reasoning), not the built-in table's.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceFile {
    pub input: f64,
    pub output: f64,
    pub cache_read: Option<f64>,
    pub cache_write: Option<f64>,
    pub cache_write_1h: Option<f64>,
    pub reasoning: Option<f64>,
}

impl PriceFile {
    fn price(&self) -> Price {
        Price {
            input: self.input,
            output: self.output,
            cache_read: self.cache_read,
            cache_write: self.cache_write,
            cache_write_1h: self.cache_write_1h,
            reasoning: self.reasoning,
            context_window: None,
        }
    }
}

/// A deployment: a provider account plus the vendor's model id and facts about it.
#[derive(Debug, Clone)]
pub struct ModelSettings {
    pub name: String,
    pub provider: Arc<ProviderSettings>,
    pub vendor_model: String,
    pub context_window: Option<u64>,
    /// The configured `price` (None: the built-in table's, if it knows the model).
    pub price: Option<Price>,
    pub capabilities: Vec<String>,
    pub region: Option<String>,
    pub limits: Limits,
    /// The OpenAI endpoint this deployment is called through (the model's `api`, else the
    /// provider's; always `Chat` for kinds that are not OpenAI-shaped).
    pub api: UpstreamApi,
    /// The configured reasoning control (`[models.X.reasoning]`); None: the effort table's.
    pub reasoning: Option<Control>,
    /// `fingerprint()`, worked out once when the settings are made (they do not change after).
    fingerprint: String,
}

impl ModelSettings {
    /// A deployment named in a request as `provider/model`: a configured provider and the
    /// vendor's model id, with no facts beyond the provider's region.
    pub fn ad_hoc(provider: Arc<ProviderSettings>, name: String, vendor_model: String) -> Self {
        ModelSettings {
            name,
            api: provider_api(&provider),
            region: provider.region.clone(),
            provider,
            vendor_model,
            context_window: None,
            price: None,
            capabilities: Vec::new(),
            limits: Limits::default(),
            reasoning: None,
            fingerprint: String::new(),
        }
        .fingerprinted()
    }

    /// Identity of the deployment for its health state: a reload that leaves everything about
    /// it unchanged keeps its breaker, latency estimate and limiter. Read per request, so it
    /// is made once, not formatted on each call.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    fn fingerprinted(mut self) -> Self {
        self.fingerprint = format!(
            "{}|{}|{:?}|{}|{:?}|{:?}",
            self.name,
            self.provider.name,
            self.provider.kind,
            self.vendor_model,
            self.limits,
            self.provider.http.as_ref().map(|h| &h.base_url)
        );
        // Another endpoint is another deployment for health state (chat keeps its old key).
        if self.api != UpstreamApi::Chat {
            self.fingerprint.push('|');
            self.fingerprint.push_str(self.api.as_str());
        }
        self
    }
}

/// The provider's `api` (Chat for providers that have no HTTP settings).
fn provider_api(p: &ProviderSettings) -> UpstreamApi {
    p.http.as_ref().map_or(UpstreamApi::Chat, |h| h.api)
}

/// Client-side limits of one deployment, so sidegate itself never causes a vendor's 429.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    pub max_concurrent: Option<u32>,
    pub rpm: Option<u32>,
    pub tpm: Option<u64>,
}

const CAPABILITIES: [&str; 5] = ["tools", "vision", "json", "streaming", "embeddings"];

/// Every model whose provider resolved. A model naming a provider that is not in the file is
/// an error; one whose provider is in error is left out silently (reported there).
pub(super) fn resolve_models(
    cx: &mut ResolveCx<'_>,
    raw: &BTreeMap<String, ModelFile>,
    raw_providers: &BTreeMap<String, ProviderFile>,
    providers: &BTreeMap<String, Arc<ProviderSettings>>,
) -> BTreeMap<String, Arc<ModelSettings>> {
    let mut models = BTreeMap::new();
    for (name, m) in raw {
        cx.check_name(&["models", name], name);
        let Some(provider) = providers.get(&m.provider) else {
            if !raw_providers.contains_key(&m.provider) {
                let known = raw_providers.keys().cloned().collect::<Vec<_>>().join(", ");
                cx.err(&["models", name, "provider"], format!("unknown provider `{}` (known: {known})", m.provider));
            }
            continue;
        };
        check_model(cx, name, m);
        let api = resolve_api(cx, &["models", name, "api"], provider.kind, m.api.as_deref())
            .unwrap_or_else(|| provider_api(provider));
        models.insert(
            name.clone(),
            Arc::new(
                ModelSettings {
                    name: name.clone(),
                    provider: provider.clone(),
                    vendor_model: m.model.clone(),
                    context_window: m.context_window,
                    price: m.price.as_ref().map(PriceFile::price),
                    capabilities: m.capabilities.clone(),
                    region: m.region.clone().or_else(|| provider.region.clone()),
                    limits: Limits { max_concurrent: m.max_concurrent, rpm: m.rpm, tpm: m.tpm },
                    api,
                    reasoning: m.reasoning.as_ref().and_then(|r| reasoning_control(cx, name, r)),
                    fingerprint: String::new(),
                }
                .fingerprinted(),
            ),
        );
    }
    models
}

fn check_model(cx: &mut ResolveCx<'_>, name: &str, m: &ModelFile) {
    if m.model.is_empty() {
        cx.err(&["models", name, "model"], "must not be empty");
    }
    if let Some(price) = &m.price {
        for (field, problem) in price.price().problems() {
            cx.err(&["models", name, "price", field], problem);
        }
    }
    for (i, cap) in m.capabilities.iter().enumerate() {
        if !CAPABILITIES.contains(&cap.as_str()) {
            let idx = i.to_string();
            cx.err(
                &["models", name, "capabilities", &idx],
                format!("unknown capability `{cap}` (known: {})", CAPABILITIES.join(", ")),
            );
        }
    }
}

#[cfg(test)]
#[path = "price_tests.rs"]
mod price_tests;

/// `[models.X.reasoning]` as a control; exactly one of `levels`, `budget`, `none`.
fn reasoning_control(cx: &mut ResolveCx<'_>, name: &str, r: &ReasoningFile) -> Option<Control> {
    let at = ["models", name, "reasoning"];
    let set = usize::from(r.levels.is_some()) + usize::from(r.budget.is_some()) + usize::from(r.none);
    if set != 1 {
        cx.err(&at, "set exactly one of `levels`, `budget` or `none = true`");
        return None;
    }
    if r.none {
        return Some(Control::None);
    }
    if let Some([min, max]) = r.budget {
        if min > max {
            cx.err(&at, format!("budget = [{min}, {max}]: the minimum is above the maximum"));
            return None;
        }
        return Some(Control::Budget { min, max, can_off: r.can_off });
    }
    let names = r.levels.as_deref().unwrap_or_default();
    let mut levels = Vec::with_capacity(names.len());
    for (i, l) in names.iter().enumerate() {
        match Effort::parse(l) {
            Some(e) => levels.push(e),
            None => {
                let known: Vec<&str> = Effort::ALL.iter().map(|e| e.as_str()).collect();
                let idx = i.to_string();
                cx.err(
                    &["models", name, "reasoning", "levels", &idx],
                    format!("unknown reasoning level `{l}` (known: {})", known.join(", ")),
                );
            }
        }
    }
    if names.is_empty() {
        cx.err(&at, "`levels` must name at least one level");
    }
    (levels.len() == names.len() && !levels.is_empty()).then_some(Control::Levels(levels))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::path::Path;

    use crate::api::reasoning::{Control, Effort, ForeignReasoning};
    use crate::config::{Env, parse};

    struct TestEnv;

    impl Env for TestEnv {
        fn var(&self, name: &str) -> Option<String> {
            (name == "XDG_RUNTIME_DIR").then(|| "/run/user/1000".to_string())
        }
        fn uid(&self) -> u32 {
            1000
        }
    }

    const BASE: &str = "[providers.m]\nkind = \"mock\"\n[models.x]\nprovider = \"m\"\nmodel = \"echo\"\n";

    fn errors(extra: &str) -> String {
        match parse(&format!("{BASE}{extra}"), Path::new("t.toml"), &TestEnv) {
            Ok(_) => String::new(),
            Err(e) => e.0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"),
        }
    }

    #[test]
    fn a_models_reasoning_control_is_read_and_checked() {
        let s =
            parse(&format!("{BASE}reasoning = {{ levels = [\"low\", \"max\"] }}\n"), Path::new("t"), &TestEnv).unwrap();
        assert_eq!(s.models["x"].reasoning, Some(Control::Levels(vec![Effort::Low, Effort::Xhigh])));
        let s = parse(
            &format!("{BASE}reasoning = {{ budget = [1024, 8000], can_off = true }}\n"),
            Path::new("t"),
            &TestEnv,
        )
        .unwrap();
        assert_eq!(s.models["x"].reasoning, Some(Control::Budget { min: 1024, max: 8000, can_off: true }));
        let s = parse(&format!("{BASE}reasoning = {{ none = true }}\n"), Path::new("t"), &TestEnv).unwrap();
        assert_eq!(s.models["x"].reasoning, Some(Control::None));
        assert!(parse(BASE, Path::new("t"), &TestEnv).unwrap().models["x"].reasoning.is_none());

        let e = errors("reasoning = { levels = [\"low\", \"ultra\"] }\n");
        assert!(e.contains("models.x.reasoning.levels.1") && e.contains("unknown reasoning level `ultra`"), "{e}");
        let e = errors("reasoning = { budget = [9000, 100] }\n");
        assert!(e.contains("the minimum is above the maximum"), "{e}");
        let e = errors("reasoning = { levels = [\"low\"], none = true }\n");
        assert!(e.contains("exactly one of"), "{e}");
        let e = errors("reasoning = { levels = [] }\n");
        assert!(e.contains("at least one level"), "{e}");
        let e = errors("reasoning = { level = [\"low\"] }\n");
        assert!(e.contains("level"), "an unknown key is named: {e}");
    }

    #[test]
    fn a_routes_foreign_reasoning_is_drop_or_text() {
        let route = |v: &str| format!("{BASE}[routes.r]\ntargets = [\"x\"]\n{v}");
        let s = parse(&route(""), Path::new("t"), &TestEnv).unwrap();
        assert_eq!(s.routes["r"].foreign_reasoning, ForeignReasoning::Drop);
        let s = parse(&route("foreign_reasoning = \"text\"\n"), Path::new("t"), &TestEnv).unwrap();
        assert_eq!(s.routes["r"].foreign_reasoning, ForeignReasoning::Text);
        let e = match parse(&route("foreign_reasoning = \"keep\"\n"), Path::new("t"), &TestEnv) {
            Err(e) => e.0.iter().map(|e| e.to_string()).collect::<String>(),
            Ok(_) => String::new(),
        };
        assert!(e.contains("routes.r.foreign_reasoning") && e.contains("known: drop, text"), "{e}");
    }
}
