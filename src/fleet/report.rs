//! What the fleet looks like from Redis, read by the CLI with the config's `[shared]` settings
//! (no daemon needed): `sidegate status --fleet` (the hosts seen, their version and config
//! version, the shared breaker states, the shared counters) and `sidegate usage --fleet` (the
//! usage stream aggregated like the local ledger).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::connect::{Link, QueryError};
use super::heartbeat::HostRecord;
use super::outage::BreakerNews;
use super::{BREAKER_PREFIX, HOST_PREFIX, HOSTS, PROBE_PREFIX, USAGE_STREAM};
use crate::usage::report::{GROUPS, Row};

#[derive(Debug, Serialize, Deserialize)]
pub struct FleetReport {
    pub hosts: Vec<HostRecord>,
    /// Distinct config versions among the live hosts (more than one: mixed configs).
    pub configs: Vec<String>,
    pub breakers: Vec<SharedBreaker>,
    pub counters: Vec<SharedCounter>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct SharedBreaker {
    pub deployment: String,
    pub key: String,
    pub opened_by: String,
    /// When the opening was published (Unix ms).
    pub opened_at_ms: u64,
    pub open_for_ms: u64,
    pub account: bool,
    /// The host holding the probe lock, if one is probing.
    pub probing: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct SharedCounter {
    /// `budget`, `rpm` or `tpm`.
    pub kind: String,
    pub caller: String,
    /// Spent (USD) in the period, or this minute's count.
    pub value: f64,
    /// Budgets: held by unsettled reservations.
    pub held: f64,
}

pub async fn fleet_report(link: &Link) -> Result<FleetReport, QueryError> {
    let hosts = live_hosts(link).await?;
    let mut configs: Vec<String> = hosts.iter().map(|h| h.config.clone()).collect();
    configs.sort();
    configs.dedup();
    Ok(FleetReport { hosts, configs, breakers: breakers(link).await?, counters: counters(link).await? })
}

async fn live_hosts(link: &Link) -> Result<Vec<HostRecord>, QueryError> {
    let names: Vec<String> = link.query(redis::cmd("ZRANGE").arg(HOSTS).arg(0).arg(-1)).await?;
    let mut hosts = Vec::new();
    for n in names {
        let v: Option<String> = link.query(redis::cmd("GET").arg(format!("{HOST_PREFIX}{n}"))).await?;
        if let Some(h) = v.and_then(|v| serde_json::from_str::<HostRecord>(&v).ok()) {
            hosts.push(h);
        }
    }
    hosts.sort_by(|a, b| a.host.cmp(&b.host));
    Ok(hosts)
}

async fn breakers(link: &Link) -> Result<Vec<SharedBreaker>, QueryError> {
    let mut out = Vec::new();
    for key in link.scan(&format!("{BREAKER_PREFIX}*")).await? {
        let v: Option<String> = link.query(redis::cmd("GET").arg(&key)).await?;
        let left: i64 = link.query(redis::cmd("PTTL").arg(&key)).await?;
        let Some(news) = v.and_then(|v| serde_json::from_str::<BreakerNews>(&v).ok()) else { continue };
        let probing: Option<String> = link.query(redis::cmd("GET").arg(format!("{PROBE_PREFIX}{}", news.key))).await?;
        out.push(SharedBreaker {
            deployment: news.name,
            key: news.key,
            opened_by: news.by,
            opened_at_ms: news.at_ms,
            open_for_ms: left.max(0) as u64,
            account: news.account,
            probing,
        });
    }
    out.sort_by(|a, b| a.deployment.cmp(&b.deployment));
    Ok(out)
}

async fn counters(link: &Link) -> Result<Vec<SharedCounter>, QueryError> {
    let mut out = Vec::new();
    for key in link.scan("sidegate:budget:{*}:*:spent").await? {
        let caller = tagged(&key).unwrap_or_default().to_string();
        let spent: Option<f64> = link.query(redis::cmd("GET").arg(&key)).await?;
        let held_key = format!("{}:held", key.trim_end_matches(":spent"));
        let held: Vec<f64> = link.query(redis::cmd("HVALS").arg(&held_key)).await?;
        out.push(SharedCounter { kind: "budget".into(), caller, value: spent.unwrap_or(0.0), held: held.iter().sum() });
    }
    let minute = crate::api::ids::unix_ms() / 60_000;
    for kind in ["rpm", "tpm"] {
        for key in link.scan(&format!("sidegate:{kind}:{{*}}:{minute}")).await? {
            let value: Option<f64> = link.query(redis::cmd("GET").arg(&key)).await?;
            let caller = tagged(&key).unwrap_or_default().to_string();
            out.push(SharedCounter { kind: kind.into(), caller, value: value.unwrap_or(0.0), held: 0.0 });
        }
    }
    out.sort_by(|a, b| (&a.kind, &a.caller).cmp(&(&b.kind, &b.caller)));
    Ok(out)
}

/// The hash tag of a key: `a:{b:c}:d` -> `b:c`.
fn tagged(key: &str) -> Option<&str> {
    let start = key.find('{')? + 1;
    let end = key[start..].find('}')? + start;
    Some(&key[start..end])
}

/// The usage stream since `since`, grouped by `by` (the local report's groups plus `host`),
/// most expensive first.
pub async fn fleet_usage(link: &Link, since: Duration, by: &[String]) -> Result<Vec<Row>, String> {
    for b in by {
        if b != "host" && !GROUPS.contains(&b.as_str()) {
            return Err(format!("cannot group by `{b}` (choose from host, {})", GROUPS.join(", ")));
        }
    }
    let from = crate::api::ids::unix_ms().saturating_sub(since.as_millis() as u64);
    let mut groups: BTreeMap<Vec<String>, Row> = BTreeMap::new();
    let mut start = format!("{from}-0");
    loop {
        let mut cmd = redis::cmd("XRANGE");
        cmd.arg(USAGE_STREAM).arg(&start).arg("+").arg("COUNT").arg(1000);
        let entries: Vec<(String, Vec<(String, String)>)> = link.query(&cmd).await.map_err(|e| e.to_string())?;
        let Some((last, _)) = entries.last() else { break };
        start = format!("({last}");
        let full = entries.len() < 1000;
        for (_, fields) in entries {
            add(&mut groups, by, &fields.into_iter().collect());
        }
        if full {
            break;
        }
    }
    let mut rows: Vec<Row> = groups.into_values().collect();
    rows.sort_by(|a, b| b.cost_usd.total_cmp(&a.cost_usd));
    Ok(rows)
}

fn add(groups: &mut BTreeMap<Vec<String>, Row>, by: &[String], f: &BTreeMap<String, String>) {
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    let n = |k: &str| f.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let keys: Vec<String> = by.iter().map(|b| get(b)).collect();
    let row = groups.entry(keys.clone()).or_insert_with(|| Row {
        named: by.iter().zip(&keys).map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect(),
        keys,
        requests: 0,
        prompt_tokens: 0,
        completion_tokens: 0,
        cached_tokens: 0,
        cache_write_tokens: 0,
        cache_write_1h_tokens: 0,
        reasoning_tokens: 0,
        cost_usd: 0.0,
        unpriced_requests: 0,
    });
    row.requests += 1;
    row.prompt_tokens += n("prompt_tokens");
    row.completion_tokens += n("completion_tokens");
    row.cached_tokens += n("cached_tokens");
    row.cache_write_tokens += n("cache_write_tokens");
    row.cache_write_1h_tokens += n("cache_write_1h_tokens");
    row.reasoning_tokens += n("reasoning_tokens");
    match f.get("cost_usd").and_then(|c| c.parse::<f64>().ok()) {
        Some(c) => row.cost_usd += c,
        None => row.unpriced_requests += 1,
    }
}

/// The report as text.
pub fn table(r: &FleetReport) -> String {
    let mut out = format!("hosts ({}):\n", r.hosts.len());
    let now = crate::api::ids::unix_ms();
    for h in &r.hosts {
        let up = now.saturating_sub(h.started_ms) / 1000;
        let seen = now.saturating_sub(h.seen_ms);
        out.push_str(&format!(
            "  {:<32} sidegate {:<8} config {:<18} pid {:<8} up {up}s, seen {seen} ms ago\n",
            h.host, h.version, h.config, h.pid
        ));
    }
    if r.configs.len() > 1 {
        out.push_str(&format!("  MIXED CONFIGS: {} versions ({})\n", r.configs.len(), r.configs.join(", ")));
    }
    out.push_str(&format!("shared breakers ({} open):\n", r.breakers.len()));
    for b in &r.breakers {
        let probing = b.probing.as_deref().map(|p| format!(", probed by {p}")).unwrap_or_default();
        let account = if b.account { " (account failure)" } else { "" };
        out.push_str(&format!(
            "  {:<24} open {:.1}s, opened by {}{account}{probing}\n",
            b.deployment,
            b.open_for_ms as f64 / 1000.0,
            b.opened_by
        ));
    }
    out.push_str("shared counters:\n");
    for c in &r.counters {
        match c.kind.as_str() {
            "budget" => {
                out.push_str(&format!("  budget {:<20} ${:.4} spent, ${:.4} reserved\n", c.caller, c.value, c.held))
            }
            k => out.push_str(&format!("  {k:<6} {:<20} {} this minute\n", c.caller, c.value)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_tags_name_the_caller() {
        assert_eq!(tagged("sidegate:rpm:{me}:123"), Some("me"));
        assert_eq!(tagged("sidegate:budget:{me}:86400:spent"), Some("me"));
        assert_eq!(tagged("nothing"), None);
    }

    #[test]
    fn stream_rows_group_like_the_ledger() {
        let mut g = BTreeMap::new();
        let by = vec!["host".to_string()];
        let row = |host: &str, cost: &str| -> BTreeMap<String, String> {
            [("host", host), ("prompt_tokens", "3"), ("cost_usd", cost)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        add(&mut g, &by, &row("a", "0.5"));
        add(&mut g, &by, &row("a", ""));
        add(&mut g, &by, &row("b", "0.25"));
        let a = &g[&vec!["a".to_string()]];
        assert_eq!((a.requests, a.prompt_tokens, a.cost_usd, a.unpriced_requests), (2, 6, 0.5, 1));
        assert_eq!(g.len(), 2);
    }
}
