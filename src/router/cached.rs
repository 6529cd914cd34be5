//! Where the response cache sits in a request: after planning, before the attempt loop.
//!
//! The lookup needs the plan: the key names the deployments that may answer (the plan's
//! candidates after the route's filters, as a set: the strategy's order does not matter), so
//! a reload that re-points a route never serves another model's answer. A request on a route
//! with `cache` then:
//! 1. `no-store`: bypasses everything (the attempt loop runs as without a cache);
//! 2. else reads the memory tier (unless `no-cache`): a hit answers at once;
//! 3. else joins the flight for its key, or starts one (a `no-cache` request always starts
//!    its own, private one). The flight's task reads disk and Redis, else runs the attempt
//!    loop, stores a complete answer in the route's tiers and publishes it to every waiter;
//!    errors and broken streams are published but never stored.
//!
//! A stream waiter gets the chunks as the vendor sends them (a latecomer first gets those it
//! missed); a stored or whole answer is replayed as a stream (`cache::replay`). The flight
//! runs in its own task, so a caller that goes away cancels only its own wait; the vendor
//! call stops when no waiter is left.

use std::sync::Arc;

use futures_util::StreamExt;
use tokio::time::Instant;

use super::plan::Plan;
use super::stream::{ChatStream, ChunkItems, RequestLog};
use super::{CallOptions, ChatAnswer, Gateway, Live, Meta, attempt, stream};
use crate::api::error::AttemptRecord;
use crate::api::{ApiError, ChatRequest, EmbeddingsRequest};
use crate::cache::flight::{Answered, Phase, Publisher, Source, Waiter};
use crate::cache::{Body, CacheKey, Directive, Entry, Origin, Outcome, key, replay};
use crate::config::{ModelSettings, RouteCache};

/// What the cache did with a request: answered it (or failed it), or left it to the caller.
pub(super) enum Handled<T> {
    Answer(Result<T, ApiError>),
    /// Not a cached route (or `no-store`): the caller runs the attempt loop with its log.
    Uncached(Box<RequestLog>),
}

/// The cache settings for this plan's route, unless the request bypasses the cache.
fn route_cache(gw: &Gateway, live: &Live, plan: &Plan, opts: &CallOptions) -> Option<RouteCache> {
    let rc = live.snapshot.routes.get(&plan.route)?.cache?;
    if opts.cache == Directive::NoStore {
        gw.cache.record(Outcome::Bypass, false);
        return None;
    }
    Some(rc)
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn chat(
    gw: &Gateway,
    live: &Arc<Live>,
    plan: &Plan,
    req: &ChatRequest,
    opts: &CallOptions,
    log: RequestLog,
    started: std::time::Instant,
    deadline: Instant,
) -> Handled<ChatAnswer> {
    let Some(rc) = route_cache(gw, live, plan, opts) else { return Handled::Uncached(Box::new(log)) };
    let key = key::chat(&plan.candidates, req);
    let lookup = opts.cache != Directive::NoCache;
    let cx = Wait { gw, plan, log, started, deadline, caller_deadline: caller_deadline(opts, started) };
    if lookup && let Some(entry) = gw.cache.get_memory(&key, &rc) {
        gw.cache.record(Outcome::Hit, false);
        return Handled::Answer(cx.chat_from_entry(&entry, req, HIT));
    }
    let (waiter, publisher) = gw.cache.flights.join_or_lead(key, lookup);
    if let Some(p) = publisher {
        start_flight(gw, live, plan, rc, key, lookup, Job::Chat(Box::new(req.clone())), p);
    }
    Handled::Answer(cx.chat(waiter, req).await)
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn embeddings(
    gw: &Gateway,
    live: &Arc<Live>,
    plan: &Plan,
    req: &EmbeddingsRequest,
    opts: &CallOptions,
    log: RequestLog,
    started: std::time::Instant,
    deadline: Instant,
) -> Handled<(serde_json::Value, Meta)> {
    let Some(rc) = route_cache(gw, live, plan, opts) else { return Handled::Uncached(Box::new(log)) };
    let key = key::embeddings(&plan.candidates, req);
    let lookup = opts.cache != Directive::NoCache;
    let mut cx = Wait { gw, plan, log, started, deadline, caller_deadline: None };
    if lookup && let Some(entry) = gw.cache.get_memory(&key, &rc) {
        gw.cache.record(Outcome::Hit, false);
        return Handled::Answer(cx.embeddings_from_entry(&entry, HIT));
    }
    let (mut waiter, publisher) = gw.cache.flights.join_or_lead(key, lookup);
    if let Some(p) = publisher {
        start_flight(gw, live, plan, rc, key, lookup, Job::Embeddings(Box::new(req.clone())), p);
    }
    let phase = match tokio::time::timeout_at(deadline, waiter.finished()).await {
        Ok(p) => p,
        Err(_) => return Handled::Answer(Err(cx.log.fail(out_of_time(plan)))),
    };
    Handled::Answer(match phase {
        Phase::Done(answered, entry) => {
            let served = outcome_of(&answered, waiter.leader);
            gw.cache.record(served.outcome, !waiter.leader);
            cx.embeddings_from_entry(&entry, served)
        }
        Phase::Failed(e) => Err(cx.log.fail(e)),
        Phase::Pending | Phase::Streaming(_) => Err(cx.log.fail(ApiError::internal("embeddings flight streamed"))),
    })
}

/// What a flight computes.
enum Job {
    Chat(Box<ChatRequest>),
    Embeddings(Box<EmbeddingsRequest>),
}

/// Starts the task that produces the answer for `key` and publishes it to the waiters.
#[allow(clippy::too_many_arguments)]
fn start_flight(
    gw: &Gateway,
    live: &Arc<Live>,
    plan: &Plan,
    rc: RouteCache,
    key: CacheKey,
    lookup: bool,
    job: Job,
    p: Publisher,
) {
    let (cache, health, live) = (gw.cache.clone(), gw.health.clone(), live.clone());
    let plan = Plan {
        route: plan.route.clone(),
        timing: plan.timing,
        candidates: plan.candidates.clone(),
        tokens: plan.tokens,
    };
    let flight = p.flight().clone();
    let task = tokio::spawn(async move {
        let shared = &live.snapshot.shared;
        if lookup && let Some((entry, tier)) = cache.get_far(&key, &rc, shared).await {
            let answered = Answered {
                origin: entry.origin.clone(),
                attempts: Vec::new(),
                source: Source::Tier(tier),
                deployment: None,
            };
            p.done(Arc::new(answered), entry);
            return;
        }
        // The flight has the route's whole time budget; each waiter gives up at its own.
        let deadline = Instant::now() + plan.timing.timeout;
        let store = |origin: Origin, body: Body| -> Arc<Entry> {
            let (entry, bytes) = Entry::new(origin, body, rc.ttl.as_millis() as u64);
            let entry = Arc::new(entry);
            cache.store(&key, &rc, shared, &entry, bytes);
            entry
        };
        match job {
            Job::Chat(req) if req.is_stream() => {
                let out = match attempt::stream(&live, &health, &plan, &req, deadline).await {
                    Ok(out) => out,
                    Err(e) => return p.failed(e),
                };
                let answered = vendor_answered(&out.deployment, out.attempts);
                p.streaming(answered.clone());
                let mut chunks = stream::vendor_chunks(out.value, plan.timing.stream_idle_timeout, out.ticket);
                while let Some(item) = chunks.next().await {
                    match item {
                        Ok(c) => p.chunk(c),
                        Err(e) => return p.failed(e), // a broken stream is never stored
                    }
                }
                let whole = replay::assemble(&p.chunks());
                let entry = store(answered.origin.clone(), Body::Chat(Box::new(whole)));
                p.done(answered, entry);
            }
            Job::Chat(req) => match attempt::complete(&live, &health, &plan, &req, deadline).await {
                Ok(out) => {
                    let answered = vendor_answered(&out.deployment, out.attempts);
                    let entry = store(answered.origin.clone(), Body::Chat(Box::new(out.value)));
                    p.done(answered, entry);
                }
                Err(e) => p.failed(e),
            },
            Job::Embeddings(req) => match attempt::embeddings(&live, &health, &plan, &req, deadline).await {
                Ok(out) => {
                    let answered = vendor_answered(&out.deployment, out.attempts);
                    let entry = store(answered.origin.clone(), Body::Embeddings(out.value));
                    p.done(answered, entry);
                }
                Err(e) => p.failed(e),
            },
        }
    });
    flight.set_task(task.abort_handle());
}

fn vendor_answered(dep: &Arc<ModelSettings>, attempts: Vec<AttemptRecord>) -> Arc<Answered> {
    Arc::new(Answered {
        origin: Origin {
            provider: dep.provider.name.clone(),
            deployment: dep.name.clone(),
            vendor_model: dep.vendor_model.clone(),
        },
        attempts,
        source: Source::Vendor,
        deployment: Some(dep.clone()),
    })
}

/// What a waiter reports: `miss` for the request whose flight called the vendor (with its
/// calls, and the deployment to price them by), `hit` for the rest: a stored answer, or a
/// share of another request's call, which costs nothing.
struct Served<'a> {
    outcome: Outcome,
    calls: &'a [AttemptRecord],
    priced_by: Option<&'a ModelSettings>,
}

fn outcome_of(a: &Answered, leader: bool) -> Served<'_> {
    match a.source {
        Source::Vendor if leader => {
            Served { outcome: Outcome::Miss, calls: &a.attempts, priced_by: a.deployment.as_deref() }
        }
        _ => Served { outcome: Outcome::Hit, calls: &[], priced_by: None },
    }
}

const HIT: Served<'static> = Served { outcome: Outcome::Hit, calls: &[], priced_by: None };

fn caller_deadline(opts: &CallOptions, started: std::time::Instant) -> Option<Instant> {
    opts.timeout.map(|t| Instant::now() + t.saturating_sub(started.elapsed()))
}

fn out_of_time(plan: &Plan) -> ApiError {
    ApiError::new(
        504,
        "timeout_error",
        Some("timeout"),
        format!("`{}` ran out of time waiting for the answer", plan.route),
    )
}

/// One waiting request's side: its log, meta and deadlines.
struct Wait<'a> {
    gw: &'a Gateway,
    plan: &'a Plan,
    log: RequestLog,
    started: std::time::Instant,
    deadline: Instant,
    caller_deadline: Option<Instant>,
}

impl Wait<'_> {
    async fn chat(mut self, mut w: Waiter, req: &ChatRequest) -> Result<ChatAnswer, ApiError> {
        let wait = if req.is_stream() {
            tokio::time::timeout_at(self.deadline, w.started()).await
        } else {
            tokio::time::timeout_at(self.deadline, w.finished()).await
        };
        let Ok(phase) = wait else { return Err(self.log.fail(out_of_time(self.plan))) };
        match phase {
            Phase::Done(answered, entry) => {
                let served = outcome_of(&answered, w.leader);
                self.gw.cache.record(served.outcome, !w.leader);
                self.chat_from_entry(&entry, req, served)
            }
            Phase::Streaming(answered) => {
                let served = outcome_of(&answered, w.leader);
                self.gw.cache.record(served.outcome, !w.leader);
                let meta = self.meta(&answered.origin, &served);
                self.log.account.ttft = Some(self.started.elapsed());
                let source: ChunkItems = Box::pin(w.into_chunks());
                Ok(ChatAnswer::Stream(ChatStream::relay(
                    meta,
                    source,
                    req.wants_stream_usage(),
                    self.caller_deadline,
                    self.log,
                )))
            }
            Phase::Failed(e) => Err(self.log.fail(e)),
            Phase::Pending => Err(self.log.fail(ApiError::internal("cache flight ended while pending"))),
        }
    }

    /// A whole answer (stored, or complete before this waiter looked): as it is, or replayed
    /// as a stream.
    fn chat_from_entry(mut self, entry: &Entry, req: &ChatRequest, served: Served<'_>) -> Result<ChatAnswer, ApiError> {
        let Body::Chat(resp) = &entry.body else {
            return Err(self.log.fail(ApiError::internal("cache entry is not a chat answer")));
        };
        let mut meta = self.meta(&entry.origin, &served);
        if req.is_stream() {
            self.log.account.ttft = Some(self.started.elapsed());
            let chunks = replay::replay(resp);
            let source: ChunkItems = Box::pin(futures_util::stream::iter(chunks.into_iter().map(Ok)));
            return Ok(ChatAnswer::Stream(ChatStream::relay(
                meta,
                source,
                req.wants_stream_usage(),
                self.caller_deadline,
                self.log,
            )));
        }
        if served.outcome == Outcome::Miss {
            self.log.usage = resp.usage;
            meta.cost_usd = self.log.account.cost_of(resp.usage.as_ref());
        }
        self.log.succeed();
        Ok(ChatAnswer::Full(resp.clone(), meta))
    }

    fn embeddings_from_entry(
        &mut self,
        entry: &Entry,
        served: Served<'_>,
    ) -> Result<(serde_json::Value, Meta), ApiError> {
        let Body::Embeddings(v) = &entry.body else {
            return Err(self.log.fail(ApiError::internal("cache entry is not an embeddings answer")));
        };
        let meta = self.meta(&entry.origin, &served);
        self.log.succeed();
        Ok((v.clone(), meta))
    }

    /// The meta of this request, and its log fields; a miss is priced like any vendor call
    /// (a hit made none, so it has no price).
    fn meta(&mut self, origin: &Origin, served: &Served<'_>) -> Meta {
        let (outcome, calls) = (served.outcome, served.calls);
        self.log.deployment.clone_from(&origin.deployment);
        self.log.attempts = calls.len() as u32;
        self.log.cache = outcome.as_str();
        let meta = Meta {
            request_id: self.log.request_id.clone(),
            route: self.plan.route.clone(),
            provider: origin.provider.clone(),
            model: origin.deployment.clone(),
            vendor_model: origin.vendor_model.clone(),
            cache: outcome.as_str(),
            attempts: calls.len() as u32,
            latency_ms: (self.started.elapsed().as_secs_f64() * 1e6).round() / 1000.0,
            attempt_log: calls.to_vec(),
            caller: self.log.account.caller.clone(),
            cost_usd: None,
        };
        if let Some(dep) = served.priced_by {
            super::note_answerer(&mut self.log, dep, calls);
        }
        meta
    }
}
