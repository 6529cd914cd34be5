//! Caller limits and budgets shared by every host through Redis (`[shared] redis`): each
//! check is one atomic Lua script on the server (check-and-add, never read-modify-write from
//! here), so hosts can never jointly overspend.
//!
//! - rpm/tpm are sliding windows: this minute's count plus the last minute's, weighted by how
//!   much of it is still inside the window (two keys per caller, never a fixed-minute reset).
//! - a budget reservation is its own entry with its own TTL (`[shared] reservation_ttl`): a
//!   host that dies mid-call does not hold the amount past it.
//! - Redis down or slow: each host enforces its share of each shared limit, the limit divided
//!   by the live hosts (heartbeats, `crate::fleet`), against what the fleet had spent when
//!   Redis was last seen; what it counted meanwhile is added to the shared counters when Redis
//!   answers again. The connection reconnects by itself ([`Link`]); one warning per minute.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::local_share::{LocalShare, Pending};
use crate::fleet::connect::Link;

/// Budget: drop expired reservations, then hold `ceiling` unless spent + held would pass the
/// limit. KEYS: spent, held (hash id -> amount), expiries (zset id -> ms).
/// ARGV: id, ceiling, limit, now ms, ttl ms, expire-at (s). Returns `ok:<total>` or `over:<total>`.
const RESERVE: &str = r"
local now = tonumber(ARGV[4])
local gone = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)
for _, id in ipairs(gone) do redis.call('HDEL', KEYS[2], id) end
if #gone > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now) end
local held = 0
for _, v in ipairs(redis.call('HVALS', KEYS[2])) do held = held + tonumber(v) end
local total = tonumber(redis.call('GET', KEYS[1]) or '0') + held
if total + tonumber(ARGV[2]) > tonumber(ARGV[3]) + 1e-9 then return 'over:' .. tostring(total) end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[5]), ARGV[1])
for i = 2, 3 do redis.call('EXPIREAT', KEYS[i], ARGV[6]) end
return 'ok:' .. tostring(total + tonumber(ARGV[2]))";

/// Settle: the reservation goes (if its TTL has not already released it), the real cost is
/// spent. KEYS as RESERVE; ARGV: id, cost, expire-at (s).
const SETTLE: &str = r"
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('INCRBYFLOAT', KEYS[1], ARGV[2])
redis.call('EXPIREAT', KEYS[1], ARGV[3])
return 1";

/// Sliding window: KEYS this minute's and last minute's counts; ARGV amount, limit, the
/// fraction of this minute gone. Returns `ok` or the window's use (`over:<used>:<last>`).
const TAKE: &str = r"
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local prev = tonumber(redis.call('GET', KEYS[2]) or '0')
local used = prev * (1 - tonumber(ARGV[3])) + cur
if used + tonumber(ARGV[1]) > tonumber(ARGV[2]) + 1e-9 then
  return 'over:' .. tostring(cur) .. ':' .. tostring(prev)
end
redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], 130)
return 'ok'";

/// What a shared check said.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    Ok,
    /// Over the shared limit: budget spent so far (budgets) / seconds until there is room.
    Over(f64),
    /// Redis did not answer in time, and this host's share allows it: go on.
    Unavailable,
}

/// A budget reservation held in Redis (or, while Redis was down, on this host only).
#[derive(Debug, Clone)]
pub struct Reservation {
    caller: String,
    start: u64,
    end: u64,
    id: String,
    ceiling: f64,
    /// Made while Redis was down: settled into this host's share and reconciled later.
    local: bool,
}

pub struct SharedLimits {
    link: Arc<Link>,
    reservation_ttl: Duration,
    /// Live hosts in the fleet (heartbeats); at least 1.
    hosts: Arc<AtomicU32>,
    /// Each budget period's shared total when Redis last answered, for the share while down.
    known_totals: Mutex<HashMap<(String, u64), f64>>,
    local: LocalShare,
    next_id: AtomicU64,
    last_warning: Mutex<Option<Instant>>,
}

impl SharedLimits {
    pub fn new(link: Arc<Link>, reservation_ttl: Duration, hosts: Arc<AtomicU32>) -> Self {
        SharedLimits {
            link,
            reservation_ttl,
            hosts,
            known_totals: Mutex::default(),
            local: LocalShare::default(),
            next_id: AtomicU64::new(0),
            last_warning: Mutex::new(None),
        }
    }

    /// Live hosts as last counted (what a shared limit is divided by while Redis is down).
    pub fn hosts(&self) -> u32 {
        self.hosts.load(Ordering::Relaxed).max(1)
    }

    fn warn(&self, what: &str, e: &dyn std::fmt::Display) {
        let mut last = lock(&self.last_warning);
        if last.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
            *last = Some(Instant::now());
            tracing::warn!(error = %e, hosts = self.hosts(), "shared limits: Redis unavailable for {what}; this host enforces its share of each limit");
        }
    }

    async fn eval(&self, what: &str, script: &str, keys: &[String], args: &[String]) -> Option<String> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(script).arg(keys.len()).arg(keys).arg(args);
        // Boxed: keeps the request future's type shallow (it nests in every front's future).
        match Box::pin(self.link.query::<redis::Value>(&cmd)).await {
            Ok(redis::Value::SimpleString(s)) => Some(s),
            Ok(redis::Value::BulkString(b)) => String::from_utf8(b).ok(),
            Ok(redis::Value::Int(i)) => Some(i.to_string()),
            Ok(_) => None,
            Err(e) => {
                self.warn(what, &e);
                None
            }
        }
    }

    /// Reserves `ceiling` USD of `caller`'s budget for the period `[start, end)`.
    pub async fn reserve(
        &self,
        caller: &str,
        (start, end): (u64, u64),
        ceiling: f64,
        limit: f64,
    ) -> (Verdict, Option<Reservation>) {
        let id = format!("{}-{}", std::process::id(), self.next_id.fetch_add(1, Ordering::Relaxed));
        let now_ms = crate::api::ids::unix_ms();
        let args = [
            id.clone(),
            ceiling.to_string(),
            limit.to_string(),
            now_ms.to_string(),
            self.reservation_ttl.as_millis().to_string(),
            (end + 86_400).to_string(),
        ];
        let period = (caller.to_string(), start);
        let mut r = Reservation { caller: caller.to_string(), start, end, id, ceiling, local: false };
        match self.eval("a budget", RESERVE, &budget_keys(caller, start), &args).await {
            Some(s) if s.starts_with("ok:") => {
                lock(&self.known_totals).insert(period, number(&s[3..]).unwrap_or(ceiling));
                (Verdict::Ok, Some(r))
            }
            Some(s) if s.starts_with("over:") => {
                let total = number(&s[5..]).unwrap_or(limit);
                lock(&self.known_totals).insert(period, total);
                (Verdict::Over(total), None)
            }
            _ => {
                let known = lock(&self.known_totals).get(&period).copied().unwrap_or(0.0);
                let share = (limit - known).max(0.0) / f64::from(self.hosts());
                match self.local.reserve_budget(&period, ceiling, share) {
                    Ok(()) => {
                        r.local = true;
                        (Verdict::Unavailable, Some(r))
                    }
                    Err(used) => (Verdict::Over(known + used * f64::from(self.hosts())), None),
                }
            }
        }
    }

    /// Settles a reservation at its real `cost`.
    pub async fn settle(&self, r: Reservation, cost: f64) {
        if r.local {
            self.local.settle_budget(&(r.caller.clone(), r.start), r.ceiling, cost);
            self.local.queue(Pending::Spent { caller: r.caller, start: r.start, end: r.end, amount: cost });
            return;
        }
        let args = [r.id.clone(), cost.to_string(), (r.end + 86_400).to_string()];
        if self.eval("settling a budget", SETTLE, &budget_keys(&r.caller, r.start), &args).await.is_none() {
            // The reservation's TTL releases the ceiling; the cost is added when Redis is back.
            self.local.queue(Pending::Spent { caller: r.caller, start: r.start, end: r.end, amount: cost });
        }
    }

    /// Takes `amount` from `caller`'s shared sliding-minute `kind` window (rpm or tpm).
    pub async fn take(&self, caller: &str, kind: &str, amount: f64, limit: f64, now_ms: u64) -> Verdict {
        let minute = now_ms / 60_000;
        let gone = (now_ms % 60_000) as f64 / 60_000.0;
        let keys = [rate_key(kind, caller, minute), rate_key(kind, caller, minute.saturating_sub(1))];
        let args = [amount.to_string(), limit.to_string(), gone.to_string()];
        match self.eval("a rate limit", TAKE, &keys, &args).await {
            Some(s) if s == "ok" => Verdict::Ok,
            Some(s) if s.starts_with("over:") => {
                let mut parts = s[5..].split(':').map(|v| number(v).unwrap_or(0.0));
                let (cur, prev) = (parts.next().unwrap_or(0.0), parts.next().unwrap_or(0.0));
                Verdict::Over(room_in(cur, prev, gone, amount, limit))
            }
            _ => {
                let share = limit / f64::from(self.hosts());
                match self.local.take_rate(kind, caller, amount, share, now_ms) {
                    Ok(()) => {
                        self.local.queue(Pending::Rate { caller: caller.into(), kind: kind.into(), amount, now_ms });
                        Verdict::Unavailable
                    }
                    Err(wait) => Verdict::Over(wait),
                }
            }
        }
    }

    /// Adds what this host counted while Redis was down to the shared counters (called by
    /// the fleet's heartbeat once Redis answers). Returns how many entries were added.
    pub async fn reconcile(&self) -> usize {
        let pending = self.local.drain();
        let mut done = 0;
        for (i, p) in pending.iter().enumerate() {
            let cmd = match p {
                Pending::Spent { caller, start, end, amount } => {
                    let k = budget_keys(caller, *start);
                    let mut c = redis::cmd("EVAL");
                    c.arg(SETTLE).arg(3).arg(&k).arg("-").arg(amount.to_string()).arg(end + 86_400);
                    c
                }
                Pending::Rate { caller, kind, amount, now_ms } => {
                    let mut c = redis::cmd("INCRBYFLOAT");
                    c.arg(rate_key(kind, caller, now_ms / 60_000)).arg(amount.to_string());
                    c
                }
            };
            if self.link.query::<redis::Value>(&cmd).await.is_err() {
                self.local.requeue(pending[i..].to_vec());
                return done;
            }
            done += 1;
        }
        if done > 0 {
            self.local.clear_budgets();
            tracing::info!(entries = done, "shared limits: Redis is back; what this host counted meanwhile is added");
        }
        done
    }
}

/// Seconds until the sliding window has room for `amount` (at least 1, at most 60).
fn room_in(cur: f64, prev: f64, gone: f64, amount: f64, limit: f64) -> f64 {
    let left = (60.0 - gone * 60.0).max(1.0);
    if prev <= 0.0 || cur + amount > limit {
        return left;
    }
    // prev * (1 - g') + cur + amount <= limit  =>  g' >= 1 - (limit - cur - amount) / prev
    let needed = 1.0 - (limit - cur - amount) / prev;
    ((needed - gone) * 60.0).clamp(1.0, left)
}

fn number(s: &str) -> Option<f64> {
    s.parse().ok()
}

/// Budget keys share a hash tag, so one script may touch all three on a cluster too.
fn budget_keys(caller: &str, start: u64) -> [String; 3] {
    let tag = format!("sidegate:budget:{{{caller}:{start}}}");
    [format!("{tag}:spent"), format!("{tag}:held"), format!("{tag}:exp")]
}

fn rate_key(kind: &str, caller: &str, minute: u64) -> String {
    format!("sidegate:{kind}:{{{caller}}}:{minute}")
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_makes_room_as_last_minute_slides_out() {
        // 60 last minute, none this minute, limit 60, at the start: wait for 1/60 to slide out.
        assert!((room_in(0.0, 60.0, 0.0, 1.0, 60.0) - 1.0).abs() < 1e-9);
        // halfway through with 60 last minute and 30 now: only next minute's reset helps
        assert!((room_in(30.0, 60.0, 0.5, 1.0, 30.0) - 30.0).abs() < 1e-9);
        // 40 last minute, 10 now, limit 30, 25% gone: needs 1 - 19/40 = 52.5% gone
        assert!((room_in(10.0, 40.0, 0.25, 1.0, 30.0) - 16.5).abs() < 1e-9);
    }

    #[test]
    fn keys_share_a_hash_tag_per_caller() {
        let k = budget_keys("me", 86_400);
        assert!(k.iter().all(|k| k.starts_with("sidegate:budget:{me:86400}:")), "{k:?}");
        assert_eq!(rate_key("rpm", "me", 7), "sidegate:rpm:{me}:7");
    }

    /// Nothing listens on port 9: every check falls back to this host's share.
    #[tokio::test]
    async fn without_redis_a_host_keeps_to_its_share() {
        let settings = crate::config::RedisSettings::plain("redis://127.0.0.1:9/0", Duration::from_millis(100));
        let hosts = Arc::new(AtomicU32::new(4));
        let s = SharedLimits::new(Arc::new(Link::new(&settings)), Duration::from_secs(60), hosts);
        let now = 120_000;
        let mut ok = 0;
        for _ in 0..10 {
            if s.take("me", "rpm", 1.0, 20.0, now).await == Verdict::Unavailable {
                ok += 1;
            }
        }
        assert_eq!(ok, 5, "a fourth of 20 per minute");
        let (v, r) = s.reserve("me", (0, 86_400), 0.6, 4.0).await;
        assert_eq!(v, Verdict::Unavailable);
        let (v2, _) = s.reserve("me", (0, 86_400), 0.6, 4.0).await;
        assert!(matches!(v2, Verdict::Over(_)), "1.2 is past a fourth of $4: {v2:?}");
        s.settle(r.unwrap(), 0.01).await;
        assert_eq!(s.reserve("me", (0, 86_400), 0.6, 4.0).await.0, Verdict::Unavailable, "settled low: room again");
    }
}
