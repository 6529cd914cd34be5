//! The Gemini streamGenerateContent SSE stream decoder over arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sidegate::wire::gemini::call::StreamState;

fuzz_target!(|data: &[u8]| {
    sidegate_fuzz_stream::run(StreamState::new("gemini-fuzz", 0), data);
});

#[path = "stream_common.rs"]
mod sidegate_fuzz_stream;
