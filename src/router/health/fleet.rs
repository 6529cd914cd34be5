//! The fleet's side of deployment health: what a breaker tells the other hosts
//! ([`BreakerSignal`], implemented by `crate::fleet`), the openings they told this host
//! ([`FleetOpen`]), and the gate that keeps a deployment skipped until the fleet names the
//! one host that probes it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{DeploymentState, Health, Inner, NotNow, NotNowReason, lock};
use crate::router::breaker::Outcome;

/// How long a host waits for the fleet's answer on who probes before its own breaker decides
/// alone (Redis is gone, or the prober died).
const FLEET_ANSWER_WAIT: Duration = Duration::from_secs(5);

/// What a deployment's breaker tells the fleet and asks it (implemented by `crate::fleet`).
/// Every call returns at once; answers come back through [`Health`]'s `fleet_*` methods.
pub trait BreakerSignal: Send + Sync {
    /// This host's breaker for deployment `key` opened for `open_for`.
    fn opened(&self, key: &str, name: &str, open_for: Duration, account: bool);
    /// This host's probe closed it.
    fn closed(&self, key: &str, name: &str);
    /// An opening told by the fleet has ended here: may this host send the probe?
    fn wants_probe(&self, key: &str);
}

/// A breaker another host opened, as this host keeps it.
#[derive(Debug, Clone)]
pub struct FleetOpen {
    pub by: String,
    pub until: Instant,
    /// Asked the fleet who probes; `granted`: this host does.
    pub(super) asked: bool,
    pub(super) granted: bool,
}

impl Health {
    /// Another host opened deployment `key`'s breaker for `open_for`.
    pub fn fleet_opened(&self, key: &str, by: &str, open_for: Duration) {
        let f = FleetOpen { by: by.to_string(), until: Instant::now() + open_for, asked: false, granted: false };
        match self.by_fleet_key(key) {
            Some(d) => lock(&d.inner).fleet = Some(f),
            None => {
                lock(&self.pending_fleet).insert(key.to_string(), f);
            }
        }
    }

    /// The host that probed closed it (or the opening was withdrawn).
    pub fn fleet_closed(&self, key: &str) {
        lock(&self.pending_fleet).remove(key);
        if let Some(d) = self.by_fleet_key(key) {
            lock(&d.inner).fleet = None;
        }
    }

    /// The fleet's answer to [`BreakerSignal::wants_probe`]: this host probes, or another
    /// does (ask again after `retry_in` if no news came).
    pub fn fleet_probe(&self, key: &str, granted: bool, retry_in: Duration) {
        let Some(d) = self.by_fleet_key(key) else { return };
        let mut g = lock(&d.inner);
        if let Some(f) = g.fleet.as_mut() {
            f.granted = granted;
            f.asked = false;
            if !granted {
                f.until = Instant::now() + retry_in;
            }
        }
    }

    fn by_fleet_key(&self, key: &str) -> Option<Arc<DeploymentState>> {
        lock(&self.deployments).values().find(|d| d.fleet_key == key).cloned()
    }
}

impl DeploymentState {
    /// A fleet opening: skip until it ends, then wait for the fleet to name the prober (this
    /// host: `Ok(true)`, the call is the probe). No answer in time: the local breaker decides.
    pub(super) fn fleet_gate(&self, g: &mut Inner, now: Instant) -> Result<bool, NotNow> {
        if self.signal.is_some() && g.fleet.is_none() && g.breaker.due_for_probe(now) {
            // This host's own opening ended: its probe, too, is one of the fleet's.
            g.fleet = Some(FleetOpen { by: String::new(), until: now, asked: false, granted: false });
        }
        let Some(f) = g.fleet.as_mut() else { return Ok(false) };
        if now < f.until {
            return Err(NotNow { until: Some(f.until), reason: NotNowReason::BreakerOpen });
        }
        if f.granted || now > f.until + FLEET_ANSWER_WAIT || self.signal.is_none() {
            let granted = f.granted;
            g.fleet = None;
            return Ok(granted);
        }
        if !f.asked {
            f.asked = true;
            if let Some(s) = &self.signal {
                s.wants_probe(&self.fleet_key);
            }
        }
        Err(NotNow { until: None, reason: NotNowReason::BreakerOpen })
    }

    /// Tells the fleet what a recorded outcome did to the breaker (`before`: its state then).
    pub(super) fn signal_change(&self, g: &mut Inner, before: &'static str, outcome: Outcome, now: Instant) {
        if outcome == Outcome::Success {
            g.fleet = None; // this host's own success: the deployment works from here
        }
        let Some(s) = &self.signal else { return };
        match g.breaker.describe() {
            ("open", Some(until)) if before != "open" => {
                let account = g.breaker.blocked_by_account(now);
                s.opened(&self.fleet_key, &self.name, until.saturating_duration_since(now), account);
            }
            ("closed", _) if before != "closed" => s.closed(&self.fleet_key, &self.name),
            _ => {}
        }
    }
}

/// A deployment's fleet key: 16 hex digits of a hash of its fingerprint.
pub(super) fn fleet_key(fingerprint: &str) -> String {
    blake3::hash(fingerprint.as_bytes()).to_hex()[..16].to_string()
}
