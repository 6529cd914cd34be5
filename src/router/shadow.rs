//! Shadow variants: a sampled copy of a route's live traffic (`[[routes.NAME.shadow]]`),
//! sent in the background once the live answer is chosen, and recorded (a ledger row with
//! the variant and the shadow flag, its latency, tokens and cost), never returned.
//!
//! A shadow never delays or fails the live request: it is launched after the live answer is
//! produced, it runs in its own task, and whatever it meets (a full queue, its budget, an
//! error) is only counted (`sidegate_shadow_requests_total{route, variant, outcome}`). Each
//! shadow has at most `concurrency` calls in flight; a copy past that is dropped. Each has a
//! budget per UTC day: a call reserves what it could cost at most (its candidates' dearest
//! price for the prompt and `max_tokens`, or 4096 output tokens) before it is sent, and the
//! reservation is settled with the real cost, so concurrent shadows cannot overshoot. The
//! day's spend starts from the ledger's shadow rows, so a restart does not reset the cap.
//! Shadow calls are not the caller's: they count against no caller limit or budget.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use super::accounting::{Account, Accounting};
use super::admit::Admitted;
use super::attempt::Job;
use super::experiment::{ShadowCopy, with_variant_prompt};
use super::health::Health;
use super::request::Tracked;
use super::{ChatAnswer, Live, Stats, deliver, plan, produce, prompt_step};
use crate::api::ChatRequest;
use crate::callers::prices::price_of;
use crate::config::experiments::Shadow;
use crate::wire::native::Dialect;

/// Output tokens a reservation assumes when the request sets no `max_tokens`.
const DEFAULT_OUTPUT_CAP: u64 = 4096;
const DAY_S: u64 = 86_400;

/// Every shadow's state (in flight, the day's budget), by route and shadow name; outlives
/// config snapshots, so a reload keeps what was spent.
#[derive(Default)]
pub struct Shadows {
    states: Mutex<HashMap<(String, String), Arc<ShadowState>>>,
    /// The shadow calls' own request counters (`status` counts live traffic only).
    stats: Arc<Stats>,
}

/// What a shadow copy came to, for `sidegate_shadow_requests_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Called and answered (its row is in the ledger).
    Ran,
    /// Called (or about to be) and failed: a prompt that does not render, no eligible
    /// target, a vendor error (a failed call has a ledger row too).
    Failed,
    /// Skipped: the day's budget cannot cover what it could cost.
    Budget,
    /// Dropped: the shadow had `concurrency` calls in flight.
    Full,
    /// Skipped: no candidate has a known price, so its cost could not be capped.
    Unpriced,
    /// Skipped: the live request names its own version of the prompt, or another prompt.
    Pinned,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ran => "ran",
            Outcome::Failed => "failed",
            Outcome::Budget => "budget",
            Outcome::Full => "full",
            Outcome::Unpriced => "unpriced",
            Outcome::Pinned => "pinned",
        }
    }
}

/// The live request a copy comes from: where it is recorded and with what.
pub struct Origin<'a> {
    pub live: Arc<Live>,
    pub health: Arc<Health>,
    pub accounting: Arc<Accounting>,
    /// The experiment's route.
    pub route: &'a str,
    pub caller: &'a str,
    pub label: Option<&'a str>,
    pub dialect: Dialect,
}

impl Shadows {
    /// Sends `copy` to each of its shadows in the background (or counts why not).
    pub fn launch(&self, copy: ShadowCopy, from: Origin<'_>) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else { return };
        for shadow in &copy.shadows {
            let merged = with_variant_prompt(shadow.prompt.as_deref(), copy.prompt.clone().map(Ok));
            if !merged.applies {
                count(&from.accounting, from.route, &shadow.name, Outcome::Pinned);
                continue;
            }
            let state = self.state(from.route, &shadow.name);
            let Some(slot) = Slot::take(&state, shadow.concurrency) else {
                count(&from.accounting, from.route, &shadow.name, Outcome::Full);
                continue;
            };
            let mut req = copy.request.clone();
            // A whole answer, in the canonical shape: nothing is relayed, only recorded.
            req.native = None;
            req.stream = None;
            req.stream_options = None;
            let prompt = merged.prompt;
            let call = Call {
                live: from.live.clone(),
                health: from.health.clone(),
                accounting: from.accounting.clone(),
                stats: self.stats.clone(),
                shadow: shadow.clone(),
                route: from.route.to_string(),
                caller: from.caller.to_string(),
                label: from.label.map(str::to_string),
                dialect: from.dialect,
                req,
                prompt,
            };
            rt.spawn(async move {
                let (route, name, acct) = (call.route.clone(), call.shadow.name.clone(), call.accounting.clone());
                let outcome = call.run(slot).await;
                count(&acct, &route, &name, outcome);
            });
        }
    }

    fn state(&self, route: &str, name: &str) -> Arc<ShadowState> {
        let mut states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        states.entry((route.to_string(), name.to_string())).or_default().clone()
    }
}

fn count(acct: &Accounting, route: &str, variant: &str, outcome: Outcome) {
    let key = crate::usage::metrics::Shadow {
        route: route.to_string(),
        variant: variant.to_string(),
        outcome: outcome.as_str(),
    };
    acct.metrics.shadows.get_or_create(&key).inc();
}

/// One shadow call, owned by its task.
struct Call {
    live: Arc<Live>,
    health: Arc<Health>,
    accounting: Arc<Accounting>,
    stats: Arc<Stats>,
    shadow: Arc<Shadow>,
    route: String,
    caller: String,
    label: Option<String>,
    dialect: Dialect,
    req: ChatRequest,
    prompt: Option<Result<crate::prompts::PromptRef, String>>,
}

impl Call {
    async fn run(mut self, slot: Slot) -> Outcome {
        let (plan, ceiling) = match self.prepare() {
            Ok(p) => p,
            Err(skipped) => return skipped,
        };
        let ledger = self.accounting.ledger.as_ref();
        let spent_before = |since_s: u64| match ledger {
            Some(l) => l.shadow_spent_since(&self.route, &self.shadow.name, since_s).map_err(|e| e.to_string()),
            None => Ok(0.0),
        };
        let today = crate::api::ids::unix_now() / DAY_S;
        let Some(reservation) = slot.0.reserve(ceiling, self.shadow.budget_usd, today, spent_before) else {
            return Outcome::Budget;
        };
        match self.call(plan).await {
            Called::Answered(cost) => {
                // (An answer with no known cost is held at its ceiling.)
                reservation.settle(cost.unwrap_or(ceiling));
                Outcome::Ran
            }
            Called::Failed => {
                // A failed call has no usage: it costs nothing, as for live requests.
                reservation.settle(0.0);
                Outcome::Failed
            }
        }
    }

    /// The copy rendered and planned on the shadow's target, and what it could cost at most.
    fn prepare(&mut self) -> Result<(plan::Plan, f64), Outcome> {
        let snap = self.live.snapshot.clone();
        if let Some(p) = self.prompt.take() {
            let rendered = p.and_then(|r| prompt_step::render(&snap.prompts, &r, &mut self.req));
            if let Err(e) = rendered {
                tracing::debug!(route = %self.route, variant = %self.shadow.name, error = %e, "shadow not sent");
                return Err(Outcome::Failed);
            }
        }
        let target = self.shadow.target.as_deref().unwrap_or(&self.route);
        self.req.model = target.to_string();
        let needs = plan::Needs::chat(&self.req, None);
        let (Ok(()), Ok(plan)) = (self.req.validate(), plan::plan(&snap, target, &needs, &self.health)) else {
            return Err(Outcome::Failed);
        };
        let ceiling = ceiling(&plan, &needs).ok_or(Outcome::Unpriced)?;
        Ok((plan, ceiling))
    }

    /// The vendor call, recorded as the shadow's request.
    async fn call(mut self, plan: plan::Plan) -> Called {
        let mut t = Tracked::start(&self.stats, super::meta::request_id(), self.label.take(), false, self.dialect);
        t.route.clone_from(&self.route);
        t.variant = Some(self.shadow.name.clone());
        t.shadow = true;
        t.prompt = self.req.prompt.as_ref().map(|p| p.id.clone());
        t.account = Account::for_shadow(self.accounting.clone(), std::mem::take(&mut self.caller));
        let admitted = Admitted { deadline: tokio::time::Instant::now() + plan.timing.timeout, plan };
        let produced = match produce::direct(&self.live, &self.health, &admitted, Job::Complete(&self.req)).await {
            Ok(p) => p,
            Err(e) => {
                t.fail(e);
                return Called::Failed;
            }
        };
        match deliver::chat(t, produced, &self.req, None) {
            Ok(ChatAnswer::Full(_, meta)) => Called::Answered(meta.cost_usd),
            Ok(ChatAnswer::Stream(_)) | Err(_) => Called::Failed,
        }
    }
}

/// How a shadow's vendor call ended.
enum Called {
    /// Answered, at this cost (None: not known).
    Answered(Option<f64>),
    Failed,
}

/// What the dearest candidate of `plan` could cost for this request; None when one has no
/// known price (its cost could not be capped).
fn ceiling(plan: &plan::Plan, needs: &plan::Needs) -> Option<f64> {
    let output = needs.max_output.unwrap_or(DEFAULT_OUTPUT_CAP);
    plan.candidates
        .iter()
        .map(|m| price_of(m).map(|p| p.ceiling(needs.prompt_tokens, output, needs.cache_writes)))
        .try_fold(0.0f64, |acc, c| c.map(|c| acc.max(c)))
}

/// One shadow's live state.
#[derive(Default)]
pub struct ShadowState {
    in_flight: AtomicU32,
    budget: Mutex<DayBudget>,
}

/// The spend of one UTC day: settled, and reserved by calls in flight.
#[derive(Debug, Default)]
struct DayBudget {
    /// Days since the epoch (None: nothing spent yet in this process).
    day: Option<u64>,
    spent: f64,
    reserved: f64,
}

impl ShadowState {
    /// Reserves `ceiling` USD of `cap` for day `today`, or None when what is spent and
    /// reserved leaves less. The first reservation of a day starts from what the ledger says
    /// was spent that day (`spent_before(day start)`); a ledger that cannot be read refuses
    /// (the cap fails closed).
    pub fn reserve(
        self: &Arc<Self>,
        ceiling: f64,
        cap: f64,
        today: u64,
        spent_before: impl FnOnce(u64) -> Result<f64, String>,
    ) -> Option<Reservation> {
        let mut b = self.budget.lock().unwrap_or_else(|p| p.into_inner());
        if b.day != Some(today) {
            // (Once a day per shadow: a short read of the ledger under this lock.)
            match spent_before(today * DAY_S) {
                Ok(spent) => {
                    b.spent = spent;
                    b.day = Some(today);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "shadow budget unknown: the ledger cannot be read; shadow skipped");
                    return None;
                }
            }
        }
        if b.spent + b.reserved + ceiling > cap {
            return None;
        }
        b.reserved += ceiling;
        Some(Reservation { state: self.clone(), ceiling, day: today, settled: false })
    }

    /// What the current day has spent (settled) and holds reserved.
    #[cfg(test)]
    pub fn spent_and_reserved(&self) -> (f64, f64) {
        let b = self.budget.lock().unwrap_or_else(|p| p.into_inner());
        (b.spent, b.reserved)
    }

    fn settle(&self, ceiling: f64, day: u64, cost: f64) {
        let mut b = self.budget.lock().unwrap_or_else(|p| p.into_inner());
        b.reserved = (b.reserved - ceiling).max(0.0);
        if b.day == Some(day) {
            b.spent += cost;
        }
    }
}

/// A shadow call's hold on its day's budget; settled with the real cost (dropped unsettled:
/// at the ceiling, the most it could have cost).
pub struct Reservation {
    state: Arc<ShadowState>,
    ceiling: f64,
    day: u64,
    settled: bool,
}

impl Reservation {
    pub fn settle(mut self, cost: f64) {
        self.settled = true;
        self.state.settle(self.ceiling, self.day, cost);
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.settled {
            self.state.settle(self.ceiling, self.day, self.ceiling);
        }
    }
}

/// One of a shadow's `concurrency` places in flight, given back when dropped.
struct Slot(Arc<ShadowState>);

impl Slot {
    fn take(state: &Arc<ShadowState>, limit: u32) -> Option<Slot> {
        let was = state.in_flight.fetch_add(1, Ordering::AcqRel);
        if was >= limit {
            state.in_flight.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Slot(state.clone()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
#[path = "shadow_tests.rs"]
mod tests;

impl super::Gateway {
    /// Sends the shadow copy of an assigned request, once its live answer is produced.
    pub(super) fn launch_shadows(&self, assigned: super::experiment::Assigned, live: &Tracked) {
        let Some(copy) = assigned.shadows else { return };
        let from = Origin {
            live: self.current(),
            health: self.health.clone(),
            accounting: self.accounting.clone(),
            route: &assigned.route,
            caller: &live.account.caller,
            label: live.label.as_deref(),
            dialect: live.dialect,
        };
        self.shadows.launch(copy, from);
    }
}
