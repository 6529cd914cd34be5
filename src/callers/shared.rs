//! Caller limits and budgets shared by every host through Redis (`[shared] redis`): each
//! check is one atomic Lua script on the server (check-and-add, never read-modify-write from
//! here), so hosts can never jointly overspend.
//!
//! - one script per request checks and counts rpm, tpm and the budget together (one round
//!   trip; nothing is counted unless all allow it);
//! - rpm/tpm are sliding windows: this minute's count plus the last minute's, weighted by how
//!   much of it is still inside the window (two keys per caller, never a fixed-minute reset).
//! - a budget reservation is its own entry with its own TTL (`[shared] reservation_ttl`): a
//!   host that dies mid-call does not hold the amount past it.
//! - Redis down or slow: each host enforces its share of each shared limit, the limit divided
//!   by the live hosts (heartbeats, `crate::fleet`), against what the fleet had spent when
//!   Redis was last seen; what it counted meanwhile is added to the shared counters when Redis
//!   answers again. The connection reconnects by itself ([`Link`]); one warning per minute.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::local_share::{LocalShare, Pending};
use crate::fleet::connect::Link;

/// Every shared limit of one request in one atomic script (one round trip): the sliding
/// rpm and tpm windows (this minute's count plus last minute's, weighted by how much of it is
/// still inside the window), then the budget (expired reservations dropped, then `ceiling` held
/// unless spent + held would pass the limit); nothing is counted unless all of them allow it.
/// KEYS: rpm now, rpm last minute, tpm now, tpm last minute, budget spent, held (hash id ->
/// amount), expiries (zset id -> ms). ARGV: fraction of this minute gone, rpm limit, tokens,
/// tpm limit, reservation id, ceiling, budget limit, now ms, reservation ttl ms, expire-at (s);
/// a limit of '' is not checked. Returns `ok:<budget total>`, `rpm:<now>:<last>`,
/// `tpm:<now>:<last>` or `budget:<total>`.
const ADMIT: &str = r"
local gone = tonumber(ARGV[1])
local function window(cur, prev)
  local c = tonumber(redis.call('GET', cur) or '0')
  local p = tonumber(redis.call('GET', prev) or '0')
  return c, p, p * (1 - gone) + c
end
if ARGV[2] ~= '' then
  local c, p, used = window(KEYS[1], KEYS[2])
  if used + 1 > tonumber(ARGV[2]) + 1e-9 then return 'rpm:' .. c .. ':' .. p end
end
if ARGV[4] ~= '' then
  local c, p, used = window(KEYS[3], KEYS[4])
  if used + tonumber(ARGV[3]) > tonumber(ARGV[4]) + 1e-9 then return 'tpm:' .. c .. ':' .. p end
end
local total = 0
if ARGV[6] ~= '' then
  local now = tonumber(ARGV[8])
  local gone_ids = redis.call('ZRANGEBYSCORE', KEYS[7], '-inf', now)
  for _, id in ipairs(gone_ids) do redis.call('HDEL', KEYS[6], id) end
  if #gone_ids > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', now) end
  local held = 0
  for _, v in ipairs(redis.call('HVALS', KEYS[6])) do held = held + tonumber(v) end
  total = tonumber(redis.call('GET', KEYS[5]) or '0') + held
  if total + tonumber(ARGV[6]) > tonumber(ARGV[7]) + 1e-9 then return 'budget:' .. total end
  redis.call('HSET', KEYS[6], ARGV[5], ARGV[6])
  redis.call('ZADD', KEYS[7], now + tonumber(ARGV[9]), ARGV[5])
  redis.call('EXPIREAT', KEYS[6], ARGV[10])
  redis.call('EXPIREAT', KEYS[7], ARGV[10])
  total = total + tonumber(ARGV[6])
end
if ARGV[2] ~= '' then
  redis.call('INCRBYFLOAT', KEYS[1], 1)
  redis.call('EXPIRE', KEYS[1], 130)
end
if ARGV[4] ~= '' then
  redis.call('INCRBYFLOAT', KEYS[3], ARGV[3])
  redis.call('EXPIRE', KEYS[3], 130)
end
return 'ok:' .. total";

/// Settle: the reservation goes (if its TTL has not already released it), the real cost is
/// spent. KEYS: spent, held, expiries; ARGV: id, cost, expire-at (s).
const SETTLE: &str = r"
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('INCRBYFLOAT', KEYS[1], ARGV[2])
redis.call('EXPIREAT', KEYS[1], ARGV[3])
return 1";

/// How long Redis is skipped after a failure.
const BACKOFF: Duration = Duration::from_secs(1);

/// One request's shared limits: what it asks of each.
#[derive(Debug, Clone)]
pub struct Ask<'a> {
    pub caller: &'a str,
    pub now_ms: u64,
    pub rpm: Option<f64>,
    /// (tokens, limit)
    pub tpm: Option<(f64, f64)>,
    /// ((period start, period end), ceiling, limit)
    pub budget: Option<((u64, u64), f64, f64)>,
}

/// Which shared limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Refusal {
    /// Seconds until the window has room.
    Rpm(f64),
    Tpm(f64),
    /// Spent or held so far in the period (counted across hosts, or this host's share of it).
    Budget(f64),
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
    /// Reservation ids: this process's random prefix and a counter (unique across hosts).
    id_prefix: String,
    next_id: AtomicU64,
    last_warning: Mutex<Option<Instant>>,
    /// After a failure Redis is not asked for a second: a hung Redis costs one timeout per
    /// second, not one per request.
    down_until: Mutex<Option<Instant>>,
}

impl SharedLimits {
    pub fn new(link: Arc<Link>, reservation_ttl: Duration, hosts: Arc<AtomicU32>) -> Self {
        SharedLimits {
            link,
            reservation_ttl,
            hosts,
            known_totals: Mutex::default(),
            local: LocalShare::default(),
            id_prefix: format!("{:016x}", rand::random::<u64>()),
            next_id: AtomicU64::new(0),
            last_warning: Mutex::new(None),
            down_until: Mutex::new(None),
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
        if lock(&self.down_until).is_some_and(|t| Instant::now() < t) {
            return None;
        }
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(script).arg(keys.len()).arg(keys).arg(args);
        // Boxed: keeps the request future's type shallow (it nests in every front's future).
        match Box::pin(self.link.query::<redis::Value>(&cmd)).await {
            Ok(redis::Value::SimpleString(s)) => Some(s),
            Ok(redis::Value::BulkString(b)) => String::from_utf8(b).ok(),
            Ok(redis::Value::Int(i)) => Some(i.to_string()),
            Ok(_) => None,
            Err(e) => {
                *lock(&self.down_until) = Some(Instant::now() + BACKOFF);
                self.warn(what, &e);
                None
            }
        }
    }

    /// Checks and counts every shared limit of one request at once; a budget returns its
    /// reservation, to settle when the request ends.
    pub async fn admit(&self, ask: &Ask<'_>) -> Result<Option<Reservation>, Refusal> {
        let minute = ask.now_ms / 60_000;
        let gone = (ask.now_ms % 60_000) as f64 / 60_000.0;
        let id = format!("{}-{}", self.id_prefix, self.next_id.fetch_add(1, Ordering::Relaxed));
        let ((start, end), ceiling, limit) = ask.budget.unwrap_or(((0, 0), 0.0, 0.0));
        let [spent, held, exp] = budget_keys(ask.caller, start);
        let keys = [
            rate_key("rpm", ask.caller, minute),
            rate_key("rpm", ask.caller, minute.saturating_sub(1)),
            rate_key("tpm", ask.caller, minute),
            rate_key("tpm", ask.caller, minute.saturating_sub(1)),
            spent,
            held,
            exp,
        ];
        let opt = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
        let args = [
            gone.to_string(),
            opt(ask.rpm),
            ask.tpm.map_or(0.0, |t| t.0).to_string(),
            opt(ask.tpm.map(|t| t.1)),
            id.clone(),
            opt(ask.budget.map(|b| b.1)),
            limit.to_string(),
            ask.now_ms.to_string(),
            self.reservation_ttl.as_millis().to_string(),
            (end + 86_400).to_string(),
        ];
        let reservation = |local| {
            ask.budget.map(|_| Reservation {
                caller: ask.caller.to_string(),
                start,
                end,
                id: id.clone(),
                ceiling,
                local,
            })
        };
        let period = (ask.caller.to_string(), start);
        let Some(answer) = self.eval("a caller's limits", ADMIT, &keys, &args).await else {
            return self.admit_locally(ask).map(|()| reservation(true));
        };
        let (kind, rest) = answer.split_once(':').unwrap_or((answer.as_str(), ""));
        let mut nums = rest.split(':').map(|v| v.parse::<f64>().unwrap_or(0.0));
        let (a, b) = (nums.next().unwrap_or(0.0), nums.next().unwrap_or(0.0));
        match kind {
            "ok" => {
                if ask.budget.is_some() {
                    lock(&self.known_totals).insert(period, a);
                }
                Ok(reservation(false))
            }
            "rpm" => Err(Refusal::Rpm(room_in(a, b, gone, 1.0, ask.rpm.unwrap_or(0.0)))),
            "tpm" => {
                let (tokens, tpm) = ask.tpm.unwrap_or((0.0, 0.0));
                Err(Refusal::Tpm(room_in(a, b, gone, tokens, tpm)))
            }
            _ => {
                lock(&self.known_totals).insert(period, a);
                Err(Refusal::Budget(a))
            }
        }
    }

    /// Redis did not answer: this host's share of each limit, counted to add later.
    fn admit_locally(&self, ask: &Ask<'_>) -> Result<(), Refusal> {
        let hosts = f64::from(self.hosts());
        if let Some(rpm) = ask.rpm {
            self.local.take_rate("rpm", ask.caller, 1.0, rpm / hosts, ask.now_ms).map_err(Refusal::Rpm)?;
            self.local.queue(Pending::Rate {
                caller: ask.caller.into(),
                kind: "rpm".into(),
                amount: 1.0,
                now_ms: ask.now_ms,
            });
        }
        if let Some((tokens, tpm)) = ask.tpm {
            self.local.take_rate("tpm", ask.caller, tokens, tpm / hosts, ask.now_ms).map_err(Refusal::Tpm)?;
            self.local.queue(Pending::Rate {
                caller: ask.caller.into(),
                kind: "tpm".into(),
                amount: tokens,
                now_ms: ask.now_ms,
            });
        }
        if let Some(((start, _), ceiling, limit)) = ask.budget {
            let period = (ask.caller.to_string(), start);
            let known = lock(&self.known_totals).get(&period).copied().unwrap_or(0.0);
            let share = (limit - known).max(0.0) / hosts;
            self.local.reserve_budget(&period, ceiling, share).map_err(|used| Refusal::Budget(known + used * hosts))?;
        }
        Ok(())
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

    /// Adds what this host counted while Redis was down to the shared counters (called by
    /// the fleet's heartbeat once Redis answers): one pipeline per caller (a caller's keys share
    /// a hash tag, so on a cluster each pipeline goes to one node), rate counts summed per
    /// minute key. What could not be added is kept for the next time. Returns how many entries
    /// were added.
    pub async fn reconcile(&self) -> usize {
        *lock(&self.down_until) = None;
        let pending = self.local.drain();
        if pending.is_empty() {
            return 0;
        }
        let mut per_caller: BTreeMap<String, Vec<Pending>> = BTreeMap::new();
        for p in pending {
            let (Pending::Spent { caller, .. } | Pending::Rate { caller, .. }) = &p;
            per_caller.entry(caller.clone()).or_default().push(p);
        }
        let (mut added, mut kept) = (0, Vec::new());
        for (_, entries) in per_caller {
            if self.link.query_pipe::<()>(&reconcile_pipe(&entries)).await.is_ok() {
                added += entries.len();
            } else {
                kept.extend(entries);
            }
        }
        if kept.is_empty() {
            self.local.clear_budgets();
        } else {
            self.local.requeue(kept);
        }
        if added > 0 {
            tracing::info!(entries = added, "shared limits: Redis is back; what this host counted meanwhile is added");
        }
        added
    }
}

/// One caller's pending entries as one pipeline: spends settled per period, rate counts summed
/// per minute key.
fn reconcile_pipe(entries: &[Pending]) -> redis::Pipeline {
    let mut rates: BTreeMap<String, f64> = BTreeMap::new();
    let mut spent: BTreeMap<(&str, u64, u64), f64> = BTreeMap::new();
    for p in entries {
        match p {
            Pending::Spent { caller, start, end, amount } => {
                *spent.entry((caller, *start, *end)).or_default() += amount
            }
            Pending::Rate { caller, kind, amount, now_ms } => {
                *rates.entry(rate_key(kind, caller, now_ms / 60_000)).or_default() += amount;
            }
        }
    }
    let mut pipe = redis::pipe();
    for ((caller, start, end), amount) in &spent {
        let k = budget_keys(caller, *start);
        pipe.cmd("EVAL").arg(SETTLE).arg(3).arg(&k).arg("-").arg(amount.to_string()).arg(end + 86_400).ignore();
    }
    for (key, amount) in &rates {
        pipe.cmd("INCRBYFLOAT").arg(key).arg(amount.to_string()).ignore();
        pipe.cmd("EXPIRE").arg(key).arg(130).ignore();
    }
    pipe
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

/// A caller's keys share one hash tag, so one script may touch them all on a cluster too.
fn budget_keys(caller: &str, start: u64) -> [String; 3] {
    let base = format!("sidegate:budget:{{{caller}}}:{start}");
    [format!("{base}:spent"), format!("{base}:held"), format!("{base}:exp")]
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
        assert!(k.iter().all(|k| k.starts_with("sidegate:budget:{me}:86400:")), "{k:?}");
        assert_eq!(rate_key("rpm", "me", 7), "sidegate:rpm:{me}:7");
    }

    /// Nothing listens on port 9: every check falls back to this host's share.
    #[tokio::test]
    async fn without_redis_a_host_keeps_to_its_share() {
        let settings = crate::config::RedisSettings::plain("redis://127.0.0.1:9/0", Duration::from_millis(100));
        let hosts = Arc::new(AtomicU32::new(4));
        let s = SharedLimits::new(Arc::new(Link::new(&settings)), Duration::from_secs(60), hosts);
        let rate = Ask { caller: "me", now_ms: 120_000, rpm: Some(20.0), tpm: None, budget: None };
        let mut ok = 0;
        for _ in 0..10 {
            if s.admit(&rate).await.is_ok() {
                ok += 1;
            }
        }
        assert_eq!(ok, 5, "a fourth of 20 per minute");
        let spend = Ask { rpm: None, budget: Some(((0, 86_400), 0.6, 4.0)), ..rate };
        let r = s.admit(&spend).await.unwrap().unwrap();
        assert!(matches!(s.admit(&spend).await, Err(Refusal::Budget(_))), "1.2 is past a fourth of $4");
        s.settle(r, 0.01).await;
        assert!(s.admit(&spend).await.is_ok(), "settled low: room again");
    }
}
