//! The attempt loop: walks a plan's candidates under one deadline, classifies each failure
//! (retry the same deployment once, fail over, or return to the caller), and for streams
//! holds the commit point: a stream is handed to the caller only once its first chunk arrived,
//! so everything before that can still fail over invisibly.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::time::{Instant, timeout};

use super::Live;
use super::plan::Plan;
use crate::api::error::AttemptRecord;
use crate::api::{ApiError, ChatChunk, ChatRequest, ChatResponse, EmbeddingsRequest};
use crate::config::ModelSettings;
use crate::providers::{Action, ChunkStream, Failure, ProviderError};

/// Retries of the same deployment after a transient failure (then fail over).
const SAME_TARGET_RETRIES: u32 = 1;
/// Longest `retry-after` honoured by waiting on the same deployment.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(2);

/// The deployment that answered, and every call made.
pub struct Outcome<T> {
    pub value: T,
    pub deployment: Arc<ModelSettings>,
    pub attempts: Vec<AttemptRecord>,
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
    plan: &Plan,
    req: &ChatRequest,
    deadline: Instant,
) -> Result<Outcome<ChatResponse>, ApiError> {
    run(live, plan, Call::Complete(req), deadline)
        .await
        .map(|o| {
            o.map(|a| match a {
                Answer::Complete(r) => r,
                _ => unreachable!("complete answered with another kind"),
            })
        })
}

pub async fn stream(
    live: &Live,
    plan: &Plan,
    req: &ChatRequest,
    deadline: Instant,
) -> Result<Outcome<Committed>, ApiError> {
    run(live, plan, Call::Stream(req), deadline).await.map(|o| {
        o.map(|a| match a {
            Answer::Stream(c) => c,
            _ => unreachable!("stream answered with another kind"),
        })
    })
}

pub async fn embeddings(
    live: &Live,
    plan: &Plan,
    req: &EmbeddingsRequest,
    deadline: Instant,
) -> Result<Outcome<serde_json::Value>, ApiError> {
    run(live, plan, Call::Embed(req), deadline).await.map(|o| {
        o.map(|a| match a {
            Answer::Embed(v) => v,
            _ => unreachable!("embeddings answered with another kind"),
        })
    })
}

impl<T> Outcome<T> {
    fn map<U>(self, f: impl FnOnce(T) -> U) -> Outcome<U> {
        Outcome {
            value: f(self.value),
            deployment: self.deployment,
            attempts: self.attempts,
        }
    }
}

async fn run(
    live: &Live,
    plan: &Plan,
    call: Call<'_>,
    deadline: Instant,
) -> Result<Outcome<Answer>, ApiError> {
    let mut attempts = Vec::new();
    let mut errors: Vec<ProviderError> = Vec::new();
    for cand in &plan.candidates {
        let Some(provider) = live.provider(&cand.provider.name) else {
            return Err(ApiError::internal(format!(
                "provider `{}` is not built",
                cand.provider.name
            )));
        };
        let mut retries = 0;
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Err(all_failed(plan, errors, attempts, true));
            }
            let started = std::time::Instant::now();
            let result = one_call(provider, cand, &call, plan, deadline).await;
            let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
            let err = match result {
                Ok(value) => {
                    attempts.push(record(cand, "ok", None, None, latency_ms));
                    return Ok(Outcome {
                        value,
                        deployment: cand.clone(),
                        attempts,
                    });
                }
                Err(e) => e,
            };
            tracing::debug!(deployment = %cand.name, failure = err.failure.label(), status = ?err.status, error = %err.message, "attempt failed");
            attempts.push(record(
                cand,
                err.failure.label(),
                err.status,
                Some(err.message.clone()),
                latency_ms,
            ));
            let action = err.failure.action();
            let wait = match err.retry_after {
                Some(d) if d <= MAX_RETRY_WAIT => d,
                Some(_) => Duration::MAX,
                None => backoff(retries),
            };
            let retry = match action {
                Action::Return => return Err(caller_error(&err, attempts)),
                Action::RetrySame => {
                    retries < SAME_TARGET_RETRIES && Instant::now() + wait < deadline
                }
                Action::FailOver => false,
            };
            errors.push(err);
            if !retry {
                break;
            }
            retries += 1;
            tokio::time::sleep(wait).await;
        }
    }
    Err(all_failed(plan, errors, attempts, false))
}

async fn one_call(
    provider: &crate::providers::Provider,
    cand: &ModelSettings,
    call: &Call<'_>,
    plan: &Plan,
    deadline: Instant,
) -> Result<Answer, ProviderError> {
    let remaining = deadline.saturating_duration_since(Instant::now());
    let model = cand.vendor_model.as_str();
    match call {
        Call::Complete(req) => {
            let budget = plan.timing.attempt_timeout.min(remaining);
            timeout(budget, provider.complete(req, model))
                .await
                .map_err(|_| ProviderError::timeout("no answer", budget))?
                .map(Answer::Complete)
        }
        Call::Embed(req) => {
            let budget = plan.timing.attempt_timeout.min(remaining);
            timeout(budget, provider.embeddings(req, model))
                .await
                .map_err(|_| ProviderError::timeout("no answer", budget))?
                .map(Answer::Embed)
        }
        Call::Stream(req) => {
            // One budget for connect + headers + first chunk.
            let budget = plan.timing.first_token_timeout.min(remaining);
            let first_by = Instant::now() + budget;
            let mut rest = tokio::time::timeout_at(first_by, provider.stream(req, model))
                .await
                .map_err(|_| ProviderError::timeout("no first token", budget))??;
            match tokio::time::timeout_at(first_by, rest.next()).await {
                Err(_) => Err(ProviderError::timeout("no first token", budget)),
                Ok(None) => Err(ProviderError::new(
                    Failure::BadResponse,
                    "vendor stream ended without a chunk",
                )),
                Ok(Some(Err(e))) => Err(e),
                Ok(Some(Ok(first))) => Ok(Answer::Stream(Committed { first, rest })),
            }
        }
    }
}

fn backoff(retries: u32) -> Duration {
    let base = 50u64 << retries.min(4);
    Duration::from_millis(base / 2 + rand::random::<u64>() % (base / 2 + 1))
}

fn record(
    cand: &ModelSettings,
    outcome: &'static str,
    status: Option<u16>,
    message: Option<String>,
    latency_ms: f64,
) -> AttemptRecord {
    AttemptRecord {
        deployment: cand.name.clone(),
        provider: cand.provider.name.clone(),
        outcome,
        status,
        message,
        latency_ms: (latency_ms * 1000.0).round() / 1000.0,
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
    let code = err
        .code
        .clone()
        .unwrap_or_else(|| err.failure.label().to_string());
    let mut e = ApiError::new(status, error_type(status), Some(&code), err.message.clone());
    e.retry_after = err.retry_after;
    e.attempts = attempts;
    e
}

/// Every candidate failed (or the deadline passed): one error that says why for each.
fn all_failed(
    plan: &Plan,
    errors: Vec<ProviderError>,
    attempts: Vec<AttemptRecord>,
    deadline_hit: bool,
) -> ApiError {
    if errors.len() == 1 && !deadline_hit {
        return caller_error(&errors[0], attempts);
    }
    // One status when every failure maps to it (all throttled: 429, all overloaded: 503, all
    // timed out: 504); a mix is a 502.
    let first = errors.first().map(ProviderError::caller_status);
    let status = if deadline_hit {
        504
    } else {
        match first {
            Some(s) if errors.iter().all(|e| e.caller_status() == s) && s >= 429 => s,
            _ => 502,
        }
    };
    let reasons: Vec<String> = attempts
        .iter()
        .map(|a| {
            format!(
                "{}: {}",
                a.deployment,
                a.message.as_deref().unwrap_or(a.outcome)
            )
        })
        .collect();
    let message = if deadline_hit {
        format!(
            "route `{}` ran out of time ({} ms) after {} attempt(s): {}",
            plan.route,
            plan.timing.timeout.as_millis(),
            attempts.len(),
            reasons.join("; ")
        )
    } else {
        format!(
            "all {} attempt(s) for `{}` failed: {}",
            attempts.len(),
            plan.route,
            reasons.join("; ")
        )
    };
    let code = if deadline_hit {
        "timeout"
    } else {
        "all_targets_failed"
    };
    let mut e = ApiError::new(status, error_type(status), Some(code), message);
    e.retry_after = errors.iter().filter_map(|e| e.retry_after).min();
    e.attempts = attempts;
    e
}
