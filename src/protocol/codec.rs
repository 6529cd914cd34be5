//! Frame encoding and decoding: a u32 little-endian length, then the bincode-legacy envelope
//! `{kind: u32, id: u64, body: u64 length + bytes}`. This is the only module that names
//! bincode (unmaintained upstream, RUSTSEC-2025-0141; pinned, always decoded with a limit),
//! so a hand-written codec can replace it without touching anything else. "Not enough bytes
//! yet" is `Ok(None)`, not an error.

use bincode::config::{Configuration, Fixint, Limit, LittleEndian};
use bincode::error::DecodeError;
use bytes::{Buf, Bytes, BytesMut};

use super::Kind;

/// The 4 bytes a native client sends before its first frame.
pub const PREFACE: [u8; 4] = *b"\0sgp";

/// Bytes before the body: length (4) + kind (4) + id (8) + body length (8).
pub const HEADER_LEN: usize = 24;

/// The envelope length without body: kind + id + body length.
const ENVELOPE_FIXED: usize = 20;

/// The most a partial frame's buffer is grown ahead of the bytes that arrived: a length field
/// is a claim, so memory follows the bytes, not the claim.
const GROW_AHEAD: usize = 64 * 1024;

/// Hard ceiling handed to bincode; the configured `max_frame` is checked before this.
const HARD_LIMIT: usize = 1 << 30;

type Cfg = Configuration<LittleEndian, Fixint, Limit<HARD_LIMIT>>;
const CFG: Cfg = bincode::config::legacy().with_limit::<HARD_LIMIT>();

/// A decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub kind: Kind,
    pub id: u64,
    pub body: Bytes,
}

#[derive(bincode::Encode)]
struct EnvelopeRef<'a> {
    kind: Kind,
    id: u64,
    body: &'a [u8],
}

#[derive(bincode::Decode)]
struct Envelope {
    kind: Kind,
    id: u64,
    body: Vec<u8>,
}

/// Why bytes could not be read as a frame. Each maps to a protocol error code.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("frame of {len} bytes is over the {max}-byte limit")]
    TooLarge { len: usize, max: usize },
    #[error("malformed frame: {0}")]
    Malformed(String),
    #[error("unknown frame kind {0}")]
    UnknownKind(u32),
}

impl FrameError {
    pub fn code(&self) -> &'static str {
        match self {
            FrameError::TooLarge { .. } => "frame_too_large",
            FrameError::Malformed(_) => "malformed_frame",
            FrameError::UnknownKind(_) => "unknown_frame_kind",
        }
    }
}

/// Result of one decode step.
pub type Decoded = Result<Option<Frame>, FrameError>;

/// Encodes one frame, length prefix included.
pub fn encode(kind: Kind, id: u64, body: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(HEADER_LEN + body.len());
    encode_into(&mut out, kind, id, body);
    out.freeze()
}

/// Appends one frame, length prefix included, to `out` (a connection's write buffer).
pub fn encode_into(out: &mut BytesMut, kind: Kind, id: u64, body: &[u8]) {
    use bytes::BufMut;
    out.reserve(HEADER_LEN + body.len());
    let len = (ENVELOPE_FIXED + body.len()) as u32;
    out.put_slice(&len.to_le_bytes());
    // Writing into memory cannot fail, and the envelope has no length bound on encode.
    if let Err(e) = bincode::encode_into_std_write(EnvelopeRef { kind, id, body }, &mut BufMut::writer(&mut *out), CFG)
    {
        unreachable!("encoding into memory failed: {e}");
    }
}

/// Takes one frame off the front of `buf` if a whole one is there. `max` bounds the frame
/// size after the length field (envelope + body), checked before any body byte is read.
pub fn decode(buf: &mut BytesMut, max: usize) -> Decoded {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    if len < ENVELOPE_FIXED {
        return Err(FrameError::Malformed(format!("length {len} is below the 20-byte envelope")));
    }
    if buf.len() >= 8 {
        let kind = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]);
        if kind > Kind::Pong as u32 {
            return Err(FrameError::UnknownKind(kind));
        }
    }
    if buf.len() < 4 + len {
        buf.reserve((4 + len - buf.len()).min(GROW_AHEAD));
        return Ok(None);
    }
    buf.advance(4);
    let raw = buf.split_to(len);
    match bincode::decode_from_slice::<Envelope, _>(&raw, CFG) {
        Ok((env, used)) if used == len => Ok(Some(Frame { kind: env.kind, id: env.id, body: Bytes::from(env.body) })),
        Ok((_, used)) => Err(FrameError::Malformed(format!(
            "body length says {} bytes, frame has {}",
            used - ENVELOPE_FIXED,
            len - ENVELOPE_FIXED
        ))),
        Err(DecodeError::UnexpectedVariant { found, .. }) => Err(FrameError::UnknownKind(found)),
        Err(DecodeError::UnexpectedEnd { .. }) => {
            Err(FrameError::Malformed("body length is past the end of the frame".into()))
        }
        Err(e) => Err(FrameError::Malformed(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let f = encode(Kind::Request, 7, b"{}");
        let mut buf = BytesMut::from(&f[..]);
        let got = decode(&mut buf, 1 << 20).unwrap().unwrap();
        assert_eq!(got, Frame { kind: Kind::Request, id: 7, body: Bytes::from_static(b"{}") });
        assert!(buf.is_empty());
    }

    #[test]
    fn partial_is_not_an_error() {
        let f = encode(Kind::Chunk, 1, b"hello");
        for cut in 0..f.len() {
            let mut buf = BytesMut::from(&f[..cut]);
            assert_eq!(decode(&mut buf, 1 << 20), Ok(None), "cut at {cut}");
        }
    }

    #[test]
    fn hostile_length_prefix_is_refused_without_allocating() {
        let mut buf = BytesMut::from(&[0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0][..]);
        assert!(matches!(decode(&mut buf, 1 << 20), Err(FrameError::TooLarge { .. })));
        // a body length far past the frame
        let mut raw = Vec::new();
        raw.extend_from_slice(&30u32.to_le_bytes());
        raw.extend_from_slice(&2u32.to_le_bytes());
        raw.extend_from_slice(&1u64.to_le_bytes());
        raw.extend_from_slice(&(1u64 << 40).to_le_bytes());
        raw.extend_from_slice(&[0u8; 10]);
        let mut buf = BytesMut::from(&raw[..]);
        assert!(matches!(decode(&mut buf, 1 << 20), Err(FrameError::Malformed(_))));
    }

    #[test]
    fn a_claimed_length_grows_the_buffer_only_as_far_as_the_bytes() {
        let max = 16 << 20;
        let mut head = Vec::new();
        head.extend_from_slice(&((max - 4) as u32).to_le_bytes());
        head.extend_from_slice(&2u32.to_le_bytes());
        let mut buf = BytesMut::from(&head[..]);
        assert_eq!(decode(&mut buf, max), Ok(None));
        assert!(buf.capacity() <= head.len() + GROW_AHEAD, "reserved {} bytes", buf.capacity());
    }
}
