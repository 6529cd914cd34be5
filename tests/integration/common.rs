//! Test harness: starts the real `sidegate` binary with a real config file in a temp dir,
//! waits until its socket answers, and talks to it over HTTP (socket or TCP) and the native
//! protocol. Waits poll for conditions; nothing here asserts on timing.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

pub struct Daemon {
    pub child: Option<Child>,
    /// Extra environment for the daemon process.
    pub env: Vec<(String, String)>,
    pub dir: TempDir,
    pub socket: PathBuf,
    pub config: PathBuf,
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_sidegate")
}

impl Daemon {
    /// Starts the daemon with `[server] socket = <tmp>/sg.sock` plus `server_extra` lines, and
    /// the rest of the config `body`.
    pub async fn start(server_extra: &str, body: &str) -> Daemon {
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = dir.path().join("sg.sock");
        let config = dir.path().join("sidegate.toml");
        let state = if server_extra.contains("state_dir") {
            String::new()
        } else {
            format!("state_dir = \"{}\"\n", dir.path().join("state").display())
        };
        let text = format!("[server]\nsocket = \"{}\"\n{state}{server_extra}\n\n{body}\n", socket.display());
        std::fs::write(&config, text).expect("write config");
        let mut d = Daemon { child: None, env: Vec::new(), dir, socket, config };
        d.spawn().await;
        d
    }

    /// Like `start`, with extra environment variables for the daemon.
    pub async fn start_with_env(server_extra: &str, body: &str, env: &[(&str, &str)]) -> Daemon {
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = dir.path().join("sg.sock");
        let config = dir.path().join("sidegate.toml");
        let state = if server_extra.contains("state_dir") {
            String::new()
        } else {
            format!("state_dir = \"{}\"\n", dir.path().join("state").display())
        };
        let text = format!("[server]\nsocket = \"{}\"\n{state}{server_extra}\n\n{body}\n", socket.display());
        std::fs::write(&config, text).expect("write config");
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut d = Daemon { child: None, env, dir, socket, config };
        d.spawn().await;
        d
    }

    pub async fn spawn(&mut self) {
        let log = std::fs::File::create(self.log_path()).expect("log file");
        let child = Command::new(bin())
            .args(["serve", "--config"])
            .arg(&self.config)
            .env("RUST_LOG", "info")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn sidegate");
        self.child = Some(child);
        wait_for_socket(&self.socket, self.child.as_mut()).await;
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Where the daemon's stderr goes (beside its config).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("daemon.log")
    }

    /// HTTP client speaking over the Unix socket.
    pub fn http(&self) -> reqwest::Client {
        reqwest::Client::builder().unix_socket(self.socket.clone()).build().expect("client")
    }

    pub async fn native(&self) -> sidegate::client::Client {
        sidegate::client::Client::connect(&self.socket).await.expect("native connect")
    }

    pub fn signal(&self, sig: &str) {
        if let Some(c) = &self.child {
            let _ = Command::new("kill").args([&format!("-{sig}"), &c.id().to_string()]).status();
        }
    }

    /// Waits for the process to exit (up to a generous limit) and returns its exit code.
    pub async fn wait_exit(&mut self) -> Option<i32> {
        let child = self.child.as_mut()?;
        for _ in 0..600 {
            if let Ok(Some(st)) = child.try_wait() {
                return st.code();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Whether the Redis programs `bins` are installed. When one is not, the test is skipped
/// (false), unless CI or `SIDEGATE_REQUIRE_REDIS` require them: then it fails.
pub fn redis_installed(bins: &[&str]) -> bool {
    let Some(missing) = bins.iter().find(|b| Command::new(b).arg("--version").stdout(Stdio::null()).status().is_err())
    else {
        return true;
    };
    let required = std::env::var_os("CI").is_some() || std::env::var_os("SIDEGATE_REQUIRE_REDIS").is_some();
    assert!(
        !required,
        "{missing} is not installed (apt-get install -y redis-server), and CI/SIDEGATE_REQUIRE_REDIS require it"
    );
    eprintln!("SKIPPED: {missing} is not installed (apt-get install -y redis-server)");
    false
}

/// A `redis-server` command for a test: on 127.0.0.1:`port`, nothing kept on disk but what
/// goes to `dir`, no output. With `tls` the port speaks TLS only and requires client
/// certificates (`server.pem`, `server.key`, `ca.pem` in `dir`). Callers add their own
/// options (users, cluster mode) and spawn it.
pub fn redis_server(dir: &Path, port: u16, tls: bool) -> Command {
    let mut cmd = Command::new("redis-server");
    cmd.args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]).arg("--dir").arg(dir);
    let port = port.to_string();
    if tls {
        cmd.args(["--port", "0", "--tls-port", &port, "--tls-auth-clients", "yes"])
            .arg("--tls-cert-file")
            .arg(dir.join("server.pem"))
            .arg("--tls-key-file")
            .arg(dir.join("server.key"))
            .arg("--tls-ca-cert-file")
            .arg(dir.join("ca.pem"));
    } else {
        cmd.args(["--port", &port]);
    }
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    cmd
}

/// Of a batch of native calls, how many were answered and how many a budget refused (429
/// `budget_exceeded`).
pub fn answered_and_over_budget<T>(results: &[Result<T, sidegate::client::ClientError>]) -> (usize, usize) {
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let over = results
        .iter()
        .filter(|r| matches!(r, Err(sidegate::client::ClientError::Api { status: 429, body, .. }) if body["error"]["code"] == "budget_exceeded"))
        .count();
    (ok, over)
}

/// Polls until something listens on loopback `port` (up to ~30 s), else panics naming `what`.
pub async fn wait_for_tcp(port: u16, what: &str) {
    for _ in 0..600 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} did not start on port {port}");
}

pub async fn wait_for_socket(path: &Path, mut child: Option<&mut Child>) {
    for _ in 0..600 {
        if tokio::net::UnixStream::connect(path).await.is_ok() {
            return;
        }
        if let Some(c) = child.as_deref_mut()
            && let Ok(Some(st)) = c.try_wait()
        {
            panic!("sidegate exited early with {st}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("socket {} never became ready", path.display());
}

/// Polls `f` until it is true (up to ~30 s on a slow machine).
pub async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..600 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for: {what}");
}

/// A config with the mock provider and one fake OpenAI-compatible vendor at `base_url`.
pub fn vendor_config(base_url: &str) -> String {
    format!(
        r#"
[providers.mock]
kind = "mock"

[providers.fake]
kind = "openai-compatible"
base_url = "{base_url}"
api_key = "sk-fake-secret-key"

[providers.down]
kind = "openai-compatible"
base_url = "http://127.0.0.1:9/v1"

[models.echo]
provider = "mock"
model = "echo"

[models.fake-echo]
provider = "fake"
model = "echo-model"

[models.fake-500]
provider = "fake"
model = "fail-500"

[models.fake-down]
provider = "down"
model = "any"

[routes.fast]
targets = ["fake-echo"]

[routes.failover]
targets = ["fake-500", "fake-down", "fake-echo"]
timeout = "20s"
"#
    )
}

/// POSTs `body` as it is (any bytes, `content-type: application/json`) over the socket:
/// status, headers, body text.
pub async fn post_bytes(d: &Daemon, path: &str, body: &[u8]) -> (u16, reqwest::header::HeaderMap, String) {
    let r = d
        .http()
        .post(format!("http://sidegate{path}"))
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .await
        .expect("request");
    (r.status().as_u16(), r.headers().clone(), r.text().await.expect("body"))
}

/// Bodies no JSON endpoint can read, and a word its 400 must say: empty, not JSON, not UTF-8,
/// JSON that is not an object.
pub const UNREADABLE_BODIES: [(&[u8], &str); 6] = [
    (b"", "empty"),
    (b"   ", "empty"),
    (b"{\"model\": ", "invalid request body"),
    (b"\xff\xfe{}", "invalid request body"),
    (b"[1, 2]", "not an array"),
    (b"\"hello\"", "not a string"),
];

/// The key each fake-vendor provider of [`FakeToml`] is configured with (the vendor-side
/// header tests and the key-hygiene tests look for them).
pub const ANTHROPIC_KEY: &str = "sk-ant-fake-secret";
pub const GEMINI_KEY: &str = "AIza-fake-secret";
pub const OPENAI_KEY: &str = "sk-fake-secret";

/// Config text for the fake vendor at one address (tests/fake-vendor serves every vendor
/// kind there), a table at a time: providers, models on them, routes, and raw TOML for
/// anything else.
pub struct FakeToml {
    addr: String,
    text: String,
}

impl FakeToml {
    pub fn new(addr: impl std::fmt::Display) -> Self {
        FakeToml { addr: addr.to_string(), text: String::new() }
    }

    /// `[providers.<name>]` of `kind` at the fake's address plus `path`, with `key`.
    pub fn provider(mut self, name: &str, kind: &str, path: &str, key: &str) -> Self {
        let addr = &self.addr;
        self.text.push_str(&format!(
            "\n[providers.{name}]\nkind = \"{kind}\"\nbase_url = \"http://{addr}{path}\"\napi_key = \"{key}\"\n"
        ));
        self
    }

    pub fn anthropic(self, name: &str) -> Self {
        self.provider(name, "anthropic", "", ANTHROPIC_KEY)
    }

    pub fn gemini(self, name: &str) -> Self {
        self.provider(name, "gemini", "", GEMINI_KEY)
    }

    pub fn openai_compatible(self, name: &str) -> Self {
        self.provider(name, "openai-compatible", "/v1", OPENAI_KEY)
    }

    /// `[models.<name>]` on `provider` for each `(name, vendor model)`.
    pub fn models(mut self, provider: &str, models: &[(&str, &str)]) -> Self {
        for (name, model) in models {
            self.text.push_str(&format!("\n[models.{name}]\nprovider = \"{provider}\"\nmodel = \"{model}\"\n"));
        }
        self
    }

    pub fn route(mut self, name: &str, targets: &[&str]) -> Self {
        self.text.push_str(&format!("\n[routes.{name}]\ntargets = {targets:?}\n"));
        self
    }

    /// A route with a memory cache (10 minutes).
    pub fn cached_route(self, name: &str, targets: &[&str]) -> Self {
        self.route(name, targets).raw("cache = { ttl = \"10m\", tiers = [\"memory\"] }")
    }

    /// TOML as it is (a provider or model with settings of its own).
    pub fn raw(mut self, toml: &str) -> Self {
        self.text.push_str(toml);
        self.text.push('\n');
        self
    }

    pub fn build(self) -> String {
        self.text
    }
}

/// A fake vendor and a daemon whose config `config` writes for the fake's address.
pub async fn with_fake_vendor(config: impl FnOnce(&str) -> String) -> (fake_vendor::FakeVendor, Daemon) {
    let vendor = fake_vendor::FakeVendor::start().await.expect("fake vendor");
    let d = Daemon::start("", &config(&vendor.addr.to_string())).await;
    (vendor, d)
}

/// The chunks of a Chat Completions SSE body (without `[DONE]`), and whether it ended with
/// `[DONE]`.
pub fn chat_sse(raw: &str) -> (Vec<serde_json::Value>, bool) {
    let datas: Vec<&str> = raw.split("\n\n").filter_map(|e| e.strip_prefix("data: ")).collect();
    let done = datas.last() == Some(&"[DONE]");
    let chunks = datas.into_iter().filter(|d| *d != "[DONE]").map(|d| serde_json::from_str(d).expect("chunk JSON"));
    (chunks.collect(), done)
}
