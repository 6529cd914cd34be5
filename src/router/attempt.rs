//! The attempt loop: walks a plan's candidates under one deadline.
//!
//! Each candidate is admitted by its health state first (breaker, client-side concurrency and
//! rate limits); one that cannot take a call now is skipped at no cost. Each failed call is
//! classified: a request error goes straight back to the caller; an account-level failure
//! (401/403, quota, unknown model) retires the deployment for this request; transient ones
//! (refused, 5xx, timeouts, 429, bad answers) move on to the next candidate and leave the
//! deployment eligible for a later pass, after a jittered backoff or the vendor's
//! `retry-after`. When nothing can be tried right now, the loop sleeps until the first
//! candidate is due back, if that fits in the deadline.
//!
//! With `hedge_after`, a call that has produced nothing by then gets company: the next
//! candidate starts too, the first success wins, the other is dropped (its vendor call is
//! cancelled). For streams, "success" is the commit point: the first chunk arrived. Until
//! then everything can fail over invisibly; after it the stream belongs to the caller.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::time::{Instant, sleep_until, timeout_at};

use super::Live;
use super::breaker::Outcome as BreakerOutcome;
use super::failed::{all_failed, caller_error};
use super::health::{Health, Measured, NotNow, NotNowReason, Ticket};
use super::plan::Plan;
use crate::api::error::{AttemptRecord, GatewayError};
use crate::api::{ChatChunk, ChatRequest, ChatResponse, EmbeddingsRequest};
use crate::config::ModelSettings;
use crate::prompts::{Family, PromptUse};
use crate::providers::{Action, Blame, ChunkStream, Failure, Provider, ProviderError};

/// Calls of one deployment within one request, at most.
const MAX_CALLS_PER_TARGET: u32 = 3;
/// Cooldown after a 429 that named no `retry-after`.
const DEFAULT_COOLDOWN: Duration = Duration::from_secs(1);
/// How often to look again when a target waits for a free slot (no known time).
const SLOT_POLL: Duration = Duration::from_millis(10);

/// The deployment that answered, every call made, and the answering call's ticket (it holds
/// the deployment's concurrency slot; a stream keeps it until it ends).
pub struct Outcome<T> {
    pub value: T,
    pub deployment: Arc<ModelSettings>,
    pub attempts: Vec<AttemptRecord>,
    pub ticket: Ticket,
}

/// A committed stream: its first chunk and the rest.
pub struct Committed {
    pub first: ChatChunk,
    pub rest: ChunkStream,
}

/// What a request asks of a deployment.
pub enum Job<'a> {
    Complete(&'a ChatRequest),
    Stream(&'a ChatRequest),
    Embed(&'a EmbeddingsRequest),
}

impl<'a> Job<'a> {
    /// A chat request's job: a stream when it asks for one.
    pub fn chat(req: &'a ChatRequest) -> Self {
        if req.is_stream() { Job::Stream(req) } else { Job::Complete(req) }
    }

    /// The model (or route) the request names.
    pub fn model(&self) -> &'a str {
        match self {
            Job::Complete(r) | Job::Stream(r) => &r.model,
            Job::Embed(r) => &r.model,
        }
    }
}

/// What a deployment answered.
pub enum Answer {
    Complete(ChatResponse),
    Stream(Committed),
    Embed(serde_json::Value),
}

type Running<'a> =
    Pin<Box<dyn Future<Output = (usize, Ticket, std::time::Instant, Result<Answer, ProviderError>)> + Send + 'a>>;

/// Per-candidate bookkeeping for one request.
struct Slot {
    calls: u32,
    /// Never again in this request (account-level failure, or out of calls).
    retired: bool,
    /// Not before this time (backoff or the vendor's retry-after).
    not_before: Option<Instant>,
}

/// The loop's state for one request.
struct Walk<'p> {
    plan: &'p Plan,
    slots: Vec<Slot>,
    attempts: Vec<AttemptRecord>,
    errors: Vec<ProviderError>,
    skipped: Vec<(usize, NotNow)>,
    queue: VecDeque<usize>,
    /// Candidates whose call is running (more than one while hedging).
    in_race: Vec<usize>,
    hedge_at: Option<Instant>,
}

/// The attempt loop's one entry: walks `plan` for `job` until a deployment answers (for a
/// stream: commits), the caller must be told (a request error), or the deadline passes.
pub async fn run(
    live: &Live,
    health: &Health,
    plan: &Plan,
    job: &Job<'_>,
    deadline: Instant,
) -> Result<Outcome<Answer>, GatewayError> {
    let n = plan.candidates.len();
    let mut w = Walk {
        plan,
        slots: (0..n).map(|_| Slot { calls: 0, retired: false, not_before: None }).collect(),
        attempts: Vec::new(),
        errors: Vec::new(),
        skipped: Vec::new(),
        queue: (0..n).collect(),
        in_race: Vec::new(),
        hedge_at: None,
    };
    let mut running: FuturesUnordered<Running<'_>> = FuturesUnordered::new();
    loop {
        if running.is_empty() {
            match w.next_admitted(health) {
                Some((i, ticket)) => {
                    running.push(launch(live, plan, job, i, ticket, deadline)?);
                    w.in_race.push(i);
                    w.hedge_at = plan.timing.hedge_after.map(|h| Instant::now() + h);
                }
                None => {
                    w.wait_for_next_due(health, deadline).await?;
                    continue;
                }
            }
        }
        let can_hedge = w.hedge_at.is_some() && running.len() == 1 && !w.queue.is_empty();
        tokio::select! {
            Some((i, ticket, started, result)) = running.next() => {
                if let Some(done) = w.settle(i, ticket, started.elapsed(), result) {
                    return done;
                }
                // A hedge partner may still win; otherwise the loop launches the next.
            }
            _ = sleep_until(w.hedge_at.unwrap_or(deadline)), if can_hedge => {
                w.hedge_at = None;
                if let Some((i, ticket)) = w.next_admitted(health) {
                    tracing::debug!(deployment = %plan.candidates[i].name, "hedging: starting the next candidate");
                    running.push(launch(live, plan, job, i, ticket, deadline)?);
                    w.in_race.push(i);
                }
            }
            _ = sleep_until(deadline) => {
                for i in std::mem::take(&mut w.in_race) {
                    w.attempts.push(record(&plan.candidates[i], "timeout", None, Some("route deadline reached".into()), Duration::ZERO));
                }
                return Err(w.failed(true));
            }
        }
    }
}

impl Walk<'_> {
    /// The next queued candidate that can take a call now; records why the others cannot.
    fn next_admitted(&mut self, health: &Health) -> Option<(usize, Ticket)> {
        let now = Instant::now();
        while let Some(i) = self.queue.pop_front() {
            let slot = &self.slots[i];
            if slot.retired {
                continue;
            }
            if let Some(t) = slot.not_before.filter(|t| *t > now) {
                self.skipped.push((i, NotNow { until: Some(t.into_std()), reason: NotNowReason::Backoff }));
                continue;
            }
            match health.get(&self.plan.candidates[i]).try_admit(now.into_std(), self.plan.tokens) {
                Ok(t) => return Some((i, t)),
                Err(nn) => self.skipped.push((i, nn)),
            }
        }
        None
    }

    /// Nothing can be called right now: waits for the first candidate due back, if that fits
    /// in the deadline, and queues every candidate still in play again.
    /// Every candidate held back by an account failure fails the request at once with it.
    async fn wait_for_next_due(&mut self, health: &Health, deadline: Instant) -> Result<(), GatewayError> {
        let in_play: Vec<usize> = (0..self.slots.len()).filter(|i| !self.slots[*i].retired).collect();
        if in_play.is_empty() {
            return Err(self.failed(false));
        }
        let now = Instant::now();
        if let Some(err) = self.account_blocked(health, &in_play) {
            return Err(caller_error(&err, std::mem::take(&mut self.attempts)));
        }
        let due = in_play.iter().map(|i| self.due(*i, now)).min().unwrap_or(now + SLOT_POLL);
        if due >= deadline {
            return Err(self.failed(false));
        }
        if due > now {
            sleep_until(due).await;
        }
        self.queue = in_play.into_iter().collect();
        self.skipped.clear();
        Ok(())
    }

    /// The account error holding back every candidate in play, when each is held back by one
    /// (waiting for its breaker would only end in the same error).
    fn account_blocked(&mut self, health: &Health, in_play: &[usize]) -> Option<ProviderError> {
        let now = std::time::Instant::now();
        let mut first = None;
        for &i in in_play {
            let reason = self.skipped.iter().rev().find(|(j, _)| *j == i).map(|(_, nn)| nn.reason);
            if reason != Some(NotNowReason::AccountFailure) {
                return None;
            }
            let err = health.get(&self.plan.candidates[i]).account_block(now)?;
            first.get_or_insert((i, err));
        }
        let (i, mut err) = first?;
        let cand = &self.plan.candidates[i];
        err.message = format!(
            "{} (deployment `{}` is held back after this account error; fix the key or quota, or add another target)",
            err.message, cand.name
        );
        self.attempts.push(record(cand, "account_failure", err.status, Some(err.message.clone()), Duration::ZERO));
        Some(err)
    }

    /// When candidate `i` can next be called: after its backoff and its health state's wait.
    fn due(&self, i: usize, now: Instant) -> Instant {
        let backoff = self.slots[i].not_before.unwrap_or(now);
        let health_due = self
            .skipped
            .iter()
            .rev()
            .find(|(j, _)| *j == i)
            .map_or(now, |(_, nn)| nn.until.map_or(now + SLOT_POLL, Instant::from_std));
        backoff.max(health_due)
    }

    /// One call ended. Some(result) when the walk is over: an answer, or an error the caller
    /// must get as it is.
    fn settle(
        &mut self,
        i: usize,
        mut ticket: Ticket,
        latency: Duration,
        result: Result<Answer, ProviderError>,
    ) -> Option<Result<Outcome<Answer>, GatewayError>> {
        self.in_race.retain(|x| *x != i);
        let cand = &self.plan.candidates[i];
        let err = match result {
            Ok(answer) => {
                let measured = if matches!(answer, Answer::Stream(_)) {
                    Measured::FirstChunk(latency)
                } else {
                    Measured::Whole(latency)
                };
                ticket.settle(BreakerOutcome::Success, Some(measured));
                self.attempts.push(record(cand, "ok", None, None, latency));
                for loser in std::mem::take(&mut self.in_race) {
                    self.attempts.push(record(
                        &self.plan.candidates[loser],
                        "hedge_cancelled",
                        None,
                        None,
                        Duration::ZERO,
                    ));
                }
                let attempts = std::mem::take(&mut self.attempts);
                return Some(Ok(Outcome { value: answer, deployment: cand.clone(), attempts, ticket }));
            }
            Err(err) => err,
        };
        tracing::debug!(deployment = %cand.name, failure = err.failure.label(), status = ?err.status, error = %err.message, "attempt failed");
        self.attempts.push(record(cand, err.failure.label(), err.status, Some(err.message.clone()), latency));
        if err.failure.blame() == Blame::Account {
            ticket.state().note_account_error(&err);
        }
        ticket.settle(breaker_outcome(err.failure.blame()), None);
        let slot = &mut self.slots[i];
        slot.calls += 1;
        match err.failure.action() {
            Action::Return => return Some(Err(caller_error(&err, std::mem::take(&mut self.attempts)))),
            Action::Retire => slot.retired = true,
            Action::FailOver if slot.calls >= MAX_CALLS_PER_TARGET => slot.retired = true,
            Action::FailOver => {}
        }
        if err.failure == Failure::RateLimited {
            let wait = err.retry_after.unwrap_or(DEFAULT_COOLDOWN);
            ticket.state().cool_until((Instant::now() + wait).into_std());
            slot.not_before = Some(Instant::now() + wait);
        } else if !slot.retired {
            slot.not_before = Some(Instant::now() + backoff(slot.calls));
        }
        self.errors.push(err);
        None
    }

    fn failed(&mut self, out_of_time: bool) -> GatewayError {
        all_failed(self.plan, &self.errors, std::mem::take(&mut self.attempts), &self.skipped, out_of_time)
    }
}

fn launch<'a>(
    live: &'a Live,
    plan: &'a Plan,
    job: &'a Job<'a>,
    i: usize,
    ticket: Ticket,
    deadline: Instant,
) -> Result<Running<'a>, GatewayError> {
    let cand = &plan.candidates[i];
    let provider = live
        .provider(&cand.provider.name)
        .ok_or_else(|| GatewayError::internal(format!("provider `{}` is not built", cand.provider.name)))?;
    Ok(Box::pin(async move {
        let started = std::time::Instant::now();
        let result = one_call(provider, cand, job, plan, deadline).await;
        (i, ticket, started, result)
    }))
}

async fn one_call(
    provider: &Provider,
    cand: &ModelSettings,
    job: &Job<'_>,
    plan: &Plan,
    deadline: Instant,
) -> Result<Answer, ProviderError> {
    let (model, target) = (cand.vendor_model.as_str(), crate::providers::Target::of(cand, plan.foreign_reasoning));
    // A prompt with its own phrasing for this deployment's vendor family gets it here.
    let phrased = match job {
        Job::Complete(r) | Job::Stream(r) => PromptUse::phrased_for(r, Family::of(cand.provider.kind)),
        Job::Embed(_) => None,
    };
    match job {
        Job::Complete(req) => {
            let req = phrased.as_ref().unwrap_or(req);
            let budget = (Instant::now() + plan.timing.attempt_timeout).min(deadline);
            timeout_at(budget, provider.complete(req, &target))
                .await
                .map_err(|_| ProviderError::timeout("no answer", plan.timing.attempt_timeout))?
                .map(Answer::Complete)
        }
        Job::Embed(req) => {
            let budget = (Instant::now() + plan.timing.attempt_timeout).min(deadline);
            timeout_at(budget, provider.embeddings(req, model))
                .await
                .map_err(|_| ProviderError::timeout("no answer", plan.timing.attempt_timeout))?
                .map(Answer::Embed)
        }
        Job::Stream(req) => {
            let req = phrased.as_ref().unwrap_or(req);
            // One budget for connect + headers + first chunk.
            let first_by = (Instant::now() + plan.timing.first_token_timeout).min(deadline);
            let no_first = || ProviderError::timeout("no first token", plan.timing.first_token_timeout);
            let mut rest = timeout_at(first_by, provider.stream(req, &target)).await.map_err(|_| no_first())??;
            match timeout_at(first_by, rest.next()).await {
                Err(_) => Err(no_first()),
                Ok(None) => Err(ProviderError::new(Failure::BadResponse, "vendor stream ended without a chunk")),
                Ok(Some(Err(e))) => Err(e),
                Ok(Some(Ok(first))) => match plan.timing.min_stream_rate {
                    None => Ok(Answer::Stream(Committed { first, rest })),
                    Some(rate) => super::stream_rate::prove(first, rest, rate, deadline).await.map(Answer::Stream),
                },
            }
        }
    }
}

fn breaker_outcome(blame: Blame) -> BreakerOutcome {
    match blame {
        Blame::Vendor => BreakerOutcome::Failure,
        Blame::Account => BreakerOutcome::AccountFailure,
        Blame::None => BreakerOutcome::Neutral,
    }
}

/// Jittered exponential backoff before the same deployment is called again: 25-50 ms, then
/// 50-100 ms, ... capped at 1.6 s.
fn backoff(calls: u32) -> Duration {
    let base = 50u64 << calls.saturating_sub(1).min(5);
    Duration::from_millis(base / 2 + rand::random::<u64>() % (base / 2 + 1))
}

fn record(
    cand: &ModelSettings,
    outcome: &'static str,
    status: Option<u16>,
    message: Option<String>,
    latency: Duration,
) -> AttemptRecord {
    AttemptRecord {
        deployment: cand.name.clone(),
        provider: cand.provider.name.clone(),
        outcome,
        status,
        message,
        latency_ms: super::request::round_ms(latency),
    }
}
