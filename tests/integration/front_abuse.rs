//! The front under abuse (docs/operations.md): more idle connections than the limit,
//! slowloris heads, bodies over the memory budget, garbage, request smuggling, and SIGTERM
//! with idle and half-sent connections. Each test is bounded (a test that waits past its bound
//! fails); none asserts on how long anything took.

use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use crate::common::{Daemon, eventually};
use sidegate::protocol::{Kind, PREFACE, decode, encode};

const MOCK: &str = "[providers.mock]\nkind = \"mock\"\n";
/// The longest any single wait in these tests may take.
const BOUND: Duration = Duration::from_secs(30);

fn chat_body(text: &str) -> String {
    json!({"model": "mock/x", "messages": [{"role": "user", "content": text}]}).to_string()
}

/// A normal request over the socket succeeds (within [`BOUND`]).
async fn chat_ok(d: &Daemon, text: &str) {
    let send = d.http().post("http://sidegate/v1/chat/completions").body(chat_body(text)).send();
    let r = tokio::time::timeout(BOUND, send).await.expect("a normal request was not served").expect("request");
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], text);
}

/// Reads until the daemon closes `s`; all it sent. Panics past [`BOUND`].
async fn read_to_close(s: &mut UnixStream) -> Vec<u8> {
    let mut out = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = s.read(&mut buf).await {
            out.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(BOUND, read).await.expect("the daemon never closed the connection");
    out
}

#[tokio::test]
async fn an_idle_flood_past_the_limit_is_held_off_and_a_normal_request_is_served() {
    let d = Daemon::start("max_connections = 16\nfirst_byte_timeout = \"1s\"", MOCK).await;
    let mut idle = Vec::new();
    for _ in 0..64 {
        if let Ok(s) = UnixStream::connect(&d.socket).await {
            idle.push(s); // (past the kernel's backlog a connect may fail: that is fine)
        }
    }
    assert!(idle.len() > 16, "only {} idle connections", idle.len());
    chat_ok(&d, "still served").await;
    eventually("the limit is logged", || d.log().contains("connection limit reached")).await;
    // the idle ones the daemon accepted were closed for sending nothing
    let closed = read_to_close(&mut idle[0]).await;
    assert!(closed.is_empty());
    chat_ok(&d, "and after").await;
}

#[tokio::test]
async fn a_full_listener_sheds_unused_connections_long_before_their_timeouts() {
    // timeouts far past the bound: only shedding can make room
    let long = "first_byte_timeout = \"600s\"\nheader_timeout = \"600s\"\nidle_timeout = \"600s\"";
    let d = Daemon::start(&format!("max_connections = 24\n{long}"), MOCK).await;
    let mut held = Vec::new();
    for _ in 0..8 {
        // kept alive after one request
        let mut s = UnixStream::connect(&d.socket).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
        let mut buf = [0u8; 1024];
        assert!(s.read(&mut buf).await.unwrap() > 0);
        held.push(s);
        held.push(native_greeted(&d).await);
        held.push(UnixStream::connect(&d.socket).await.unwrap());
    }
    for _ in 0..16 {
        if let Ok(s) = UnixStream::connect(&d.socket).await {
            held.push(s);
        }
    }
    chat_ok(&d, "a slot was made").await;
    // each kind of unused connection gave its slot back
    for s in held.iter_mut().take(3) {
        let _ = read_to_close(s).await;
    }
}

#[tokio::test]
async fn the_tcp_listener_has_the_same_limits_and_timeouts() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let server = format!(
        "http = \"127.0.0.1:{port}\"\nmax_connections = 8\nfirst_byte_timeout = \"1s\"\nheader_timeout = \"1s\""
    );
    let _d = Daemon::start(&server, MOCK).await;
    eventually("tcp listener", || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()).await;
    let mut silent = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut slow = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-a: ").await.unwrap();
    let mut flood = Vec::new();
    for _ in 0..32 {
        if let Ok(s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            flood.push(s);
        }
    }
    let get = reqwest::Client::new().get(format!("http://127.0.0.1:{port}/healthz")).send();
    let r = tokio::time::timeout(BOUND, get).await.expect("not served").unwrap();
    assert_eq!(r.status(), 200);
    for s in [&mut silent, &mut slow] {
        let closed = async {
            let mut buf = [0u8; 1024];
            while let Ok(n @ 1..) = s.read(&mut buf).await {
                let _ = n;
            }
        };
        tokio::time::timeout(BOUND, closed).await.expect("a tcp connection was never closed");
    }
}

#[tokio::test]
async fn slowloris_heads_are_closed_after_the_header_timeout() {
    let d = Daemon::start("header_timeout = \"1s\"\nidle_timeout = \"60s\"", MOCK).await;
    let mut slow = Vec::new();
    for _ in 0..8 {
        let mut s = UnixStream::connect(&d.socket).await.unwrap();
        s.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n").await.unwrap();
        slow.push(s);
    }
    // one header byte at a time, until the daemon closes each connection
    let trickle = slow.into_iter().map(|mut s| {
        tokio::spawn(async move {
            for i in 0..(BOUND.as_millis() / 100) {
                let byte = [b"x-slow: aaaaaaaaaaaaaaaaaaaaaaaa"[i as usize % 30]];
                if s.write_all(&byte).await.is_err() {
                    return true;
                }
                let mut buf = [0u8; 256];
                match tokio::time::timeout(Duration::from_millis(100), s.read(&mut buf)).await {
                    Ok(Ok(0) | Err(_)) => return true,
                    Ok(Ok(_)) => {} // a 408 before the close
                    Err(_) => {}
                }
            }
            false
        })
    });
    let trickle: Vec<_> = trickle.collect();
    chat_ok(&d, "served while they trickle").await;
    for t in trickle {
        assert!(t.await.unwrap(), "a slowloris connection was never closed");
    }
    chat_ok(&d, "served after").await;
}

#[tokio::test]
async fn a_kept_alive_connection_is_closed_after_the_idle_timeout() {
    let d = Daemon::start("idle_timeout = \"1s\"", MOCK).await;
    let mut s = UnixStream::connect(&d.socket).await.unwrap();
    let body = chat_body("one");
    let req = format!("POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n{body}", body.len());
    s.write_all(req.as_bytes()).await.unwrap();
    let got = String::from_utf8(read_to_close(&mut s).await).unwrap();
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    assert!(got.contains("\"one\""), "{got}");
}

/// Sends the head and `sent` bytes of a body of `claimed` bytes, then stalls.
async fn stalled_body(d: &Daemon, claimed: usize, sent: usize) -> UnixStream {
    let mut s = UnixStream::connect(&d.socket).await.unwrap();
    let head = format!("POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: {claimed}\r\n\r\n");
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&vec![b' '; sent]).await.unwrap();
    s
}

#[tokio::test]
async fn bodies_over_the_memory_budget_get_503_and_the_daemon_serves_after() {
    let server = "max_body_bytes = 1048576\nmax_frame_bytes = 1048576\nmax_inflight_body_bytes = \"3MiB\"\nheader_timeout = \"60s\"";
    let d = Daemon::start(server, MOCK).await;
    // three stalled bodies hold (almost) the whole budget
    let mut stalled = Vec::new();
    for _ in 0..3 {
        stalled.push(stalled_body(&d, 1 << 20, (1 << 20) - 4096).await);
    }
    let big = format!("{}{}", " ".repeat(600 * 1024), chat_body("big"));
    let mut refused = None;
    for _ in 0..600 {
        let r = d.http().post("http://sidegate/v1/chat/completions").body(big.clone()).send().await.unwrap();
        if r.status() == 503 {
            refused = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = refused.expect("a body past the budget was never refused");
    assert_eq!(r.headers()["retry-after"], "1");
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "overloaded", "{v}");

    // the native front refuses the frame the same way and the connection stays usable
    let mut n = native_greeted(&d).await;
    let req = json!({"op": "chat", "body": serde_json::from_str::<serde_json::Value>(&chat_body(&"y".repeat(600 * 1024))).unwrap()});
    n.write_all(&encode(Kind::Request, 5, &serde_json::to_vec(&req).unwrap())).await.unwrap();
    let f = next_frame(&mut n).await;
    assert_eq!((f.kind, f.id), (Kind::Error, 5));
    let e: serde_json::Value = serde_json::from_slice(&f.body).unwrap();
    assert_eq!((e["status"].as_u64(), e["error"]["code"].as_str()), (Some(503), Some("overloaded")), "{e}");
    n.write_all(&encode(Kind::Ping, 6, b"still here")).await.unwrap();
    assert_eq!(next_frame(&mut n).await.kind, Kind::Pong);

    drop(stalled);
    chat_ok(&d, "after the flood").await;
    let r = d.http().post("http://sidegate/v1/chat/completions").body(big).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

async fn native_greeted(d: &Daemon) -> UnixStream {
    let mut s = UnixStream::connect(&d.socket).await.unwrap();
    s.write_all(&PREFACE).await.unwrap();
    s.write_all(&encode(Kind::Hello, 0, br#"{"protocol":1}"#)).await.unwrap();
    assert_eq!(next_frame(&mut s).await.kind, Kind::Welcome);
    s
}

async fn next_frame(s: &mut UnixStream) -> sidegate::protocol::Frame {
    let mut buf = bytes::BytesMut::new();
    let read = async {
        loop {
            if let Some(f) = decode(&mut buf, 1 << 24).unwrap() {
                return f;
            }
            assert!(s.read_buf(&mut buf).await.unwrap() > 0, "connection closed");
        }
    };
    tokio::time::timeout(BOUND, read).await.expect("no frame came")
}

#[tokio::test]
async fn an_idle_native_connection_is_pinged_and_closed_when_it_does_not_answer() {
    let d = Daemon::start("idle_timeout = \"1s\"\nheader_timeout = \"1s\"", MOCK).await;
    // one that answers the PING stays open and usable
    let mut polite = native_greeted(&d).await;
    let ping = next_frame(&mut polite).await;
    assert_eq!(ping.kind, Kind::Ping);
    polite.write_all(&encode(Kind::Pong, ping.id, &ping.body)).await.unwrap();
    let req = json!({"op": "status"});
    polite.write_all(&encode(Kind::Request, 1, &serde_json::to_vec(&req).unwrap())).await.unwrap();
    let mut f = next_frame(&mut polite).await;
    while f.kind == Kind::Ping {
        polite.write_all(&encode(Kind::Pong, f.id, &f.body)).await.unwrap();
        f = next_frame(&mut polite).await;
    }
    assert_eq!((f.kind, f.id), (Kind::Response, 1));
    // one that does not is closed
    let mut mute = native_greeted(&d).await;
    let rest = read_to_close(&mut mute).await;
    let mut rest = bytes::BytesMut::from(&rest[..]);
    assert_eq!(decode(&mut rest, 1 << 24).unwrap().map(|f| f.kind), Some(Kind::Ping));
    // the Rust client answers PINGs on its own: its connection outlives several of them
    let c = d.native().await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    c.call("status", &json!({}), &json!({})).await.unwrap();
}

#[tokio::test]
async fn a_native_connection_that_never_says_hello_is_closed() {
    let d = Daemon::start("header_timeout = \"1s\"", MOCK).await;
    let mut s = UnixStream::connect(&d.socket).await.unwrap();
    s.write_all(&PREFACE).await.unwrap();
    let got = read_to_close(&mut s).await;
    let mut buf = bytes::BytesMut::from(&got[..]);
    let f = decode(&mut buf, 1 << 24).unwrap().expect("an ERROR frame");
    assert_eq!((f.kind, f.id), (Kind::Error, 0));
    assert!(String::from_utf8_lossy(&f.body).contains("handshake_timeout"));
}

#[tokio::test]
async fn garbage_connections_are_closed_and_leave_the_daemon_serving() {
    let d = Daemon::start("first_byte_timeout = \"1s\"\nheader_timeout = \"1s\"", MOCK).await;
    let garbage: [&[u8]; 8] = [
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", // a TLS hello
        b"\0sgX",
        b"\0sgp\xff\xff\xff\xff\x02\0\0\0",
        b"GET / HTTP/9.9\r\n\r\n",
        b"\r\n\r\n\r\n",
        b"SSH-2.0-OpenSSH_9.6\r\n",
        &[0xffu8; 2048],
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: -1\r\n\r\n",
    ];
    for round in 0..4 {
        for g in garbage {
            let mut s = UnixStream::connect(&d.socket).await.unwrap();
            let _ = s.write_all(g).await;
            let _ = read_to_close(&mut s).await;
        }
        if round % 2 == 0 {
            chat_ok(&d, "between the garbage").await;
        }
    }
    chat_ok(&d, "after the garbage").await;
}

/// Sends `raw` on one connection and reads all the daemon answers until it closes.
async fn raw_exchange(d: &Daemon, raw: &str) -> String {
    let mut s = UnixStream::connect(&d.socket).await.unwrap();
    s.write_all(raw.as_bytes()).await.unwrap();
    String::from_utf8_lossy(&read_to_close(&mut s).await).into_owned()
}

#[tokio::test]
async fn smuggled_requests_are_refused() {
    let d = Daemon::start("idle_timeout = \"2s\"", MOCK).await;
    let smuggled = "GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n";
    let cases = [
        // CL and TE: the body is read as chunked and the connection closes after the answer
        format!(
            "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 30\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n{smuggled}"
        ),
        format!(
            "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\ncontent-length: 3\r\n\r\n0\r\n\r\n{smuggled}"
        ),
        // two different lengths
        format!(
            "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\ncontent-length: 40\r\n\r\n{{}}{smuggled}"
        ),
        // a TE that is not chunked, and obfuscated ones
        format!("POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ntransfer-encoding: xchunked\r\n\r\n{smuggled}"),
        format!(
            "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ntransfer-encoding : chunked\r\n\r\n0\r\n\r\n{smuggled}"
        ),
        format!(
            "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked, identity\r\n\r\n0\r\n\r\n{smuggled}"
        ),
        // a bare CR, and a NUL, inside a header value
        format!("POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nx-a: b\rcontent-length: 0\r\n\r\n{smuggled}"),
        format!("POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nx-a: b\0content-length: 0\r\n\r\n{smuggled}"),
    ];
    for (i, case) in cases.iter().enumerate() {
        let got = raw_exchange(&d, case).await;
        let answers = got.matches("HTTP/1.1 ").count();
        assert!(answers <= 1, "case {i}: the smuggled request was answered too:\n{got}");
        assert!(!got.contains("\"status\":\"ok\""), "case {i}: /healthz was served:\n{got}");
        assert!(!got.starts_with("HTTP/1.1 200"), "case {i}: accepted:\n{got}");
    }
    chat_ok(&d, "after the smuggling").await;
}

#[tokio::test]
async fn sigterm_with_idle_and_half_sent_connections_exits_at_once() {
    // a grace far longer than the bound: waiting it out fails the test
    let mut d = Daemon::start(
        "shutdown_grace = \"600s\"\nfirst_byte_timeout = \"600s\"\nheader_timeout = \"600s\"\nidle_timeout = \"600s\"",
        MOCK,
    )
    .await;
    let _silent = UnixStream::connect(&d.socket).await.unwrap();
    let mut half_head = UnixStream::connect(&d.socket).await.unwrap();
    half_head.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-le").await.unwrap();
    let half_body = stalled_body(&d, 4096, 100).await;
    let mut kept_alive = UnixStream::connect(&d.socket).await.unwrap();
    kept_alive.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 1024];
    assert!(kept_alive.read(&mut buf).await.unwrap() > 0);
    let _native_idle = native_greeted(&d).await;
    let mut native_half = native_greeted(&d).await;
    native_half.write_all(&encode(Kind::Request, 1, b"{\"op\":\"status\"}")[..10]).await.unwrap();
    chat_ok(&d, "before the signal").await;
    d.signal("TERM");
    assert_eq!(d.wait_exit().await, Some(0), "{}", d.log());
    drop(half_body);
}
