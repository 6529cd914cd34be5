//! A run's numbers per variant, from the store: items, mean score with a 95% confidence
//! interval (Student's t over the items' scores), pass rate, p50/p95 latency and time to first
//! token, tokens, cost per item and in total (judges included); then shown as a terminal
//! [`table`], as JSON ([`json`]), or as a self-contained [`html`] page.

pub mod html;
pub mod table;

use serde_json::{Value, json};

use super::EvalError;
use super::store::{ResultRow, Run, Store, StoredItem};

/// One variant's numbers.
#[derive(Debug, Clone)]
pub struct VariantStats {
    pub name: String,
    pub target: String,
    pub prompt: Option<String>,
    pub items: usize,
    pub errors: usize,
    pub cached: usize,
    pub score_mean: f64,
    pub score_ci95: (f64, f64),
    pub pass_rate: f64,
    pub latency_p50_ms: f64,
    pub latency_p95_ms: f64,
    pub ttft_p50_ms: Option<f64>,
    pub ttft_p95_ms: Option<f64>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Answers and judges; answers whose price is unknown count 0 (see `priced`).
    pub cost_usd: f64,
    /// Answers with a known cost.
    pub priced: usize,
    /// Each answer's latency (the charts' data).
    pub latencies: Vec<f64>,
}

impl VariantStats {
    pub fn cost_per_item(&self) -> f64 {
        if self.items == 0 { 0.0 } else { self.cost_usd / self.items as f64 }
    }
}

/// Everything a report shows.
#[derive(Debug)]
pub struct Report {
    pub run: Run,
    pub variants: Vec<VariantStats>,
    pub items: Vec<StoredItem>,
    pub results: Vec<ResultRow>,
}

pub fn load(store: &Store, run: i64) -> Result<Report, EvalError> {
    let run = store.run(run)?;
    let items = store.items(run.id)?;
    let results = store.results(run.id)?;
    let variants = run
        .variants
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| {
            let name = v["name"].as_str().unwrap_or("").to_string();
            let rows: Vec<&ResultRow> = results.iter().filter(|r| r.variant == name).collect();
            stats(name, v["target"].as_str().unwrap_or(""), v["prompt"].as_str(), &rows)
        })
        .collect();
    Ok(Report { run, variants, items, results })
}

fn stats(name: String, target: &str, prompt: Option<&str>, rows: &[&ResultRow]) -> VariantStats {
    let scores: Vec<f64> = rows.iter().map(|r| r.score).collect();
    let mut latencies: Vec<f64> =
        rows.iter().filter(|r| r.answer.error.is_none()).map(|r| r.answer.latency_ms).collect();
    let mut ttfts: Vec<f64> = rows.iter().filter_map(|r| r.answer.ttft_ms).collect();
    latencies.sort_by(f64::total_cmp);
    ttfts.sort_by(f64::total_cmp);
    let (mean, ci) = mean_ci95(&scores);
    let n = rows.len();
    VariantStats {
        name,
        target: target.to_string(),
        prompt: prompt.map(str::to_string),
        items: n,
        errors: rows.iter().filter(|r| r.answer.error.is_some()).count(),
        cached: rows.iter().filter(|r| r.cached).count(),
        score_mean: mean,
        score_ci95: ci,
        pass_rate: if n == 0 { 0.0 } else { rows.iter().filter(|r| r.pass).count() as f64 / n as f64 },
        latency_p50_ms: percentile(&latencies, 0.50).unwrap_or(0.0),
        latency_p95_ms: percentile(&latencies, 0.95).unwrap_or(0.0),
        ttft_p50_ms: percentile(&ttfts, 0.50),
        ttft_p95_ms: percentile(&ttfts, 0.95),
        prompt_tokens: rows.iter().map(|r| r.answer.prompt_tokens).sum(),
        completion_tokens: rows.iter().map(|r| r.answer.completion_tokens).sum(),
        cost_usd: rows.iter().map(|r| r.answer.cost_usd.unwrap_or(0.0) + r.judge_cost_usd).sum(),
        priced: rows.iter().filter(|r| r.answer.cost_usd.is_some()).count(),
        latencies,
    }
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

/// Student's t at 97.5% for 1..=30 degrees of freedom (then the normal 1.96).
const T975: [f64; 30] = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120,
    2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/// The mean and its 95% confidence interval, clamped to [0, 1] (one value: the mean alone).
pub fn mean_ci95(xs: &[f64]) -> (f64, (f64, f64)) {
    let n = xs.len();
    if n == 0 {
        return (0.0, (0.0, 0.0));
    }
    let mean = xs.iter().sum::<f64>() / n as f64;
    if n == 1 {
        return (mean, (mean, mean));
    }
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let t = T975.get(n - 2).copied().unwrap_or(1.96);
    let half = t * (var / n as f64).sqrt();
    (mean, ((mean - half).max(0.0), (mean + half).min(1.0)))
}

/// `{"run", "file", "status", "skipped", "variants": [...]}` (the contract's keys and more).
pub fn json(r: &Report) -> Value {
    let variants: Vec<Value> = r
        .variants
        .iter()
        .map(|v| {
            json!({
                "name": v.name, "target": v.target, "prompt": v.prompt,
                "items": v.items, "errors": v.errors, "cached": v.cached,
                "score_mean": v.score_mean, "score_ci95": [v.score_ci95.0, v.score_ci95.1],
                "pass_rate": v.pass_rate,
                "latency_p50_ms": v.latency_p50_ms, "latency_p95_ms": v.latency_p95_ms,
                "ttft_p50_ms": v.ttft_p50_ms, "ttft_p95_ms": v.ttft_p95_ms,
                "prompt_tokens": v.prompt_tokens, "completion_tokens": v.completion_tokens,
                "cost_usd": v.cost_usd, "cost_per_item_usd": v.cost_per_item(), "priced_items": v.priced,
            })
        })
        .collect();
    json!({
        "run": r.run.id, "file": r.run.file, "status": r.run.status, "via": r.run.via,
        "dataset_items": r.items.len(), "skipped": r.run.skipped,
        "budget_usd": r.run.budget_usd, "budget_stopped": r.run.status == "budget",
        "cost_usd": r.variants.iter().map(|v| v.cost_usd).sum::<f64>(),
        "scorers": r.run.scorers, "variants": variants,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let xs: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&xs, 0.5), Some(50.0));
        assert_eq!(percentile(&xs, 0.95), Some(95.0));
        assert_eq!(percentile(&[7.0], 0.95), Some(7.0));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn confidence_interval_of_the_mean() {
        assert_eq!(mean_ci95(&[1.0, 1.0, 1.0]), (1.0, (1.0, 1.0)));
        let (m, (lo, hi)) = mean_ci95(&[0.0, 1.0, 0.0, 1.0]);
        assert_eq!(m, 0.5);
        // sd = 0.577, se = 0.289, t(3) = 3.182: half-width 0.919, clamped to [0, 1]
        assert_eq!((lo, hi), (0.0, 1.0));
        let xs: Vec<f64> = (0..40).map(|i| if i % 4 == 0 { 0.0 } else { 1.0 }).collect();
        let (m, (lo, hi)) = mean_ci95(&xs);
        assert!((m - 0.75).abs() < 1e-12 && lo > 0.6 && hi < 0.9, "{lo} {hi}");
        assert_eq!(mean_ci95(&[0.4]), (0.4, (0.4, 0.4)));
    }
}
