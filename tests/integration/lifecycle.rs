//! Socket ownership and shutdown: stale sockets replaced, live ones not stolen, the socket
//! mode from config, and SIGTERM draining requests in flight before exiting 0.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use fake_vendor::FakeVendor;
use serde_json::json;

use crate::common::{Daemon, bin, vendor_config};

#[tokio::test]
async fn stale_socket_is_replaced_and_live_one_is_not_stolen() {
    let mut d = Daemon::start("socket_mode = \"0600\"", "[providers.mock]\nkind = \"mock\"\n").await;
    let mode = std::fs::metadata(&d.socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    // a second daemon on the same socket refuses to start and leaves the first alone
    let out = Command::new(bin()).args(["serve", "--config"]).arg(&d.config).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already listening"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    d.native().await.call("status", &json!({}), &json!({})).await.unwrap();

    // kill -9 leaves the socket file behind; the next start replaces it
    if let Some(c) = &mut d.child {
        c.kill().unwrap();
        c.wait().unwrap();
    }
    assert!(d.socket.exists(), "socket file should be left by a crash");
    d.spawn().await;
    d.native().await.call("status", &json!({}), &json!({})).await.unwrap();
}

#[tokio::test]
async fn sigterm_lets_a_stream_in_flight_finish_then_exits_0() {
    let vendor = FakeVendor::start().await.unwrap();
    let mut d = Daemon::start("shutdown_grace = \"60s\"", &vendor_config(&vendor.base_url())).await;
    let c = d.native().await;
    let body = json!({"model": "fake/slow-stream", "stream": true, "messages": [{"role": "user", "content": "x"}]});
    let mut s = c.stream(&body, &json!({})).await.unwrap();
    s.next().await.unwrap().unwrap();
    d.signal("TERM");
    let mut n = 1;
    while let Some(chunk) = s.next().await {
        chunk.unwrap();
        n += 1;
    }
    assert!(n > 200, "stream was cut after {n} chunks");
    assert_eq!(d.wait_exit().await, Some(0), "{}", d.log());
    assert!(!d.socket.exists(), "socket file left after a clean exit");
}

#[tokio::test]
async fn grace_period_cancels_what_is_left() {
    let vendor = FakeVendor::start().await.unwrap();
    let mut d = Daemon::start("shutdown_grace = \"200ms\"", &vendor_config(&vendor.base_url())).await;
    let c = d.native().await;
    let body = json!({"model": "fake/hang", "messages": [{"role": "user", "content": "x"}]});
    let opts = json!({});
    let call = c.call("chat", &body, &opts);
    let term = async {
        crate::common::eventually("vendor got the call", || vendor.calls() >= 1).await;
        d.signal("TERM");
    };
    let (res, _) = tokio::join!(call, term);
    // cut off after the grace period, with an ERROR frame that says why
    match res {
        Err(sidegate::client::ClientError::Api { status: 503, body, .. }) => {
            assert_eq!(body["error"]["code"], "shutting_down")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(d.wait_exit().await, Some(0), "{}", d.log());
    crate::common::eventually("vendor call aborted", || vendor.aborted() >= 1).await;
}
