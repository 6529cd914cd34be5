//! Fleet numbers (issue 18), printed as a table:
//!
//! 1. outage signal propagation: host A's breaker opens for a deployment (its vendor refuses
//!    connections); how long until host B's `status` shows it opened by A, from the moment A
//!    published it (the opening's `at_ms` in Redis; one clock, one machine). p50 and max over
//!    `--trials` deployments, each opened once.
//! 2. shared-limits cost: one daemon, a caller with rpm, tpm and a budget (none ever reached),
//!    the mock provider answering at once; p50 latency at concurrency 1 and requests/s at 64,
//!    with the limits local only and with `[shared] redis` (a sliding-window script for rpm and
//!    for tpm, and a reservation script, per request; the settle runs after the answer).
//!
//! `bench/fleet.sh` builds and runs it; `fleet-bench --sidegate PATH [--trials N] [--requests N]
//! [--cluster]`. Needs `redis-server` on the PATH; `--cluster` runs everything against a
//! three-node Redis Cluster (`redis+cluster://`, made with `redis-cli --cluster create`).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sidegate::client::Client;

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(16379)
}

/// A `redis-server` on loopback `port` with `extra` arguments, once it accepts connections.
async fn redis_server(dir: &Path, port: u16, extra: &[&str]) -> Proc {
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .args(extra)
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("redis-server: {e}"));
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Proc(child)
}

async fn redis(dir: &Path) -> (Proc, String) {
    let port = free_port();
    (redis_server(dir, port, &[]).await, format!("redis://127.0.0.1:{port}/0"))
}

/// Three cluster-mode `redis-server`s made one cluster; its `redis+cluster://` URL.
async fn cluster(dir: &Path) -> (Vec<Proc>, String) {
    let mut ports = Vec::new();
    while ports.len() < 3 {
        let p = free_port();
        if p < 55_000 && TcpListener::bind(("127.0.0.1", p + 10_000)).is_ok() && !ports.contains(&p) {
            ports.push(p);
        }
    }
    let mut procs = Vec::new();
    for p in &ports {
        let config = format!("nodes-{p}.conf");
        procs.push(redis_server(dir, *p, &["--cluster-enabled", "yes", "--cluster-config-file", &config]).await);
    }
    let nodes: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let made = Command::new("redis-cli")
        .args(["--cluster", "create"])
        .args(&nodes)
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .output()
        .unwrap_or_else(|e| panic!("redis-cli: {e}"));
    assert!(made.status.success(), "redis-cli --cluster create: {}", String::from_utf8_lossy(&made.stdout));
    for p in &ports {
        for _ in 0..400 {
            let info = Command::new("redis-cli").args(["-p", &p.to_string(), "cluster", "info"]).output();
            if info.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("cluster_state:ok")) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
    (procs, format!("redis+cluster://{}", nodes.join(",")))
}

/// Starts `sidegate serve` with `body` in `dir/name`; its socket.
async fn daemon(bin: &Path, dir: &Path, name: &str, body: &str) -> (Proc, PathBuf) {
    let socket = dir.join(format!("{name}.sock"));
    let config = dir.join(format!("{name}.toml"));
    let text =
        format!("[server]\nsocket = \"{}\"\nstate_dir = \"{}\"\n\n{body}", socket.display(), dir.join(name).display());
    std::fs::write(&config, text).unwrap_or_else(|e| panic!("{e}"));
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap_or_else(|e| panic!("{e}"));
    let child = Command::new(bin)
        .args(["serve", "--config"])
        .arg(&config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
    for _ in 0..400 {
        if tokio::net::UnixStream::connect(&socket).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    (Proc(child), socket)
}

async fn status(c: &Client) -> Value {
    c.call("status", &json!({}), &json!({})).await.map(|r| r.body).unwrap_or_default()
}

fn deployment<'a>(s: &'a Value, name: &str) -> &'a Value {
    s["deployments"].as_array().and_then(|a| a.iter().find(|d| d["name"] == name)).unwrap_or(&Value::Null)
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(((v.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(f64::NAN)
}

/// Propagation times in ms, one per trial deployment.
async fn propagation(bin: &Path, dir: &Path, redis_url: &str, trials: usize) -> Vec<f64> {
    let mut body = format!(
        "[providers.dead]\nkind = \"openai-compatible\"\nbase_url = \"http://127.0.0.1:9/v1\"\n\
         [providers.mock]\nkind = \"mock\"\n[models.backup]\nprovider = \"mock\"\nmodel = \"echo\"\n\
         [breaker]\nconsecutive_failures = 2\nopen_for = \"60s\"\n\
         [shared]\nredis = \"{redis_url}\"\nredis_timeout = \"1s\"\n"
    );
    for i in 0..trials {
        body.push_str(&format!(
            "[models.p{i}]\nprovider = \"dead\"\nmodel = \"m\"\n[routes.r{i}]\ntargets = [\"p{i}\", \"backup\"]\n"
        ));
    }
    let (_a, sa) = daemon(bin, dir, "a", &body).await;
    let (_b, sb) = daemon(bin, dir, "b", &body).await;
    let (ca, cb) = (Client::connect(&sa).await.ok(), Client::connect(&sb).await.ok());
    let (Some(ca), Some(cb)) = (ca, cb) else { panic!("the daemons did not start (see {})", dir.display()) };
    let mut out = Vec::new();
    for i in 0..trials {
        let req = json!({"model": format!("r{i}"), "messages": [{"role": "user", "content": "x"}]});
        // B knows the deployment (one failure: not enough to open its own breaker).
        let _ = cb.call("chat", &req, &json!({})).await;
        while deployment(&status(&ca).await, &format!("p{i}"))["breaker"] != "open" {
            let _ = ca.call("chat", &req, &json!({})).await;
        }
        let name = format!("p{i}");
        let seen_ms = loop {
            if deployment(&status(&cb).await, &name)["opened_by"].is_string() {
                break sidegate::api::ids::unix_ms();
            }
        };
        let at_ms = published_at(bin, &dir.join("a.toml"), &name);
        out.push(seen_ms.saturating_sub(at_ms) as f64);
    }
    out
}

/// When deployment `name`'s opening was published: `sidegate status --fleet` with `config`.
fn published_at(bin: &Path, config: &Path, name: &str) -> u64 {
    let out = Command::new(bin).args(["status", "--fleet", "--json", "--config"]).arg(config).output();
    let report: Value = out.ok().and_then(|o| serde_json::from_slice(&o.stdout).ok()).unwrap_or_default();
    let found = report["breakers"].as_array().and_then(|a| a.iter().find(|b| b["deployment"] == name).cloned());
    found.and_then(|b| b["opened_at_ms"].as_u64()).unwrap_or(0)
}

/// (p50 ms at c=1, req/s at c=64) for one daemon config.
async fn limits_cost(bin: &Path, dir: &Path, name: &str, body: &str, requests: usize) -> (f64, f64) {
    let (_d, socket) = daemon(bin, dir, name, body).await;
    let req = json!({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]});
    let c = Client::connect(&socket).await.unwrap_or_else(|e| panic!("{name}: {e}"));
    for _ in 0..100 {
        let _ = c.call("chat", &req, &json!({})).await;
    }
    let mut lat = Vec::with_capacity(requests);
    for _ in 0..requests {
        let t = Instant::now();
        let _ = c.call("chat", &req, &json!({})).await;
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let p50 = percentile(&mut lat, 0.5);
    let total = requests * 4;
    let t = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let c = Client::connect(&socket).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        let req = req.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..total / 64 {
                let _ = c.call("chat", &req, &json!({})).await;
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    (p50, (total / 64 * 64) as f64 / t.elapsed().as_secs_f64())
}

fn arg(name: &str) -> Option<String> {
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == name {
            return args.next();
        }
    }
    None
}

#[tokio::main]
async fn main() {
    let bin = PathBuf::from(arg("--sidegate").unwrap_or_else(|| "target/release/sidegate".into()));
    let trials: usize = arg("--trials").and_then(|v| v.parse().ok()).unwrap_or(20);
    let requests: usize = arg("--requests").and_then(|v| v.parse().ok()).unwrap_or(2000);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let on_cluster = std::env::args().any(|a| a == "--cluster");
    let (_redis, url) = if on_cluster {
        cluster(dir.path()).await
    } else {
        let (p, url) = redis(dir.path()).await;
        (vec![p], url)
    };

    let mut p = propagation(&bin, dir.path(), &url, trials).await;
    let (p50, max) = (percentile(&mut p, 0.5), percentile(&mut p, 1.0));

    let caller = format!(
        "[providers.mock]\nkind = \"mock\"\ntokens = 10\n[models.m]\nprovider = \"mock\"\nmodel = \"x\"\n\
         price = {{ input = 0.0, output = 1.0 }}\n[callers.me]\nuid = {}\nrpm = 100000000\ntpm = 100000000000\n\
         budget = {{ usd = 1000000.0, per = \"day\" }}\n",
        sidegate::sys::uid()
    );
    let local = limits_cost(&bin, dir.path(), "local", &caller, requests).await;
    let shared = format!("{caller}[shared]\nredis = \"{url}\"\nredis_timeout = \"1s\"\n");
    let fleet = limits_cost(&bin, dir.path(), "shared", &shared, requests).await;

    println!("| fleet number ({}) | value |", if on_cluster { "3-node Redis Cluster" } else { "one redis-server" });
    println!("|---|---|");
    println!("| outage signal, publish -> other host's status (p50, {trials} trials) | {p50:.1} ms |");
    println!("| outage signal, publish -> other host's status (max) | {max:.1} ms |");
    println!("| p50 at c=1, limits local only | {:.3} ms |", local.0);
    println!("| p50 at c=1, limits shared through Redis | {:.3} ms (+{:.3} ms) |", fleet.0, fleet.0 - local.0);
    println!("| req/s at c=64, limits local only | {:.0} |", local.1);
    println!(
        "| req/s at c=64, limits shared through Redis | {:.0} ({:+.1}%) |",
        fleet.1,
        (fleet.1 / local.1 - 1.0) * 100.0
    );
}
