//! Circuit breaker of one deployment: a small state machine with time passed in, so it is
//! tested without sleeping.
//!
//! Closed: traffic flows; it opens after `consecutive` failures in a row, or when the failure
//! rate over the rolling window passes `failure_rate` with at least `min_requests` calls.
//! Account-level failures (bad key, no quota, unknown model) open it at once, for longer.
//! Open: skipped at no cost until `until`. Then half-open: exactly one probe call goes through;
//! its success closes the breaker, its failure reopens it with a doubled backoff.

use std::time::{Duration, Instant};

pub use crate::config::BreakerSettings as BreakerConfig;

const BUCKETS: usize = 10;

/// What a finished call means for the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// The deployment failed (5xx, timeout, refused, broken stream, 429).
    Failure,
    /// Our account is the problem: bad key, no quota, model gone.
    AccountFailure,
    /// Says nothing about the deployment (the caller's bad request, a cancel).
    Neutral,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    Yes,
    /// Half-open: this call is the single probe; report its outcome.
    Probe,
    /// Open (or a probe is already out): skip; `Some(t)` when it may be tried again.
    No(Option<Instant>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Closed,
    Open { until: Instant },
    HalfOpen { probing: bool },
}

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    start: Option<Instant>,
    ok: u32,
    failed: u32,
}

#[derive(Debug, Clone)]
pub struct Breaker {
    cfg: BreakerConfig,
    state: State,
    consecutive: u32,
    /// Backoff for the next opening; doubles on failed probes, resets on close.
    backoff: Duration,
    buckets: [Bucket; BUCKETS],
    /// The current opening was an account failure's (bad key, no quota, model gone): waiting
    /// it out will not help, so a request with no other target fails at once.
    account_opened: bool,
}

impl Breaker {
    pub fn new(cfg: BreakerConfig) -> Self {
        Breaker {
            cfg,
            state: State::Closed,
            consecutive: 0,
            backoff: cfg.open_base,
            buckets: [Bucket::default(); BUCKETS],
            account_opened: false,
        }
    }

    pub fn admit(&mut self, now: Instant) -> Admit {
        match self.state {
            State::Closed => Admit::Yes,
            State::Open { until } if now < until => Admit::No(Some(until)),
            State::Open { .. } => {
                self.state = State::HalfOpen { probing: true };
                Admit::Probe
            }
            State::HalfOpen { probing: false } => {
                self.state = State::HalfOpen { probing: true };
                Admit::Probe
            }
            State::HalfOpen { probing: true } => Admit::No(None),
        }
    }

    /// The fleet named this host to probe a deployment another host's breaker opened: a closed
    /// breaker lets this one call through as a probe (an open one of its own still rules).
    pub fn begin_probe(&mut self, now: Instant) -> Admit {
        match self.state {
            State::Closed => {
                self.state = State::HalfOpen { probing: true };
                Admit::Probe
            }
            _ => self.admit(now),
        }
    }

    /// Whether the next admit would send a probe (the opening is over, no probe out).
    pub fn due_for_probe(&self, now: Instant) -> bool {
        match self.state {
            State::Open { until } => now >= until,
            State::HalfOpen { probing } => !probing,
            State::Closed => false,
        }
    }

    /// Records a call admitted with `Yes` or `Probe`.
    pub fn record(&mut self, now: Instant, outcome: Outcome, probe: bool) {
        if outcome != Outcome::Neutral {
            self.count(now, outcome == Outcome::Success);
        }
        match (self.state, outcome) {
            (_, Outcome::Neutral) => {
                if probe {
                    self.state = State::HalfOpen { probing: false };
                }
            }
            (State::HalfOpen { .. }, Outcome::Success) if probe => self.close(),
            (_, Outcome::Success) => self.consecutive = 0,
            (_, Outcome::AccountFailure) => {
                self.open(now, self.cfg.account_open.max(self.backoff));
                self.account_opened = true;
            }
            (State::HalfOpen { .. }, Outcome::Failure) if probe => {
                self.backoff = (self.backoff * 2).min(self.cfg.open_max);
                self.open(now, self.backoff);
            }
            (State::Closed, Outcome::Failure) => {
                self.consecutive += 1;
                let (ok, failed) = self.window(now);
                let total = ok + failed;
                let rate_trip =
                    total >= self.cfg.min_requests && f64::from(failed) / f64::from(total) >= self.cfg.failure_rate;
                if self.consecutive >= self.cfg.consecutive || rate_trip {
                    self.open(now, self.backoff);
                }
            }
            (_, Outcome::Failure) => {} // a late result while open: already counted above
        }
    }

    /// Keeps the deployment away until `until` (a vendor's `retry-after`), whatever the state;
    /// then a single probe goes through, as after any opening.
    pub fn cool_until(&mut self, until: Instant) {
        let until = match self.state {
            State::Open { until: cur } => cur.max(until),
            _ => until,
        };
        self.state = State::Open { until };
    }

    /// Open at `now` because an account failure opened it (not a vendor fault or a cooldown).
    pub fn blocked_by_account(&self, now: Instant) -> bool {
        self.account_opened && matches!(self.state, State::Open { until } if now < until)
    }

    fn open(&mut self, now: Instant, d: Duration) {
        self.state = State::Open { until: now + d };
        self.consecutive = 0;
        self.account_opened = false;
    }

    fn close(&mut self) {
        self.state = State::Closed;
        self.account_opened = false;
        self.consecutive = 0;
        self.backoff = self.cfg.open_base;
        self.buckets = [Bucket::default(); BUCKETS];
    }

    fn bucket_len(&self) -> Duration {
        self.cfg.window / BUCKETS as u32
    }

    fn count(&mut self, now: Instant, ok: bool) {
        let len = self.bucket_len();
        let newest =
            self.buckets.iter().enumerate().filter_map(|(i, b)| b.start.map(|s| (i, s))).max_by_key(|(_, s)| *s);
        let idx = match newest {
            Some((i, s)) if now.saturating_duration_since(s) < len => i,
            Some((i, _)) => {
                let j = (i + 1) % BUCKETS;
                self.buckets[j] = Bucket { start: Some(now), ok: 0, failed: 0 };
                j
            }
            None => {
                self.buckets[0] = Bucket { start: Some(now), ok: 0, failed: 0 };
                0
            }
        };
        if ok {
            self.buckets[idx].ok += 1;
        } else {
            self.buckets[idx].failed += 1;
        }
    }

    /// (successes, failures) within the window ending at `now`.
    pub fn window(&self, now: Instant) -> (u32, u32) {
        self.buckets
            .iter()
            .filter(|b| b.start.is_some_and(|s| now.saturating_duration_since(s) < self.cfg.window))
            .fold((0, 0), |(o, f), b| (o + b.ok, f + b.failed))
    }

    /// `closed`, `open` or `half_open`, and when an open breaker lets a probe through.
    pub fn describe(&self) -> (&'static str, Option<Instant>) {
        match self.state {
            State::Closed => ("closed", None),
            State::Open { until } => ("open", Some(until)),
            State::HalfOpen { .. } => ("half_open", None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> BreakerConfig {
        BreakerConfig { consecutive: 3, min_requests: 10, ..BreakerConfig::default() }
    }

    #[test]
    fn opens_after_consecutive_failures_then_probes_once() {
        let t0 = Instant::now();
        let mut b = Breaker::new(cfg());
        for _ in 0..2 {
            assert_eq!(b.admit(t0), Admit::Yes);
            b.record(t0, Outcome::Failure, false);
        }
        assert_eq!(b.admit(t0), Admit::Yes);
        b.record(t0, Outcome::Failure, false);
        assert!(matches!(b.admit(t0), Admit::No(Some(_))));
        let later = t0 + Duration::from_secs(3);
        assert_eq!(b.admit(later), Admit::Probe);
        assert_eq!(b.admit(later), Admit::No(None), "only one probe at a time");
        b.record(later, Outcome::Success, true);
        assert_eq!(b.admit(later), Admit::Yes);
        assert_eq!(b.describe().0, "closed");
    }

    #[test]
    fn failed_probe_doubles_the_backoff() {
        let t0 = Instant::now();
        let mut b = Breaker::new(cfg());
        for _ in 0..3 {
            b.record(t0, Outcome::Failure, false);
        }
        let t1 = t0 + Duration::from_secs(2);
        assert_eq!(b.admit(t1), Admit::Probe);
        b.record(t1, Outcome::Failure, true);
        assert!(matches!(b.admit(t1 + Duration::from_secs(3)), Admit::No(_)), "4 s backoff now");
        assert_eq!(b.admit(t1 + Duration::from_secs(4)), Admit::Probe);
    }

    #[test]
    fn cancelled_probe_frees_the_slot() {
        let t0 = Instant::now();
        let mut b = Breaker::new(cfg());
        for _ in 0..3 {
            b.record(t0, Outcome::Failure, false);
        }
        let t1 = t0 + Duration::from_secs(2);
        assert_eq!(b.admit(t1), Admit::Probe);
        b.record(t1, Outcome::Neutral, true);
        assert_eq!(b.admit(t1), Admit::Probe);
    }

    #[test]
    fn failure_rate_over_window_trips() {
        let t0 = Instant::now();
        let mut b = Breaker::new(BreakerConfig { consecutive: 100, min_requests: 10, ..BreakerConfig::default() });
        for i in 0..10 {
            let t = t0 + Duration::from_millis(i * 100);
            b.record(t, if i % 2 == 0 { Outcome::Success } else { Outcome::Failure }, false);
        }
        assert!(matches!(b.admit(t0 + Duration::from_secs(1)), Admit::No(_)));
    }

    #[test]
    fn old_failures_leave_the_window() {
        let t0 = Instant::now();
        let mut b = Breaker::new(BreakerConfig { consecutive: 100, min_requests: 4, ..BreakerConfig::default() });
        b.record(t0, Outcome::Failure, false);
        b.record(t0, Outcome::Failure, false);
        let later = t0 + Duration::from_secs(60);
        b.record(later, Outcome::Success, false);
        b.record(later, Outcome::Success, false);
        assert_eq!(b.window(later), (2, 0));
        assert_eq!(b.admit(later), Admit::Yes);
    }

    #[test]
    fn a_fleet_probe_goes_through_a_closed_breaker_once() {
        let t0 = Instant::now();
        let mut b = Breaker::new(cfg());
        assert_eq!(b.begin_probe(t0), Admit::Probe);
        assert_eq!(b.admit(t0), Admit::No(None), "the probe is out");
        b.record(t0, Outcome::Failure, true);
        assert!(matches!(b.admit(t0), Admit::No(Some(_))), "a failed fleet probe opens it here");
        assert!(matches!(b.begin_probe(t0), Admit::No(Some(_))), "its own opening still rules");
        assert!(!b.due_for_probe(t0));
        assert!(b.due_for_probe(t0 + Duration::from_secs(5)), "after the doubled backoff");
    }

    #[test]
    fn account_failure_opens_for_long() {
        let t0 = Instant::now();
        let mut b = Breaker::new(cfg());
        b.record(t0, Outcome::AccountFailure, false);
        assert!(matches!(b.admit(t0 + Duration::from_secs(30)), Admit::No(_)));
        assert_eq!(b.admit(t0 + Duration::from_secs(61)), Admit::Probe);
    }

    #[test]
    fn only_an_account_opening_blocks_by_account() {
        let t0 = Instant::now();
        let mut b = Breaker::new(cfg());
        b.record(t0, Outcome::AccountFailure, false);
        assert!(b.blocked_by_account(t0 + Duration::from_secs(30)));
        assert!(!b.blocked_by_account(t0 + Duration::from_secs(61)), "due for a probe");
        // the probe fails the vendor's way: an ordinary opening now
        assert_eq!(b.admit(t0 + Duration::from_secs(61)), Admit::Probe);
        b.record(t0 + Duration::from_secs(61), Outcome::Failure, true);
        assert!(matches!(b.admit(t0 + Duration::from_secs(62)), Admit::No(_)));
        assert!(!b.blocked_by_account(t0 + Duration::from_secs(62)));

        let mut b = Breaker::new(cfg());
        for _ in 0..3 {
            b.record(t0, Outcome::Failure, false);
        }
        assert!(matches!(b.admit(t0), Admit::No(_)));
        assert!(!b.blocked_by_account(t0), "a vendor fault: worth waiting for");
    }
}
