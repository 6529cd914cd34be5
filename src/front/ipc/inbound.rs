//! The read side of a native connection: the bytes buffered so far, the share of the memory
//! budget they hold (counted as they arrive, never by what a length field claims), and a frame
//! the budget could not take, which is skipped to its end so the connection stays in step.

use bytes::{Buf, BytesMut};

use crate::front::budget::{Exhausted, Held, MemoryBudget};
use crate::protocol::{Decoded, HEADER_LEN, Kind, decode};

/// Bytes of a frame head that name its kind and id: length (4) + kind (4) + id (8).
const ID_END: usize = HEADER_LEN - 8;

pub struct Inbound {
    pub buf: BytesMut,
    held: Held,
    /// Bytes still to drop of a frame refused for the budget.
    skip: usize,
    max_frame: usize,
    budget: MemoryBudget,
}

/// A frame the budget could not hold: answered with ERROR when it was a REQUEST.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    pub id: u64,
    pub request: bool,
    pub why: Exhausted,
}

impl Inbound {
    pub fn new(max_frame: usize, budget: MemoryBudget) -> Self {
        Inbound { buf: BytesMut::with_capacity(8 * 1024), held: Held::default(), skip: 0, max_frame, budget }
    }

    /// The next whole frame buffered, with the budget bytes it holds.
    pub fn next_frame(&mut self) -> Result<Option<(crate::protocol::Frame, Held)>, crate::protocol::FrameError> {
        let before = self.buf.len();
        let decoded: Decoded = decode(&mut self.buf, self.max_frame);
        match decoded? {
            Some(frame) => {
                let taken = before - self.buf.len();
                Ok(Some((frame, self.held.split(taken))))
            }
            None => Ok(None),
        }
    }

    /// After a read: drops what is left of a refused frame, then takes budget for the bytes of
    /// the partial frame now buffered. `Err` when the budget cannot take them: that frame is
    /// dropped (what is buffered now, the rest as it arrives).
    pub fn account(&mut self) -> Result<(), Refused> {
        if self.skip > 0 {
            let n = self.skip.min(self.buf.len());
            self.buf.advance(n);
            self.skip -= n;
        }
        let want = self.buf.len().saturating_sub(self.held.bytes());
        let Err(why) = self.budget.grow(&mut self.held, want) else { return Ok(()) };
        // A few head bytes are left unaccounted: they cannot hold much.
        let Some((len, kind, id)) = self.head() else { return Ok(()) };
        if len > self.max_frame || len < HEADER_LEN - 4 || kind > Kind::Pong as u32 {
            return Ok(()); // not a frame: decode refuses it as a protocol error
        }
        self.skip = (4 + len).saturating_sub(self.buf.len());
        let dropped = (4 + len).min(self.buf.len());
        self.buf.advance(dropped);
        self.held.shrink_to(0);
        Err(Refused { id, request: kind == Kind::Request as u32, why })
    }

    /// The length, kind and id of the frame at the front, once its first 16 bytes are here.
    fn head(&self) -> Option<(usize, u32, u64)> {
        let b = self.buf.get(..ID_END)?;
        let len = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
        let kind = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
        let id = u64::from_le_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]]);
        Some((len, kind, id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::encode;

    #[test]
    fn a_frame_the_budget_cannot_hold_is_skipped_and_the_next_one_is_read() {
        let budget = MemoryBudget::new(100);
        let mut inb = Inbound::new(1 << 20, budget.clone());
        let big = encode(Kind::Request, 7, &[b'x'; 300]);
        let small = encode(Kind::Ping, 8, b"hi");
        inb.buf.extend_from_slice(&big[..150]);
        let refused = inb.account().unwrap_err();
        assert_eq!((refused.id, refused.request), (7, true));
        assert!(inb.buf.is_empty());
        assert_eq!(budget.available(), 100);
        // the rest of the refused frame arrives with the next one behind it
        inb.buf.extend_from_slice(&big[150..]);
        inb.buf.extend_from_slice(&small);
        inb.account().unwrap();
        let (frame, held) = inb.next_frame().unwrap().unwrap();
        assert_eq!((frame.kind, frame.id), (Kind::Ping, 8));
        assert_eq!(held.bytes(), small.len());
        drop(held);
        assert_eq!(budget.available(), 100);
        assert!(inb.buf.is_empty() && inb.skip == 0);
    }

    #[test]
    fn a_whole_frame_carries_its_budget_bytes_until_dropped() {
        let budget = MemoryBudget::new(1000);
        let mut inb = Inbound::new(1 << 20, budget.clone());
        let f = encode(Kind::Request, 1, &[b'y'; 100]);
        inb.buf.extend_from_slice(&f);
        inb.account().unwrap();
        let (_, held) = inb.next_frame().unwrap().unwrap();
        assert_eq!(budget.available(), 1000 - f.len());
        drop(held);
        assert_eq!(budget.available(), 1000);
    }
}
