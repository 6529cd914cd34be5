//! Where the response cache sits in a request: after admission, before the attempt loop.
//!
//! The lookup needs the plan: the key names the deployments that may answer (the plan's
//! candidates after the route's filters, as a set: the strategy's order does not matter), so
//! a reload that re-points a route never serves another model's answer. A request on a route
//! with `cache` then:
//! 1. `no-store`: bypasses everything (the attempt loop runs as without a cache);
//! 2. else reads the memory tier (unless `no-cache`): a hit answers at once;
//! 3. else joins the flight for its key, or starts one (a `no-cache` request always starts
//!    its own, private one). The flight's task reads disk and Redis, else runs the attempt
//!    loop (the same entry an uncached request uses), stores a complete answer in the route's
//!    tiers and publishes it to every waiter; errors and broken streams are published but
//!    never stored.
//!
//! A stream waiter gets the chunks as the vendor sends them (a latecomer first gets those it
//! missed). The flight runs in its own task, so a caller that goes away cancels only its own
//! wait; the vendor call stops when no waiter is left. Whatever it got, this step hands the
//! pipeline a `Produced`, like the attempt loop does.

use std::sync::Arc;

use futures_util::StreamExt;
use tokio::time::Instant;

use super::admit::Admitted;
use super::attempt::{self, Answer, Job};
use super::health::Health;
use super::produce::{Produced, vendor_answerer};
use super::request::Answerer;
use super::stream::{ChunkItems, vendor_chunks};
use super::{Live, Plan};
use crate::api::error::{GatewayError, Timeout};
use crate::api::{ChatRequest, EmbeddingsRequest};
use crate::cache::flight::{Answered, Phase, Publisher, Source, Waiter};
use crate::cache::{Body, Cache, CacheKey, Directive, Entry, Origin, Outcome, key, replay};
use crate::config::RouteCache;

/// What a flight computes: the request, owned (the flight runs in its own task).
enum Work {
    Chat(Box<ChatRequest>),
    Embeddings(Box<EmbeddingsRequest>),
}

impl Work {
    fn of(job: &Job<'_>) -> Self {
        match job {
            Job::Complete(req) | Job::Stream(req) => Work::Chat(Box::new((*req).clone())),
            Job::Embed(req) => Work::Embeddings(Box::new((*req).clone())),
        }
    }

    fn job(&self) -> Job<'_> {
        match self {
            Work::Chat(req) => Job::chat(req),
            Work::Embeddings(req) => Job::Embed(req),
        }
    }
}

fn key_of(job: &Job<'_>, plan: &Plan) -> CacheKey {
    match job {
        Job::Complete(req) | Job::Stream(req) => key::chat(&plan.candidates, req),
        Job::Embed(req) => key::embeddings(&plan.candidates, req),
    }
}

/// The cache settings for this plan's route, unless the request bypasses the cache.
pub fn settings(cache: &Cache, live: &Live, plan: &Plan, directive: Directive) -> Option<RouteCache> {
    let rc = live.snapshot.routes.get(&plan.route)?.cache?;
    if directive == Directive::NoStore {
        cache.record(Outcome::Bypass, false);
        return None;
    }
    Some(rc)
}

/// The answer for `job` from the cache: a memory hit, or the flight for its key (the
/// request is copied for the flight only when this request leads one).
pub async fn produce(
    cache: &Arc<Cache>,
    health: &Arc<Health>,
    live: &Arc<Live>,
    admitted: &Admitted,
    rc: RouteCache,
    directive: Directive,
    job: Job<'_>,
) -> Result<Produced, GatewayError> {
    let key = key_of(&job, &admitted.plan);
    let lookup = directive != Directive::NoCache;
    if lookup && let Some(entry) = cache.get_memory(&key, &rc) {
        cache.record(Outcome::Hit, false);
        return Ok(Produced::Whole { body: entry.body.clone(), by: hit(entry.origin.clone()) });
    }
    let (waiter, publisher) = cache.flights.join_or_lead(key, lookup);
    if let Some(p) = publisher {
        let flight = Flight { cache: cache.clone(), health: health.clone(), live: live.clone(), rc, key, lookup };
        flight.start(admitted.plan.clone(), Work::of(&job), p);
    }
    // A streaming waiter takes the chunks as they come; the others wait for the whole.
    wait(cache, waiter, matches!(job, Job::Stream(_)), admitted).await
}

/// Waits for the flight: for its first chunk (a streaming waiter) or its end.
async fn wait(cache: &Cache, mut w: Waiter, streams: bool, admitted: &Admitted) -> Result<Produced, GatewayError> {
    let phase = if streams {
        tokio::time::timeout_at(admitted.deadline, w.started()).await
    } else {
        tokio::time::timeout_at(admitted.deadline, w.finished()).await
    };
    let Ok(phase) = phase else {
        return Err(GatewayError::TimedOut {
            timeout: Timeout::Deadline,
            message: format!("`{}` ran out of time waiting for the answer", admitted.plan.route),
            attempts: Vec::new(),
        });
    };
    match phase {
        Phase::Done(answered, entry) => {
            let by = served(&answered, w.leader);
            cache.record(by.cache, !w.leader);
            Ok(Produced::Whole { body: entry.body.clone(), by })
        }
        Phase::Streaming(answered) => {
            let by = served(&answered, w.leader);
            cache.record(by.cache, !w.leader);
            let chunks: ChunkItems = Box::pin(w.into_chunks());
            Ok(Produced::Stream { chunks, by })
        }
        Phase::Failed(e) => Err(e),
        Phase::Pending => Err(GatewayError::internal("cache flight ended while pending")),
    }
}

/// A stored answer, or a share of another request's call: a hit, with no calls and no price.
fn hit(origin: Origin) -> Answerer {
    Answerer { origin, cache: Outcome::Hit, calls: Vec::new(), priced_by: None }
}

/// What a waiter reports: `miss` for the request whose flight called the vendor (with its
/// calls, and the deployment to price them by), `hit` for the rest: a stored answer, or a
/// share of another request's call, which costs nothing.
fn served(a: &Answered, leader: bool) -> Answerer {
    match (&a.source, &a.deployment) {
        (Source::Vendor, Some(dep)) if leader => vendor_answerer(dep, a.attempts.clone(), Outcome::Miss),
        _ => hit(a.origin.clone()),
    }
}

/// One vendor call shared by every identical request, in its own task.
struct Flight {
    cache: Arc<Cache>,
    health: Arc<Health>,
    live: Arc<Live>,
    rc: RouteCache,
    key: CacheKey,
    lookup: bool,
}

impl Flight {
    fn start(self, plan: Plan, work: Work, p: Publisher) {
        let flight = p.flight().clone();
        let task = tokio::spawn(async move { self.run(plan, work, p).await });
        flight.set_task(task.abort_handle());
    }

    async fn run(self, plan: Plan, work: Work, p: Publisher) {
        let shared = &self.live.snapshot.shared;
        if self.lookup
            && let Some((entry, tier)) = self.cache.get_far(&self.key, &self.rc, shared).await
        {
            let answered = Answered {
                origin: entry.origin.clone(),
                attempts: Vec::new(),
                source: Source::Tier(tier),
                deployment: None,
            };
            return p.done(Arc::new(answered), entry);
        }
        // The flight has the route's whole time budget; each waiter gives up at its own.
        let deadline = Instant::now() + plan.timing.timeout;
        let out = match attempt::run(&self.live, &self.health, &plan, &work.job(), deadline).await {
            Ok(out) => out,
            Err(e) => return p.failed(e),
        };
        let answered = Arc::new(Answered {
            origin: super::produce::origin_of(&out.deployment),
            attempts: out.attempts,
            source: Source::Vendor,
            deployment: Some(out.deployment),
        });
        let body = match out.value {
            Answer::Complete(resp) => Body::Chat(Box::new(resp)),
            Answer::Embed(v) => Body::Embeddings(v),
            Answer::Stream(c) => {
                p.streaming(answered.clone());
                let mut chunks = vendor_chunks(c, plan.timing.stream_idle_timeout, out.ticket);
                while let Some(item) = chunks.next().await {
                    match item {
                        Ok(c) => p.chunk(c),
                        Err(e) => return p.failed(e), // a broken stream is never stored
                    }
                }
                Body::Chat(Box::new(replay::assemble(&p.chunks())))
            }
        };
        let entry = self.store(&answered, body);
        p.done(answered, entry);
    }

    fn store(&self, answered: &Answered, body: Body) -> Arc<Entry> {
        let (entry, bytes) = Entry::new(answered.origin.clone(), body, self.rc.ttl.as_millis() as u64);
        let entry = Arc::new(entry);
        self.cache.store(&self.key, &self.rc, &self.live.snapshot.shared, &entry, bytes);
        entry
    }
}
