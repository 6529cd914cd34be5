//! What the micro-benchmark binaries (`dialect-bench`, `translate-bench`) share: the timing
//! loop and the `--iters` argument.

use std::time::Instant;

/// Median ns per call of `f` over 5 rounds of `iters` calls (after a warm-up of `iters / 10`).
pub fn time(iters: u32, mut f: impl FnMut()) -> f64 {
    for _ in 0..iters / 10 {
        f();
    }
    let mut rounds: Vec<f64> = (0..5)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iters {
                f();
            }
            t.elapsed().as_nanos() as f64 / f64::from(iters.max(1))
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    rounds[2]
}

/// The calls per round: `--iters N` on the command line, else `default`.
pub fn iters_arg(default: u32) -> u32 {
    let mut iters = default;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--iters" {
            iters = args.next().and_then(|v| v.parse().ok()).unwrap_or(iters);
        }
    }
    iters
}
