//! The router: one pipeline per request, each step with one entry point:
//! admit (`admit`: caller, plan, limits, deadline) -> produce (`cache_step` for a cached
//! route, else the attempt loop directly: both end in the same `attempt::run`) -> deliver
//! (`deliver`: the one place a whole answer and a stream part). The request object
//! (`request::Tracked`) goes along and is finished explicitly when the answer is complete.
//! Fronts call only this module; it calls providers through the attempt loop, and returns
//! `GatewayError`, which each front maps once.
//!
//! The live state (config snapshot + built providers) sits behind an `ArcSwap`: each request
//! loads it once and keeps that `Arc` to the end, so a swap never changes a request in flight.

pub mod accounting;
mod admit;
mod attempt;
pub mod breaker;
mod cache_step;
mod count;
mod deliver;
mod experiment;
mod failed;
mod feedback;
pub mod health;
pub mod meta;
mod plan;
mod produce;
mod prompt_step;
pub mod request;
mod shadow;
mod stream;
mod stream_rate;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::api::error::GatewayError;
use crate::api::ids::unix_now;
use crate::api::{ChatRequest, ChatResponse, EmbeddingsRequest};
use crate::config::Snapshot;
use crate::control::{ReloadRecord, ReloadResult};
use crate::providers::Provider;
use crate::status::{ConfigStatus, ProviderStatus, RequestCounts, Status};
use attempt::Job;
pub use count::TokenCount;
pub use meta::Meta;
pub use plan::Plan;
use request::Tracked;
pub use stream::ChatStream;

/// Per-call options from either front (HTTP headers or native `options`).
#[derive(Debug, Default, Clone)]
pub struct CallOptions {
    /// Route override (`x-sidegate-route`, native `route`).
    pub route: Option<String>,
    /// The caller's own deadline, if shorter than the route's.
    pub timeout: Option<Duration>,
    /// Application tag for logs.
    pub label: Option<String>,
    /// Only deployments tagged with one of these regions (`x-sidegate-regions`).
    pub regions: Option<Vec<String>>,
    /// `cache-control: no-cache | no-store`, native `cache`.
    pub cache: crate::cache::Directive,
    /// Who is calling, as the front established it (peer credentials or a bearer key).
    pub credential: crate::callers::Credential,
    /// The id the front gave the request (`x-sidegate-request-id`, logs, the ledger).
    pub request_id: String,
    /// The API the request came in as (the log line, the ledger, metrics).
    pub dialect: crate::wire::native::Dialect,
    /// A prompt file to render in front of the request's messages (`prompt` in the body,
    /// `x-sidegate-prompt`, native `prompt`).
    /// (Read by the front; a malformed one is the message of the caller's 400.)
    pub prompt: Option<Result<crate::prompts::PromptRef, String>>,
    /// What a route's experiment variant sticks to instead of the caller
    /// (`x-sidegate-episode`, native `episode`).
    pub episode: Option<String>,
}

/// A chat answer: whole, or a committed stream.
pub enum ChatAnswer {
    Full(Box<ChatResponse>, Meta),
    Stream(ChatStream),
}

/// Config snapshot plus the providers built from it.
pub struct Live {
    pub snapshot: Arc<Snapshot>,
    providers: BTreeMap<String, Arc<Provider>>,
}

impl Live {
    /// Builds every provider of `snapshot`. A provider whose settings equal those in `prev`
    /// (the config being replaced) is reused as is, connection pool included.
    pub fn build(snapshot: Snapshot, prev: Option<&Live>) -> Result<Self, BuildError> {
        let mut providers = BTreeMap::new();
        for (name, settings) in &snapshot.providers {
            let reused = prev.and_then(|p| {
                let old = p.snapshot.providers.get(name)?;
                (**old == **settings).then(|| p.providers.get(name).cloned()).flatten()
            });
            let p = match reused {
                Some(p) => p,
                None => Arc::new(
                    Provider::build(settings)
                        .map_err(|e| BuildError { provider: name.clone(), message: e.to_string() })?,
                ),
            };
            providers.insert(name.clone(), p);
        }
        Ok(Live { snapshot: Arc::new(snapshot), providers })
    }

    fn provider(&self, name: &str) -> Option<&Provider> {
        self.providers.get(name).map(Arc::as_ref)
    }
}

/// A route as an entry of OpenAI's model list.
fn route_entry(r: &Arc<crate::config::RouteSettings>) -> Value {
    let targets: Vec<&str> = r.targets.iter().map(|t| t.name.as_str()).collect();
    json!({"id": r.name, "object": "model", "created": 0, "owned_by": "sidegate",
        "sidegate": {"kind": "route", "targets": targets}})
}

/// A configured model (deployment) as an entry of OpenAI's model list.
fn model_entry(m: &crate::config::ModelSettings) -> Value {
    json!({"id": m.name, "object": "model", "created": 0, "owned_by": m.provider.name,
        "sidegate": {"kind": "model", "provider": m.provider.name, "vendor_model": m.vendor_model,
                     "context_window": m.context_window, "capabilities": m.capabilities}})
}

/// A provider whose adapter could not be built (an invalid key header, a TLS setup error).
#[derive(Debug, Clone, thiserror::Error)]
#[error("provider `{provider}`: {message}")]
pub struct BuildError {
    pub provider: String,
    pub message: String,
}

/// Counters for `status`.
#[derive(Default)]
pub struct Stats {
    pub requests: AtomicU64,
    pub failures: AtomicU64,
    pub in_flight: AtomicU64,
}

pub struct Gateway {
    live: ArcSwap<Live>,
    /// When the current config was loaded (unix seconds), and the last reload's result.
    loaded_at: std::sync::atomic::AtomicU64,
    last_reload: std::sync::Mutex<Option<ReloadRecord>>,
    /// Per-deployment breakers, latency estimates and limiters; outlives config snapshots.
    health: Arc<health::Health>,
    /// The response cache; outlives config snapshots too.
    cache: Arc<crate::cache::Cache>,
    /// Caller limits and budgets, the usage ledger, metrics.
    pub accounting: Arc<accounting::Accounting>,
    pub stats: Arc<Stats>,
    /// Stored OpenAI Responses answers (`store`, `previous_response_id`); outlives snapshots.
    pub responses: Arc<crate::response_store::ResponseStore>,
    /// Shadow variants' calls in flight and daily budgets; outlives snapshots.
    shadows: shadow::Shadows,
    started: std::time::Instant,
}

impl Gateway {
    /// A gateway over `live`; `ledger` records usage (None: no state directory, or disabled).
    pub fn new(live: Live, ledger: Option<crate::usage::Ledger>) -> Self {
        let shared = &live.snapshot.shared;
        let fleet = shared.redis.as_ref().map(|r| crate::fleet::Fleet::new(r, &shared.fleet));
        let health =
            Arc::new(health::Health::with_signal(live.snapshot.breaker, fleet.as_ref().and_then(|f| f.signal())));
        if let Some(f) = &fleet {
            f.note_config(&live.snapshot.version);
            if tokio::runtime::Handle::try_current().is_ok() {
                f.start(health.clone());
            }
        }
        Gateway {
            accounting: Arc::new(accounting::Accounting {
                ledger,
                shared: fleet.as_ref().map(|f| f.limits.clone()),
                fleet,
                ..Default::default()
            }),
            health,
            cache: Arc::new(crate::cache::Cache::new(&live.snapshot)),
            live: ArcSwap::from_pointee(live),
            stats: Arc::default(),
            responses: Arc::new(crate::response_store::ResponseStore::in_memory()),
            shadows: shadow::Shadows::default(),
            started: std::time::Instant::now(),
            loaded_at: std::sync::atomic::AtomicU64::new(unix_now()),
            last_reload: std::sync::Mutex::new(None),
        }
    }

    /// The gateway with `store` as its Responses store (the daemon opens it from the config).
    pub fn with_response_store(mut self, store: crate::response_store::ResponseStore) -> Self {
        self.responses = Arc::new(store);
        self
    }

    /// Swaps in a new config. Requests in flight keep the snapshot they started with; health
    /// state of deployments that did not change is kept (it is keyed by their fingerprint).
    pub fn swap(&self, live: Live) {
        let keep: std::collections::HashSet<String> =
            live.snapshot.models.values().map(|m| m.fingerprint().to_owned()).collect();
        if let Some(f) = &self.accounting.fleet {
            f.note_config(&live.snapshot.version);
        }
        self.live.store(Arc::new(live));
        self.loaded_at.store(unix_now(), Ordering::Relaxed);
        // Ad-hoc `provider/model` deployments have no config entry; keep theirs too.
        self.health.retain(&|k: &str| keep.contains(k) || k.split('|').next().is_some_and(|n| n.contains('/')));
    }

    /// `GET /metrics`: the registry, with the gauges that mirror live state set first.
    pub fn metrics_text(&self) -> String {
        let m = &self.accounting.metrics;
        m.in_flight.set(self.stats.in_flight.load(Ordering::Relaxed) as i64);
        for d in self.health.report() {
            let deployment = crate::usage::metrics::Deployment { deployment: d.name };
            m.breaker_open.get_or_create(&deployment).set(i64::from(d.breaker != "closed"));
            m.deployment_in_flight.get_or_create(&deployment).set(i64::from(d.in_flight));
        }
        for t in self.cache.report().tiers() {
            m.set_cache_tier(t.tier, t.entries, t.bytes, t.hits);
        }
        m.set_budgets(&self.current().snapshot.callers, self.accounting.ledger.as_ref());
        if let Some(l) = &self.accounting.ledger {
            m.set_ledger(&l.report());
        }
        m.encode()
    }

    pub fn record_reload(&self, r: ReloadRecord) {
        if r.result != ReloadResult::Unchanged {
            let label = crate::usage::metrics::ReloadResult { result: r.result.as_str() };
            self.accounting.metrics.reloads.get_or_create(&label).inc();
        }
        *self.last_reload.lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
    }

    /// The errors of the last reload, if it failed.
    pub fn last_reload_errors(&self) -> Option<Vec<String>> {
        let g = self.last_reload.lock().unwrap_or_else(|p| p.into_inner());
        g.as_ref().filter(|r| r.result == ReloadResult::Failed).map(|r| r.errors.clone())
    }

    /// Commits the disk cache's pending writes (blocking, up to `within`); for the end of a
    /// graceful shutdown, after requests have drained.
    pub fn flush_cache(&self, within: Duration) -> bool {
        self.cache.flush(within)
    }

    pub fn current(&self) -> Arc<Live> {
        self.live.load_full()
    }

    /// A chat request through the pipeline: admit, produce (cache or attempt loop), deliver.
    pub async fn chat(&self, mut req: ChatRequest, mut opts: CallOptions) -> Result<ChatAnswer, GatewayError> {
        // One snapshot for the whole request: a reload in between cannot give the experiment,
        // the prompt and the plan three different configs.
        let live = self.current();
        let assigned = experiment::assign(&live.snapshot, &req, &mut opts);
        let valid = match opts.prompt.take() {
            None => req.validate(),
            Some(Err(message)) => Err((message, "prompt")),
            Some(Ok(r)) => match prompt_step::render(&live.snapshot.prompts, &r, &mut req) {
                Ok(()) => req.validate(),
                Err(message) => Err((message, "prompt")),
            },
        };
        let asked = opts.route.as_deref().unwrap_or(&req.model);
        let route = experiment::Assigned::target(assigned.as_ref()).unwrap_or(asked);
        req.prompt_cache = live.snapshot.routes.get(route).is_some_and(|r| r.prompt_cache.is_auto());
        let needs = plan::Needs::chat(&req, opts.regions.take());
        let (t, produced) = self.produce(live, Job::chat(&req), valid, needs, &mut opts, assigned.as_ref()).await?;
        if let Some(a) = assigned {
            self.launch_shadows(a, &t);
        }
        let caller_deadline = opts.timeout.map(|d| Instant::now() + d.saturating_sub(t.started.elapsed()));
        deliver::chat(t, produced, &req, caller_deadline)
    }

    /// An embeddings request through the same pipeline.
    pub async fn embeddings(
        &self,
        req: EmbeddingsRequest,
        mut opts: CallOptions,
    ) -> Result<(Value, Meta), GatewayError> {
        let needs = plan::Needs::embeddings(&req, opts.regions.take());
        let valid = match opts.prompt.take() {
            None => req.validate(),
            Some(_) => {
                Err(("a prompt file renders chat messages; an embeddings request cannot name one".into(), "prompt"))
            }
        };
        let (t, produced) = self.produce(self.current(), Job::Embed(&req), valid, needs, &mut opts, None).await?;
        deliver::embeddings(t, produced)
    }

    /// The pipeline up to delivery: the request's record, its check, admission, and its
    /// answer from the cache step (a cached route) or the attempt loop. A failure at any
    /// step finishes the record with it.
    async fn produce(
        &self,
        live: Arc<Live>,
        job: Job<'_>,
        valid: Result<(), (String, &'static str)>,
        needs: plan::Needs,
        opts: &mut CallOptions,
        assigned: Option<&experiment::Assigned>,
    ) -> Result<(Tracked, produce::Produced), GatewayError> {
        let stream = matches!(job, Job::Stream(_));
        let mut t =
            Tracked::start(&self.stats, std::mem::take(&mut opts.request_id), opts.label.take(), stream, opts.dialect);
        if let Job::Complete(r) | Job::Stream(r) = &job {
            t.prompt = r.prompt.as_ref().map(|p| p.id.clone());
        }
        valid.map_err(|(m, p)| t.fail(GatewayError::invalid(m, Some(p))))?;
        let name = opts.route.as_deref().unwrap_or(job.model());
        let target = experiment::Assigned::target(assigned).unwrap_or(name);
        t.variant = experiment::Assigned::variant_name(assigned);
        let admitted =
            match admit::admit(&self.accounting, &self.health, &live, &needs, opts, (name, target), &mut t).await {
                Ok(a) => a,
                Err(e) => return Err(t.fail(e)),
            };
        let produced = match cache_step::settings(&self.cache, &live, &admitted.plan, opts.cache) {
            None => produce::direct(&live, &self.health, &admitted, job).await,
            Some(rc) => cache_step::produce(&self.cache, &self.health, &live, &admitted, rc, opts.cache, job).await,
        };
        match produced {
            Ok(p) => Ok((t, p)),
            Err(e) => Err(t.fail(e)),
        }
    }

    /// `GET /v1/models`: routes and configured models, OpenAI's list shape.
    pub fn models(&self) -> Value {
        let live = self.current();
        let snap = &live.snapshot;
        let routes = snap.routes.values().map(route_entry);
        let data: Vec<Value> = routes.chain(snap.models.values().map(|m| model_entry(m))).collect();
        json!({"object": "list", "data": data})
    }

    /// `GET /v1/models/{id}`: the entry of one route or configured model, if there is one.
    pub fn model(&self, id: &str) -> Option<Value> {
        let live = self.current();
        let snap = &live.snapshot;
        snap.routes.get(id).map(route_entry).or_else(|| snap.models.get(id).map(|m| model_entry(m)))
    }

    /// What `sidegate status` shows (and `GET /status`).
    pub fn status(&self) -> Status {
        let live = self.current();
        let snap = &live.snapshot;
        let providers = snap
            .providers
            .values()
            .map(|p| ProviderStatus {
                name: p.name.clone(),
                kind: p.kind.as_str().to_string(),
                region: p.region.clone(),
                base_url: p.http.as_ref().map(|h| crate::secret::redact_url(&h.base_url)),
                unavailable: p.unavailable.clone(),
            })
            .collect();
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Status {
            version: env!("CARGO_PKG_VERSION").to_string(),
            pid: std::process::id(),
            uptime_s: self.started.elapsed().as_secs(),
            rss_bytes: crate::sys::rss_bytes(),
            config: ConfigStatus {
                source: snap.source.to_string(),
                version: snap.version.clone(),
                loaded_at: self.loaded_at.load(Ordering::Relaxed),
                last_reload: self.last_reload.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            },
            requests: RequestCounts {
                total: n(&self.stats.requests),
                failed: n(&self.stats.failures),
                in_flight: n(&self.stats.in_flight),
            },
            providers,
            deployments: self.health.report(),
            cache: self.cache.report(),
            models: snap.models.keys().cloned().collect(),
            routes: snap.routes.keys().cloned().collect(),
            responses: self.responses.report(),
            ledger: self.accounting.ledger.as_ref().map(crate::usage::Ledger::report),
            fleet: self.accounting.fleet.as_ref().map(|f| f.report()),
        }
    }
}
