//! The golden frames in tests/vectors/: the Rust codec must produce and read them byte for
//! byte (the Python and Node shims check the same files).

use std::path::PathBuf;

use bytes::BytesMut;
use serde_json::Value;
use sidegate::protocol::{Kind, decode, encode};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn kind(n: u64) -> Kind {
    [
        Kind::Hello,
        Kind::Welcome,
        Kind::Request,
        Kind::Response,
        Kind::Chunk,
        Kind::End,
        Kind::Error,
        Kind::Cancel,
        Kind::Ping,
        Kind::Pong,
    ][n as usize]
}

#[test]
fn golden_frames_encode_and_decode_byte_for_byte() {
    let index: Value = serde_json::from_slice(&std::fs::read(dir().join("vectors.json")).unwrap()).unwrap();
    assert_eq!(std::fs::read(dir().join("preface.bin")).unwrap(), sidegate::protocol::PREFACE);
    let frames = index["frames"].as_array().unwrap();
    assert!(frames.len() >= 10);
    for v in frames {
        let name = v["name"].as_str().unwrap();
        let bytes = std::fs::read(dir().join(v["file"].as_str().unwrap())).unwrap();
        let id: u64 = v["id"].as_str().unwrap().parse().unwrap();
        let body = v["body"].as_str().unwrap().as_bytes();
        let k = kind(v["kind"].as_u64().unwrap());
        assert_eq!(&encode(k, id, body)[..], &bytes[..], "encode {name}");
        let mut buf = BytesMut::from(&bytes[..]);
        let f = decode(&mut buf, 16 << 20).unwrap().unwrap();
        assert_eq!((f.kind, f.id, &f.body[..]), (k, id, body), "decode {name}");
        assert!(buf.is_empty(), "{name}: trailing bytes");
        if !body.is_empty() {
            serde_json::from_slice::<Value>(body).unwrap_or_else(|e| panic!("{name}: body is not JSON: {e}"));
        }
    }
}

#[test]
fn error_frame_bodies_match_what_the_daemon_writes() {
    use sidegate::api::error::GatewayError;
    use sidegate::protocol::messages::error_body;
    let index: Value = serde_json::from_slice(&std::fs::read(dir().join("vectors.json")).unwrap()).unwrap();
    let get = |n: &str| {
        index["frames"].as_array().unwrap().iter().find(|v| v["name"] == n).unwrap()["body"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let e = GatewayError::UnknownModel { message: "unknown model `nope`".into() };
    assert_eq!(String::from_utf8(error_body(&e, None)).unwrap(), get("error_request"));
    let e = GatewayError::Protocol {
        code: "frame_too_large",
        message: "frame of 4294967295 bytes is over the 16777216-byte limit".into(),
    };
    assert_eq!(String::from_utf8(error_body(&e, None)).unwrap(), get("error_connection"));
}
