//! The router: resolves what a request asks for into a plan, runs the attempt loop, and hands
//! the fronts an answer (whole, or a stream past its commit point) plus its `Meta`. Fronts
//! call only this module; it calls providers through the attempt loop.
//!
//! The live state (config snapshot + built providers) sits behind an `ArcSwap`: each request
//! loads it once and keeps that `Arc` to the end, so a swap never changes a request in flight.

pub mod accounting;
mod attempt;
pub mod breaker;
mod cached;
pub mod health;
pub mod limiter;
pub mod meta;
mod plan;
mod stream;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::api::{ApiError, ChatRequest, ChatResponse, EmbeddingsRequest};
use crate::config::Snapshot;
use crate::providers::Provider;
pub use meta::Meta;
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
    pub fn build(snapshot: Snapshot, prev: Option<&Live>) -> Result<Self, String> {
        let mut providers = BTreeMap::new();
        for (name, settings) in &snapshot.providers {
            let reused = prev.and_then(|p| {
                let old = p.snapshot.providers.get(name)?;
                (**old == **settings).then(|| p.providers.get(name).cloned()).flatten()
            });
            let p = match reused {
                Some(p) => p,
                None => Arc::new(Provider::build(settings).map_err(|e| format!("provider `{name}`: {e}"))?),
            };
            providers.insert(name.clone(), p);
        }
        Ok(Live { snapshot: Arc::new(snapshot), providers })
    }

    fn provider(&self, name: &str) -> Option<&Provider> {
        self.providers.get(name).map(Arc::as_ref)
    }
}

/// Counters for `status`.
#[derive(Default)]
pub struct Stats {
    pub requests: AtomicU64,
    pub failures: AtomicU64,
    pub in_flight: AtomicU64,
}

/// What the last reload did, for `status`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReloadRecord {
    /// Unix time (seconds).
    pub at: u64,
    /// `sighup`, `file`, `admin`, `poll`.
    pub cause: &'static str,
    /// `applied`, `unchanged` or `failed`.
    pub result: &'static str,
    /// Validation or build errors, each `file:line:col: key: message`.
    pub errors: Vec<String>,
}

/// A `sidegate reload` request: the daemon answers on the channel when the reload is done.
pub type ReloadRequest = tokio::sync::oneshot::Sender<ReloadRecord>;

pub struct Gateway {
    live: ArcSwap<Live>,
    /// When the current config was loaded (unix seconds), and the last reload's result.
    loaded_at: std::sync::atomic::AtomicU64,
    last_reload: std::sync::Mutex<Option<ReloadRecord>>,
    /// Where `reload` requests go (set by the daemon).
    reloads: std::sync::OnceLock<tokio::sync::mpsc::Sender<ReloadRequest>>,
    /// Per-deployment breakers, latency estimates and limiters; outlives config snapshots.
    health: Arc<health::Health>,
    /// The response cache; outlives config snapshots too.
    cache: Arc<crate::cache::Cache>,
    /// Caller limits and budgets, the usage ledger, metrics.
    pub accounting: Arc<accounting::Accounting>,
    pub stats: Arc<Stats>,
    started: std::time::Instant,
}

impl Gateway {
    /// A gateway over `live`; `ledger` records usage (None: no state directory, or disabled).
    pub fn new(live: Live, ledger: Option<crate::usage::Ledger>) -> Self {
        Gateway {
            accounting: Arc::new(accounting::Accounting {
                ledger,
                shared: live.snapshot.shared.redis.as_ref().map(crate::callers::shared::SharedLimits::new),
                ..Default::default()
            }),
            health: Arc::new(health::Health::new(live.snapshot.breaker)),
            cache: Arc::new(crate::cache::Cache::new(&live.snapshot)),
            live: ArcSwap::from_pointee(live),
            stats: Arc::default(),
            started: std::time::Instant::now(),
            loaded_at: std::sync::atomic::AtomicU64::new(unix_now()),
            last_reload: std::sync::Mutex::new(None),
            reloads: std::sync::OnceLock::new(),
        }
    }

    /// Swaps in a new config. Requests in flight keep the snapshot they started with; health
    /// state of deployments that did not change is kept (it is keyed by their fingerprint).
    pub fn swap(&self, live: Live) {
        let keep: std::collections::HashSet<String> = live.snapshot.models.values().map(|m| m.fingerprint()).collect();
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
            let deployment =
                crate::usage::metrics::Deployment { deployment: d["name"].as_str().unwrap_or("").to_string() };
            m.breaker_open.get_or_create(&deployment).set(i64::from(d["breaker"] != "closed"));
            m.deployment_in_flight.get_or_create(&deployment).set(d["in_flight"].as_i64().unwrap_or(0));
        }
        let cache = self.cache.report();
        for tier in ["memory", "disk", "redis"] {
            let t = &cache[tier];
            m.set_cache_tier(tier, t["entries"].as_u64(), t["bytes"].as_u64(), t["hits"].as_u64());
        }
        m.encode()
    }

    pub fn record_reload(&self, r: ReloadRecord) {
        if r.result != "unchanged" {
            self.accounting
                .metrics
                .reloads
                .get_or_create(&crate::usage::metrics::ReloadResult { result: r.result })
                .inc();
        }
        *self.last_reload.lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
    }

    /// The errors of the last reload, if it failed.
    pub fn last_reload_errors(&self) -> Option<Vec<String>> {
        let g = self.last_reload.lock().unwrap_or_else(|p| p.into_inner());
        g.as_ref().filter(|r| r.result == "failed").map(|r| r.errors.clone())
    }

    /// Connects `sidegate reload` requests to the daemon's reload loop.
    pub fn set_reload_channel(&self, tx: tokio::sync::mpsc::Sender<ReloadRequest>) {
        let _ = self.reloads.set(tx);
    }

    /// Asks the daemon to reload now and waits for the result.
    pub async fn request_reload(&self) -> Result<ReloadRecord, ApiError> {
        let tx = self.reloads.get().ok_or_else(|| ApiError::internal("this daemon cannot reload"))?;
        let (reply, wait) = tokio::sync::oneshot::channel();
        tx.send(reply).await.map_err(|_| ApiError::internal("the reload loop is gone"))?;
        wait.await.map_err(|_| ApiError::internal("the reload was abandoned"))
    }

    /// Commits the disk cache's pending writes (blocking, up to `within`); for the end of a
    /// graceful shutdown, after requests have drained.
    pub fn flush_cache(&self, within: Duration) -> bool {
        self.cache.flush(within)
    }

    pub fn current(&self) -> Arc<Live> {
        self.live.load_full()
    }

    /// Everything a request goes through before any vendor call: who is asking and whether
    /// they may use `name`, the plan, the caller's limits and budget (on this host, then
    /// across hosts), and the deadline.
    async fn admit(
        &self,
        live: &Live,
        name: &str,
        needs: &plan::Needs,
        opts: &CallOptions,
        log: &mut stream::RequestLog,
    ) -> Result<(plan::Plan, Instant), ApiError> {
        let snap = &live.snapshot;
        self.accounting.authorize(snap, &opts.credential, name, log)?;
        let plan = plan::plan(snap, name, needs, &self.health)?;
        log.route = plan.route.clone();
        self.accounting.admit(snap, &plan.candidates, plan.tokens, needs.prompt_tokens, needs.max_output, log)?;
        self.accounting.admit_shared(snap, plan.tokens, log).await?;
        let deadline = Instant::now() + opts.timeout.map_or(plan.timing.timeout, |t| t.min(plan.timing.timeout));
        Ok((plan, deadline))
    }

    pub async fn chat(&self, req: ChatRequest, opts: CallOptions) -> Result<ChatAnswer, ApiError> {
        let started = std::time::Instant::now();
        let mut log = stream::RequestLog::start(&self.stats, opts.label.clone(), req.is_stream());
        req.validate().map_err(|(m, p)| log.fail(ApiError::invalid(m, Some(p))))?;
        let live = self.current();
        let needs = plan::Needs::chat(&req, opts.regions.clone());
        let name = opts.route.as_deref().unwrap_or(&req.model);
        let (plan, deadline) = match self.admit(&live, name, &needs, &opts, &mut log).await {
            Ok(admitted) => admitted,
            Err(e) => return Err(log.fail(e)),
        };
        let mut log = match cached::chat(self, &live, &plan, &req, &opts, log, started, deadline).await {
            cached::Handled::Answer(answer) => return answer,
            cached::Handled::Uncached(log) => *log,
        };
        if req.is_stream() {
            let out = attempt::stream(&live, &self.health, &plan, &req, deadline).await.map_err(|e| log.fail(e))?;
            let meta = answered(&mut log, &plan.route, &out.deployment, out.attempts, started);
            log.account.ttft = Some(started.elapsed());
            let timing = stream::StreamTiming {
                idle: plan.timing.stream_idle_timeout,
                deadline: opts.timeout.map(|t| Instant::now() + t.saturating_sub(started.elapsed())),
            };
            Ok(ChatAnswer::Stream(ChatStream::new(out.value, meta, req.wants_stream_usage(), timing, log, out.ticket)))
        } else {
            let out = attempt::complete(&live, &self.health, &plan, &req, deadline).await.map_err(|e| log.fail(e))?;
            let mut meta = answered(&mut log, &plan.route, &out.deployment, out.attempts, started);
            log.usage = out.value.usage;
            meta.cost_usd = log.account.cost_of(out.value.usage.as_ref());
            log.succeed();
            Ok(ChatAnswer::Full(Box::new(out.value), meta))
        }
    }

    pub async fn embeddings(&self, req: EmbeddingsRequest, opts: CallOptions) -> Result<(Value, Meta), ApiError> {
        let started = std::time::Instant::now();
        let mut log = stream::RequestLog::start(&self.stats, opts.label.clone(), false);
        req.validate().map_err(|(m, p)| log.fail(ApiError::invalid(m, Some(p))))?;
        let live = self.current();
        let needs = plan::Needs::embeddings(&req, opts.regions.clone());
        let name = opts.route.as_deref().unwrap_or(&req.model);
        let (plan, deadline) = match self.admit(&live, name, &needs, &opts, &mut log).await {
            Ok(admitted) => admitted,
            Err(e) => return Err(log.fail(e)),
        };
        let mut log = match cached::embeddings(self, &live, &plan, &req, &opts, log, started, deadline).await {
            cached::Handled::Answer(answer) => return answer,
            cached::Handled::Uncached(log) => *log,
        };
        let out = attempt::embeddings(&live, &self.health, &plan, &req, deadline).await.map_err(|e| log.fail(e))?;
        let mut meta = answered(&mut log, &plan.route, &out.deployment, out.attempts, started);
        let prompt = out.value["usage"]["prompt_tokens"].as_u64().unwrap_or(0);
        log.usage = Some(crate::api::Usage::new(prompt, 0));
        meta.cost_usd = log.account.cost_of(log.usage.as_ref());
        log.succeed();
        Ok((out.value, meta))
    }

    /// `GET /v1/models`: routes and configured models, OpenAI's list shape.
    pub fn models(&self) -> Value {
        let live = self.current();
        let snap = &live.snapshot;
        let mut data = Vec::new();
        for r in snap.routes.values() {
            let targets: Vec<&str> = r.targets.iter().map(|t| t.name.as_str()).collect();
            data.push(json!({"id": r.name, "object": "model", "created": 0, "owned_by": "sidegate", "sidegate": {"kind": "route", "targets": targets}}));
        }
        for m in snap.models.values() {
            data.push(json!({"id": m.name, "object": "model", "created": 0, "owned_by": m.provider.name,
                "sidegate": {"kind": "model", "provider": m.provider.name, "vendor_model": m.vendor_model,
                             "context_window": m.context_window, "capabilities": m.capabilities}}));
        }
        json!({"object": "list", "data": data})
    }

    /// What `sidegate status` shows.
    pub fn status(&self) -> Value {
        let live = self.current();
        let snap = &live.snapshot;
        let providers: Vec<Value> = snap
            .providers
            .values()
            .map(|p| {
                json!({"name": p.name, "kind": p.kind.as_str(), "region": p.region,
                            "base_url": p.http.as_ref().map(|h| h.base_url.clone()), "unavailable": p.unavailable})
            })
            .collect();
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "pid": std::process::id(),
            "uptime_s": self.started.elapsed().as_secs(),
            "rss_bytes": crate::sys::rss_bytes(),
            "config": {
                "source": snap.source.to_string(),
                "version": snap.version,
                "loaded_at": self.loaded_at.load(Ordering::Relaxed),
                "last_reload": *self.last_reload.lock().unwrap_or_else(|p| p.into_inner()),
            },
            "requests": {"total": self.stats.requests.load(Ordering::Relaxed),
                         "failed": self.stats.failures.load(Ordering::Relaxed),
                         "in_flight": self.stats.in_flight.load(Ordering::Relaxed)},
            "providers": providers,
            "deployments": self.health.report(),
            "cache": self.cache.report(),
            "models": snap.models.keys().collect::<Vec<_>>(),
            "routes": snap.routes.keys().collect::<Vec<_>>(),
        })
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Notes in the request's accounting who answered and what each call did.
fn note_answerer(
    log: &mut stream::RequestLog,
    dep: &crate::config::ModelSettings,
    attempts: &[crate::api::error::AttemptRecord],
) {
    log.account.price = crate::callers::prices::price_of(dep);
    log.account.provider = dep.provider.name.clone();
    log.account.attempt_outcomes = attempts.iter().map(|a| (a.deployment.clone(), a.outcome)).collect();
}

/// A vendor answered: the request's meta, and who answered noted in its log and accounting.
fn answered(
    log: &mut stream::RequestLog,
    route: &str,
    dep: &crate::config::ModelSettings,
    attempts: Vec<crate::api::error::AttemptRecord>,
    started: std::time::Instant,
) -> Meta {
    log.attempts = attempts.len() as u32;
    log.deployment = dep.name.clone();
    note_answerer(log, dep, &attempts);
    Meta {
        request_id: log.request_id.clone(),
        route: route.to_string(),
        provider: dep.provider.name.clone(),
        model: dep.name.clone(),
        vendor_model: dep.vendor_model.clone(),
        cache: "bypass",
        caller: log.account.caller.clone(),
        cost_usd: None,
        attempts: attempts.len() as u32,
        latency_ms: (started.elapsed().as_secs_f64() * 1e6).round() / 1000.0,
        attempt_log: attempts,
    }
}
