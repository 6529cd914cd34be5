//! The native protocol against the real daemon: round trips, multiplexing, cancel, and every
//! kind of bad frame (the connection is closed, the daemon is unaffected).

use std::time::Duration;

use fake_vendor::FakeVendor;
use serde_json::{Value, json};
use sidegate::client::ClientError;
use sidegate::protocol::{Kind, PREFACE, encode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{Daemon, eventually, vendor_config};

fn chat(model: &str, text: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": text}]})
}

#[tokio::test]
async fn unary_chat_models_status_and_errors() {
    let vendor = FakeVendor::start().await.unwrap();
    let d = Daemon::start("", &vendor_config(&vendor.base_url())).await;
    let c = d.native().await;
    let r = c.call("chat", &chat("fast", "héllo ☃ 🚀"), &json!({})).await.unwrap();
    assert_eq!(r.body["choices"][0]["message"]["content"], "héllo ☃ 🚀");
    assert_eq!(r.meta["provider"], "fake");
    assert_eq!(r.meta["model"], "fake-echo");
    assert_eq!(r.meta["cache"], "bypass");
    assert_eq!(r.meta["attempts"], 1);
    let m = c.call("models", &json!({}), &json!({})).await.unwrap();
    assert!(m.body["data"].as_array().unwrap().iter().any(|x| x["id"] == "fast"));
    let s = c.call("status", &json!({}), &json!({})).await.unwrap();
    assert!(s.body["requests"]["total"].as_u64().unwrap() >= 1);
    match c.call("chat", &chat("nope", "x"), &json!({})).await {
        Err(ClientError::Api { status: 404, body, .. }) => assert_eq!(body["error"]["code"], "model_not_found"),
        other => panic!("{other:?}"),
    }
    match c.call("chat", &json!({"model": "fast"}), &json!({})).await {
        Err(ClientError::Api { status: 400, body, .. }) => assert_eq!(body["error"]["param"], "messages"),
        other => panic!("{other:?}"),
    }
    match c.call("chat", &chat("fake/fail-429", "x"), &json!({})).await {
        Err(ClientError::Api { status: 429, body, .. }) => assert_eq!(body["retry_after"], 1.0),
        other => panic!("{other:?}"),
    }
    match c.call("launch", &json!({}), &json!({})).await {
        Err(ClientError::Api { status: 400, body, .. }) => assert_eq!(body["error"]["code"], "unknown_op"),
        other => panic!("{other:?}"),
    }
    // the route option overrides the body's model
    let r = c.call("chat", &chat("ignored", "via option"), &json!({"route": "fast"})).await.unwrap();
    assert_eq!(r.meta["route"], "fast");
}

#[tokio::test]
async fn two_concurrent_streams_on_one_connection() {
    let d = Daemon::start("", "[providers.mock]\nkind = \"mock\"\ntoken_interval = \"2ms\"\n").await;
    let c = d.native().await;
    let a_text = (0..40).map(|i| format!("a{i}")).collect::<Vec<_>>().join(" ");
    let b_text = (0..40).map(|i| format!("b{i}")).collect::<Vec<_>>().join(" ");
    let mut body_a = chat("mock/x", &a_text);
    body_a["stream"] = json!(true);
    let mut body_b = chat("mock/x", &b_text);
    body_b["stream"] = json!(true);
    let mut sa = c.stream(&body_a, &json!({})).await.unwrap();
    let mut sb = c.stream(&body_b, &json!({})).await.unwrap();
    let (mut ta, mut tb) = (String::new(), String::new());
    let (mut da, mut db) = (false, false);
    while !(da && db) {
        tokio::select! {
            x = sa.next(), if !da => match x { Some(c) => ta.push_str(c.unwrap()["choices"][0]["delta"]["content"].as_str().unwrap_or("")), None => da = true },
            x = sb.next(), if !db => match x { Some(c) => tb.push_str(c.unwrap()["choices"][0]["delta"]["content"].as_str().unwrap_or("")), None => db = true },
        }
    }
    assert_eq!(ta, a_text);
    assert_eq!(tb, b_text);
    assert_eq!(sa.meta.as_ref().unwrap()["provider"], "mock");
}

#[tokio::test]
async fn many_unary_calls_multiplexed() {
    let d = Daemon::start("", "[providers.mock]\nkind = \"mock\"\nlatency = \"5ms\"\n").await;
    let c = d.native().await;
    let calls = (0..64).map(|i| {
        let c = &c;
        async move { (i, c.call("chat", &chat("mock/x", &format!("msg {i}")), &json!({})).await.unwrap()) }
    });
    for (i, r) in futures_util::future::join_all(calls).await {
        assert_eq!(r.body["choices"][0]["message"]["content"], format!("msg {i}"));
    }
}

#[tokio::test]
async fn cancel_stops_the_vendor_call() {
    let vendor = FakeVendor::start().await.unwrap();
    let d = Daemon::start("", &vendor_config(&vendor.base_url())).await;
    let c = d.native().await;
    let mut body = chat("fake/slow-stream", "x");
    body["stream"] = json!(true);
    let mut s = c.stream(&body, &json!({})).await.unwrap();
    for _ in 0..3 {
        s.next().await.unwrap().unwrap();
    }
    drop(s); // sends CANCEL
    eventually("vendor sees the call aborted", || vendor.aborted() >= 1).await;
    // the connection still works
    let r = c.call("chat", &chat("mock/x", "after cancel"), &json!({})).await.unwrap();
    assert_eq!(r.body["choices"][0]["message"]["content"], "after cancel");
}

#[tokio::test]
async fn client_disconnect_cancels_its_requests() {
    let vendor = FakeVendor::start().await.unwrap();
    let d = Daemon::start("", &vendor_config(&vendor.base_url())).await;
    let mut raw = tokio::net::UnixStream::connect(&d.socket).await.unwrap();
    raw.write_all(&PREFACE).await.unwrap();
    raw.write_all(&encode(Kind::Hello, 0, br#"{"protocol":1}"#)).await.unwrap();
    let body = json!({"op": "chat", "body": {"model": "fake/hang", "messages": [{"role": "user", "content": "x"}]}});
    raw.write_all(&encode(Kind::Request, 1, &serde_json::to_vec(&body).unwrap())).await.unwrap();
    eventually("vendor got the call", || vendor.calls() >= 1).await;
    drop(raw);
    eventually("vendor sees the call aborted", || vendor.aborted() >= 1).await;
}

/// A client that stops reading while its answers pour out: the daemon holds its requests
/// back (a bounded backlog), keeps serving other connections, and once the client reads
/// again every frame arrives whole and in order, a CANCEL on the way included.
#[tokio::test]
async fn a_client_that_stops_reading_gets_every_frame_whole_when_it_reads_again() {
    let d = Daemon::start("", "[providers.mock]\nkind = \"mock\"\n").await;
    let mut raw = tokio::net::UnixStream::connect(&d.socket).await.unwrap();
    raw.write_all(&PREFACE).await.unwrap();
    raw.write_all(&encode(Kind::Hello, 0, br#"{"protocol":1}"#)).await.unwrap();
    // ~20k chunks each: several MB of CHUNK frames, far past what the socket and the
    // daemon's backlog hold.
    let long = |tag: &str| (0..20_000).map(|i| format!("{tag}{i}")).collect::<Vec<_>>().join(" ");
    let (a, b) = (long("a"), long("b"));
    let request = |text: &str, stream: bool| {
        let body = json!({"op": "chat", "body": {"model": "mock/x", "stream": stream, "messages": [{"role": "user", "content": text}]}});
        serde_json::to_vec(&body).unwrap()
    };
    raw.write_all(&encode(Kind::Request, 1, &request(&a, true))).await.unwrap();
    raw.write_all(&encode(Kind::Request, 2, &request(&b, true))).await.unwrap();
    raw.write_all(&encode(Kind::Request, 3, &request("unary", false))).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Another connection is served while this one is stalled.
    let other = d.native().await;
    let r = other.call("chat", &chat("mock/x", "bystander"), &json!({})).await.unwrap();
    assert_eq!(r.body["choices"][0]["message"]["content"], "bystander");
    let (mut rd, mut wr) = raw.into_split();
    let cancel = tokio::spawn(async move {
        wr.write_all(&encode(Kind::Cancel, 2, b"")).await.unwrap();
        wr // kept open until the reads are done
    });
    let mut buf = bytes::BytesMut::new();
    let (mut text_a, mut text_b) = (String::new(), String::new());
    let (mut ended_a, mut unary) = (false, None);
    while !(ended_a && unary.is_some()) {
        let n = tokio::time::timeout(Duration::from_secs(60), rd.read_buf(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0, "the daemon closed the connection");
        while let Some(f) = sidegate::protocol::decode(&mut buf, 1 << 24).expect("only whole frames") {
            let v: Value = serde_json::from_slice(&f.body).expect("a frame's body is whole JSON");
            let piece = || v["choices"][0]["delta"]["content"].as_str().unwrap_or("").to_string();
            match (f.kind, f.id) {
                (Kind::Welcome, 0) => {}
                (Kind::Chunk, 1) => text_a.push_str(&piece()),
                (Kind::End, 1) => ended_a = true,
                (Kind::Chunk, 2) => text_b.push_str(&piece()),
                (Kind::End | Kind::Error, 2) => {}
                (Kind::Response, 3) => unary = Some(v["body"]["choices"][0]["message"]["content"].clone()),
                other => panic!("unexpected frame {other:?}: {v}"),
            }
        }
    }
    assert_eq!(text_a, a, "stream 1 whole and in order");
    assert!(b.starts_with(&text_b), "stream 2 in order up to where it was cancelled");
    assert_eq!(unary, Some(json!("unary")));
    drop(cancel.await.unwrap());
}

/// Sends `bytes` after the preface (and HELLO when asked); returns the ERROR frame's code and
/// whether the server then closed the connection.
async fn bad_frame(d: &Daemon, bytes: &[u8], after_hello: bool) -> (String, bool) {
    let mut s = tokio::net::UnixStream::connect(&d.socket).await.unwrap();
    s.write_all(&PREFACE).await.unwrap();
    if after_hello {
        s.write_all(&encode(Kind::Hello, 0, br#"{"protocol":1,"client":"vector"}"#)).await.unwrap();
    }
    s.write_all(bytes).await.unwrap();
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut got)).await;
    let closed = read.is_ok();
    let mut buf = bytes::BytesMut::from(&got[..]);
    let mut code = String::new();
    while let Ok(Some(f)) = sidegate::protocol::decode(&mut buf, 1 << 24) {
        if f.kind == Kind::Error && f.id == 0 {
            let v: Value = serde_json::from_slice(&f.body).unwrap();
            code = v["error"]["code"].as_str().unwrap_or("").to_string();
        }
    }
    (code, closed)
}

#[tokio::test]
async fn every_bad_frame_in_the_vectors_closes_only_that_connection() {
    let d = Daemon::start("", "[providers.mock]\nkind = \"mock\"\n").await;
    let keep = d.native().await; // an innocent bystander connection
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/bad");
    let cases: Value = serde_json::from_slice(&std::fs::read(dir.join("cases.json")).unwrap()).unwrap();
    for case in cases["cases"].as_array().unwrap() {
        let bytes = std::fs::read(dir.join(case["file"].as_str().unwrap())).unwrap();
        let (code, closed) = bad_frame(&d, &bytes, case["after_hello"].as_bool().unwrap()).await;
        assert_eq!(code, case["code"].as_str().unwrap(), "{}", case["name"]);
        assert!(closed, "{}: connection left open", case["name"]);
    }
    // garbage after a NUL: not our preface -> closed silently
    let mut s = tokio::net::UnixStream::connect(&d.socket).await.unwrap();
    s.write_all(b"\0xyz garbage").await.unwrap();
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut got)).await.unwrap();
    assert!(read.is_err() || got.is_empty(), "{read:?} {got:?}"); // closed (possibly reset: it left bytes unread)
    // random bytes that look like neither: HTTP parser refuses them, daemon unaffected
    let mut s = tokio::net::UnixStream::connect(&d.socket).await.unwrap();
    s.write_all(&[0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, b'\r', b'\n', b'\r', b'\n']).await.unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut got)).await;
    // a truncated frame followed by a hang-up
    let mut s = tokio::net::UnixStream::connect(&d.socket).await.unwrap();
    s.write_all(&PREFACE).await.unwrap();
    s.write_all(&encode(Kind::Hello, 0, br#"{"protocol":1}"#)[..10]).await.unwrap();
    drop(s);
    // the bystander and new clients are fine
    let r = keep.call("chat", &chat("mock/x", "unaffected"), &json!({})).await.unwrap();
    assert_eq!(r.body["choices"][0]["message"]["content"], "unaffected");
    let r = d.native().await.call("chat", &chat("mock/x", "new"), &json!({})).await.unwrap();
    assert_eq!(r.body["choices"][0]["message"]["content"], "new");
}

#[tokio::test]
async fn ping_pong_and_large_unicode_messages() {
    let d = Daemon::start("", "[providers.mock]\nkind = \"mock\"\n").await;
    let mut s = tokio::net::UnixStream::connect(&d.socket).await.unwrap();
    s.write_all(&PREFACE).await.unwrap();
    s.write_all(&encode(Kind::Hello, 0, br#"{"protocol":1}"#)).await.unwrap();
    s.write_all(&encode(Kind::Ping, 42, b"abc")).await.unwrap();
    let mut buf = bytes::BytesMut::new();
    let mut frames = Vec::new();
    while frames.len() < 2 {
        s.read_buf(&mut buf).await.unwrap();
        while let Ok(Some(f)) = sidegate::protocol::decode(&mut buf, 1 << 24) {
            frames.push(f);
        }
    }
    assert_eq!(frames[0].kind, Kind::Welcome);
    let w: Value = serde_json::from_slice(&frames[0].body).unwrap();
    assert_eq!(w["protocol"], 1);
    assert_eq!((frames[1].kind, frames[1].id, &frames[1].body[..]), (Kind::Pong, 42, &b"abc"[..]));

    let c = d.native().await;
    let big = "日本語 🚀 e\u{301} ".repeat(40_000); // ~1 MB
    let r = c.call("chat", &chat("mock/x", &big), &json!({})).await.unwrap();
    assert_eq!(r.body["choices"][0]["message"]["content"].as_str().unwrap(), big);
}
