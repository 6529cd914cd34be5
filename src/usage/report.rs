//! `sidegate usage`: aggregates the ledger by caller, route, deployment (or any of provider,
//! app, status, dialect, prompt), as a table, JSON or CSV. Reads the SQLite file directly, read-only, so it
//! works whether the daemon runs or not.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use super::ledger::open_read_only;

/// Columns a report may group by.
pub const GROUPS: &[&str] =
    &["caller", "route", "deployment", "provider", "app", "status", "dialect", "prompt", "variant", "shadow"];

#[derive(Debug, Serialize)]
pub struct Row {
    /// The grouping values, in `--by` order (also flattened into the JSON object).
    #[serde(skip)]
    pub keys: Vec<String>,
    #[serde(flatten)]
    pub named: serde_json::Map<String, serde_json::Value>,
    pub requests: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cached_tokens: u64,
    /// Prompt tokens written to vendors' prompt caches (both TTLs), and the 1-hour part.
    pub cache_write_tokens: u64,
    pub cache_write_1h_tokens: u64,
    /// Completion tokens spent reasoning.
    pub reasoning_tokens: u64,
    /// Sum of known costs; requests with an unknown price are counted in `unpriced_requests`.
    pub cost_usd: f64,
    pub unpriced_requests: u64,
}

pub fn report(path: &Path, since: Duration, by: &[String]) -> Result<Vec<Row>, String> {
    for b in by {
        if !GROUPS.contains(&b.as_str()) {
            return Err(format!("cannot group by `{b}` (choose from {})", GROUPS.join(", ")));
        }
    }
    if !path.exists() {
        return Err(format!("no usage ledger at {} (has the daemon recorded anything yet?)", path.display()));
    }
    let conn = open_read_only(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let cols: Vec<String> = by.iter().map(|b| format!("COALESCE(CAST({b} AS TEXT), '')")).collect();
    let group = if cols.is_empty() { String::new() } else { format!("GROUP BY {}", cols.join(", ")) };
    let select = if cols.is_empty() { String::new() } else { format!("{}, ", cols.join(", ")) };
    let sql = format!(
        "SELECT {select}COUNT(*), SUM(prompt_tokens), SUM(completion_tokens), SUM(cached_tokens), COALESCE(SUM(cost_usd), 0), \
         SUM(CASE WHEN cost_usd IS NULL THEN 1 ELSE 0 END), SUM(cache_write_tokens), SUM(cache_write_1h_tokens), \
         SUM(reasoning_tokens) FROM requests WHERE ts_ms >= ?1 {group} ORDER BY {cost_col} DESC",
        // ORDER BY takes a column number: the cost is the fifth after the group columns.
        cost_col = by.len() + 5
    );
    let now_ms = crate::api::ids::unix_ms() as i64;
    let since_ms = now_ms - since.as_millis() as i64;
    let mut st = conn.prepare(&sql).map_err(|e| e.to_string())?;
    let n = by.len();
    let rows = st
        .query_map([since_ms], |r| {
            let keys: Vec<String> = (0..n).map(|i| r.get::<_, String>(i)).collect::<Result<_, _>>()?;
            let mut named = serde_json::Map::new();
            for (k, v) in by.iter().zip(&keys) {
                named.insert(k.clone(), serde_json::Value::String(v.clone()));
            }
            Ok(Row {
                keys,
                named,
                requests: r.get::<_, i64>(n)? as u64,
                prompt_tokens: r.get::<_, Option<i64>>(n + 1)?.unwrap_or(0) as u64,
                completion_tokens: r.get::<_, Option<i64>>(n + 2)?.unwrap_or(0) as u64,
                cached_tokens: r.get::<_, Option<i64>>(n + 3)?.unwrap_or(0) as u64,
                cache_write_tokens: r.get::<_, Option<i64>>(n + 6)?.unwrap_or(0) as u64,
                cache_write_1h_tokens: r.get::<_, Option<i64>>(n + 7)?.unwrap_or(0) as u64,
                reasoning_tokens: r.get::<_, Option<i64>>(n + 8)?.unwrap_or(0) as u64,
                cost_usd: r.get::<_, f64>(n + 4)?,
                unpriced_requests: r.get::<_, Option<i64>>(n + 5)?.unwrap_or(0) as u64,
            })
        })
        .map_err(|e| e.to_string())?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    Ok(rows.into_iter().filter(|r| r.requests > 0).collect())
}

/// Rows as an aligned text table.
pub fn table(by: &[String], rows: &[Row]) -> String {
    let mut head: Vec<String> = by.to_vec();
    head.extend(
        ["requests", "prompt", "completion", "cached", "cache write", "1h write", "reasoning", "cost USD", "unpriced"]
            .map(String::from),
    );
    let mut lines: Vec<Vec<String>> = vec![head];
    for r in rows {
        let mut l = r.keys.clone();
        l.extend([
            r.requests.to_string(),
            r.prompt_tokens.to_string(),
            r.completion_tokens.to_string(),
            r.cached_tokens.to_string(),
            r.cache_write_tokens.to_string(),
            r.cache_write_1h_tokens.to_string(),
            r.reasoning_tokens.to_string(),
            format!("{:.6}", r.cost_usd),
            r.unpriced_requests.to_string(),
        ]);
        lines.push(l);
    }
    let widths: Vec<usize> =
        (0..lines[0].len()).map(|i| lines.iter().map(|l| l[i].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for l in &lines {
        let cells: Vec<String> = l
            .iter()
            .enumerate()
            .map(
                |(i, c)| {
                    if i < by.len() { format!("{c:<w$}", w = widths[i]) } else { format!("{c:>w$}", w = widths[i]) }
                },
            )
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// Rows as CSV (RFC 4180 quoting).
pub fn csv(by: &[String], rows: &[Row]) -> String {
    let q =
        |s: &str| if s.contains([',', '"', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() };
    let mut out = by.iter().map(|b| q(b)).collect::<Vec<_>>();
    out.extend(
        [
            "requests",
            "prompt_tokens",
            "completion_tokens",
            "cached_tokens",
            "cache_write_tokens",
            "cache_write_1h_tokens",
            "reasoning_tokens",
            "cost_usd",
            "unpriced_requests",
        ]
        .map(String::from),
    );
    let mut text = out.join(",") + "\n";
    for r in rows {
        let mut l: Vec<String> = r.keys.iter().map(|k| q(k)).collect();
        l.extend([
            r.requests.to_string(),
            r.prompt_tokens.to_string(),
            r.completion_tokens.to_string(),
            r.cached_tokens.to_string(),
            r.cache_write_tokens.to_string(),
            r.cache_write_1h_tokens.to_string(),
            r.reasoning_tokens.to_string(),
            format!("{}", r.cost_usd),
            r.unpriced_requests.to_string(),
        ]);
        text.push_str(&l.join(","));
        text.push('\n');
    }
    text
}
