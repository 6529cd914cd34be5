//! Issue 18: a fleet of daemons sharing one real `redis-server` (started here): a cross-host
//! cache hit, an outage one host sees skipped by all with one probe at a time, `rediss://`
//! with a certificate made here, and a Sentinel endpoint; the harness the shared-limits tests
//! (`fleet_limits`) use too. Every wait is bounded and polls; nothing asserts on timing.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use fake_vendor::FakeVendor;
use serde_json::{Value, json};

use crate::common::{Daemon, bin};

/// A `redis-server` on a fixed loopback port that can be stopped and started again there;
/// with TLS (and an ACL user) when `tls` names the certificate directory.
pub(crate) struct FleetRedis {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    tls: bool,
}

impl FleetRedis {
    /// None (the test is skipped) without `redis-server`, unless CI/SIDEGATE_REQUIRE_REDIS.
    pub(crate) async fn start(tls: bool) -> Option<FleetRedis> {
        if !crate::common::redis_installed(&["redis-server"]) {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        if tls {
            make_certificates(dir.path());
        }
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut r = FleetRedis { child: None, port, dir, tls };
        r.spawn().await;
        Some(r)
    }

    pub(crate) async fn spawn(&mut self) {
        let mut cmd = crate::common::redis_server(self.dir.path(), self.port, self.tls);
        if self.tls {
            cmd.args(["--user", "default", "off", "--user", "fleet", "on", ">s3cret-pw", "~*", "&*", "+@all"]);
        }
        self.child = Some(cmd.spawn().expect("start redis-server"));
        crate::common::wait_for_tcp(self.port, "redis-server").await;
    }

    pub(crate) fn url(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}/0", self.port)
    }

    fn cert(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub(crate) fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for FleetRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by the CA.
pub(crate) fn make_certificates(dir: &Path) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=fleet-test-ca",
    ]);
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n").unwrap();
    for who in ["server", "client"] {
        let (key, csr, pem) = (format!("{who}.key"), format!("{who}.csr"), format!("{who}.pem"));
        run(&["req", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &csr, "-subj", &format!("/CN={who}")]);
        run(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &pem,
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ]);
    }
}

/// The `[shared]` section for `redis`, with `extra` lines.
pub(crate) fn shared(redis: &FleetRedis, extra: &str) -> String {
    format!("[shared]\nredis = \"{}\"\nredis_timeout = \"1s\"\nheartbeat = \"200ms\"\n{extra}\n", redis.url())
}

/// Mock-provider calls cost exactly $0.01 each (10 output tokens at $1000/M).
pub(crate) fn priced(caller: &str) -> String {
    format!(
        "[providers.mock]\nkind = \"mock\"\ntokens = 10\nlatency = \"200ms\"\n[models.m]\nprovider = \"mock\"\nmodel = \"x\"\n\
         price = {{ input = 0.0, output = 1000.0 }}\n[callers.me]\nuid = {}\n{caller}\n",
        sidegate::sys::uid()
    )
}

pub(crate) async fn status(d: &Daemon) -> Value {
    d.native().await.call("status", &json!({}), &json!({})).await.unwrap().body
}

/// Polls `d`'s status until `f` holds (up to ~30 s).
pub(crate) async fn until(what: &str, d: &Daemon, f: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..600 {
        let s = status(d).await;
        if f(&s) {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}: {}", status(d).await);
}

pub(crate) async fn fleet_of_three(body: &str) -> Vec<Daemon> {
    let mut out = Vec::new();
    for _ in 0..3 {
        out.push(Daemon::start("", body).await);
    }
    for d in &out {
        until("three live hosts", d, |s| s["fleet"]["hosts"] == 3).await;
    }
    out
}

pub(crate) fn deployment<'a>(s: &'a Value, name: &str) -> &'a Value {
    s["deployments"].as_array().and_then(|a| a.iter().find(|d| d["name"] == name)).unwrap_or(&Value::Null)
}

pub(crate) fn chat_body(model: &str, text: &str) -> Value {
    json!({"model": model, "max_tokens": 10, "messages": [{"role": "user", "content": text}]})
}

#[tokio::test]
async fn a_cache_entry_written_by_one_host_is_a_hit_on_the_others() {
    let Some(redis) = FleetRedis::start(false).await else { return };
    let vendor = FakeVendor::start().await.unwrap();
    let body = format!(
        "[providers.fake]\nkind = \"openai-compatible\"\nbase_url = \"{}\"\n[models.e]\nprovider = \"fake\"\nmodel = \"echo\"\n\
         [routes.cached]\ntargets = [\"e\"]\ncache = {{ ttl = \"10m\" }}\n{}",
        vendor.base_url(),
        shared(&redis, "")
    );
    let fleet = fleet_of_three(&body).await;
    let req = json!({"model": "cached", "messages": [{"role": "user", "content": "one answer for all"}]});
    let first = fleet[0].native().await.call("chat", &req, &json!({})).await.unwrap();
    assert_eq!(first.meta["cache"], "miss");
    until("the redis write", &fleet[0], |s| s["cache"]["redis"]["writes"] == 1).await;
    for d in &fleet[1..] {
        let r = d.native().await.call("chat", &req, &json!({})).await.unwrap();
        assert_eq!(r.meta["cache"], "hit");
        assert_eq!(r.body["choices"][0]["message"]["content"], "one answer for all");
    }
    assert_eq!(vendor.calls(), 1, "one vendor call for the fleet");
}

/// Runs the CLI with `d`'s config; its stdout as JSON.
pub(crate) fn cli_json(d: &Daemon, args: &[&str]) -> Value {
    let out = Command::new(bin()).args(args).arg("--config").arg(&d.config).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Requests on every host until stopped; counts answers and failures.
pub(crate) struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    pub(crate) async fn start(fleet: &[Daemon], model: &str, per_host: usize) -> Load {
        let (stop, ok, failed) =
            (Arc::new(AtomicBool::new(false)), Arc::<AtomicU64>::default(), Arc::<AtomicU64>::default());
        let mut tasks = Vec::new();
        for d in fleet {
            for _ in 0..per_host {
                let c = d.native().await;
                let (stop, ok, failed) = (stop.clone(), Arc::clone(&ok), failed.clone());
                let req = chat_body(model, "under load");
                tasks.push(tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        match c.call("chat", &req, &json!({})).await {
                            Ok(_) => ok.fetch_add(1, Ordering::Relaxed),
                            Err(e) => {
                                eprintln!("failed under load: {e:?}");
                                failed.fetch_add(1, Ordering::Relaxed)
                            }
                        };
                    }
                }));
            }
        }
        Load { stop, ok, failed, tasks }
    }

    /// Waits until `n` more requests have been answered.
    pub(crate) async fn answered(&self, n: u64) {
        let target = self.ok.load(Ordering::Relaxed) + n;
        for _ in 0..600 {
            if self.ok.load(Ordering::Relaxed) >= target {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the load stalled: {} answered, {} failed",
            self.ok.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed)
        );
    }

    pub(crate) async fn finish(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            t.await.unwrap();
        }
        (self.ok.load(Ordering::Relaxed), self.failed.load(Ordering::Relaxed))
    }
}

async fn fleet_counter(fleet: &[Daemon], name: &str) -> u64 {
    let mut n = 0;
    for d in fleet {
        n += status(d).await["fleet"][name].as_u64().unwrap();
    }
    n
}

#[tokio::test]
async fn an_outage_one_host_sees_is_skipped_by_all_with_one_probe_at_a_time() {
    let Some(redis) = FleetRedis::start(false).await else { return };
    let (bad, good) = (FakeVendor::start().await.unwrap(), FakeVendor::start().await.unwrap());
    let body = format!(
        "[providers.bad]\nkind = \"openai-compatible\"\nbase_url = \"{}\"\n[providers.good]\nkind = \"openai-compatible\"\nbase_url = \"{}\"\n\
         [models.primary]\nprovider = \"bad\"\nmodel = \"echo\"\n[models.backup]\nprovider = \"good\"\nmodel = \"echo\"\n\
         [routes.r]\ntargets = [\"primary\", \"backup\"]\n\
         [breaker]\nconsecutive_failures = 2\nopen_for = \"2s\"\nmax_open = \"2s\"\n{}",
        bad.base_url(),
        good.base_url(),
        shared(&redis, "")
    );
    let fleet = fleet_of_three(&body).await;
    let req = chat_body("r", "x");
    for d in &fleet {
        assert_eq!(d.native().await.call("chat", &req, &json!({})).await.unwrap().meta["model"], "primary");
    }

    // Host 0 alone meets the outage; its callers are answered by the backup.
    bad.stats.set_down(true);
    let c0 = fleet[0].native().await;
    let opener = status(&fleet[0]).await["fleet"]["host"].as_str().unwrap().to_string();
    for _ in 0..600 {
        c0.call("chat", &req, &json!({})).await.unwrap();
        if deployment(&status(&fleet[0]).await, "primary")["breaker"] == "open" {
            break;
        }
    }
    assert_eq!(deployment(&status(&fleet[0]).await, "primary")["breaker"], "open");
    // The others learn it from the fleet, having sent it nothing (a bounded wait polling
    // status, not a timed assertion), and show who opened it.
    for d in &fleet[1..] {
        let s = until("the fleet's opening", d, |s| deployment(s, "primary")["opened_by"] == opener.as_str()).await;
        assert_eq!(deployment(&s, "primary")["breaker"], "open", "{s}");
    }
    assert!(fleet_counter(&fleet, "signals_received").await >= 2);
    let (calls_then, probes_then) = (bad.calls(), fleet_counter(&fleet, "probes").await);

    // Every host now has traffic for the deployment. Each opening ends with one probe for the
    // whole fleet: count calls at the vendor per cycle (a cycle ends when the failed probe's
    // opening is in force on every host again).
    let load = Load::start(&fleet, "r", 2).await;
    for cycle in 0..3 {
        let before = bad.calls();
        for _ in 0..600 {
            if bad.calls() > before {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(bad.calls() > before, "cycle {cycle}: nobody probed");
        for d in &fleet {
            until("the failed probe's opening everywhere", d, |s| deployment(s, "primary")["breaker"] == "open").await;
        }
        assert_eq!(bad.calls() - before, 1, "cycle {cycle}: one probe for the fleet, not one per host");
    }
    // Nothing but the fleet's probes reached the failing vendor: the hosts skipped it.
    let probes = fleet_counter(&fleet, "probes").await - probes_then;
    assert!(bad.calls() - calls_then <= probes, "{} calls, {probes} probes", bad.calls() - calls_then);

    // The vendor recovers: one probe closes the breaker and every host uses it again.
    bad.stats.set_down(false);
    for d in &fleet {
        until("the deployment closed everywhere", d, |s| deployment(s, "primary")["breaker"] == "closed").await;
    }
    let before = bad.calls();
    load.answered(30).await;
    assert!(bad.calls() > before, "traffic is back on the primary");
    let (ok, failed) = load.finish().await;
    assert_eq!(failed, 0, "failover hid the outage from every caller ({ok} answered)");
}

#[tokio::test]
async fn rediss_with_a_client_certificate_and_an_acl_user_from_a_secret() {
    let Some(redis) = FleetRedis::start(true).await else { return };
    let vendor = FakeVendor::start().await.unwrap();
    let tls = format!(
        "redis_ca_file = \"{}\"\nredis_cert_file = \"{}\"\nredis_key_file = \"{}\"\nredis_username = \"fleet\"\nredis_password = {{ env = \"SG_FLEET_REDIS_PW\" }}",
        redis.cert("ca.pem").display(),
        redis.cert("client.pem").display(),
        redis.cert("client.key").display()
    );
    let body = format!(
        "[providers.fake]\nkind = \"openai-compatible\"\nbase_url = \"{}\"\n[models.e]\nprovider = \"fake\"\nmodel = \"echo\"\n\
         [routes.cached]\ntargets = [\"e\"]\ncache = {{ ttl = \"10m\" }}\n{}",
        vendor.base_url(),
        shared(&redis, &tls)
    );
    let env = [("SG_FLEET_REDIS_PW", "s3cret-pw")];
    let a = Daemon::start_with_env("", &body, &env).await;
    let b = Daemon::start_with_env("", &body, &env).await;
    for d in [&a, &b] {
        until("two hosts over TLS", d, |s| s["fleet"]["hosts"] == 2 && s["fleet"]["redis"] == "up").await;
    }
    let req = json!({"model": "cached", "messages": [{"role": "user", "content": "over tls"}]});
    assert_eq!(a.native().await.call("chat", &req, &json!({})).await.unwrap().meta["cache"], "miss");
    until("the redis write", &a, |s| s["cache"]["redis"]["writes"] == 1).await;
    assert_eq!(b.native().await.call("chat", &req, &json!({})).await.unwrap().meta["cache"], "hit");
    assert_eq!(vendor.calls(), 1);
    assert!(!a.log().contains("s3cret-pw"), "the password never shows in logs");
}

/// `redis+sentinel://`: the daemons ask a real sentinel (the same `redis-server` binary in
/// sentinel mode) where the master is, and share the cache and the heartbeats through it.
#[tokio::test]
async fn a_sentinel_endpoint_names_the_master() {
    let Some(redis) = FleetRedis::start(false).await else { return };
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let conf = redis.dir.path().join("sentinel.conf");
    std::fs::write(
        &conf,
        format!("port {port}\nbind 127.0.0.1\nsentinel monitor fleetmaster 127.0.0.1 {} 1\n", redis.port),
    )
    .unwrap();
    let child =
        Command::new("redis-server").arg(&conf).arg("--sentinel").stdout(Stdio::null()).stderr(Stdio::null()).spawn();
    let _sentinel = ChildGuard(child.expect("start redis-server --sentinel"));
    crate::common::wait_for_tcp(port, "the sentinel").await;
    let vendor = FakeVendor::start().await.unwrap();
    let body = format!(
        "[providers.fake]\nkind = \"openai-compatible\"\nbase_url = \"{}\"\n[models.e]\nprovider = \"fake\"\nmodel = \"echo\"\n\
         [routes.cached]\ntargets = [\"e\"]\ncache = {{ ttl = \"10m\" }}\n\
         [shared]\nredis = \"redis+sentinel://127.0.0.1:{port}/fleetmaster\"\nredis_timeout = \"1s\"\nheartbeat = \"200ms\"\n",
        vendor.base_url()
    );
    let (a, b) = (Daemon::start("", &body).await, Daemon::start("", &body).await);
    for d in [&a, &b] {
        until("two hosts through the sentinel", d, |s| s["fleet"]["hosts"] == 2 && s["fleet"]["redis"] == "up").await;
    }
    let req = json!({"model": "cached", "messages": [{"role": "user", "content": "via sentinel"}]});
    assert_eq!(a.native().await.call("chat", &req, &json!({})).await.unwrap().meta["cache"], "miss");
    until("the redis write", &a, |s| s["cache"]["redis"]["writes"] == 1).await;
    assert_eq!(b.native().await.call("chat", &req, &json!({})).await.unwrap().meta["cache"], "hit");
    assert_eq!(vendor.calls(), 1);
}

struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A reload that changes what the fleet started with is applied, and says which keys wait for
/// a restart (status, the log), instead of taking them silently.
#[tokio::test]
async fn a_reload_names_the_fleet_settings_that_wait_for_a_restart() {
    let body = |beat: &str| {
        format!("[shared]\nredis = \"redis://127.0.0.1:9/0\"\nredis_timeout = \"100ms\"\nheartbeat = \"{beat}\"\n")
    };
    let d = Daemon::start("", &body("200ms")).await;
    let text = std::fs::read_to_string(&d.config).unwrap().replace("heartbeat = \"200ms\"", "heartbeat = \"2s\"");
    let tmp = d.config.with_extension("new");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, &d.config).unwrap();
    let s = until("the reload", &d, |s| s["config"]["last_reload"]["result"] == "applied").await;
    assert_eq!(s["config"]["last_reload"]["restart_needed"], json!(["shared.heartbeat"]), "{s}");
    crate::common::eventually("the log line", || d.log().contains("take effect when the daemon restarts")).await;
}

/// A vendor's 429 with `retry-after` cools the deployment on every host (they share the
/// vendor account's limits): the others skip it without sending it anything.
#[tokio::test]
async fn a_rate_limit_one_host_meets_cools_the_deployment_on_all() {
    let Some(redis) = FleetRedis::start(false).await else { return };
    let (limited, good) = (FakeVendor::start().await.unwrap(), FakeVendor::start().await.unwrap());
    let body = format!(
        "[providers.limited]\nkind = \"openai-compatible\"\nbase_url = \"{}\"\n[providers.good]\nkind = \"openai-compatible\"\nbase_url = \"{}\"\n\
         [models.primary]\nprovider = \"limited\"\nmodel = \"fail-429-60\"\n[models.backup]\nprovider = \"good\"\nmodel = \"echo\"\n\
         [routes.r]\ntargets = [\"primary\", \"backup\"]\n{}",
        limited.base_url(),
        good.base_url(),
        shared(&redis, "")
    );
    let fleet = fleet_of_three(&body).await;
    let req = chat_body("r", "x");
    let r = fleet[0].native().await.call("chat", &req, &json!({})).await.unwrap();
    assert_eq!(r.meta["model"], "backup", "the 429 failed over");
    assert_eq!(limited.calls(), 1);
    let opener = status(&fleet[0]).await["fleet"]["host"].as_str().unwrap().to_string();
    for d in &fleet[1..] {
        until("the fleet's news", d, |s| s["fleet"]["signals_received"].as_u64() >= Some(1)).await;
        assert_eq!(d.native().await.call("chat", &req, &json!({})).await.unwrap().meta["model"], "backup");
        let s = status(d).await;
        assert_eq!(deployment(&s, "primary")["opened_by"], opener.as_str(), "{s}");
    }
    assert_eq!(limited.calls(), 1, "the other hosts did not meet the rate limit themselves");
}
