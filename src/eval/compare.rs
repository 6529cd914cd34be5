//! `sidegate eval compare A B`: item by item, what got better or worse from run A to run B.
//! Items are matched by their content (vars, messages and expectation hashed), so a dataset
//! that was reordered or grew still lines up; variants by name.

use std::collections::HashMap;
use std::fmt::Write;

use serde_json::{Value, json};

use super::EvalError;
use super::store::{ResultRow, Store};

/// One item on one variant whose score moved.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub variant: String,
    /// The item's dataset line in run B.
    pub line: usize,
    pub before: f64,
    pub after: f64,
    /// The first verdict of B's result (what it says now).
    pub reason: String,
}

#[derive(Debug, Clone)]
pub struct Comparison {
    pub a: i64,
    pub b: i64,
    pub better: Vec<Change>,
    pub worse: Vec<Change>,
    pub same: usize,
    /// (item, variant) results in only one of the runs.
    pub only_a: usize,
    pub only_b: usize,
    /// Per variant in both: mean score over the items both have, in A and in B.
    pub means: Vec<(String, f64, f64)>,
}

/// A run's results by (item key, variant), with the item's line.
type Side = HashMap<(String, String), (usize, ResultRow)>;

pub fn compare(store: &Store, a: i64, b: i64) -> Result<Comparison, EvalError> {
    let side = |run: i64| -> Result<Side, EvalError> {
        let items = store.items(run)?;
        let by_idx: HashMap<usize, (String, usize)> = items.into_iter().map(|i| (i.idx, (i.key, i.line))).collect();
        Ok(store
            .results(run)?
            .into_iter()
            .filter_map(|r| by_idx.get(&r.idx).map(|(k, line)| ((k.clone(), r.variant.clone()), (*line, r))))
            .collect())
    };
    store.run(a)?;
    store.run(b)?;
    let (ra, rb) = (side(a)?, side(b)?);
    let mut c = Comparison { a, b, better: vec![], worse: vec![], same: 0, only_a: 0, only_b: 0, means: vec![] };
    let mut sums: HashMap<String, (f64, f64, usize)> = HashMap::new();
    for (key, (line, after)) in &rb {
        let Some((_, before)) = ra.get(key) else {
            c.only_b += 1;
            continue;
        };
        let s = sums.entry(key.1.clone()).or_default();
        *s = (s.0 + before.score, s.1 + after.score, s.2 + 1);
        let change = Change {
            variant: key.1.clone(),
            line: *line,
            before: before.score,
            after: after.score,
            reason: after.scores.first().map(|(n, s)| format!("{n}: {}", s.reason)).unwrap_or_default(),
        };
        match after.score.partial_cmp(&before.score) {
            Some(std::cmp::Ordering::Greater) => c.better.push(change),
            Some(std::cmp::Ordering::Less) => c.worse.push(change),
            _ => c.same += 1,
        }
    }
    c.only_a = ra.keys().filter(|k| !rb.contains_key(*k)).count();
    let order = |x: &Change, y: &Change| (x.line, &x.variant).cmp(&(y.line, &y.variant));
    c.better.sort_by(order);
    c.worse.sort_by(order);
    let mut means: Vec<(String, f64, f64)> =
        sums.into_iter().map(|(v, (sa, sb, n))| (v, sa / n as f64, sb / n as f64)).collect();
    means.sort_by(|x, y| x.0.cmp(&y.0));
    c.means = means;
    Ok(c)
}

pub fn text(c: &Comparison) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "run {} -> run {}", c.a, c.b);
    for (title, list) in [("better", &c.better), ("worse", &c.worse)] {
        let _ = writeln!(out, "{title} ({}):", list.len());
        for ch in list {
            let _ = writeln!(
                out,
                "  line {:<5} {:<20} {:.2} -> {:.2}  {}",
                ch.line, ch.variant, ch.before, ch.after, ch.reason
            );
        }
    }
    let _ =
        writeln!(out, "unchanged: {}; only in run {}: {}; only in run {}: {}", c.same, c.a, c.only_a, c.b, c.only_b);
    for (v, ma, mb) in &c.means {
        let _ = writeln!(out, "  {v:<24} mean {ma:.3} -> {mb:.3} ({:+.3})", mb - ma);
    }
    out
}

pub fn json(c: &Comparison) -> Value {
    let list = |l: &[Change]| -> Vec<Value> {
        l.iter().map(|ch| json!({"variant": ch.variant, "line": ch.line, "before": ch.before, "after": ch.after, "reason": ch.reason})).collect()
    };
    json!({
        "a": c.a, "b": c.b, "better": list(&c.better), "worse": list(&c.worse), "same": c.same,
        "only_a": c.only_a, "only_b": c.only_b,
        "variants": c.means.iter().map(|(v, a, b)| json!({"name": v, "score_a": a, "score_b": b})).collect::<Vec<_>>(),
    })
}
