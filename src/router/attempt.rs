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

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::time::{Instant, sleep_until, timeout_at};

use super::Live;
use super::breaker::Outcome as BreakerOutcome;
use super::health::{Health, Measured, NotNow, Ticket};
use super::plan::Plan;
use crate::api::error::AttemptRecord;
use crate::api::{ApiError, ChatChunk, ChatRequest, ChatResponse, EmbeddingsRequest};
use crate::config::ModelSettings;
use crate::providers::{Action, ChunkStream, Failure, Provider, ProviderError};

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

enum Call<'a> {
    Complete(&'a ChatRequest),
    Stream(&'a ChatRequest),
    Embed(&'a EmbeddingsRequest),
}

enum Answer {
    Complete(ChatResponse),
    Stream(Committed),
    Embed(serde_json::Value),
}

pub async fn complete(
    live: &Live,
    health: &Health,
    plan: &Plan,
    req: &ChatRequest,
    deadline: Instant,
) -> Result<Outcome<ChatResponse>, ApiError> {
    let o = run(live, health, plan, Call::Complete(req), deadline).await?;
    match o.value {
        Answer::Complete(r) => {
            Ok(Outcome { value: r, deployment: o.deployment, attempts: o.attempts, ticket: o.ticket })
        }
        _ => Err(ApiError::internal("attempt loop answered with another kind")),
    }
}

pub async fn stream(
    live: &Live,
    health: &Health,
    plan: &Plan,
    req: &ChatRequest,
    deadline: Instant,
) -> Result<Outcome<Committed>, ApiError> {
    let o = run(live, health, plan, Call::Stream(req), deadline).await?;
    match o.value {
        Answer::Stream(c) => Ok(Outcome { value: c, deployment: o.deployment, attempts: o.attempts, ticket: o.ticket }),
        _ => Err(ApiError::internal("attempt loop answered with another kind")),
    }
}

pub async fn embeddings(
    live: &Live,
    health: &Health,
    plan: &Plan,
    req: &EmbeddingsRequest,
    deadline: Instant,
) -> Result<Outcome<serde_json::Value>, ApiError> {
    let o = run(live, health, plan, Call::Embed(req), deadline).await?;
    match o.value {
        Answer::Embed(v) => Ok(Outcome { value: v, deployment: o.deployment, attempts: o.attempts, ticket: o.ticket }),
        _ => Err(ApiError::internal("attempt loop answered with another kind")),
    }
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

async fn run(
    live: &Live,
    health: &Health,
    plan: &Plan,
    call: Call<'_>,
    deadline: Instant,
) -> Result<Outcome<Answer>, ApiError> {
    let n = plan.candidates.len();
    let mut slots: Vec<Slot> = (0..n).map(|_| Slot { calls: 0, retired: false, not_before: None }).collect();
    let mut attempts: Vec<AttemptRecord> = Vec::new();
    let mut errors: Vec<ProviderError> = Vec::new();
    let mut skipped: Vec<(usize, NotNow)> = Vec::new();
    let mut queue: std::collections::VecDeque<usize> = (0..n).collect();
    let mut running: FuturesUnordered<Running<'_>> = FuturesUnordered::new();
    let mut in_race: Vec<usize> = Vec::new();
    let mut hedge_at: Option<Instant> = None;

    loop {
        if running.is_empty() {
            match next_admitted(plan, health, &mut queue, &mut slots, &mut skipped) {
                Some((i, ticket)) => {
                    running.push(launch(live, plan, &call, i, ticket, deadline)?);
                    in_race.push(i);
                    hedge_at = plan.timing.hedge_after.map(|h| Instant::now() + h);
                }
                None => {
                    // Nothing can be called right now: wait for the first candidate due back.
                    let live_slots: Vec<usize> = (0..n).filter(|i| !slots[*i].retired).collect();
                    if live_slots.is_empty() {
                        return Err(all_failed(plan, &errors, attempts, &skipped, false));
                    }
                    let now = Instant::now();
                    let due = live_slots
                        .iter()
                        .map(|i| {
                            let backoff = slots[*i].not_before.unwrap_or(now);
                            let health_due = skipped
                                .iter()
                                .rev()
                                .find(|(j, _)| j == i)
                                .map_or(now, |(_, nn)| nn.until.map_or(now + SLOT_POLL, Instant::from_std));
                            backoff.max(health_due)
                        })
                        .min()
                        .unwrap_or(now + SLOT_POLL);
                    if due >= deadline {
                        return Err(all_failed(plan, &errors, attempts, &skipped, false));
                    }
                    if due > now {
                        sleep_until(due).await;
                    }
                    queue = live_slots.into_iter().collect();
                    skipped.clear();
                    continue;
                }
            }
        }
        let can_hedge = hedge_at.is_some() && running.len() == 1 && !queue.is_empty();
        tokio::select! {
            Some((i, mut ticket, started, result)) = running.next() => {
                in_race.retain(|x| *x != i);
                let latency = started.elapsed();
                let cand = &plan.candidates[i];
                match result {
                    Ok(answer) => {
                        let measured = if matches!(answer, Answer::Stream(_)) { Measured::FirstChunk(latency) } else { Measured::Whole(latency) };
                        ticket.settle(BreakerOutcome::Success, Some(measured));
                        attempts.push(record(cand, "ok", None, None, latency));
                        for loser in in_race.drain(..) {
                            attempts.push(record(&plan.candidates[loser], "hedge_cancelled", None, None, Duration::ZERO));
                        }
                        return Ok(Outcome { value: answer, deployment: cand.clone(), attempts, ticket });
                    }
                    Err(err) => {
                        tracing::debug!(deployment = %cand.name, failure = err.failure.label(), status = ?err.status, error = %err.message, "attempt failed");
                        attempts.push(record(cand, err.failure.label(), err.status, Some(err.message.clone()), latency));
                        ticket.settle(breaker_outcome(err.failure), None);
                        let slot = &mut slots[i];
                        slot.calls += 1;
                        match err.failure.action() {
                            Action::Return => return Err(caller_error(&err, attempts)),
                            _ if is_account_level(err.failure) || slot.calls >= MAX_CALLS_PER_TARGET => slot.retired = true,
                            _ => {}
                        }
                        if err.failure == Failure::RateLimited {
                            let wait = err.retry_after.unwrap_or(DEFAULT_COOLDOWN);
                            ticket.state().cool_until((Instant::now() + wait).into_std());
                            slot.not_before = Some(Instant::now() + wait);
                        } else if !slot.retired {
                            slot.not_before = Some(Instant::now() + backoff(slot.calls));
                        }
                        errors.push(err);
                        // A hedge partner may still win; otherwise the loop launches the next.
                    }
                }
            }
            _ = sleep_until(hedge_at.unwrap_or(deadline)), if can_hedge => {
                hedge_at = None;
                if let Some((i, ticket)) = next_admitted(plan, health, &mut queue, &mut slots, &mut skipped) {
                    tracing::debug!(deployment = %plan.candidates[i].name, "hedging: starting the next candidate");
                    running.push(launch(live, plan, &call, i, ticket, deadline)?);
                    in_race.push(i);
                }
            }
            _ = sleep_until(deadline) => {
                for i in in_race.drain(..) {
                    attempts.push(record(&plan.candidates[i], "timeout", None, Some("route deadline reached".into()), Duration::ZERO));
                }
                return Err(all_failed(plan, &errors, attempts, &skipped, true));
            }
        }
    }
}

/// The next queued candidate that can take a call now; records why the others cannot.
fn next_admitted(
    plan: &Plan,
    health: &Health,
    queue: &mut std::collections::VecDeque<usize>,
    slots: &mut [Slot],
    skipped: &mut Vec<(usize, NotNow)>,
) -> Option<(usize, Ticket)> {
    let now = Instant::now();
    while let Some(i) = queue.pop_front() {
        let slot = &slots[i];
        if slot.retired {
            continue;
        }
        if let Some(t) = slot.not_before.filter(|t| *t > now) {
            skipped.push((i, NotNow { until: Some(t.into_std()), reason: "backoff" }));
            continue;
        }
        match health.get(&plan.candidates[i]).try_admit(now.into_std(), plan.tokens) {
            Ok(t) => return Some((i, t)),
            Err(nn) => skipped.push((i, nn)),
        }
    }
    None
}

fn launch<'a>(
    live: &'a Live,
    plan: &'a Plan,
    call: &'a Call<'a>,
    i: usize,
    ticket: Ticket,
    deadline: Instant,
) -> Result<Running<'a>, ApiError> {
    let cand = &plan.candidates[i];
    let provider = live
        .provider(&cand.provider.name)
        .ok_or_else(|| ApiError::internal(format!("provider `{}` is not built", cand.provider.name)))?;
    Ok(Box::pin(async move {
        let started = std::time::Instant::now();
        let result = one_call(provider, cand, call, plan, deadline).await;
        (i, ticket, started, result)
    }))
}

async fn one_call(
    provider: &Provider,
    cand: &ModelSettings,
    call: &Call<'_>,
    plan: &Plan,
    deadline: Instant,
) -> Result<Answer, ProviderError> {
    let model = cand.vendor_model.as_str();
    match call {
        Call::Complete(req) => {
            let budget = (Instant::now() + plan.timing.attempt_timeout).min(deadline);
            timeout_at(budget, provider.complete(req, model))
                .await
                .map_err(|_| timed_out("no answer", plan.timing.attempt_timeout))?
                .map(Answer::Complete)
        }
        Call::Embed(req) => {
            let budget = (Instant::now() + plan.timing.attempt_timeout).min(deadline);
            timeout_at(budget, provider.embeddings(req, model))
                .await
                .map_err(|_| timed_out("no answer", plan.timing.attempt_timeout))?
                .map(Answer::Embed)
        }
        Call::Stream(req) => {
            // One budget for connect + headers + first chunk.
            let first_by = (Instant::now() + plan.timing.first_token_timeout).min(deadline);
            let mut rest = timeout_at(first_by, provider.stream(req, model))
                .await
                .map_err(|_| timed_out("no first token", plan.timing.first_token_timeout))??;
            match timeout_at(first_by, rest.next()).await {
                Err(_) => Err(timed_out("no first token", plan.timing.first_token_timeout)),
                Ok(None) => Err(ProviderError::new(Failure::BadResponse, "vendor stream ended without a chunk")),
                Ok(Some(Err(e))) => Err(e),
                Ok(Some(Ok(first))) => Ok(Answer::Stream(Committed { first, rest })),
            }
        }
    }
}

fn timed_out(what: &str, budget: Duration) -> ProviderError {
    ProviderError::timeout(what, budget)
}

/// Failures after which a target is not tried again within the request.
fn is_account_level(f: Failure) -> bool {
    matches!(f, Failure::Auth | Failure::Quota | Failure::NotFound | Failure::TooLarge | Failure::Unsupported)
}

fn breaker_outcome(f: Failure) -> BreakerOutcome {
    match f {
        Failure::Auth | Failure::Quota | Failure::NotFound => BreakerOutcome::AccountFailure,
        Failure::InvalidRequest | Failure::ContextTooLong | Failure::TooLarge | Failure::Unsupported => {
            BreakerOutcome::Neutral
        }
        // Throttling is not a fault: the vendor says when to come back, and the deployment
        // is cooled for exactly that long instead of tripping the breaker.
        Failure::RateLimited => BreakerOutcome::Neutral,
        Failure::Connect | Failure::Timeout | Failure::Upstream | Failure::BadResponse | Failure::StreamBroken => {
            BreakerOutcome::Failure
        }
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
        latency_ms: (latency.as_secs_f64() * 1e6).round() / 1000.0,
    }
}

fn error_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        403 => "permission_error",
        429 => "rate_limit_error",
        504 => "timeout_error",
        s if s >= 500 => "upstream_error",
        _ => "invalid_request_error",
    }
}

/// A vendor error returned to the caller as it is (a request the vendor refused).
fn caller_error(err: &ProviderError, attempts: Vec<AttemptRecord>) -> ApiError {
    let status = err.caller_status();
    let code = err.code.clone().unwrap_or_else(|| err.failure.label().to_string());
    let mut e = ApiError::new(status, error_type(status), Some(&code), err.message.clone());
    e.retry_after = err.retry_after;
    e.attempts = attempts;
    e
}

/// Every candidate failed, was skipped, or the deadline passed: one error saying why.
fn all_failed(
    plan: &Plan,
    errors: &[ProviderError],
    attempts: Vec<AttemptRecord>,
    skipped: &[(usize, NotNow)],
    out_of_time: bool,
) -> ApiError {
    let now = std::time::Instant::now();
    let skipped_reasons: Vec<String> =
        skipped.iter().map(|(i, nn)| format!("{}: skipped ({})", plan.candidates[*i].name, nn.reason)).collect();
    let earliest = skipped.iter().filter_map(|(_, nn)| nn.until).min().map(|t| t.saturating_duration_since(now));
    if errors.is_empty() && !out_of_time {
        // No vendor call was possible: every target was at its limits or cooling down.
        let limited = skipped.iter().any(|(_, nn)| matches!(nn.reason, "rate_limit" | "concurrency_limit"));
        let (status, code, what) = if limited {
            (429, "target_limits_reached", "every target is at its client-side limits")
        } else {
            (503, "targets_unavailable", "every target is cooling down after failures")
        };
        let mut e = ApiError::new(
            status,
            error_type(status),
            Some(code),
            format!("`{}`: {what}: {}", plan.route, skipped_reasons.join("; ")),
        );
        e.retry_after = Some(earliest.unwrap_or(Duration::from_secs(1)).max(Duration::from_millis(1)));
        e.attempts = attempts;
        return e;
    }
    if errors.is_empty() {
        let mut e = ApiError::new(
            504,
            "timeout_error",
            Some("timeout"),
            format!("`{}` ran out of time before any target answered", plan.route),
        );
        e.attempts = attempts;
        return e;
    }
    if errors.len() == 1 && !out_of_time && skipped.is_empty() {
        return caller_error(&errors[0], attempts);
    }
    // One status when every failure maps to it (all throttled: 429, all overloaded: 503, all
    // timed out: 504); a mix is a 502.
    let first = errors[0].caller_status();
    let status = if out_of_time && errors.iter().all(|e| e.failure == Failure::Timeout) {
        504
    } else if errors.iter().all(|e| e.caller_status() == first) {
        first
    } else {
        502
    };
    let mut reasons: Vec<String> =
        attempts.iter().map(|a| format!("{}: {}", a.deployment, a.message.as_deref().unwrap_or(a.outcome))).collect();
    reasons.extend(skipped_reasons);
    let message = format!("all {} attempt(s) for `{}` failed: {}", attempts.len(), plan.route, reasons.join("; "));
    // Every call failed the same way (e.g. one target throttling): keep the vendor's code.
    let shared_code = errors[0].code.as_deref().filter(|c| errors.iter().all(|e| e.code.as_deref() == Some(*c)));
    let code = match (out_of_time, shared_code) {
        (true, _) => "timeout",
        (false, Some(c)) if skipped.is_empty() => c,
        _ => "all_targets_failed",
    };
    let mut e = ApiError::new(status, error_type(status), Some(code), message);
    e.retry_after = errors.iter().filter_map(|e| e.retry_after).min();
    e.attempts = attempts;
    e
}
