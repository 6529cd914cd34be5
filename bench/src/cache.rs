//! `--only cache`: the response cache's hit path. One daemon with a route cached in memory,
//! one cached on disk only, and an uncached route to the built-in mock for comparison; the
//! same request, already stored, sent over the native protocol and over HTTP on the Unix
//! socket, at concurrency 1 (latency) and 64 (throughput). Numbers, not assertions.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sidegate::client::Client;

use crate::{Args, Daemon, wait_socket};

#[derive(Clone, Copy, PartialEq)]
enum Via {
    Native,
    Http,
    /// The native `models` op: a round trip with no router or cache behind it (for scale).
    NativeFloor,
}

struct Row {
    label: String,
    conc: usize,
    n: usize,
    p50: Duration,
    p99: Duration,
    rps: f64,
}

fn body(route: &str) -> Value {
    json!({"model": route, "messages": [{"role": "user", "content": "benchmark prompt of a few words"}]})
}

pub async fn run(a: &Args, vendor_base: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let sock = dir.path().join("cache.sock");
    let cfg = dir.path().join("cache.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nsocket = \"{sock}\"\nstate_dir = \"{state}\"\n\n\
             [providers.fake]\nkind = \"openai-compatible\"\nbase_url = \"{vendor_base}\"\n\
             [providers.mock]\nkind = \"mock\"\n\
             [models.vendor]\nprovider = \"fake\"\nmodel = \"echo\"\n\
             [models.mock]\nprovider = \"mock\"\nmodel = \"echo\"\n\
             [routes.mem]\ntargets = [\"vendor\"]\ncache = {{ ttl = \"1h\", tiers = [\"memory\"] }}\n\
             [routes.disk]\ntargets = [\"vendor\"]\ncache = {{ ttl = \"1h\", tiers = [\"disk\"] }}\n\
             [routes.nocache]\ntargets = [\"mock\"]\n",
            sock = sock.display(),
            state = dir.path().join("state").display(),
        ),
    )
    .expect("config");
    let child = Command::new(&a.sidegate)
        .args(["serve", "--log-level", "warn", "--config"])
        .arg(&cfg)
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", a.sidegate.display()));
    let _d = Daemon(child);
    wait_socket(&sock).await;

    // Several native connections for the concurrent rows (one connection is one reader task).
    let mut natives = Vec::new();
    for _ in 0..8 {
        natives.push(Arc::new(Client::connect(&sock).await.expect("native client")));
    }
    let http =
        reqwest::Client::builder().unix_socket(sock.clone()).pool_max_idle_per_host(256).build().expect("client");

    // Store the answers, then check the hit paths really are hits.
    for route in ["mem", "disk"] {
        natives[0].call("chat", &body(route), &json!({})).await.expect("first call");
    }
    wait_for_disk(&natives[0]).await;
    for route in ["mem", "disk"] {
        let r = natives[0].call("chat", &body(route), &json!({})).await.expect("hit");
        assert_eq!(r.meta["cache"], "hit", "route {route} should hit: {}", r.meta);
    }

    let n1 = a.requests;
    let n64 = a.requests.max(20_000);
    let plan: [(&str, &str, Via, usize, usize); 8] = [
        ("native, `models` op", "mem", Via::NativeFloor, 1, n1),
        ("native, memory hit", "mem", Via::Native, 1, n1),
        ("HTTP/unix, memory hit", "mem", Via::Http, 1, n1),
        ("native, disk hit", "disk", Via::Native, 1, n1),
        ("native, no cache (mock)", "nocache", Via::Native, 1, n1),
        ("native, memory hit", "mem", Via::Native, 64, n64),
        ("HTTP/unix, memory hit", "mem", Via::Http, 64, n64),
        ("native, no cache (mock)", "nocache", Via::Native, 64, n64),
    ];
    let mut rows = Vec::new();
    for (label, route, via, conc, n) in plan {
        rows.push(measure(label, route, via, conc, n, &natives, &http).await);
    }
    let s = natives[0].call("status", &json!({}), &json!({})).await.expect("status").body;

    println!("\nsidegate cache hits: the stored answer of a short chat, fake vendor on loopback");
    println!("{:<28} {:>5} {:>8} {:>10} {:>10} {:>10}", "path", "conc", "requests", "p50 µs", "p99 µs", "req/s");
    println!("{}", "-".repeat(76));
    for r in &rows {
        println!(
            "{:<28} {:>5} {:>8} {:>10.1} {:>10.1} {:>10.0}",
            r.label,
            r.conc,
            r.n,
            r.p50.as_secs_f64() * 1e6,
            r.p99.as_secs_f64() * 1e6,
            r.rps
        );
    }
    let (key_ns, hit_ns) = in_process(&cfg);
    println!(
        "\nin-process share of a memory hit (no I/O): key {key_ns:.0} ns + lookup and copy of the answer {hit_ns:.0} ns"
    );
    let c = &s["cache"];
    println!(
        "\ncache: {} hits, {} misses, memory {} entries / {} bytes; vendor calls made: {}",
        c["hits"], c["misses"], c["memory"]["entries"], c["memory"]["bytes"], c["misses"]
    );
    println!(
        "machine: {} cores, shared by the bench client, the fake vendor and the daemon.",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
}

async fn wait_for_disk(c: &Client) {
    for _ in 0..400 {
        let s = c.call("status", &json!({}), &json!({})).await.expect("status").body;
        if s["cache"]["disk"]["entries"].as_u64().unwrap_or(0) >= 1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the disk tier never stored the entry");
}

async fn measure(
    label: &str,
    route: &str,
    via: Via,
    conc: usize,
    n: usize,
    natives: &[Arc<Client>],
    http: &reqwest::Client,
) -> Row {
    let payload = Arc::new(body(route));
    let natives: Arc<Vec<Arc<Client>>> = Arc::new(natives.to_vec());
    let http = http.clone();
    let one = move |i: usize| {
        let native = natives[i % natives.len()].clone();
        let (http, payload) = (http.clone(), payload.clone());
        async move {
            let ok = match via {
                Via::Native => native.call("chat", &payload, &json!({})).await.is_ok(),
                Via::NativeFloor => native.call("models", &json!({}), &json!({})).await.is_ok(),
                Via::Http => http
                    .post("http://sidegate/v1/chat/completions")
                    .json(&*payload)
                    .send()
                    .await
                    .map(|r| r.status().is_success())
                    .unwrap_or(false),
            };
            assert!(ok, "request failed");
        }
    };
    for i in 0..200 {
        one(i).await; // warm-up: pools, caches, branch predictors
    }
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let workers = (0..conc).map(|w| {
        let (one, next) = (one.clone(), next.clone());
        tokio::spawn(async move {
            let mut lat = Vec::with_capacity(n / conc + 1);
            while next.fetch_add(1, Ordering::Relaxed) < n {
                let t = Instant::now();
                one(w).await;
                lat.push(t.elapsed());
            }
            lat
        })
    });
    let mut lat: Vec<Duration> = Vec::with_capacity(n);
    for w in futures_util::future::join_all(workers).await {
        lat.extend(w.expect("worker"));
    }
    let wall = start.elapsed();
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    Row { label: label.to_string(), conc, n, p50: pct(0.5), p99: pct(0.99), rps: n as f64 / wall.as_secs_f64() }
}

/// What the cache itself costs per hit, measured in this process: the key (canonical JSON +
/// blake3), then the memory lookup and the copy of the stored answer that a hit returns.
fn in_process(cfg: &std::path::Path) -> (f64, f64) {
    use sidegate::cache::{Body, Entry, Origin, key, memory::Memory};
    let text = std::fs::read_to_string(cfg).expect("config");
    let snap = sidegate::config::parse(&text, cfg, &sidegate::config::OsEnv).expect("config parses");
    let targets = snap.routes["mem"].targets.clone();
    let req: sidegate::api::ChatRequest = serde_json::from_value(body("mem")).expect("request");
    let answer: sidegate::api::ChatResponse = serde_json::from_value(json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "echo",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "benchmark prompt of a few words"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 6, "completion_tokens": 6, "total_tokens": 12}
    }))
    .expect("answer");
    let origin = Origin { provider: "fake".into(), deployment: "vendor".into(), vendor_model: "echo".into() };
    let (entry, _) = Entry::new(origin, Body::Chat(Box::new(answer)), 3_600_000);
    let mem = Memory::new(64 << 20);
    let k = key::chat(&targets, &req);
    mem.put(k, Arc::new(entry));
    let n = 200_000u32;
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(key::chat(&targets, std::hint::black_box(&req)));
    }
    let key_ns = t.elapsed().as_nanos() as f64 / f64::from(n);
    let t = Instant::now();
    for _ in 0..n {
        let e = mem.get(&k, sidegate::cache::entry::now_ms(), 3_600_000).expect("hit");
        if let Body::Chat(r) = &e.body {
            std::hint::black_box(r.clone());
        }
    }
    let hit_ns = t.elapsed().as_nanos() as f64 / f64::from(n);
    (key_ns, hit_ns)
}
