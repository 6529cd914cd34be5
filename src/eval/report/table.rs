//! The terminal table: one row per variant.

use std::fmt::Write;

use super::Report;

fn ms(v: Option<f64>) -> String {
    v.map_or("-".to_string(), |x| format!("{x:.0}"))
}

fn usd(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v < 0.01 {
        format!("{v:.6}")
    } else {
        format!("{v:.4}")
    }
}

pub fn table(r: &Report) -> String {
    let mut out = String::new();
    let _ =
        writeln!(out, "run {} ({}): {} items, {} via {}", r.run.id, r.run.file, r.items.len(), r.run.status, r.run.via);
    let _ = writeln!(
        out,
        "{:<24} {:>5} {:>6} {:>15} {:>6} {:>7} {:>7} {:>7} {:>7} {:>9} {:>10} {:>10}",
        "variant",
        "items",
        "errors",
        "score (95% CI)",
        "pass",
        "p50 ms",
        "p95 ms",
        "ttft50",
        "ttft95",
        "tokens",
        "$/item",
        "$ total"
    );
    for v in &r.variants {
        let score = format!("{:.3} ±{:.3}", v.score_mean, (v.score_ci95.1 - v.score_ci95.0) / 2.0);
        let _ = writeln!(
            out,
            "{:<24} {:>5} {:>6} {:>15} {:>5.0}% {:>7} {:>7} {:>7} {:>7} {:>9} {:>10} {:>10}",
            v.name,
            v.items,
            v.errors,
            score,
            v.pass_rate * 100.0,
            ms(Some(v.latency_p50_ms)),
            ms(Some(v.latency_p95_ms)),
            ms(v.ttft_p50_ms),
            ms(v.ttft_p95_ms),
            v.prompt_tokens + v.completion_tokens,
            usd(v.cost_per_item()),
            usd(v.cost_usd),
        );
    }
    let cached: usize = r.variants.iter().map(|v| v.cached).sum();
    if cached > 0 {
        let _ = writeln!(out, "({cached} answers reused from earlier runs; --fresh sends every request again)");
    }
    if r.run.status == "budget" {
        let cap = r.run.budget_usd.unwrap_or(0.0);
        let _ = writeln!(out, "budget of ${cap} reached: {} item(s) not run", r.run.skipped);
    }
    out
}
