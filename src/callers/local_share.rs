//! What one host counts of the shared limits while Redis is unreachable: its share of each
//! sliding rpm/tpm window and of each budget period, and the entries to add to the shared
//! counters once Redis answers again (`callers::shared`).

use std::collections::HashMap;
use std::sync::Mutex;

/// Entries are kept for at most this many reconciliations' worth (a very long outage drops
/// the oldest: the shared counters then undercount, never the requests fail).
const MAX_PENDING: usize = 100_000;

/// Something counted here that the shared counters do not have yet.
#[derive(Debug, Clone)]
pub enum Pending {
    Spent { caller: String, start: u64, end: u64, amount: f64 },
    Rate { caller: String, kind: String, amount: f64, now_ms: u64 },
}

#[derive(Default)]
struct Window {
    minute: u64,
    cur: f64,
    prev: f64,
}

#[derive(Default)]
pub struct LocalShare {
    windows: Mutex<HashMap<(String, String), Window>>,
    /// Per budget period: what this host reserved or spent while Redis was down.
    budgets: Mutex<HashMap<(String, u64), f64>>,
    pending: Mutex<Vec<Pending>>,
}

impl LocalShare {
    /// Takes `amount` from this host's sliding window for (`kind`, `caller`) unless that
    /// passes `share`; `Err(seconds)` until there is room.
    pub fn take_rate(&self, kind: &str, caller: &str, amount: f64, share: f64, now_ms: u64) -> Result<(), f64> {
        let minute = now_ms / 60_000;
        let gone = (now_ms % 60_000) as f64 / 60_000.0;
        let mut map = lock(&self.windows);
        let w = map.entry((kind.to_string(), caller.to_string())).or_default();
        if w.minute != minute {
            w.prev = if w.minute + 1 == minute { w.cur } else { 0.0 };
            w.cur = 0.0;
            w.minute = minute;
        }
        let used = w.prev * (1.0 - gone) + w.cur;
        if used + amount > share + 1e-9 {
            return Err((60.0 - gone * 60.0).max(1.0));
        }
        w.cur += amount;
        Ok(())
    }

    /// Holds `ceiling` of this host's `share` of a budget period; `Err(used)` when over.
    pub fn reserve_budget(&self, period: &(String, u64), ceiling: f64, share: f64) -> Result<(), f64> {
        let mut map = lock(&self.budgets);
        let used = map.entry(period.clone()).or_insert(0.0);
        if *used + ceiling > share + 1e-9 {
            return Err(*used);
        }
        *used += ceiling;
        Ok(())
    }

    /// A local reservation of `ceiling` cost `cost`.
    pub fn settle_budget(&self, period: &(String, u64), ceiling: f64, cost: f64) {
        if let Some(used) = lock(&self.budgets).get_mut(period) {
            *used = (*used - ceiling + cost).max(0.0);
        }
    }

    /// Redis has everything this host counted: the next outage starts from its totals.
    pub fn clear_budgets(&self) {
        lock(&self.budgets).clear();
    }

    pub fn queue(&self, p: Pending) {
        let mut q = lock(&self.pending);
        if q.len() >= MAX_PENDING {
            q.remove(0);
        }
        q.push(p);
    }

    pub fn drain(&self) -> Vec<Pending> {
        std::mem::take(&mut *lock(&self.pending))
    }

    /// Puts back what could not be added (Redis went away again), oldest first.
    pub fn requeue(&self, mut rest: Vec<Pending>) {
        let mut q = lock(&self.pending);
        rest.append(&mut q);
        rest.truncate(MAX_PENDING);
        *q = rest;
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_local_window_slides() {
        let s = LocalShare::default();
        for _ in 0..10 {
            assert!(s.take_rate("rpm", "me", 1.0, 10.0, 60_000).is_ok());
        }
        assert!(s.take_rate("rpm", "me", 1.0, 10.0, 60_000).is_err());
        // half of the next minute gone: half of last minute's 10 still counts
        for _ in 0..5 {
            assert!(s.take_rate("rpm", "me", 1.0, 10.0, 150_000).is_ok());
        }
        assert!(s.take_rate("rpm", "me", 1.0, 10.0, 150_000).is_err());
        // two minutes later nothing counts
        assert!(s.take_rate("rpm", "me", 10.0, 10.0, 300_000).is_ok());
    }

    #[test]
    fn pending_entries_survive_a_failed_reconcile_in_order() {
        let s = LocalShare::default();
        for i in 0..3 {
            s.queue(Pending::Rate { caller: "me".into(), kind: "rpm".into(), amount: 1.0, now_ms: i });
        }
        let all = s.drain();
        s.queue(Pending::Rate { caller: "me".into(), kind: "rpm".into(), amount: 1.0, now_ms: 9 });
        s.requeue(all[1..].to_vec());
        let order: Vec<u64> = s
            .drain()
            .iter()
            .map(|p| match p {
                Pending::Rate { now_ms, .. } => *now_ms,
                Pending::Spent { .. } => 0,
            })
            .collect();
        assert_eq!(order, [1, 2, 9]);
    }
}
