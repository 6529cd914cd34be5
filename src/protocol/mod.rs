//! The native protocol (docs/protocol.md): frame kinds, the envelope codec and the JSON bodies
//! of the control frames. No I/O here; `front::ipc` and `client` do the reading and writing.

pub mod codec;
pub mod messages;

pub use codec::{Decoded, Frame, FrameError, HEADER_LEN, PREFACE, decode, encode, encode_into};

/// Protocol version this build speaks.
pub const VERSION: u32 = 1;

/// Default largest frame, header included (16 MiB).
pub const DEFAULT_MAX_FRAME: usize = 16 * 1024 * 1024;

/// Frame kinds, in wire order (the u32 tag is the variant's position).
#[derive(Debug, Clone, Copy, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub enum Kind {
    Hello,
    Welcome,
    Request,
    Response,
    Chunk,
    End,
    Error,
    Cancel,
    Ping,
    Pong,
}

impl Kind {
    /// Kinds a client may send to the server.
    pub fn client_may_send(self) -> bool {
        matches!(self, Kind::Hello | Kind::Request | Kind::Cancel | Kind::Ping | Kind::Pong)
    }
}
