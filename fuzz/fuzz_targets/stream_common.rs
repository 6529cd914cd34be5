//! What every stream target does: the bytes through the SSE parser in pieces (the first
//! byte picks their size), each event through the vendor's decoder, then the end of the
//! body, exactly as `providers::http::drive` does. Errors are fine; panics are not.

use sidegate::wire::sse::SseParser;
use sidegate::wire::{Flow, StreamDecoder};

pub fn run<D: StreamDecoder>(mut decoder: D, data: &[u8]) {
    let Some((&step, rest)) = data.split_first() else { return };
    let step = usize::from(step >> 1).max(1);
    let mut parser = SseParser::default();
    let mut out = Vec::new();
    for piece in rest.chunks(step) {
        parser.push(piece);
        loop {
            match parser.next_event() {
                Ok(Some(ev)) => match decoder.on_event(ev, &mut out) {
                    Ok(Flow::More) => {}
                    Ok(Flow::Done) | Err(_) => return,
                },
                Ok(None) => break,
                Err(_) => return,
            }
        }
        out.clear();
    }
    let _ = decoder.on_end(&mut out);
}
