//! Test helpers shared by the dialects' and the adapters' stream tests: an SSE transcript run
//! through the parser and a [`StreamDecoder`], and the event fixtures several test files use.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};

use super::sse::SseParser;
use super::{Flow, StreamDecoder, WireError};
use crate::api::ChatChunk;

/// Runs an SSE transcript through the parser and `decoder`, fed in two pieces cut at byte
/// `cut` (0: whole). Stops at the terminal event or the first error.
pub fn decode(mut decoder: impl StreamDecoder, sse: &str, cut: usize) -> (Vec<ChatChunk>, Option<WireError>) {
    let bytes = sse.as_bytes();
    let mut p = SseParser::default();
    let mut out = Vec::new();
    for piece in [&bytes[..cut], &bytes[cut..]] {
        p.push(piece);
        while let Some(ev) = p.next_event().expect("valid SSE") {
            match decoder.on_event(ev, &mut out) {
                Ok(Flow::More) => {}
                Ok(Flow::Done) => return (out, None),
                Err(e) => return (out, Some(e)),
            }
        }
    }
    let end = decoder.on_end(&mut out).err();
    (out, end)
}

/// One named SSE event (`event:` and `data:` lines), as Anthropic frames its stream.
pub fn named_event(kind: &str, data: Value) -> String {
    format!("event: {kind}\ndata: {data}\n\n")
}

/// An Anthropic `message_start` event (id `msg_2`, model `claude`, 5 input tokens).
pub fn anthropic_start() -> String {
    named_event(
        "message_start",
        json!({"type": "message_start", "message": {"id": "msg_2", "type": "message", "role": "assistant", "content": [],
            "model": "claude", "usage": {"input_tokens": 5, "output_tokens": 1}}}),
    )
}
