//! Issue 17, item 5: at `RUST_LOG=trace`, with the log file in the config's (watched)
//! directory, the watcher's own trace lines about the log file's events must not feed
//! themselves: notify, inotify and mio log at `warn` unless the filter names them.

use std::time::Duration;

use crate::common::Daemon;

#[tokio::test]
async fn a_trace_log_in_the_watched_directory_does_not_log_its_own_writes() {
    // the harness writes the daemon's log to daemon.log beside sidegate.toml: the watched dir
    let d = Daemon::start_with_env("", "[providers.mock]\nkind = \"mock\"\n", &[("RUST_LOG", "trace")]).await;
    assert_eq!(d.log_path().parent(), d.config.parent(), "the log file is in the watched directory");
    let status = d.http().get("http://sidegate/status").send().await.unwrap();
    assert_eq!(status.status(), 200);
    // an event in the watched directory (the config rewritten as it was): a debug line of
    // ours, and, were notify not capped, its trace lines about this and every log write
    let text = std::fs::read_to_string(&d.config).unwrap();
    std::fs::write(&d.config, text).unwrap();
    crate::common::eventually("the watcher's debug line", || d.log().contains("config unchanged")).await;
    // idle a while: with the feedback loop, every write of the log is an event logged again
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let log = d.log();
    let watcher_lines: Vec<&str> =
        log.lines().filter(|l| l.contains("notify::") || l.contains("inotify") || l.contains(" mio::")).collect();
    assert!(
        watcher_lines.is_empty(),
        "watcher crates logged below warn: {:?}",
        &watcher_lines[..watcher_lines.len().min(5)]
    );
}
