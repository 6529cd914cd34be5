//! `sidegate eval` throughput and its overhead over calling the daemon directly: the fake
//! vendor (zero added delay) and a daemon are started, then N streamed chat requests are sent
//! three ways at the same concurrency: straight over the daemon's socket (the eval's own HTTP
//! client, nothing else), `sidegate eval` through the daemon, and `sidegate eval --in-process`.
//! Prints one table row each: items, seconds, items/s and the overhead per item over direct.
//!
//! `eval-bench [--sidegate PATH] [--fake-vendor PATH] [--items N] [--concurrency C]`
//! (bench/eval.sh builds and runs it).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sidegate::config::{OsEnv, Secrets};
use sidegate::eval::transport::Transport;

struct Args {
    sidegate: PathBuf,
    vendor: PathBuf,
    items: usize,
    concurrency: usize,
}

fn args() -> Args {
    let mut a = Args {
        sidegate: PathBuf::from("target/debug/sidegate"),
        vendor: PathBuf::from("target/debug/fake-vendor"),
        items: 2000,
        concurrency: 16,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_default();
        match k.as_str() {
            "--sidegate" => a.sidegate = v.into(),
            "--fake-vendor" => a.vendor = v.into(),
            "--items" => a.items = v.parse().unwrap_or(a.items),
            "--concurrency" => a.concurrency = v.parse().unwrap_or(a.concurrency),
            other => {
                eprintln!("eval-bench: unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    a
}

/// Kills the child when dropped.
struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_vendor(bin: &Path) -> (Kill, String) {
    let mut child =
        Command::new(bin).args(["--port", "0"]).stdout(Stdio::piped()).spawn().expect("start the fake vendor");
    let mut line = String::new();
    let out = child.stdout.take().expect("its stdout");
    BufReader::new(out).read_line(&mut line).expect("its LISTENING line");
    let addr = line.trim().strip_prefix("LISTENING ").expect("LISTENING ADDR").to_string();
    (Kill(child), addr)
}

fn wait_for(socket: &Path) {
    for _ in 0..400 {
        if std::os::unix::net::UnixStream::connect(socket).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("the daemon never listened on {}", socket.display());
}

/// Seconds for `sidegate eval FILE --fresh --json [extra]`.
fn time_eval(a: &Args, config: &Path, file: &Path, extra: &[&str]) -> f64 {
    let t = Instant::now();
    let out = Command::new(&a.sidegate)
        .args(["eval", "--config"])
        .arg(config)
        .arg(file)
        .args(["--fresh", "--json"])
        .args(extra)
        .stderr(Stdio::null())
        .output()
        .expect("run sidegate eval");
    let secs = t.elapsed().as_secs_f64();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the eval's JSON");
    let items = report["variants"][0]["items"].as_u64().unwrap_or(0);
    let errors = report["variants"][0]["errors"].as_u64().unwrap_or(0);
    assert_eq!((items as usize, errors), (a.items, 0), "every item answered");
    secs
}

/// Seconds for the same requests sent straight to the daemon at the same concurrency.
async fn time_direct(a: &Args, config: &Path, socket: &Path) -> f64 {
    let snapshot = sidegate::config::load_with(config, true, &OsEnv, Secrets::Skip).expect("the config");
    let t = Arc::new(Transport::daemon(socket, &snapshot).await.expect("the daemon"));
    let sem = Arc::new(tokio::sync::Semaphore::new(a.concurrency));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..a.items {
        let permit = sem.clone().acquire_owned().await.expect("semaphore");
        let t = t.clone();
        tasks.spawn(async move {
            let body = serde_json::json!({"model": "echo", "stream": true, "stream_options": {"include_usage": true},
                "messages": [{"role": "user", "content": format!("item {i} says hello")}]});
            let a = t.chat(&body).await;
            drop(permit);
            assert!(a.error.is_none(), "{:?}", a.error);
        });
    }
    while tasks.join_next().await.is_some() {}
    start.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let a = args();
    let (_vendor, addr) = start_vendor(&a.vendor);
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("sg.sock");
    let config = dir.path().join("sidegate.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nsocket = \"{}\"\nstate_dir = \"{}\"\n[ledger]\nenabled = false\n[providers.fake]\nkind = \"openai-compatible\"\nbase_url = \"http://{addr}/v1\"\napi_key = \"sk-bench\"\n[models.echo]\nprovider = \"fake\"\nmodel = \"echo\"\nprice = {{ input = 1.0, output = 2.0 }}\n",
            socket.display(),
            dir.path().join("state").display()
        ),
    )
    .expect("write the config");
    let cases: String = (0..a.items)
        .map(|i| format!("{{\"messages\": [{{\"role\": \"user\", \"content\": \"item {i} says hello\"}}], \"expect\": \"item {i}\"}}\n"))
        .collect();
    std::fs::write(dir.path().join("cases.jsonl"), cases).expect("write the dataset");
    let file = dir.path().join("bench.toml");
    std::fs::write(
        &file,
        format!(
            "dataset = \"cases.jsonl\"\nvariants = [\"echo\"]\nconcurrency = {}\n[[scorers]]\nkind = \"contains\"\n",
            a.concurrency
        ),
    )
    .expect("write the eval file");
    // In-process first: no daemon runs yet.
    let in_process = time_eval(&a, &config, &file, &["--in-process"]);
    let daemon = Kill(
        Command::new(&a.sidegate)
            .args(["serve", "--config"])
            .arg(&config)
            .stderr(Stdio::null())
            .spawn()
            .expect("start sidegate"),
    );
    wait_for(&socket);
    time_direct(&a, &config, &socket).await; // warm-up
    let direct = time_direct(&a, &config, &socket).await;
    let through = time_eval(&a, &config, &file, &[]);
    drop(daemon);
    let n = a.items as f64;
    println!(
        "sidegate eval: {} items, concurrency {}, fake vendor with zero added delay ({})",
        a.items,
        a.concurrency,
        a.sidegate.display()
    );
    println!("{:<34} {:>8} {:>10} {:>20}", "how", "seconds", "items/s", "overhead/item (ms)");
    let row = |name: &str, secs: f64| {
        println!("{name:<34} {secs:>8.2} {:>10.0} {:>20.3}", n / secs, (secs - direct) / n * 1e3);
    };
    row("direct HTTP over the socket", direct);
    row("sidegate eval (through daemon)", through);
    row("sidegate eval --in-process", in_process);
    println!("(eval rows include process start, config and dataset load, scoring and the SQLite writes)");
}
