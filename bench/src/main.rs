//! sidegate overhead benchmark. Starts the fake OpenAI vendor (in this process) and the real
//! `sidegate` binary with a config pointing at it, then measures the same chat request:
//! - direct to the vendor (the baseline),
//! - through sidegate: HTTP over the Unix socket, HTTP over loopback TCP, native protocol,
//! - native protocol to the built-in mock provider (no vendor hop: the gateway alone),
//!
//! at each concurrency, and prints p50/p99 latency, requests/s, the p50 sidegate adds, and
//! the daemon's RSS idle and after load. Numbers, not assertions: run it, read the table.

mod cache;
mod ingress;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

struct Args {
    sidegate: PathBuf,
    vendor: PathBuf,
    /// `all`, `overhead`, `failover`, `reload`, `cache`, `callers` or `ingress`.
    only: String,
    requests: usize,
    concurrency: Vec<usize>,
    /// `--smaps DIR`: the overhead run saves the daemon's /proc smaps idle, right after the
    /// load and once it has settled (bench/rss.sh reads them).
    smaps: Option<PathBuf>,
}

fn args() -> Args {
    let mut a = Args {
        sidegate: PathBuf::from("target/release/sidegate"),
        vendor: PathBuf::from("target/release/fake-vendor"),
        only: "all".into(),
        requests: 4000,
        concurrency: vec![1, 64],
        smaps: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_default();
        match k.as_str() {
            "--sidegate" => a.sidegate = PathBuf::from(v),
            "--vendor" => a.vendor = PathBuf::from(v),
            "--only" => a.only = v,
            "--requests" => a.requests = v.parse().unwrap_or(a.requests),
            "--concurrency" => a.concurrency = v.split(',').filter_map(|x| x.parse().ok()).collect(),
            "--smaps" => a.smaps = Some(PathBuf::from(v)),
            _ => {
                eprintln!(
                    "usage: sidegate-bench [--sidegate PATH] [--vendor PATH] [--requests N] [--concurrency 1,64] [--smaps DIR] [--only overhead|failover|reload|cache|callers|ingress]"
                );
                std::process::exit(2);
            }
        }
    }
    a
}

#[derive(Clone, Copy, PartialEq)]
enum Path_ {
    Direct,
    HttpUds,
    HttpTcp,
    Native,
    NativeMock,
}

impl Path_ {
    fn label(self) -> &'static str {
        match self {
            Path_::Direct => "direct to vendor",
            Path_::HttpUds => "sidegate HTTP/unix",
            Path_::HttpTcp => "sidegate HTTP/tcp",
            Path_::Native => "sidegate native",
            Path_::NativeMock => "sidegate native, mock",
        }
    }
}

struct Row {
    path: Path_,
    conc: usize,
    p50: Duration,
    p99: Duration,
    rps: f64,
    /// Daemon CPU (user + system) per request during the row.
    cpu_per_req: Duration,
}

/// CPU time (user + system) a process has used so far, from /proc/PID/stat.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // fields after the `(comm)`: state is #3, utime #14, stime #15 (1-based)
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest.split_whitespace().map(|x| x.parse().unwrap_or(0)).collect();
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    // USER_HZ is 100 on every Linux this runs on
    Duration::from_millis(ticks * 10)
}

fn rss_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

/// Copies /proc/PID/smaps and /proc/PID/status to DIR/NAME.smaps and DIR/NAME.status.
fn save_smaps(dir: Option<&Path>, pid: u32, name: &str) {
    let Some(dir) = dir else { return };
    for what in ["smaps", "status"] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/{what}")).expect("daemon /proc entry");
        std::fs::write(dir.join(format!("{name}.{what}")), text).expect("smaps copy");
    }
}

struct Daemon(Child);
impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_socket(p: &Path) {
    for _ in 0..400 {
        if tokio::net::UnixStream::connect(p).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("sidegate did not start");
}

fn body(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "benchmark prompt of a few words"}]})
}

#[tokio::main]
async fn main() {
    let a = args();
    // The vendor runs in its own process, as a real one would be elsewhere.
    let mut vendor_child = Command::new(&a.vendor)
        .args(["--port", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", a.vendor.display()));
    let line = {
        use std::io::BufRead;
        let out = vendor_child.stdout.take().expect("vendor stdout");
        let mut line = String::new();
        std::io::BufReader::new(out).read_line(&mut line).expect("vendor banner");
        line
    };
    let _v = Daemon(vendor_child);
    let vendor_base = format!("http://{}/v1", line.trim().strip_prefix("LISTENING ").expect("LISTENING line"));
    if a.only == "all" || a.only == "failover" {
        failover(&a, &vendor_base).await;
    }
    if a.only == "all" || a.only == "reload" {
        reload(&a).await;
    }
    if a.only == "all" || a.only == "cache" {
        cache::run(&a, &vendor_base).await;
    }
    if a.only == "all" || a.only == "callers" {
        callers(&a).await;
    }
    if a.only == "all" || a.only == "ingress" {
        ingress::run(&a, &vendor_base).await;
    }
    if matches!(a.only.as_str(), "failover" | "reload" | "cache" | "callers" | "ingress") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let sock = dir.path().join("sg.sock");
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("port");
    let cfg = dir.path().join("bench.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nsocket = \"{}\"\nhttp = \"127.0.0.1:{port}\"\n\n[providers.fake]\nkind = \"openai-compatible\"\nbase_url = \"{}\"\n\n[providers.mock]\nkind = \"mock\"\n\n[models.vendor]\nprovider = \"fake\"\nmodel = \"echo\"\n\n[models.mock]\nprovider = \"mock\"\nmodel = \"echo\"\n",
            sock.display(),
            vendor_base
        ),
    )
    .expect("config");
    let child = Command::new(&a.sidegate)
        .args(["serve", "--log-level", "warn", "--config"])
        .arg(&cfg)
        .env("STATE_DIRECTORY", dir.path().join("state"))
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", a.sidegate.display()));
    let pid = child.id();
    let _d = Daemon(child);
    wait_socket(&sock).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle_rss = rss_kb(pid, "VmRSS:");
    save_smaps(a.smaps.as_deref(), pid, "idle");

    let direct = reqwest::Client::builder().pool_max_idle_per_host(256).build().expect("client");
    let uds = reqwest::Client::builder().unix_socket(sock.clone()).pool_max_idle_per_host(256).build().expect("client");
    let tcp = direct.clone();
    let native = Arc::new(sidegate::client::Client::connect(&sock).await.expect("native client"));
    let vendor_url = format!("{vendor_base}/chat/completions");
    let tcp_url = format!("http://127.0.0.1:{port}/v1/chat/completions");

    let mut rows = Vec::new();
    for &conc in &a.concurrency {
        for path in [Path_::Direct, Path_::HttpUds, Path_::HttpTcp, Path_::Native, Path_::NativeMock] {
            let one = {
                let (direct, uds, tcp, native) = (direct.clone(), uds.clone(), tcp.clone(), native.clone());
                let (vendor_url, tcp_url) = (vendor_url.clone(), tcp_url.clone());
                move || {
                    let (direct, uds, tcp, native) = (direct.clone(), uds.clone(), tcp.clone(), native.clone());
                    let (vendor_url, tcp_url) = (vendor_url.clone(), tcp_url.clone());
                    async move {
                        let ok = match path {
                            Path_::Direct => direct
                                .post(&vendor_url)
                                .json(&body("echo"))
                                .send()
                                .await
                                .map(|r| r.status().is_success())
                                .unwrap_or(false),
                            Path_::HttpUds => uds
                                .post("http://sidegate/v1/chat/completions")
                                .json(&body("vendor"))
                                .send()
                                .await
                                .map(|r| r.status().is_success())
                                .unwrap_or(false),
                            Path_::HttpTcp => tcp
                                .post(&tcp_url)
                                .json(&body("vendor"))
                                .send()
                                .await
                                .map(|r| r.status().is_success())
                                .unwrap_or(false),
                            Path_::Native => native.call("chat", &body("vendor"), &json!({})).await.is_ok(),
                            Path_::NativeMock => native.call("chat", &body("mock"), &json!({})).await.is_ok(),
                        };
                        assert!(ok, "request failed on {}", path.label());
                    }
                }
            };
            // warm up pools and caches
            futures_util::future::join_all((0..conc.max(8)).map(|_| one())).await;
            let n = a.requests;
            let cpu_before = cpu_time(pid);
            let start = Instant::now();
            let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let workers = (0..conc).map(|_| {
                let (one, next) = (one.clone(), next.clone());
                tokio::spawn(async move {
                    let mut lat = Vec::new();
                    while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < n {
                        let t = Instant::now();
                        one().await;
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
            let cpu_per_req = cpu_time(pid).saturating_sub(cpu_before) / n.max(1) as u32;
            lat.sort();
            let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
            rows.push(Row {
                path,
                conc,
                p50: pct(0.50),
                p99: pct(0.99),
                rps: n as f64 / wall.as_secs_f64(),
                cpu_per_req,
            });
        }
    }
    let load_rss = rss_kb(pid, "VmHWM:");
    if a.smaps.is_some() {
        save_smaps(a.smaps.as_deref(), pid, "load");
        // what the daemon keeps once the burst is over (its connections closed, idle)
        drop((direct, uds, tcp, native));
        tokio::time::sleep(Duration::from_secs(3)).await;
        save_smaps(a.smaps.as_deref(), pid, "after");
    }

    println!("\nsidegate overhead: {} requests per row, fake OpenAI vendor on loopback (zero added delay)", a.requests);
    println!(
        "{:<24} {:>5} {:>10} {:>10} {:>10} {:>13} {:>14}",
        "path", "conc", "p50 µs", "p99 µs", "req/s", "added p50 µs", "daemon CPU µs"
    );
    println!("{}", "-".repeat(92));
    for r in &rows {
        let base = rows.iter().find(|b| b.conc == r.conc && b.path == Path_::Direct).map(|b| b.p50);
        let added = match (r.path, base) {
            (Path_::Direct, _) | (Path_::NativeMock, _) | (_, None) => "-".to_string(),
            (_, Some(b)) => format!("{:+.0}", r.p50.as_secs_f64() * 1e6 - b.as_secs_f64() * 1e6),
        };
        let cpu = match r.path {
            Path_::Direct => "-".to_string(),
            _ => format!("{:.0}", r.cpu_per_req.as_secs_f64() * 1e6),
        };
        println!(
            "{:<24} {:>5} {:>10.0} {:>10.0} {:>10.0} {:>13} {:>14}",
            r.path.label(),
            r.conc,
            r.p50.as_secs_f64() * 1e6,
            r.p99.as_secs_f64() * 1e6,
            r.rps,
            added,
            cpu
        );
    }
    println!(
        "\ndaemon RSS: idle {:.1} MB, peak under load {:.1} MB",
        idle_rss as f64 / 1024.0,
        load_rss as f64 / 1024.0
    );
    println!(
        "machine: {} cores, shared by the bench client, the fake vendor and the daemon (3 processes).",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
}

/// Starts a daemon on `config_body` (socket added); returns it and its socket path.
async fn daemon(bin: &Path, dir: &Path, name: &str, config_body: &str) -> (Daemon, PathBuf) {
    let sock = dir.join(format!("{name}.sock"));
    let cfg = dir.join(format!("{name}.toml"));
    std::fs::write(&cfg, format!("[server]\nsocket = \"{}\"\n\n{config_body}", sock.display())).expect("config");
    let child = Command::new(bin)
        .args(["serve", "--log-level", "warn", "--config"])
        .arg(&cfg)
        .env("STATE_DIRECTORY", dir.join(format!("{name}.state")))
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let d = Daemon(child);
    wait_socket(&sock).await;
    (d, sock)
}

/// Failover cost: the same request when the primary is healthy, refuses connections, answers
/// 503, or hangs, with the breaker kept closed (every request pays the failed call) and with
/// the default breaker (open after a few failures: the primary is skipped).
async fn failover(a: &Args, vendor_base: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let routes = format!(
        "[providers.fake]\nkind = \"openai-compatible\"\nbase_url = \"{vendor_base}\"\n\
         [providers.down]\nkind = \"openai-compatible\"\nbase_url = \"http://127.0.0.1:9/v1\"\n\
         [models.good]\nprovider = \"fake\"\nmodel = \"healthy\"\n\
         [models.p-down]\nprovider = \"down\"\nmodel = \"m\"\n\
         [models.p-503]\nprovider = \"fake\"\nmodel = \"fail-503\"\n\
         [models.p-hang]\nprovider = \"fake\"\nmodel = \"hang\"\n\
         [routes.healthy]\ntargets = [\"good\"]\n\
         [routes.refused]\ntargets = [\"p-down\", \"good\"]\n\
         [routes.err503]\ntargets = [\"p-503\", \"good\"]\n\
         [routes.hang]\ntargets = [\"p-hang\", \"good\"]\nattempt_timeout = \"100ms\"\nfirst_token_timeout = \"100ms\"\n\
         [routes.hang-hedged]\ntargets = [\"p-hang\", \"good\"]\nhedge_after = \"10ms\"\n"
    );
    let closed_cfg = format!("[breaker]\nconsecutive_failures = 1000000000\nfailure_rate = 2.0\n\n{routes}");
    let (_a, sock_closed) = daemon(&a.sidegate, dir.path(), "closed", &closed_cfg).await;
    let (_b, sock_open) = daemon(&a.sidegate, dir.path(), "open", &routes).await;
    let closed = sidegate::client::Client::connect(&sock_closed).await.expect("client");
    let open = sidegate::client::Client::connect(&sock_open).await.expect("client");
    let n = (a.requests / 4).max(100);
    let scenarios: [(&str, &str, &sidegate::client::Client, usize); 7] = [
        ("healthy primary", "healthy", &closed, n),
        ("refused, breaker closed", "refused", &closed, n),
        ("refused, breaker open", "refused", &open, n),
        ("503, breaker closed", "err503", &closed, n),
        ("503, breaker open", "err503", &open, n),
        ("hangs, 100 ms TTFT timeout", "hang", &closed, 20),
        ("hangs, hedge after 10 ms", "hang-hedged", &closed, 50),
    ];
    let mut rows = Vec::new();
    for (label, route, client, n) in scenarios {
        for _ in 0..10 {
            client.call("chat", &body(route), &json!({})).await.expect("warm-up");
        }
        let mut lat = Vec::with_capacity(n);
        let mut attempts = 0u64;
        for _ in 0..n {
            let t = Instant::now();
            let r = client.call("chat", &body(route), &json!({})).await.expect("request failed");
            lat.push(t.elapsed());
            attempts += r.meta["attempts"].as_u64().unwrap_or(0);
        }
        lat.sort();
        let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
        rows.push((label, pct(0.5), pct(0.99), attempts as f64 / n as f64));
    }
    println!("\nsidegate failover cost: native protocol, concurrency 1, primary failing, secondary healthy");
    println!("{:<28} {:>10} {:>10} {:>14} {:>10}", "primary", "p50 µs", "p99 µs", "added p50 µs", "calls/req");
    println!("{}", "-".repeat(76));
    let base = rows[0].1;
    for (label, p50, p99, calls) in &rows {
        let added = p50.as_secs_f64() * 1e6 - base.as_secs_f64() * 1e6;
        println!(
            "{:<28} {:>10.0} {:>10.0} {:>14} {:>10.2}",
            label,
            p50.as_secs_f64() * 1e6,
            p99.as_secs_f64() * 1e6,
            format!("{added:+.0}"),
            calls
        );
    }
}

/// Reload cost: time from a config file's rename to the first request answered by the new
/// config (median of 20), and request latency while reloads happen vs steady state.
async fn reload(a: &Args) {
    let dir = tempfile::tempdir().expect("tempdir");
    let sock = dir.path().join("reload.sock");
    let cfg_path = dir.path().join("reload.toml");
    let cfg = |reply: &str| {
        format!(
            "[server]\nsocket = \"{}\"\n[providers.mock]\nkind = \"mock\"\nreply = \"{reply}\"\n[models.m]\nprovider = \"mock\"\nmodel = \"x\"\n[routes.r]\ntargets = [\"m\"]\n",
            sock.display()
        )
    };
    let write = |text: String| {
        let tmp = cfg_path.with_extension("tmp");
        std::fs::write(&tmp, text).expect("write");
        std::fs::rename(&tmp, &cfg_path).expect("rename");
    };
    write(cfg("v0"));
    let child = Command::new(&a.sidegate)
        .args(["serve", "--log-level", "warn", "--config"])
        .arg(&cfg_path)
        .env("STATE_DIRECTORY", dir.path().join("state"))
        .stderr(Stdio::null())
        .spawn()
        .expect("sidegate");
    let _d = Daemon(child);
    wait_socket(&sock).await;
    let client = Arc::new(sidegate::client::Client::connect(&sock).await.expect("client"));
    let ask = |c: Arc<sidegate::client::Client>| async move {
        let r = c.call("chat", &body("r"), &json!({})).await.expect("request failed");
        r.body["choices"][0]["message"]["content"].as_str().unwrap_or("").to_string()
    };

    // background load: 4 callers, latencies tagged by phase
    let phase = Arc::new(std::sync::atomic::AtomicU8::new(0)); // 0 steady, 1 reloading, 2 stop
    let load = (0..4).map(|_| {
        let (c, phase) = (client.clone(), phase.clone());
        tokio::spawn(async move {
            let (mut steady, mut during) = (Vec::new(), Vec::new());
            loop {
                let p = phase.load(std::sync::atomic::Ordering::Relaxed);
                if p == 2 {
                    break;
                }
                let t = Instant::now();
                c.call("chat", &body("r"), &json!({})).await.expect("request failed under reload");
                if p == 0 { steady.push(t.elapsed()) } else { during.push(t.elapsed()) }
            }
            (steady, during)
        })
    });
    let load: Vec<_> = load.collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    phase.store(1, std::sync::atomic::Ordering::Relaxed);
    let mut pickups = Vec::new();
    for i in 1..=20 {
        let want = format!("v{i}");
        let t = Instant::now();
        write(cfg(&want));
        while ask(client.clone()).await != want {}
        pickups.push(t.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    phase.store(2, std::sync::atomic::Ordering::Relaxed);
    let (mut steady, mut during) = (Vec::new(), Vec::new());
    for h in futures_util::future::join_all(load).await {
        let (s, d) = h.expect("load task");
        steady.extend(s);
        during.extend(d);
    }
    pickups.sort();
    steady.sort();
    during.sort();
    let pct = |v: &[Duration], p: f64| v[((v.len() as f64 * p) as usize).min(v.len() - 1)].as_secs_f64() * 1e6;
    println!("\nsidegate config reload: mock route, 4 callers in the background, 20 reloads by rename");
    println!(
        "rename -> first answer from the new config: median {:.1} ms, max {:.1} ms (debounce is 50 ms)",
        pickups[pickups.len() / 2].as_secs_f64() * 1e3,
        pickups[pickups.len() - 1].as_secs_f64() * 1e3
    );
    println!("{:<22} {:>10} {:>10} {:>10}", "phase", "requests", "p50 µs", "p99 µs");
    println!("{:<22} {:>10} {:>10.0} {:>10.0}", "steady", steady.len(), pct(&steady, 0.5), pct(&steady, 0.99));
    println!("{:<22} {:>10} {:>10.0} {:>10.0}", "during reloads", during.len(), pct(&during, 0.5), pct(&during, 0.99));
}

/// The hot-path cost of callers: identity, route policy, rpm/tpm/concurrency limits, a budget
/// reservation, one ledger row and metrics per request, against the same daemon config with
/// no callers and no ledger. Mock provider, native protocol.
async fn callers(a: &Args) {
    let dir = tempfile::tempdir().expect("tempdir");
    let uid = sidegate::sys::uid();
    let base = "[providers.mock]\nkind = \"mock\"\n[models.m]\nprovider = \"mock\"\nmodel = \"x\"\nprice = { input = 0.15, output = 0.60 }\n";
    let plain = format!("[ledger]\nenabled = false\n{base}");
    let full = format!(
        "{base}[callers.me]\nuid = {uid}\nroutes = [\"m\", \"mock/*\"]\nrpm = 100000000\ntpm = 100000000000\nmax_concurrent = 100000\nbudget = {{ usd = 1000000.0, per = \"day\" }}\n"
    );
    let no_ledger = format!("[ledger]\nenabled = false\n{full}");
    let (_p, sock_plain) = daemon(&a.sidegate, dir.path(), "plain", &plain).await;
    let (_f, sock_full) = daemon(&a.sidegate, dir.path(), "full", &full).await;
    let (_n, sock_noledger) = daemon(&a.sidegate, dir.path(), "noledger", &no_ledger).await;
    // scrape /metrics once a second on the full daemon, as Prometheus would
    let scraper = {
        let c = reqwest::Client::builder().unix_socket(sock_full.clone()).build().expect("client");
        tokio::spawn(async move {
            loop {
                let _ = c.get("http://sidegate/metrics").send().await.map(|r| r.bytes());
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };
    println!("\nsidegate callers cost: native protocol, mock provider; 'full' = caller identity, route policy,");
    println!("rpm/tpm/concurrency limits, budget reservation, ledger row and metrics on every request;");
    println!("'no ledger' = full without the ledger row; 'plain' is measured first and last");
    println!("{:<10} {:>5} {:>10} {:>10} {:>10}", "config", "conc", "p50 µs", "p99 µs", "req/s");
    println!("{}", "-".repeat(50));
    for conc in [1usize, 64] {
        for (label, sock) in
            [("plain", &sock_plain), ("full", &sock_full), ("no ledger", &sock_noledger), ("plain", &sock_plain)]
        {
            let client = Arc::new(sidegate::client::Client::connect(sock).await.expect("client"));
            let n = a.requests.max(1000);
            for _ in 0..200 {
                client.call("chat", &body("m"), &json!({})).await.expect("warm-up");
            }
            let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let start = Instant::now();
            let workers = (0..conc).map(|_| {
                let (c, next) = (client.clone(), next.clone());
                tokio::spawn(async move {
                    let mut lat = Vec::new();
                    while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < n {
                        let t = Instant::now();
                        c.call("chat", &body("m"), &json!({})).await.expect("request failed");
                        lat.push(t.elapsed());
                    }
                    lat
                })
            });
            let mut lat = Vec::new();
            for w in futures_util::future::join_all(workers).await {
                lat.extend(w.expect("worker"));
            }
            let wall = start.elapsed();
            lat.sort();
            let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)].as_secs_f64() * 1e6;
            println!(
                "{:<10} {:>5} {:>10.1} {:>10.1} {:>10.0}",
                label,
                conc,
                pct(0.5),
                pct(0.99),
                n as f64 / wall.as_secs_f64()
            );
        }
    }
    scraper.abort();
}
