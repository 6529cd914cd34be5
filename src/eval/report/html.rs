//! The HTML report: one self-contained file (inline CSS, inline SVG charts, a few lines of
//! inline JS; nothing fetched). Charts: mean score against cost per item (one point per
//! variant), latency distributions (one box per variant), then every item with each variant's
//! answer side by side. Every text from a dataset or a model is escaped.

use std::fmt::Write;

use super::{Report, VariantStats, percentile};

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const CSS: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}h1{font-size:20px}\
table{border-collapse:collapse;margin:12px 0}td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top;text-align:left}\
th{background:#f3f3f3}td.pass{background:#e8f6e8}td.fail{background:#fbe9e9}pre{white-space:pre-wrap;margin:0;max-width:40em}\
.charts{display:flex;gap:24px;flex-wrap:wrap}svg{background:#fafafa;border:1px solid #ddd}.why{color:#666;font-size:12px}";

const PALETTE: [&str; 8] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"];

pub fn html(r: &Report) -> String {
    page(r, None)
}

/// The report; with `nonce`, its inline style and script carry it, for a page served under a
/// `Content-Security-Policy` that allows only them (the dashboard's `/ui/eval/RUN`).
pub fn page(r: &Report, nonce: Option<&str>) -> String {
    let mut out = String::new();
    let nonce = nonce.map(|n| format!(" nonce=\"{}\"", escape(n))).unwrap_or_default();
    let title = format!("sidegate eval run {}", r.run.id);
    let _ = write!(
        out,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{}</title><style{nonce}>{CSS}</style></head><body>",
        escape(&title)
    );
    let _ = write!(
        out,
        "<h1>{}</h1><p>{} — {} items, status {}, via {}</p>",
        escape(&title),
        escape(&r.run.file),
        r.items.len(),
        escape(&r.run.status),
        escape(&r.run.via)
    );
    summary(&mut out, r);
    out.push_str("<div class=\"charts\">");
    scatter(&mut out, &r.variants);
    boxes(&mut out, &r.variants);
    out.push_str("</div>");
    items(&mut out, r);
    let _ = write!(out, "<script{nonce}>");
    out.push_str("document.getElementById('only-diff').addEventListener('change',function(e){document.querySelectorAll('#items tbody tr').forEach(function(tr){tr.hidden=e.target.checked&&tr.dataset.same==='1';});});</script>");
    out.push_str("</body></html>\n");
    out
}

fn summary(out: &mut String, r: &Report) {
    out.push_str("<table id=\"summary\"><thead><tr><th>variant</th><th>target</th><th>items</th><th>score (95% CI)</th><th>pass</th><th>p50 ms</th><th>p95 ms</th><th>ttft p50</th><th>tokens</th><th>$ / item</th><th>$ total</th></tr></thead><tbody>");
    for v in &r.variants {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.3} [{:.3}, {:.3}]</td><td>{:.0}%</td><td>{:.0}</td><td>{:.0}</td><td>{}</td><td>{}</td><td>{:.6}</td><td>{:.6}</td></tr>",
            escape(&v.name),
            escape(&v.target),
            v.items,
            v.score_mean,
            v.score_ci95.0,
            v.score_ci95.1,
            v.pass_rate * 100.0,
            v.latency_p50_ms,
            v.latency_p95_ms,
            v.ttft_p50_ms.map_or("-".into(), |t| format!("{t:.0}")),
            v.prompt_tokens + v.completion_tokens,
            v.cost_per_item(),
            v.cost_usd
        );
    }
    out.push_str("</tbody></table>");
}

const W: f64 = 420.0;
const H: f64 = 260.0;
const PAD: f64 = 44.0;

/// Mean score (y, 0..1) against cost per item (x, 0..max): one point per variant.
fn scatter(out: &mut String, vs: &[VariantStats]) {
    let max_cost = vs.iter().map(VariantStats::cost_per_item).fold(0.0, f64::max);
    let max_cost = if max_cost > 0.0 { max_cost * 1.1 } else { 1.0 };
    let _ = write!(
        out,
        "<figure><figcaption>Score against cost per item</figcaption><svg id=\"score-cost\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" role=\"img\">"
    );
    axes(out, "$ per item", "score", &format!("{max_cost:.2e}"), "1");
    let mut labels: Vec<(f64, f64)> = Vec::with_capacity(vs.len());
    for (i, v) in vs.iter().enumerate() {
        let x = PAD + v.cost_per_item() / max_cost * (W - 2.0 * PAD);
        let y = H - PAD - v.score_mean * (H - 2.0 * PAD);
        let label_y = label_row(&labels, x, y - 8.0);
        labels.push((x, label_y));
        let (lo, hi) = (H - PAD - v.score_ci95.0 * (H - 2.0 * PAD), H - PAD - v.score_ci95.1 * (H - 2.0 * PAD));
        let c = PALETTE[i % PALETTE.len()];
        let _ = write!(
            out,
            "<line class=\"ci\" x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{lo:.1}\" y2=\"{hi:.1}\" stroke=\"{c}\"/><circle class=\"point\" data-variant=\"{}\" cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"6\" fill=\"{c}\"><title>{}: score {:.3}, ${:.6}/item</title></circle><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\">{}</text>",
            escape(&v.name),
            escape(&v.name),
            v.score_mean,
            v.cost_per_item(),
            x + 8.0,
            label_y,
            escape(&v.name)
        );
    }
    out.push_str("</svg></figure>");
}

/// Where a point's label goes: at `y`, or one line lower for each label already placed near
/// it, so the names of variants whose points coincide stay readable.
fn label_row(placed: &[(f64, f64)], x: f64, y: f64) -> f64 {
    let mut y = y;
    while placed.iter().any(|&(px, py)| (px - x).abs() < 60.0 && (py - y).abs() < 12.0) {
        y += 13.0;
    }
    y
}

/// One box per variant: p5..p95 whiskers, the quartiles' box, the median line.
fn boxes(out: &mut String, vs: &[VariantStats]) {
    let max = vs.iter().flat_map(|v| v.latencies.iter().copied()).fold(0.0, f64::max);
    let max = if max > 0.0 { max * 1.1 } else { 1.0 };
    let _ = write!(
        out,
        "<figure><figcaption>Latency per variant (ms)</figcaption><svg id=\"latency\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" role=\"img\">"
    );
    axes(out, "variant", "ms", "", &format!("{max:.0}"));
    let slot = (W - 2.0 * PAD) / vs.len().max(1) as f64;
    let y = |ms: f64| H - PAD - ms / max * (H - 2.0 * PAD);
    for (i, v) in vs.iter().enumerate() {
        let q = |p| percentile(&v.latencies, p).unwrap_or(0.0);
        let (p5, q1, med, q3, p95) = (q(0.05), q(0.25), q(0.5), q(0.75), q(0.95));
        let cx = PAD + slot * (i as f64 + 0.5);
        let half = (slot * 0.3).min(30.0);
        let c = PALETTE[i % PALETTE.len()];
        let _ = write!(
            out,
            "<g class=\"box\" data-variant=\"{}\"><title>{}: p50 {med:.1} ms, p95 {p95:.1} ms</title><line x1=\"{cx:.1}\" x2=\"{cx:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"{c}\"/><rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{c}\" fill-opacity=\"0.3\" stroke=\"{c}\"/><line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"{c}\" stroke-width=\"2\"/><text x=\"{cx:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\">{}</text></g>",
            escape(&v.name),
            escape(&v.name),
            y(p5),
            y(p95),
            cx - half,
            y(q3),
            half * 2.0,
            (y(q1) - y(q3)).max(1.0),
            cx - half,
            cx + half,
            y(med),
            y(med),
            H - PAD + 14.0,
            escape(&v.name)
        );
    }
    out.push_str("</svg></figure>");
}

fn axes(out: &mut String, x_label: &str, y_label: &str, x_max: &str, y_max: &str) {
    let _ = write!(
        out,
        "<line x1=\"{PAD}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"#888\"/><line x1=\"{PAD}\" y1=\"{PAD}\" x2=\"{PAD}\" y2=\"{b}\" stroke=\"#888\"/><text x=\"{r}\" y=\"{bl}\" font-size=\"11\" text-anchor=\"end\">{x_label} {x_max}</text><text x=\"4\" y=\"{t}\" font-size=\"11\">{y_label} {y_max}</text>",
        b = H - PAD,
        r = W - PAD,
        bl = H - PAD + 28.0,
        t = PAD - 8.0,
    );
}

fn items(out: &mut String, r: &Report) {
    out.push_str("<h2>Items</h2><label><input type=\"checkbox\" id=\"only-diff\"> only items where the variants differ</label><table id=\"items\"><thead><tr><th>#</th><th>input</th><th>expect</th>");
    for v in &r.variants {
        let _ = write!(out, "<th>{}</th>", escape(&v.name));
    }
    out.push_str("</tr></thead><tbody>");
    for it in &r.items {
        let cells: Vec<_> =
            r.variants.iter().map(|v| r.results.iter().find(|x| x.idx == it.idx && x.variant == v.name)).collect();
        let scores: Vec<Option<f64>> = cells.iter().map(|c| c.map(|c| c.score)).collect();
        let same = scores.windows(2).all(|w| w[0] == w[1]);
        let input = shown_input(&it.input);
        let _ = write!(
            out,
            "<tr data-same=\"{}\"><td>{} <span class=\"why\">line {}</span></td><td><pre>{}</pre></td><td><pre>{}</pre></td>",
            u8::from(same),
            it.idx + 1,
            it.line,
            escape(&input),
            escape(&it.expect.to_string())
        );
        for c in cells {
            match c {
                None => out.push_str("<td class=\"none\">not run</td>"),
                Some(c) => {
                    let shown =
                        c.answer.error.as_deref().map_or_else(|| c.answer.text.clone(), |e| format!("error: {e}"));
                    let why: Vec<String> =
                        c.scores.iter().map(|(n, s)| format!("{n} {:.2}: {}", s.score, s.reason)).collect();
                    let _ = write!(
                        out,
                        "<td class=\"{}\"><pre>{}</pre><div class=\"why\">score {:.2}{} — {}</div></td>",
                        if c.pass { "pass" } else { "fail" },
                        escape(&shown),
                        c.score,
                        if c.cached { " (cached)" } else { "" },
                        escape(&why.join("; "))
                    );
                }
            }
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
}

/// An item's input as people read it: its variables, then its messages as `role: text`.
fn shown_input(input: &serde_json::Value) -> String {
    let mut lines = Vec::new();
    if let Some(vars) = input["vars"].as_object().filter(|v| !v.is_empty()) {
        lines.push(serde_json::to_string_pretty(vars).unwrap_or_default());
    }
    for m in input["messages"].as_array().into_iter().flatten() {
        let text = match &m["content"] {
            serde_json::Value::String(t) => t.clone(),
            other => other.to_string(),
        };
        lines.push(format!("{}: {text}", m["role"].as_str().unwrap_or("?")));
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_attributes() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }

    #[test]
    fn labels_of_coinciding_points_go_one_line_apart() {
        let mut placed = Vec::new();
        for _ in 0..3 {
            let y = label_row(&placed, 100.0, 50.0);
            placed.push((100.0, y));
        }
        assert_eq!(placed.iter().map(|p| p.1).collect::<Vec<_>>(), [50.0, 63.0, 76.0]);
        // a point far away keeps its own place
        assert_eq!(label_row(&placed, 300.0, 50.0), 50.0);
    }

    #[test]
    fn inputs_show_their_vars_and_messages() {
        let v = serde_json::json!({"vars": {}, "messages": [{"role": "user", "content": "hi"}]});
        assert_eq!(shown_input(&v), "user: hi");
        let v = serde_json::json!({"vars": {"who": "Ada"}, "messages": []});
        assert_eq!(shown_input(&v), "{\n  \"who\": \"Ada\"\n}");
    }
}
