//! What the `/ui` history costs: one request recorded into its series (the request path: a
//! clock read and a few relaxed atomic adds), the same with two threads on one series (the
//! cache line shared), and building `/ui/data`'s view over many series (the page's poll, off
//! the request path). Numbers, not assertions.
//!
//! `cargo run --release -p sidegate-bench --bin history-bench [-- --iters N]`

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use sidegate::usage::history::{History, Labels, Sample, current_minute};
use sidegate_bench::{iters_arg, time};

fn labels(i: usize) -> Labels {
    Labels {
        route: format!("route-{}", i % 8),
        deployment: format!("deployment-{}", i % 16),
        caller: format!("caller-{}", i % 12),
        status: if i.is_multiple_of(10) { 502 } else { 200 },
        cache: if i.is_multiple_of(3) { "hit" } else { "miss" },
    }
}

fn main() {
    let iters = iters_arg(2_000_000);
    let history = History::default();
    let series = history.series(labels(1));
    let sample = Sample {
        latency: Some(Duration::from_millis(180)),
        ttft: Some(Duration::from_millis(40)),
        cost_usd: Some(0.00042),
    };
    let one = time(iters, || series.record(black_box(sample)));
    println!("record, one thread:           {one:>8.1} ns/request");

    let other = Arc::clone(&series);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let noise = std::thread::spawn(move || {
        while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
            other.record(sample);
        }
    });
    let contended = time(iters, || series.record(black_box(sample)));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = noise.join();
    println!("record, two threads, 1 series: {contended:>8.1} ns/request");

    for n in [50usize, 500] {
        let h = History::default();
        let all: Vec<_> = (0..n).map(|i| h.series(labels(i))).collect();
        for s in &all {
            s.record(sample);
        }
        let now = current_minute();
        let view = time((iters / 20_000).max(10), || {
            black_box(h.view(now));
        });
        println!("view over {n:>3} series:          {:>8.1} µs/poll", view / 1000.0);
    }
}
