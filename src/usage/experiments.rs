//! `sidegate experiments`: per route and variant (shadows marked), from the ledger alone:
//! requests, errors, feedback (how many, the mean score, each label's count), latency p50 and
//! p95, tokens and cost. Reads the SQLite file read-only, so it works whether the daemon runs
//! or not, and needs no secrets. Feedback whose request id has no ledger row is counted apart
//! (`unmatched_feedback`).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, params};
use serde::Serialize;

use super::ledger::open_read_only;

/// One variant of one route over the period.
#[derive(Debug, Default, Serialize, PartialEq)]
pub struct VariantRow {
    pub route: String,
    pub variant: String,
    /// A shadow variant (its answers were recorded, never returned).
    pub shadow: bool,
    pub requests: u64,
    /// Requests that ended with a status of 400 or more.
    pub errors: u64,
    /// Requests with feedback, the mean of their scores (None: no scores), each label's count.
    pub feedback: u64,
    pub score_mean: Option<f64>,
    pub labels: BTreeMap<String, u64>,
    pub latency_p50_ms: f64,
    pub latency_p95_ms: f64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Sum of known costs; requests with an unknown price are counted in `unpriced_requests`.
    pub cost_usd: f64,
    pub unpriced_requests: u64,
}

#[derive(Debug, Default, Serialize, PartialEq)]
pub struct Report {
    pub variants: Vec<VariantRow>,
    /// Feedback sent in the period for a request id the ledger has no row for.
    pub unmatched_feedback: u64,
}

/// The report of the ledger at `path` over the last `since`, for one route or all.
pub fn report(path: &Path, since: Duration, route: Option<&str>) -> Result<Report, String> {
    if !path.exists() {
        return Err(format!("no usage ledger at {} (has the daemon recorded anything yet?)", path.display()));
    }
    let conn = open_read_only(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !has_experiment_columns(&conn).map_err(|e| e.to_string())? {
        return Err(format!(
            "the ledger {} predates experiments (no `variant` column or `feedback` table); the daemon adds them when it next opens it",
            path.display()
        ));
    }
    let since_ms = crate::api::ids::unix_ms() as i64 - since.as_millis() as i64;
    let mut groups: BTreeMap<(String, bool, String), Group> = BTreeMap::new();
    let mut st = conn
        .prepare(
            "SELECT r.route, r.variant, r.shadow, r.status, r.latency_ms, r.cost_usd, r.prompt_tokens, \
             r.completion_tokens, f.request_id IS NOT NULL, f.score, f.label \
             FROM requests r LEFT JOIN feedback f ON f.request_id = r.request_id \
             WHERE r.variant IS NOT NULL AND r.ts_ms >= ?1 AND (?2 IS NULL OR r.route = ?2)",
        )
        .map_err(|e| e.to_string())?;
    let mut rows = st.query(params![since_ms, route]).map_err(|e| e.to_string())?;
    while let Some(r) = rows.next().map_err(|e| e.to_string())? {
        let key = (get(r, 0)?, get::<i64>(r, 2)? != 0, get(r, 1)?);
        let g = groups.entry(key).or_default();
        g.add(r)?;
    }
    let unmatched: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM feedback f WHERE f.ts_ms >= ?1 \
             AND NOT EXISTS (SELECT 1 FROM requests r WHERE r.request_id = f.request_id)",
            params![since_ms],
            |r| r.get(0),
        )
        .map_err(|e| e.to_string())?;
    let variants = groups.into_iter().map(|((route, shadow, variant), g)| g.finish(route, variant, shadow)).collect();
    Ok(Report { variants, unmatched_feedback: unmatched.max(0) as u64 })
}

fn get<T: rusqlite::types::FromSql>(r: &rusqlite::Row<'_>, i: usize) -> Result<T, String> {
    r.get(i).map_err(|e| e.to_string())
}

fn has_experiment_columns(c: &Connection) -> rusqlite::Result<bool> {
    let variant: i64 =
        c.query_row("SELECT COUNT(*) FROM pragma_table_info('requests') WHERE name = 'variant'", [], |r| r.get(0))?;
    let feedback: i64 =
        c.query_row("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'feedback'", [], |r| r.get(0))?;
    Ok(variant > 0 && feedback > 0)
}

/// One variant's rows, gathered.
#[derive(Default)]
struct Group {
    row: VariantRow,
    latencies: Vec<f64>,
    scores: Vec<f64>,
}

impl Group {
    fn add(&mut self, r: &rusqlite::Row<'_>) -> Result<(), String> {
        let v = &mut self.row;
        v.requests += 1;
        if get::<i64>(r, 3)? >= 400 {
            v.errors += 1;
        }
        self.latencies.push(get(r, 4)?);
        match get::<Option<f64>>(r, 5)? {
            Some(c) => v.cost_usd += c,
            None => v.unpriced_requests += 1,
        }
        v.prompt_tokens += get::<i64>(r, 6)?.max(0) as u64;
        v.completion_tokens += get::<i64>(r, 7)?.max(0) as u64;
        if get::<bool>(r, 8)? {
            v.feedback += 1;
            if let Some(s) = get::<Option<f64>>(r, 9)? {
                self.scores.push(s);
            }
            if let Some(l) = get::<Option<String>>(r, 10)? {
                *v.labels.entry(l).or_insert(0) += 1;
            }
        }
        Ok(())
    }

    fn finish(mut self, route: String, variant: String, shadow: bool) -> VariantRow {
        self.latencies.sort_by(f64::total_cmp);
        let mean = (!self.scores.is_empty()).then(|| self.scores.iter().sum::<f64>() / self.scores.len() as f64);
        VariantRow {
            route,
            variant,
            shadow,
            score_mean: mean,
            latency_p50_ms: percentile(&self.latencies, 0.50),
            latency_p95_ms: percentile(&self.latencies, 0.95),
            ..self.row
        }
    }
}

/// The nearest-rank percentile `q` of sorted `v` (0 for none).
fn percentile(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let rank = (q * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// The report as an aligned text table, shadows marked, and the unmatched feedback below.
pub fn table(r: &Report) -> String {
    let head = [
        "route", "variant", "kind", "requests", "errors", "feedback", "score", "labels", "p50 ms", "p95 ms", "cost USD",
    ];
    let mut lines: Vec<Vec<String>> = vec![head.map(String::from).to_vec()];
    for v in &r.variants {
        let labels: Vec<String> = v.labels.iter().map(|(l, n)| format!("{l}:{n}")).collect();
        lines.push(vec![
            v.route.clone(),
            v.variant.clone(),
            if v.shadow { "shadow" } else { "live" }.to_string(),
            v.requests.to_string(),
            v.errors.to_string(),
            v.feedback.to_string(),
            v.score_mean.map_or_else(|| "-".to_string(), |s| format!("{s:.3}")),
            if labels.is_empty() { "-".to_string() } else { labels.join(" ") },
            format!("{:.1}", v.latency_p50_ms),
            format!("{:.1}", v.latency_p95_ms),
            format!("{:.6}", v.cost_usd),
        ]);
    }
    let widths: Vec<usize> =
        (0..head.len()).map(|i| lines.iter().map(|l| l[i].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for l in &lines {
        let cells: Vec<String> =
            l.iter()
                .enumerate()
                .map(|(i, c)| {
                    if i < 3 || i == 7 { format!("{c:<w$}", w = widths[i]) } else { format!("{c:>w$}", w = widths[i]) }
                })
                .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    if r.unmatched_feedback > 0 {
        out.push_str(&format!("feedback for request ids the ledger has no row for: {}\n", r.unmatched_feedback));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!((percentile(&v, 0.5), percentile(&v, 0.95)), (10.0, 19.0));
        assert_eq!((percentile(&[7.0], 0.5), percentile(&[], 0.95)), (7.0, 0.0));
    }
}
