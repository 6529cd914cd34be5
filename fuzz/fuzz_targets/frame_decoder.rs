//! The native protocol's frame decoder: arbitrary bytes, fed in pieces of arbitrary sizes
//! (the first byte picks the piece size), never panic and never take more than was given.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use sidegate::protocol::decode;

fuzz_target!(|data: &[u8]| {
    let Some((&step, rest)) = data.split_first() else { return };
    let step = usize::from(step).max(1);
    let mut buf = BytesMut::new();
    for piece in rest.chunks(step) {
        buf.extend_from_slice(piece);
        loop {
            let before = buf.len();
            match decode(&mut buf, 1 << 20) {
                Ok(Some(_frame)) => assert!(buf.len() < before, "a frame took no bytes"),
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});
