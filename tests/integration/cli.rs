//! The command line: `check`, `chat`, `status`.

use std::process::Command;

use crate::common::{Daemon, bin};

#[test]
fn check_reports_every_error_with_location_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[providers.o]\nkind = \"openai\"\napi_key = \"sk-inline-secret-value\"\nbase_url = \"ftp://x\"\n\n[models.m]\nprovider = \"o\"\nmodel = \"gpt\"\n\n[routes.r]\ntargets = [\"m\", \"ghost\"]\ntimeout = \"fast\"\n",
    )
    .unwrap();
    let out = Command::new(bin()).args(["check", "--config"]).arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let p = path.display().to_string();
    assert!(err.contains(&format!("{p}:4:1: providers.o.base_url: `ftp://x` is not an http(s) URL")), "{err}");
    assert!(err.contains(&format!("{p}:11:")) && err.contains("routes.r.targets.1: unknown model `ghost`"), "{err}");
    assert!(err.contains("routes.r.timeout"), "{err}");
    assert!(!err.contains("sk-inline-secret-value"), "secret printed: {err}");

    let good = dir.path().join("good.toml");
    std::fs::write(&good, "[providers.o]\nkind = \"openai\"\napi_key = \"sk-inline-secret-value\"\n").unwrap();
    let out = Command::new(bin()).args(["check", "--config"]).arg(&good).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("sk-inline"));

    let out = Command::new(bin()).args(["check", "--config"]).arg(dir.path().join("missing.toml")).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[tokio::test]
async fn chat_and_status_commands() {
    let d = Daemon::start("", "[providers.mock]\nkind = \"mock\"\n").await;
    let out = Command::new(bin())
        .args(["chat", "--socket"])
        .arg(&d.socket)
        .args(["-m", "mock/x", "streamed from the shell"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "streamed from the shell\n");
    let out = Command::new(bin()).args(["status", "--socket"]).arg(&d.socket).output().unwrap();
    assert!(out.status.success());
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("providers:") && s.contains("mock"), "{s}");
    let out = Command::new(bin()).args(["chat", "--socket", "/nonexistent/sg.sock", "-m", "x", "y"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is `sidegate serve` running?"));
}

#[tokio::test]
async fn a_broken_config_is_named_when_the_cli_falls_back_to_the_default_socket() {
    let d = Daemon::start("", "[providers.mock]\nkind = \"mock\"\n").await;
    let broken = d.dir.path().join("broken.toml");
    std::fs::write(&broken, "[server]\nnot_a_key = 1\n").unwrap();
    let out = Command::new(bin())
        .arg("status")
        .env("SIDEGATE_CONFIG", &broken)
        .env("SIDEGATE_SOCKET", &d.socket)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broken.toml has 1 error(s)") && err.contains("default socket"), "{err}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("providers:"));
}
