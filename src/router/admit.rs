//! The admission step: everything a request goes through before any vendor call. Who is asking
//! and whether they may use what they named, the plan, the caller's limits and budget (on this
//! host, then across hosts), and the deadline.

use tokio::time::Instant;

use super::accounting::Accounting;
use super::health::Health;
use super::plan::{self, Needs, Plan};
use super::request::Tracked;
use super::{CallOptions, Live};
use crate::api::error::GatewayError;

/// An admitted request: its plan and the instant its time is up.
pub struct Admitted {
    pub plan: Plan,
    pub deadline: Instant,
}

pub async fn admit(
    acct: &std::sync::Arc<Accounting>,
    health: &Health,
    live: &Live,
    needs: &Needs,
    opts: &CallOptions,
    (name, target): (&str, &str),
    req: &mut Tracked,
) -> Result<Admitted, GatewayError> {
    let snap = &live.snapshot;
    // The caller may use what it asked for (`name`); an experiment's variant may plan it on
    // another route or model (`target`), and it is recorded under the route it asked for.
    acct.authorize(snap, &opts.credential, name, req)?;
    let plan = plan::plan(snap, target, needs, health)?;
    req.route = if target == name { plan.route.clone() } else { name.to_string() };
    acct.admit(snap, &plan.candidates, plan.tokens, needs, req)?;
    acct.admit_shared(snap, plan.tokens, req).await?;
    let timeout = opts.timeout.map_or(plan.timing.timeout, |t| t.min(plan.timing.timeout));
    Ok(Admitted { deadline: Instant::now() + timeout, plan })
}
