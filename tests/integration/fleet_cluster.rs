//! Issue 18 on a Redis Cluster (`redis+cluster://`): three `redis-server`s in cluster mode, made
//! one cluster by `redis-cli --cluster create` here, and three daemons that know two of its
//! nodes. The fleet works as on one server: a cross-host cache hit, an outage one host sees
//! skipped by the others, one budget held at concurrency (on a cluster speaking TLS only, with
//! client certificates), and `status --fleet` finding hosts, breakers and counters on every
//! node (their keys sit in different slots). Every wait is bounded and polls; nothing asserts
//! on timing.

use std::net::TcpListener;
use std::process::{Child, Command};
use std::time::Duration;

use fake_vendor::FakeVendor;
use serde_json::json;

use crate::common::Daemon;
use crate::fleet::{chat_body, cli_json, deployment, make_certificates, priced, status, until};

/// Three cluster-mode `redis-server`s on loopback holding all 16384 slots between them.
struct RedisCluster {
    children: Vec<Child>,
    ports: Vec<u16>,
    dir: tempfile::TempDir,
    /// TLS only (client and cluster bus), with client certificates required.
    tls: bool,
}

impl RedisCluster {
    /// None (the test is skipped) without `redis-server` and `redis-cli` (see
    /// `common::redis_installed`).
    async fn start(tls: bool) -> Option<RedisCluster> {
        if !crate::common::redis_installed(&["redis-server", "redis-cli"]) {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        if tls {
            make_certificates(dir.path());
        }
        let ports: Vec<u16> = (0..3).map(|_| cluster_port()).collect();
        let mut children = Vec::new();
        for p in &ports {
            let mut cmd = crate::common::redis_server(dir.path(), *p, tls);
            if tls {
                cmd.args(["--tls-cluster", "yes"]);
            }
            let child = cmd
                .args(["--cluster-enabled", "yes", "--cluster-node-timeout", "3000"])
                .arg("--cluster-config-file")
                .arg(dir.path().join(format!("nodes-{p}.conf")))
                .spawn()
                .expect("start redis-server");
            children.push(child);
        }
        let cluster = RedisCluster { children, ports, dir, tls };
        for p in &cluster.ports {
            crate::common::wait_for_tcp(*p, "redis-server").await;
        }
        let nodes: Vec<String> = cluster.ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let out = cluster
            .redis_cli()
            .arg("--cluster")
            .arg("create")
            .args(&nodes)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("redis-cli --cluster create");
        assert!(out.status.success(), "cluster create: {}", String::from_utf8_lossy(&out.stdout));
        for p in &cluster.ports {
            cluster.wait_until_ok(*p).await;
        }
        Some(cluster)
    }

    /// Polls `CLUSTER INFO` on `port` until the node sees every slot served.
    async fn wait_until_ok(&self, port: u16) {
        for _ in 0..600 {
            if self.cli(port, &["cluster", "info"]).contains("cluster_state:ok") {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the node on {port} never saw the cluster ok: {}", self.cli(port, &["cluster", "info"]));
    }

    /// `redis-cli`, with the client certificate on a TLS cluster.
    fn redis_cli(&self) -> Command {
        let mut cmd = Command::new("redis-cli");
        if self.tls {
            let f = |name: &str| self.dir.path().join(name);
            cmd.arg("--tls").arg("--cacert").arg(f("ca.pem")).arg("--cert").arg(f("client.pem"));
            cmd.arg("--key").arg(f("client.key"));
        }
        cmd
    }

    fn cli(&self, port: u16, args: &[&str]) -> String {
        let out = self.redis_cli().args(["-p", &port.to_string()]).args(args).output().expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The daemons know two seed nodes; the third is learned from the cluster.
    fn shared(&self) -> String {
        let mut s = format!(
            "[shared]\nredis = \"redis+cluster://127.0.0.1:{},127.0.0.1:{}{}\"\nredis_timeout = \"1s\"\nheartbeat = \"200ms\"\n",
            self.ports[0],
            self.ports[1],
            if self.tls { "?tls=true" } else { "" }
        );
        if self.tls {
            let f = |name: &str| self.dir.path().join(name).display().to_string();
            s.push_str(&format!(
                "redis_ca_file = \"{}\"\nredis_cert_file = \"{}\"\nredis_key_file = \"{}\"\n",
                f("ca.pem"),
                f("client.pem"),
                f("client.key")
            ));
        }
        s
    }

    /// How many of the nodes hold at least one key.
    fn nodes_with_keys(&self) -> usize {
        self.ports.iter().filter(|p| self.cli(**p, &["dbsize"]).trim().parse::<u64>().unwrap_or(0) > 0).count()
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A free port whose cluster-bus port (port + 10000) is free too.
fn cluster_port() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

async fn three_hosts(body: &str) -> Vec<Daemon> {
    let mut fleet = Vec::new();
    for _ in 0..3 {
        fleet.push(Daemon::start("", body).await);
    }
    for d in &fleet {
        until("three live hosts on the cluster", d, |s| s["fleet"]["hosts"] == 3 && s["fleet"]["redis"] == "up").await;
    }
    fleet
}

#[tokio::test]
async fn a_fleet_on_a_redis_cluster_shares_the_cache_and_outages() {
    let Some(cluster) = RedisCluster::start(false).await else { return };
    let (bad, good) = (FakeVendor::start().await.unwrap(), FakeVendor::start().await.unwrap());
    let body = format!(
        "[providers.bad]\nkind = \"openai-compatible\"\nbase_url = \"{}\"\n[providers.good]\nkind = \"openai-compatible\"\nbase_url = \"{}\"\n\
         [models.primary]\nprovider = \"bad\"\nmodel = \"echo\"\n[models.backup]\nprovider = \"good\"\nmodel = \"echo\"\n\
         [routes.cached]\ntargets = [\"backup\"]\ncache = {{ ttl = \"10m\" }}\n[routes.r]\ntargets = [\"primary\", \"backup\"]\n\
         [breaker]\nconsecutive_failures = 2\nopen_for = \"30s\"\nmax_open = \"30s\"\n{}",
        bad.base_url(),
        good.base_url(),
        cluster.shared()
    );
    let fleet = three_hosts(&body).await;

    // Many cache entries: their keys spread over the cluster's slots, and every host finds
    // each one, wherever it lives.
    for i in 0..12 {
        let req = json!({"model": "cached", "messages": [{"role": "user", "content": format!("entry {i}")}]});
        assert_eq!(fleet[0].native().await.call("chat", &req, &json!({})).await.unwrap().meta["cache"], "miss");
    }
    until("the redis writes", &fleet[0], |s| s["cache"]["redis"]["writes"] == 12).await;
    for i in 0..12 {
        let req = json!({"model": "cached", "messages": [{"role": "user", "content": format!("entry {i}")}]});
        let r = fleet[1 + i % 2].native().await.call("chat", &req, &json!({})).await.unwrap();
        assert_eq!(r.meta["cache"], "hit", "entry {i}");
        assert_eq!(r.body["choices"][0]["message"]["content"], format!("entry {i}"));
    }
    assert_eq!(good.calls(), 12, "one vendor call per entry for the fleet");
    assert!(cluster.nodes_with_keys() >= 2, "the keys are spread over the cluster's nodes");

    // Host 0 alone meets the outage; the others learn it over the cluster's pub/sub.
    bad.stats.set_down(true);
    let c0 = fleet[0].native().await;
    let opener = status(&fleet[0]).await["fleet"]["host"].as_str().unwrap().to_string();
    let req = chat_body("r", "x");
    for _ in 0..600 {
        c0.call("chat", &req, &json!({})).await.unwrap();
        if deployment(&status(&fleet[0]).await, "primary")["breaker"] == "open" {
            break;
        }
    }
    // (They have had no traffic for it: the opening waits for their first request.)
    let calls = bad.calls();
    for d in &fleet[1..] {
        until("the fleet's news", d, |s| s["fleet"]["signals_received"].as_u64() >= Some(1)).await;
        assert_eq!(d.native().await.call("chat", &req, &json!({})).await.unwrap().meta["model"], "backup");
        let s = status(d).await;
        assert_eq!(deployment(&s, "primary")["breaker"], "open", "{s}");
        assert_eq!(deployment(&s, "primary")["opened_by"], opener.as_str(), "{s}");
    }
    assert_eq!(bad.calls(), calls, "the other hosts sent the failing vendor nothing");

    // `status --fleet` reads hosts and breakers from whichever node holds them.
    let report = cli_json(&fleet[2], &["status", "--fleet", "--json"]);
    assert_eq!(report["hosts"].as_array().unwrap().len(), 3, "{report}");
    let breakers = report["breakers"].as_array().unwrap();
    assert!(breakers.iter().any(|b| b["deployment"] == "primary" && b["opened_by"] == opener.as_str()), "{report}");
}

#[tokio::test]
async fn a_budget_on_a_tls_redis_cluster_is_never_overshot_across_hosts() {
    let Some(cluster) = RedisCluster::start(true).await else { return };
    let body = format!("{}\n{}", priced("budget = { usd = 0.05, per = \"day\" }"), cluster.shared());
    let fleet = three_hosts(&body).await;
    let mut clients = Vec::new();
    for d in &fleet {
        clients.push(d.native().await);
    }
    let (req, no_opts) = (chat_body("m", "x"), json!({}));
    let results = futures_util::future::join_all((0..60).map(|i| clients[i % 3].call("chat", &req, &no_opts))).await;
    let (ok, over) = crate::common::answered_and_over_budget(&results);
    assert_eq!(ok + over, 60, "every refusal is the budget's");
    assert_eq!(ok, 5, "three hosts hold one $0.05 budget on the cluster: exactly 5 calls at $0.01");
    let report = cli_json(&fleet[0], &["status", "--fleet", "--json"]);
    let budget = report["counters"].as_array().unwrap().iter().find(|c| c["kind"] == "budget").cloned();
    let budget = budget.unwrap_or_else(|| panic!("no budget counter found on the cluster: {report}"));
    assert_eq!(budget["caller"], "me");
    assert!((budget["value"].as_f64().unwrap() - 0.05).abs() < 1e-9, "{budget}");
}
