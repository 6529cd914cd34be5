//! The Anthropic Messages SSE stream decoder over arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sidegate::wire::anthropic::call::{ReplyCtx, StreamState};

fuzz_target!(|data: &[u8]| {
    let json_tool = data.first().is_some_and(|b| b & 1 == 1);
    sidegate_fuzz_stream::run(StreamState::new(ReplyCtx { json_tool }, 0), data);
});

#[path = "stream_common.rs"]
mod sidegate_fuzz_stream;
