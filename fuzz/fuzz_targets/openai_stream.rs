//! The OpenAI (and OpenAI-compatible) SSE stream decoder over arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sidegate::wire::openai_chat::StreamState;

fuzz_target!(|data: &[u8]| {
    let first = data.first().copied().unwrap_or(0);
    sidegate_fuzz_stream::run(StreamState { x_groq: first & 1 == 1 }, data);
});

#[path = "stream_common.rs"]
mod sidegate_fuzz_stream;
