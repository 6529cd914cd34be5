//! Caller limits and budgets shared by every host through Redis (`[shared] redis`): each
//! check is one atomic Lua script on the server (check-and-add, never read-modify-write from
//! here), so hosts can never jointly overspend. Redis down or slow: the request is counted
//! locally only, with one warning per minute; a settle that cannot reach Redis leaves the
//! reservation counted until the period ends (it errs on the safe side).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;

use crate::config::RedisSettings;

/// Budget: add `ceiling` to the period's total unless that would pass `limit`.
const RESERVE: &str = r"
local v = tonumber(redis.call('GET', KEYS[1]) or '0')
if v + tonumber(ARGV[1]) > tonumber(ARGV[2]) + 1e-9 then return 'over:' .. tostring(v) end
redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
redis.call('EXPIREAT', KEYS[1], ARGV[3])
return 'ok'";

/// Rate window: add `amount` to this minute's count unless that would pass `limit`.
const TAKE: &str = r"
local v = tonumber(redis.call('GET', KEYS[1]) or '0')
if v + tonumber(ARGV[1]) > tonumber(ARGV[2]) then return 0 end
redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], 120)
return 1";

/// What a shared check said.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    Ok,
    /// Over the shared limit: budget spent so far (budgets) / seconds until the window ends.
    Over(f64),
    /// Redis did not answer in time: go on with local counting.
    Unavailable,
}

pub struct SharedLimits {
    url: String,
    timeout: Duration,
    conn: tokio::sync::OnceCell<Option<ConnectionManager>>,
    last_warning: Mutex<Option<Instant>>,
}

impl SharedLimits {
    pub fn new(s: &RedisSettings) -> Self {
        SharedLimits {
            url: s.url.expose().to_string(),
            timeout: s.timeout,
            conn: tokio::sync::OnceCell::new(),
            last_warning: Mutex::new(None),
        }
    }

    async fn connection(&self) -> Option<ConnectionManager> {
        let timeout = self.timeout;
        let url = self.url.clone();
        self.conn
            .get_or_init(|| async move {
                let client = redis::Client::open(url).ok()?;
                let cfg = redis::aio::ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(1);
                tokio::time::timeout(timeout * 4, ConnectionManager::new_with_config(client, cfg)).await.ok()?.ok()
            })
            .await
            .clone()
    }

    fn warn(&self, what: &str, e: &dyn std::fmt::Display) {
        let mut last = self.last_warning.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
            *last = Some(Instant::now());
            tracing::warn!(error = %e, "shared limits: Redis unavailable for {what}; counting on this host only");
        }
    }

    async fn eval(&self, what: &str, script: &str, key: &str, args: &[String]) -> Option<redis::Value> {
        let Some(mut conn) = self.connection().await else {
            self.warn(what, &"cannot connect");
            return None;
        };
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(script).arg(1).arg(key);
        for a in args {
            cmd.arg(a);
        }
        match tokio::time::timeout(self.timeout, cmd.query_async::<redis::Value>(&mut conn)).await {
            Ok(Ok(v)) => Some(v),
            Ok(Err(e)) => {
                self.warn(what, &e);
                None
            }
            Err(_) => {
                self.warn(what, &"timed out");
                None
            }
        }
    }

    /// Reserves `ceiling` USD of `caller`'s budget for the period `[start, end)`.
    pub async fn reserve(&self, caller: &str, start: u64, end: u64, ceiling: f64, limit: f64) -> Verdict {
        let key = format!("sidegate:budget:{caller}:{start}");
        let args = [ceiling.to_string(), limit.to_string(), (end + 86_400).to_string()];
        match self.eval("a budget", RESERVE, &key, &args).await {
            Some(redis::Value::SimpleString(s)) if s == "ok" => Verdict::Ok,
            Some(redis::Value::BulkString(b)) => match std::str::from_utf8(&b) {
                Ok("ok") => Verdict::Ok,
                Ok(s) => Verdict::Over(s.strip_prefix("over:").and_then(|v| v.parse().ok()).unwrap_or(limit)),
                Err(_) => Verdict::Unavailable,
            },
            Some(redis::Value::SimpleString(s)) => {
                Verdict::Over(s.strip_prefix("over:").and_then(|v| v.parse().ok()).unwrap_or(limit))
            }
            _ => Verdict::Unavailable,
        }
    }

    /// Settles a reservation: the period's total moves by `cost - reserved`.
    pub async fn settle(&self, caller: &str, start: u64, delta: f64) {
        let Some(mut conn) = self.connection().await else { return };
        let key = format!("sidegate:budget:{caller}:{start}");
        let cmd = redis::cmd("INCRBYFLOAT").arg(&key).arg(delta.to_string()).to_owned();
        if let Ok(Err(e)) = tokio::time::timeout(self.timeout, cmd.query_async::<redis::Value>(&mut conn)).await {
            self.warn("settling a budget", &e);
        }
    }

    /// Takes `amount` from `caller`'s shared per-minute `kind` window (rpm or tpm).
    pub async fn take(&self, caller: &str, kind: &str, amount: f64, limit: f64, now: u64) -> Verdict {
        let key = format!("sidegate:{kind}:{caller}:{}", now / 60);
        match self.eval("a rate limit", TAKE, &key, &[amount.to_string(), limit.to_string()]).await {
            Some(redis::Value::Int(1)) => Verdict::Ok,
            Some(redis::Value::Int(_)) => Verdict::Over((60 - now % 60) as f64),
            _ => Verdict::Unavailable,
        }
    }
}
