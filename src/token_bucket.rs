//! Token buckets for requests and tokens per minute, refilled continuously; pure, with time
//! passed in. A leaf: deployments (router::health) and callers (callers::limits) both use it.

use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Bucket {
    capacity: f64,
    per_sec: f64,
    level: f64,
    at: Instant,
}

impl Bucket {
    /// A bucket allowing `per_minute` units per minute, full at the start.
    pub fn per_minute(per_minute: u64, now: Instant) -> Self {
        let capacity = per_minute as f64;
        Bucket { capacity, per_sec: capacity / 60.0, level: capacity, at: now }
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.at).as_secs_f64();
        self.level = (self.level + dt * self.per_sec).min(self.capacity);
        self.at = now;
    }

    /// How long until `n` units are available (zero: now). A request larger than the whole
    /// bucket is let through when the bucket is full, or it could never run.
    pub fn wait_for(&mut self, n: f64, now: Instant) -> Duration {
        self.refill(now);
        let need = n.min(self.capacity);
        if self.level >= need { Duration::ZERO } else { Duration::from_secs_f64((need - self.level) / self.per_sec) }
    }

    pub fn take(&mut self, n: f64, now: Instant) {
        self.refill(now);
        self.level -= n.min(self.capacity);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refills_over_time() {
        let t0 = Instant::now();
        let mut b = Bucket::per_minute(60, t0);
        for _ in 0..60 {
            assert_eq!(b.wait_for(1.0, t0), Duration::ZERO);
            b.take(1.0, t0);
        }
        let w = b.wait_for(1.0, t0);
        assert!(w > Duration::from_millis(990) && w <= Duration::from_secs(1), "{w:?}");
        assert_eq!(b.wait_for(1.0, t0 + Duration::from_secs(1)), Duration::ZERO);
    }

    #[test]
    fn oversized_request_waits_for_a_full_bucket() {
        let t0 = Instant::now();
        let mut b = Bucket::per_minute(100, t0);
        assert_eq!(b.wait_for(500.0, t0), Duration::ZERO);
        b.take(500.0, t0);
        assert!(b.wait_for(500.0, t0) >= Duration::from_secs(59));
    }
}
