//! The OpenAI Responses SSE stream decoder over arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sidegate::wire::openai_responses::stream_in::ChunkReader;

fuzz_target!(|data: &[u8]| {
    sidegate_fuzz_stream::run(ChunkReader::default(), data);
});

#[path = "stream_common.rs"]
mod sidegate_fuzz_stream;
