//! The `sidegate` binary: parse arguments, load config, hand off. Nothing else lives here.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use serde_json::{Value, json};

use sidegate::client::{Client, ClientError};
use sidegate::config::{self, Env, OsEnv, Secrets, Snapshot};
use sidegate::daemon::ConfigOrigin;
use sidegate::status::Status;
use sidegate::telemetry::{self, LogFormat};

/// With the `mimalloc` feature (on by default): mimalloc instead of glibc malloc, 9-17% fewer
/// instructions per request for ~0.6 MB more resident at idle (docs/benchmarks.md, issue 16).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "sidegate", version, about = "A per-host sidecar AI gateway on a Unix socket")]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the daemon in the foreground.
    Serve {
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "human")]
        log_format: LogFormat,
        #[arg(long, default_value = "info")]
        log_level: String,
    },
    /// Validate a config file; print each error with file:line:col; exit 1 on error. A secret
    /// that cannot be read (variable not set, file missing) is a warning.
    Check {
        #[arg(long)]
        config: Option<PathBuf>,
        /// Exit 1 on warnings too.
        #[arg(long)]
        strict: bool,
    },
    /// Show the running daemon's health: providers, config version, counters.
    Status {
        #[arg(long)]
        socket: Option<PathBuf>,
        /// Print the raw JSON.
        #[arg(long)]
        json: bool,
        /// The whole fleet, read from the shared Redis the config names: hosts, their versions
        /// and config versions, shared breakers and counters (no daemon needed).
        #[arg(long)]
        fleet: bool,
        /// The config naming the shared Redis (with --fleet).
        #[arg(long, requires = "fleet")]
        config: Option<PathBuf>,
    },
    /// Ask the running daemon to reload its config now; prints the result or the errors.
    Reload {
        #[arg(long)]
        socket: Option<PathBuf>,
    },
    /// Aggregate the usage ledger: requests, tokens and cost.
    Usage {
        #[arg(long)]
        config: Option<PathBuf>,
        /// How far back, e.g. 24h, 7d, 30d.
        #[arg(long, default_value = "24h")]
        since: String,
        /// Group by any of caller, route, deployment, provider, app, status, dialect, prompt, variant, shadow (comma-separated).
        #[arg(long, default_value = "caller,route,deployment")]
        by: String,
        /// An array of JSON rows.
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        /// CSV for spreadsheets.
        #[arg(long)]
        csv: bool,
        /// Every host's usage, from the shared Redis stream (`[shared] usage_stream = true`);
        /// may also group by host.
        #[arg(long)]
        fleet: bool,
    },
    /// Compare experiment variants from the ledger: requests, errors, feedback, latency, cost.
    Experiments {
        #[arg(long)]
        config: Option<PathBuf>,
        /// Only this route's variants.
        #[arg(long)]
        route: Option<String>,
        /// How far back, e.g. 24h, 7d.
        #[arg(long, default_value = "7d")]
        since: String,
        /// `{"variants": [...], "unmatched_feedback": N}`.
        #[arg(long)]
        json: bool,
    },
    /// Send one chat request and stream the answer to stdout.
    Chat {
        #[arg(long)]
        socket: Option<PathBuf>,
        #[arg(short, long)]
        model: String,
        /// Wait for the whole answer instead of streaming it.
        #[arg(long)]
        no_stream: bool,
        prompt: String,
    },
    /// Serve the daemon's /ui dashboard on a loopback port, read through its socket (for
    /// hosts without the TCP listener).
    Dashboard {
        #[arg(long)]
        socket: Option<PathBuf>,
        /// Where to listen: a loopback address only.
        #[arg(long, default_value = "127.0.0.1:8041")]
        listen: std::net::SocketAddr,
    },
    /// Prompt files: list them, show one, or render one with variables. Reads the files the
    /// config names; needs no daemon and no secrets.
    Prompts {
        #[arg(long)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        what: PromptsCmd,
    },
    /// Run an eval file: a dataset across variants (routes, models, prompt versions), scored,
    /// stored under the state directory and reported (docs/eval.md); `show` and `compare`
    /// read stored runs.
    Eval(sidegate::eval::cli::EvalArgs),
    /// Write shell completions or man pages into DIR (for packaging).
    #[command(hide = true)]
    Generate {
        #[arg(value_enum)]
        what: Generated,
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum PromptsCmd {
    /// Every prompt version (`*` marks each name's latest; `?` an optional variable).
    List,
    /// A prompt's variables, target and file: `NAME`, `NAME@VERSION` or `NAME@HASH`.
    Show { id: String },
    /// The Chat Completions request a prompt renders to, as JSON.
    Render {
        id: String,
        /// A variable, `NAME=VALUE` (a VALUE that is JSON is that JSON); repeat for more.
        #[arg(long = "var", value_name = "NAME=VALUE")]
        vars: Vec<String>,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Generated {
    Completions,
    Man,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match args.cmd {
        Cmd::Serve { config, log_format, log_level } => {
            telemetry::init(log_format, &log_level);
            let (snapshot, origin) = match load_config(config, Secrets::Read) {
                Ok(loaded) => loaded,
                Err(code) => return code,
            };
            snapshot.log_warnings();
            exit_code(runtime().block_on(sidegate::daemon::run(snapshot, origin)))
        }
        Cmd::Check { config, strict } => check(config, strict),
        Cmd::Status { fleet: true, config, json, .. } => match load_config(config, Secrets::Read) {
            Ok((snapshot, _)) => sidegate::fleet::cli::status(&snapshot, json),
            Err(code) => code,
        },
        Cmd::Status { socket, json, .. } => client_cmd(socket, |c| Box::pin(status(c, json))),
        Cmd::Usage { config, since, by, json, csv, fleet: true } => match load_config(config, Secrets::Read) {
            Ok((snapshot, _)) => sidegate::fleet::cli::usage(&snapshot, &since, &by, json, csv),
            Err(code) => code,
        },
        Cmd::Usage { config, since, by, json, csv, .. } => usage(config, &since, &by, json, csv),
        Cmd::Experiments { config, route, since, json } => experiments(config, route.as_deref(), &since, json),
        Cmd::Reload { socket } => client_cmd(socket, |c| Box::pin(reload(c))),
        Cmd::Chat { socket, model, no_stream, prompt } => {
            client_cmd(socket, move |c| Box::pin(chat(c, model, prompt, no_stream)))
        }
        Cmd::Dashboard { socket, listen } => dashboard(socket, listen),
        Cmd::Prompts { config, what } => prompts(config, what),
        Cmd::Eval(args) => sidegate::eval::cli::main(args),
        Cmd::Generate { what, dir } => generate(what, &dir),
    }
}

/// `sidegate prompts ...`: from the files, without secrets.
fn prompts(config: Option<PathBuf>, what: PromptsCmd) -> ExitCode {
    use sidegate::prompts::cli;
    let (snapshot, _) = match load_config(config, Secrets::Skip) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let lib = &snapshot.prompts;
    let out = match what {
        PromptsCmd::List => Ok(cli::list(lib)),
        PromptsCmd::Show { id } => cli::show(lib, &id),
        PromptsCmd::Render { id, vars } => cli::parse_vars(&vars).and_then(|v| cli::render(lib, &id, &v)),
    };
    match out {
        Ok(text) => {
            println!("{}", text.trim_end());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sidegate prompts: {e}");
            ExitCode::from(1)
        }
    }
}

fn generate(what: Generated, dir: &std::path::Path) -> ExitCode {
    let written = match what {
        Generated::Completions => sidegate::generate::completions(&mut Args::command(), dir),
        Generated::Man => sidegate::generate::man_pages(Args::command(), dir),
    };
    exit_code(written.map(|files| files.iter().for_each(|f| println!("{}", f.display()))))
}

/// `sidegate dashboard`: the /ui page on `listen`, proxied to the daemon's socket.
fn dashboard(socket: Option<PathBuf>, listen: std::net::SocketAddr) -> ExitCode {
    let Some(path) = socket.or_else(|| socket_from_config(&OsEnv)) else {
        eprintln!("sidegate: no socket path: pass --socket, or set SIDEGATE_SOCKET or XDG_RUNTIME_DIR");
        return ExitCode::from(2);
    };
    exit_code(runtime().block_on(sidegate::dashboard::proxy::serve(listen, path)))
}

/// 0, or 1 with the error printed.
fn exit_code(result: Result<(), impl std::fmt::Display>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sidegate: {e}");
            ExitCode::from(1)
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sidegate: cannot start the async runtime: {e}");
            std::process::abort();
        }
    }
}

type CmdFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), ClientError>> + 'a>>;

fn client_cmd(socket: Option<PathBuf>, f: impl for<'a> FnOnce(&'a Client) -> CmdFuture<'a>) -> ExitCode {
    let Some(path) = socket.or_else(|| socket_from_config(&OsEnv)) else {
        eprintln!("sidegate: no socket path: pass --socket, or set SIDEGATE_SOCKET or XDG_RUNTIME_DIR");
        return ExitCode::from(2);
    };
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sidegate: {e}");
            return ExitCode::from(1);
        }
    };
    let result = rt.block_on(async {
        let client = Client::connect(&path).await?;
        f(&client).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sidegate: {e}");
            ExitCode::from(1)
        }
    }
}

/// The config `--config`, `$SIDEGATE_CONFIG` or the system path names, and where it came
/// from; on errors they are printed and the exit code (1) is returned.
fn load_config(cli: Option<PathBuf>, secrets: Secrets) -> Result<(Snapshot, ConfigOrigin), ExitCode> {
    let (path, explicit) = config::config_path(cli.as_deref(), &OsEnv);
    match config::load_with(&path, explicit, &OsEnv, secrets) {
        Ok(s) => Ok((s, ConfigOrigin { path, explicit })),
        Err(errors) => {
            eprintln!("{errors}");
            Err(ExitCode::from(1))
        }
    }
}

/// `sidegate check`: errors exit 1; warnings (secrets that cannot be read) are printed and
/// exit 1 only with `--strict`.
fn check(config: Option<PathBuf>, strict: bool) -> ExitCode {
    let s = match load_config(config, Secrets::Read) {
        Ok((s, _)) => s,
        Err(code) => return code,
    };
    for w in &s.warnings {
        eprintln!("{w}");
    }
    let warned = match s.warnings.len() {
        0 => String::new(),
        1 => ", 1 warning".to_string(),
        n => format!(", {n} warnings"),
    };
    if strict && !s.warnings.is_empty() {
        eprintln!("{}: refused with --strict{warned}", s.source);
        return ExitCode::from(1);
    }
    println!(
        "{}: ok ({} providers, {} models, {} routes{warned})",
        s.source,
        s.providers.len(),
        s.models.len(),
        s.routes.len()
    );
    ExitCode::SUCCESS
}

/// The socket the daemon would use: the config's `server.socket`, else the default rules.
/// Secrets are not read: finding the socket must not need the vendors' keys.
fn socket_from_config(env: &dyn Env) -> Option<PathBuf> {
    let (path, explicit) = config::config_path(None, env);
    match config::load_with(&path, explicit, env, Secrets::Skip) {
        Ok(s) if !s.server.socket.as_os_str().is_empty() => Some(s.server.socket),
        Ok(_) => config::default_socket(env),
        Err(errors) => {
            // Say so rather than quietly trying another socket than the daemon's.
            let fallback = config::default_socket(env);
            let at = fallback.as_ref().map_or("no default".to_string(), |p| p.display().to_string());
            eprintln!(
                "sidegate: {} has {} error(s) (`sidegate check` lists them); trying the default socket ({at}); pass --socket to name one",
                path.display(),
                errors.0.len()
            );
            fallback
        }
    }
}

async fn status(c: &Client, raw: bool) -> Result<(), ClientError> {
    let r = c.call("status", &json!({}), &json!({})).await?;
    if raw {
        println!("{}", serde_json::to_string_pretty(&r.body).unwrap_or_default());
        return Ok(());
    }
    let s: Status = serde_json::from_value(r.body)
        .map_err(|e| ClientError::Protocol(format!("the daemon's status is not what this CLI reads: {e}")))?;
    let rss = s.rss_bytes.map_or("?".to_string(), human_bytes);
    println!("sidegate {} pid {} up {}s, rss {rss}", s.version, s.pid, s.uptime_s);
    println!("config   {} (version {})", s.config.source, s.config.version);
    let q = s.requests;
    println!("requests {} total, {} failed, {} in flight", q.total, q.failed, q.in_flight);
    println!("providers:");
    for p in &s.providers {
        println!("  {:<20} {:<18} {}", p.name, p.kind, p.base_url.as_deref().unwrap_or(""));
        if let Some(why) = &p.unavailable {
            println!("  {:<20} unavailable: {why}", "");
        }
    }
    println!("models:   {}", s.models.join(", "));
    println!("routes:   {}", s.routes.join(", "));
    let r = &s.responses;
    let at = r.path.as_deref().map(|p| format!(" at {p}")).unwrap_or_else(|| " (lost at restart)".into());
    println!(
        "responses {}{at}: {} stored, {} (bounds {} entries, {})",
        r.backing,
        r.entries,
        human_bytes(r.bytes),
        r.max_entries,
        human_bytes(r.max_bytes)
    );
    if let Some(l) = &s.ledger {
        println!(
            "ledger   {}: {} written, {} waiting, {} dropped, {} write errors",
            l.path, l.written, l.pending, l.dropped, l.write_errors
        );
        if let Some(e) = &l.last_error {
            println!("         writes failing: {e} (${:.4} unsettled, still counted by budgets)", l.unsettled_usd);
        }
    }
    if let Some(f) = &s.fleet {
        println!(
            "fleet    host {} of {} live, redis {}; breaker signals {} sent, {} received; {} probes",
            f.host, f.hosts, f.redis, f.signals_sent, f.signals_received, f.probes
        );
    }
    if !s.deployments.is_empty() {
        println!("deployments (since start):");
        println!(
            "  {:<24} {:<10} {:>10} {:>10} {:>7} {:>9} {:>9}",
            "name", "breaker", "latency", "ttft", "errors", "in flight", "requests"
        );
        let ms = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.1} ms"));
        for d in &s.deployments {
            let breaker = match d.open_for_ms {
                Some(ms) => format!("open {:.1}s", ms as f64 / 1000.0),
                None => d.breaker.clone(),
            };
            let breaker = match &d.opened_by {
                Some(by) => format!("{breaker} (fleet: {by})"),
                None => breaker,
            };
            println!(
                "  {:<24} {:<10} {:>10} {:>10} {:>6.0}% {:>9} {:>9}",
                d.name,
                breaker,
                ms(d.latency_ms),
                ms(d.ttft_ms),
                d.error_rate * 100.0,
                d.in_flight,
                d.requests
            );
        }
    }
    Ok(())
}

/// `812 B`, `4.2 kB`, `268.4 MB`.
fn human_bytes(b: u64) -> String {
    match b {
        0..1_000 => format!("{b} B"),
        1_000..1_000_000 => format!("{:.1} kB", b as f64 / 1e3),
        _ => format!("{:.1} MB", b as f64 / 1e6),
    }
}

/// `sidegate experiments`: the ledger only, without secrets.
fn experiments(config: Option<PathBuf>, route: Option<&str>, since: &str, json: bool) -> ExitCode {
    let snapshot = match load_config(config, Secrets::Skip) {
        Ok((s, _)) => s,
        Err(code) => return code,
    };
    let Some(ledger) = snapshot.ledger.path else {
        eprintln!("sidegate: no usage ledger: the config has no state directory, or [ledger] enabled = false");
        return ExitCode::from(1);
    };
    let report = humantime::parse_duration(since)
        .map_err(|e| format!("--since {since}: {e}"))
        .and_then(|d| sidegate::usage::experiments::report(&ledger, d, route));
    match report {
        Ok(r) if json => println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default()),
        Ok(r) => print!("{}", sidegate::usage::experiments::table(&r)),
        Err(e) => {
            eprintln!("sidegate: {e}");
            return ExitCode::from(1);
        }
    }
    ExitCode::SUCCESS
}

fn usage(config: Option<PathBuf>, since: &str, by: &str, json: bool, csv: bool) -> ExitCode {
    // Only the ledger's path is needed: the vendors' keys are not read.
    let snapshot = match load_config(config, Secrets::Skip) {
        Ok((s, _)) => s,
        Err(code) => return code,
    };
    let Some(ledger) = snapshot.ledger.path else {
        eprintln!("sidegate: no usage ledger: the config has no state directory, or [ledger] enabled = false");
        return ExitCode::from(1);
    };
    let since = match humantime::parse_duration(since) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("sidegate: --since {since}: {e}");
            return ExitCode::from(2);
        }
    };
    let by: Vec<String> = by.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
    match sidegate::usage::report::report(&ledger, since, &by) {
        Ok(rows) => {
            if json {
                println!("{}", serde_json::to_string_pretty(&rows).unwrap_or_default());
            } else if csv {
                print!("{}", sidegate::usage::report::csv(&by, &rows));
            } else {
                print!("{}", sidegate::usage::report::table(&by, &rows));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sidegate: {e}");
            ExitCode::from(1)
        }
    }
}

async fn reload(c: &Client) -> Result<(), ClientError> {
    let r = c.call("reload", &json!({}), &json!({})).await?;
    match r.body["result"].as_str() {
        Some("failed") => {
            for e in r.body["errors"].as_array().into_iter().flatten() {
                eprintln!("{}", e.as_str().unwrap_or(""));
            }
            Err(ClientError::Protocol("the new config was rejected; the daemon keeps the running one".into()))
        }
        Some(result) => {
            println!("reload: {result} (config {})", r.body["version"].as_str().unwrap_or("?"));
            for key in r.body["restart_needed"].as_array().into_iter().flatten() {
                eprintln!(
                    "note: {} changed; it takes effect when the daemon restarts (the running value is kept)",
                    key.as_str().unwrap_or("?")
                );
            }
            Ok(())
        }
        None => Err(ClientError::Protocol(format!("unexpected answer: {}", r.body))),
    }
}

async fn chat(c: &Client, model: String, prompt: String, no_stream: bool) -> Result<(), ClientError> {
    let body = json!({"model": model, "messages": [{"role": "user", "content": prompt}], "stream": !no_stream});
    let mut out = std::io::stdout().lock();
    if no_stream {
        let r = c.call("chat", &body, &json!({})).await?;
        let _ = writeln!(out, "{}", r.body["choices"][0]["message"]["content"].as_str().unwrap_or(""));
        print_meta(&r.meta);
        return Ok(());
    }
    let mut s = c.stream(&body, &json!({})).await?;
    while let Some(chunk) = s.next().await {
        let chunk = chunk?;
        if let Some(t) = chunk["choices"][0]["delta"]["content"].as_str() {
            let _ = out.write_all(t.as_bytes());
            let _ = out.flush();
        }
    }
    let _ = writeln!(out);
    if let Some(m) = &s.meta {
        print_meta(m);
    }
    Ok(())
}

fn print_meta(m: &Value) {
    eprintln!(
        "[{} via {} ({}), {} attempt(s), {} ms]",
        m["model"].as_str().unwrap_or("?"),
        m["provider"].as_str().unwrap_or("?"),
        m["cache"].as_str().unwrap_or("?"),
        m["attempts"],
        m["latency_ms"]
    );
}
