//! Issue 8: config hot reload (file watch in every way files get replaced, SIGHUP, `sidegate
//! reload`), systemd's notify protocol and socket activation.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::common::{Daemon, bin, eventually, wait_for_socket};

/// A config whose route `r` answers with `reply` (a mock provider), optionally broken.
fn version(socket: &Path, reply: &str, broken: bool) -> String {
    let bad = if broken { "\nnot_a_key = true\n" } else { "" };
    format!(
        "[server]\nsocket = \"{}\"\nstate_dir = \"{}\"\n\n[providers.a]\nkind = \"mock\"\nreply = \"from-a\"\n[providers.b]\nkind = \"mock\"\nreply = \"from-b\"\n\
         [providers.x]\nkind = \"mock\"\nreply = \"{reply}\"\n\
         [models.dep-a]\nprovider = \"a\"\nmodel = \"m\"\n[models.dep-b]\nprovider = \"b\"\nmodel = \"m\"\n[models.dep-x]\nprovider = \"x\"\nmodel = \"m\"\n\
         [routes.r]\ntargets = [\"{}\"]{bad}\n",
        socket.display(),
        socket.with_file_name("state").display(),
        match reply {
            "from-a" => "dep-a",
            "from-b" => "dep-b",
            _ => "dep-x",
        }
    )
}

/// Writes `text` to `path` the way editors and config tools do: a temp file, then rename.
fn write_atomic(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp~");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

async fn try_answer(d: &Daemon) -> Option<(String, String)> {
    let r = d
        .native()
        .await
        .call("chat", &json!({"model": "r", "messages": [{"role": "user", "content": "x"}]}), &json!({}))
        .await
        .ok()?;
    Some((r.body["choices"][0]["message"]["content"].as_str()?.to_string(), r.meta["model"].as_str()?.to_string()))
}

/// What started the last reload, as `status` reports it.
async fn last_cause(d: &Daemon) -> String {
    let s = d.native().await.call("status", &json!({}), &json!({})).await.expect("status");
    s.body["config"]["last_reload"]["cause"].as_str().unwrap_or("").to_string()
}

async fn answer(d: &Daemon) -> (String, String) {
    try_answer(d).await.expect("an answer from route r")
}

async fn wait_for_reply(d: &Daemon, want: &str) {
    for _ in 0..400 {
        if try_answer(d).await.is_some_and(|a| a.0 == want) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the daemon never answered {want:?}; log:\n{}", d.log());
}

#[tokio::test]
async fn every_way_of_replacing_the_file_is_picked_up() {
    let d = Daemon::start("", "").await;
    let path = d.config.clone();
    // rename over the file (vim, sed -i, Ansible)
    write_atomic(&path, &version(&d.socket, "from-a", false));
    wait_for_reply(&d, "from-a").await;
    // the watcher saw it (not the 10 s safety-net poll)
    assert_eq!(last_cause(&d).await, "file");
    // plain in-place write
    std::fs::write(&path, version(&d.socket, "from-b", false)).unwrap();
    wait_for_reply(&d, "from-b").await;
    assert_eq!(last_cause(&d).await, "file");
    // delete, then create again
    std::fs::remove_file(&path).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    std::fs::write(&path, version(&d.socket, "from-a", false)).unwrap();
    wait_for_reply(&d, "from-a").await;
    // a symlink swapped to another target, Kubernetes style: cfg -> ..data/cfg, ..data -> v2
    let dir = d.dir.path();
    for v in ["v1", "v2"] {
        std::fs::create_dir_all(dir.join(v)).unwrap();
    }
    std::fs::write(dir.join("v1/sidegate.toml"), version(&d.socket, "k8s-one", false)).unwrap();
    std::fs::write(dir.join("v2/sidegate.toml"), version(&d.socket, "k8s-two", false)).unwrap();
    std::os::unix::fs::symlink("v1", dir.join("..data_tmp")).unwrap();
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
    let tmp_link = dir.join("sidegate.toml.lnk");
    std::os::unix::fs::symlink("..data/sidegate.toml", &tmp_link).unwrap();
    std::fs::rename(&tmp_link, &path).unwrap();
    wait_for_reply(&d, "k8s-one").await;
    std::os::unix::fs::symlink("v2", dir.join("..data_tmp")).unwrap();
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
    wait_for_reply(&d, "k8s-two").await;
    assert_eq!(last_cause(&d).await, "file");
}

#[tokio::test]
async fn bad_files_never_replace_the_running_config_and_show_in_status() {
    let d = Daemon::start("", "").await;
    write_atomic(&d.config, &version(&d.socket, "from-a", false));
    wait_for_reply(&d, "from-a").await;
    write_atomic(&d.config, &version(&d.socket, "BROKEN", true));
    let c = d.native().await;
    eventually_async(|| async {
        let s = c.call("status", &json!({}), &json!({})).await.unwrap();
        s.body["config"]["last_reload"]["result"] == "failed"
    })
    .await;
    let s = c.call("status", &json!({}), &json!({})).await.unwrap();
    let errors = s.body["config"]["last_reload"]["errors"].as_array().unwrap().clone();
    assert!(
        errors[0].as_str().unwrap().contains("sidegate.toml:") && errors[0].as_str().unwrap().contains("not_a_key"),
        "{errors:?}"
    );
    assert_eq!(answer(&d).await.0, "from-a");
    // `sidegate reload` reports the same errors and exits 1
    let out = Command::new(bin()).args(["reload", "--socket"]).arg(&d.socket).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not_a_key"));
    // a good file arrives: applied, and the error is gone from status
    write_atomic(&d.config, &version(&d.socket, "from-b", false));
    wait_for_reply(&d, "from-b").await;
    let out = Command::new(bin()).args(["reload", "--socket"]).arg(&d.socket).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    // SIGHUP reloads too (here: nothing changed)
    d.signal("HUP");
    eventually_async(|| async {
        let s = c.call("status", &json!({}), &json!({})).await.unwrap();
        s.body["config"]["last_reload"]["cause"] == "sighup"
    })
    .await;
}

/// The daemon's own re-read of the file (open, read, close) is not a change: one edit is one
/// re-read, not a loop (it used to be ~19 a second, each an ERROR line while the file was
/// broken). A count after a pause, not a timing: a slow machine only makes a loop show less.
#[tokio::test]
async fn one_edit_is_one_re_read_not_a_loop() {
    let d = Daemon::start("", "").await;
    write_atomic(&d.config, &version(&d.socket, "from-a", false));
    wait_for_reply(&d, "from-a").await;
    write_atomic(&d.config, &version(&d.socket, "BROKEN", true));
    let rejected = |d: &Daemon| d.log().lines().filter(|l| l.contains("config rejected")).count();
    eventually("the broken file rejected", || rejected(&d) >= 1).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let n = rejected(&d);
    assert!(n <= 2, "{n} rejections of one edit: the watcher re-reads its own reads\n{}", d.log());
    assert_eq!(answer(&d).await.0, "from-a");
}

async fn eventually_async<F, Fut>(mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..400 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("condition never became true");
}

#[tokio::test]
async fn reload_under_load_loses_nothing_and_never_applies_a_broken_file() {
    let d = Daemon::start("", "").await;
    write_atomic(&d.config, &version(&d.socket, "from-a", false));
    wait_for_reply(&d, "from-a").await;
    let socket = d.socket.clone();
    let writer_done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (path, socket, done) = (d.config.clone(), d.socket.clone(), writer_done.clone());
        tokio::spawn(async move {
            // Each version is written twice, 40 ms apart, so it stays longer than the reload
            // debounce (50 ms): a change every 40 ms would alias with it and only every other
            // version would ever be read.
            for i in 0..50 {
                let k = i / 2;
                let text = if k % 5 == 4 {
                    version(&socket, "BROKEN", true)
                } else if k % 2 == 0 {
                    version(&socket, "from-b", false)
                } else {
                    version(&socket, "from-a", false)
                };
                write_atomic(&path, &text);
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
            done.store(true, std::sync::atomic::Ordering::SeqCst);
        })
    };
    let c = std::sync::Arc::new(sidegate::client::Client::connect(&socket).await.unwrap());
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers = (0..8).map(|_| {
        let (c, next, writer_done) = (c.clone(), next.clone(), writer_done.clone());
        tokio::spawn(async move {
            let mut bad = Vec::new();
            let mut seen = std::collections::BTreeSet::new();
            // at least 2,000 requests, and keep going until the last rewrite
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < 2000
                || !writer_done.load(std::sync::atomic::Ordering::SeqCst)
            {
                match c
                    .call("chat", &json!({"model": "r", "messages": [{"role": "user", "content": "x"}]}), &json!({}))
                    .await
                {
                    Ok(r) => {
                        let text = r.body["choices"][0]["message"]["content"].as_str().unwrap_or("").to_string();
                        let model = r.meta["model"].as_str().unwrap_or("").to_string();
                        // each answer comes from the deployment its snapshot routed to
                        let consistent =
                            (text == "from-a" && model == "dep-a") || (text == "from-b" && model == "dep-b");
                        if !consistent {
                            bad.push(format!("{model}: {text}"));
                        }
                        seen.insert(text);
                    }
                    Err(e) => bad.push(e.to_string()),
                }
            }
            (bad, seen)
        })
    });
    let mut bad = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for w in futures_util::future::join_all(workers).await {
        let (b, s) = w.unwrap();
        bad.extend(b);
        seen.extend(s);
    }
    writer.await.unwrap();
    assert!(bad.is_empty(), "{} bad answers, e.g. {:?}", bad.len(), &bad[..bad.len().min(3)]);
    assert!(seen.contains("from-a") && seen.contains("from-b"), "both versions served: {seen:?}\n{}", d.log());
}

#[tokio::test]
async fn a_reload_moves_the_tcp_listener() {
    let port = |_: ()| std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (p1, p2) = (port(()), port(()));
    let d = Daemon::start(&format!("http = \"127.0.0.1:{p1}\""), "[providers.mock]\nkind = \"mock\"\n").await;
    eventually("first listener", || std::net::TcpStream::connect(("127.0.0.1", p1)).is_ok()).await;
    let text = std::fs::read_to_string(&d.config).unwrap().replace(&p1.to_string(), &p2.to_string());
    write_atomic(&d.config, &text);
    eventually("second listener", || std::net::TcpStream::connect(("127.0.0.1", p2)).is_ok()).await;
    eventually("first listener closed", || std::net::TcpStream::connect(("127.0.0.1", p1)).is_err()).await;
}

/// Reads datagrams from a fake NOTIFY_SOCKET until `want` arrived (or ~30 s passed).
fn read_until(sock: &UnixDatagram, got: &mut Vec<String>, want: &str) {
    let mut buf = [0u8; 4096];
    for _ in 0..300 {
        if got.iter().any(|m| m.contains(want)) {
            return;
        }
        if let Ok(n) = sock.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).to_string());
        }
    }
    panic!("never got {want}; got {got:?}");
}

#[tokio::test]
async fn sd_notify_ready_watchdog_reloading_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let notify_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&notify_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let notify = notify_path.display().to_string();
    let mut d = Daemon::start_with_env(
        "",
        "[providers.mock]\nkind = \"mock\"\n",
        &[("NOTIFY_SOCKET", notify.as_str()), ("WATCHDOG_USEC", "200000")],
    )
    .await;
    let mut got = Vec::new();
    read_until(&sock, &mut got, "READY=1");
    read_until(&sock, &mut got, "WATCHDOG=1");
    write_atomic(&d.config, &version(&d.socket, "from-a", false));
    read_until(&sock, &mut got, "RELOADING=1");
    let reloading = got.iter().find(|m| m.contains("RELOADING=1")).unwrap().clone();
    assert!(reloading.contains("MONOTONIC_USEC="), "{reloading}");
    let after = got.iter().position(|m| m.contains("RELOADING=1")).unwrap();
    got.drain(..=after);
    read_until(&sock, &mut got, "READY=1");
    d.signal("TERM");
    read_until(&sock, &mut got, "STOPPING=1");
    assert_eq!(d.wait_exit().await, Some(0));
}

#[tokio::test]
async fn socket_activation_takes_the_listening_socket_from_systemd() {
    let Some(activate) = which("systemd-socket-activate") else {
        assert!(std::env::var_os("CI").is_none(), "systemd-socket-activate is missing (apt-get install systemd)");
        eprintln!("skipped: systemd-socket-activate is not installed");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("activated.sock");
    let config = dir.path().join("sidegate.toml");
    // The config names another path: with activation the passed socket wins.
    std::fs::write(
        &config,
        format!(
            "[server]\nsocket = \"{}\"\nstate_dir = \"{}\"\n[providers.mock]\nkind = \"mock\"\n",
            dir.path().join("unused.sock").display(),
            dir.path().join("state").display()
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.path().join("log")).unwrap();
    let mut child = Command::new(activate)
        .arg("-l")
        .arg(&socket)
        .args(["--fdname=sidegate", bin(), "serve", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    wait_for_socket(&socket, None).await;
    let c = sidegate::client::Client::connect(&socket).await.unwrap();
    let r = c
        .call("chat", &json!({"model": "mock/x", "messages": [{"role": "user", "content": "activated"}]}), &json!({}))
        .await
        .unwrap();
    assert_eq!(r.body["choices"][0]["message"]["content"], "activated");
    let log_path = dir.path().join("log");
    eventually("the daemon reports the adopted socket", || {
        std::fs::read_to_string(&log_path).unwrap_or_default().contains("activated=true")
    })
    .await;
    assert!(!dir.path().join("unused.sock").exists());
    let _ = child.kill();
    let _ = child.wait();
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| Path::new(d).join(name)).find(|p| p.is_file())
}

#[tokio::test]
async fn a_reload_keeps_the_health_of_deployments_it_did_not_change() {
    let cfg = |extra: &str| {
        format!(
            "[providers.broken]\nkind = \"mock\"\nfailure_rate = 1.0\n[providers.ok]\nkind = \"mock\"\n\
             [models.bad]\nprovider = \"broken\"\nmodel = \"x\"\n[models.good]\nprovider = \"ok\"\nmodel = \"y\"\n\
             [routes.r]\ntargets = [\"bad\", \"good\"]\n{extra}"
        )
    };
    let d = Daemon::start("", &cfg("")).await;
    let c = d.native().await;
    let (body, no_opts) = (json!({"model": "r", "messages": [{"role": "user", "content": "x"}]}), json!({}));
    let ask = || c.call("chat", &body, &no_opts);
    for _ in 0..8 {
        ask().await.unwrap();
    }
    let breaker_of_bad = |s: &serde_json::Value| {
        s["deployments"].as_array().unwrap().iter().find(|x| x["name"] == "bad").map(|x| x["breaker"].clone())
    };
    let s = c.call("status", &json!({}), &json!({})).await.unwrap();
    assert_eq!(breaker_of_bad(&s.body).unwrap(), "open");
    // change something else: a new model
    let text = std::fs::read_to_string(&d.config).unwrap() + "\n[models.extra]\nprovider = \"ok\"\nmodel = \"z\"\n";
    write_atomic(&d.config, &text);
    eventually_async(|| async {
        let s = c.call("status", &json!({}), &json!({})).await.unwrap();
        s.body["models"].as_array().unwrap().iter().any(|m| m == "extra")
    })
    .await;
    let s = c.call("status", &json!({}), &json!({})).await.unwrap();
    assert_eq!(breaker_of_bad(&s.body).unwrap(), "open", "the unchanged deployment kept its open breaker");
    let r = ask().await.unwrap();
    assert_eq!(r.meta["attempts"], 1, "and it is still skipped at no cost");
}
