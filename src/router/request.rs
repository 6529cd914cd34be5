//! One request from its start to its end: the fields of its log line, its caller's account
//! (admission, reservation) and who answered it. `finish` ends it explicitly: the log line,
//! the budget settled with the real cost, metrics and the ledger row, once
//! (`accounting::settle`). A request dropped unfinished was abandoned by its caller; `Drop`
//! records only that, as a cancellation.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::Stats;
use super::accounting::Account;
use super::meta::Meta;
use crate::api::Usage;
use crate::api::error::{AttemptRecord, GatewayError};
use crate::cache::{Origin, Outcome};
use crate::config::ModelSettings;
use crate::wire::native::Dialect;

/// How a request ended, for its log line, metrics and ledger row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    Ok,
    Failed {
        status: u16,
        label: String,
    },
    /// The caller went away before the answer was complete.
    Cancelled,
}

impl End {
    pub fn status(&self) -> u16 {
        match self {
            End::Ok => 200,
            End::Failed { status, .. } => *status,
            End::Cancelled => 499,
        }
    }

    pub fn label(&self) -> &str {
        match self {
            End::Ok => "ok",
            End::Failed { label, .. } => label,
            End::Cancelled => "cancelled",
        }
    }
}

/// Who produced an answer: the deployment and the vendor calls made for this request (none
/// for a cache hit), and the deployment whose price the answer costs (none for a hit, which
/// costs nothing).
pub struct Answerer {
    pub origin: Origin,
    pub cache: Outcome,
    pub calls: Vec<AttemptRecord>,
    pub priced_by: Option<Arc<ModelSettings>>,
}

pub struct Tracked {
    stats: Arc<Stats>,
    pub request_id: String,
    pub route: String,
    pub deployment: String,
    pub attempts: u32,
    pub usage: Option<Usage>,
    pub cache: Outcome,
    pub label: Option<String>,
    pub stream: bool,
    /// The API the request came in as.
    pub dialect: Dialect,
    /// The prompt file version the request was rendered from (`name@version`).
    pub prompt: Option<String>,
    /// The experiment variant the request got (`[[routes.NAME.variants]]`), or the shadow's name.
    pub variant: Option<String>,
    /// A shadow call (`[[routes.NAME.shadow]]`): recorded, never returned.
    pub shadow: bool,
    pub started: std::time::Instant,
    /// Who asked, what it reserved, and where the request's usage is recorded.
    pub account: Account,
    finished: bool,
}

impl Tracked {
    pub fn start(
        stats: &Arc<Stats>,
        request_id: String,
        label: Option<String>,
        stream: bool,
        dialect: Dialect,
    ) -> Self {
        stats.requests.fetch_add(1, Ordering::Relaxed);
        stats.in_flight.fetch_add(1, Ordering::Relaxed);
        Tracked {
            stats: stats.clone(),
            request_id,
            route: String::new(),
            deployment: String::new(),
            attempts: 0,
            usage: None,
            cache: Outcome::Bypass,
            label,
            stream,
            dialect,
            prompt: None,
            variant: None,
            shadow: false,
            started: std::time::Instant::now(),
            account: Account::default(),
            finished: false,
        }
    }

    /// Notes who answered and builds the answer's meta from it (its strings move there).
    pub fn answered(&mut self, by: Answerer) -> Meta {
        let Answerer { origin, cache, calls, priced_by } = by;
        self.deployment.clone_from(&origin.deployment);
        self.attempts = calls.len() as u32;
        self.cache = cache;
        if let Some(dep) = &priced_by {
            self.account.note_answerer(dep, &calls);
        }
        Meta {
            request_id: self.request_id.clone(),
            route: self.route.clone(),
            provider: origin.provider,
            model: origin.deployment,
            vendor_model: origin.vendor_model,
            cache,
            attempts: calls.len() as u32,
            latency_ms: round_ms(self.started.elapsed()),
            attempt_log: calls,
            caller: self.account.caller.clone(),
            variant: self.variant.clone(),
            cost_usd: None,
        }
    }

    /// Ends the request with `end`: its log line, counters and accounting. Once.
    pub fn finish(&mut self, end: End) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        self.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
        if end.status() >= 400 {
            self.stats.failures.fetch_add(1, Ordering::Relaxed);
        }
        self.log_line(&end);
        super::accounting::settle(self, &end);
    }

    /// Ends the request with `e` and passes it on (for `map_err`).
    pub fn fail(&mut self, e: GatewayError) -> GatewayError {
        self.attempts = self.attempts.max(e.attempts().len() as u32);
        self.finish(End::Failed { status: e.status(), label: e.label().into_owned() });
        e
    }

    fn log_line(&self, end: &End) {
        let u = self.usage.unwrap_or_default();
        tracing::info!(
            target: "sidegate::request",
            request_id = %self.request_id,
            route = %self.route,
            deployment = %self.deployment,
            status = end.status(),
            outcome = %end.label(),
            stream = self.stream,
            dialect = self.dialect.as_str(),
            prompt = self.prompt.as_deref().unwrap_or(""),
            variant = self.variant.as_deref().unwrap_or(""),
            shadow = self.shadow,
            attempts = self.attempts,
            cache = self.cache.as_str(),
            latency_ms = round_ms(self.started.elapsed()),
            prompt_tokens = u.prompt_tokens,
            completion_tokens = u.completion_tokens,
            label = self.label.as_deref().unwrap_or(""),
            caller = %self.account.caller,
            "request"
        );
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        // Unfinished: the caller went away (a dropped future or stream).
        self.finish(End::Cancelled);
    }
}

pub fn round_ms(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1000.0
}
