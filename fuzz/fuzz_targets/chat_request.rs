//! Chat request decoding: any bytes either fail to parse or give a request that every
//! vendor translation takes or refuses with an error (no panic), and that serializes back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sidegate::api::ChatRequest;
use sidegate::wire::anthropic::call::Options;

fuzz_target!(|data: &[u8]| {
    let Ok(req) = serde_json::from_slice::<ChatRequest>(data) else { return };
    let _ = serde_json::to_vec(&req);
    let _ = req.is_stream();
    let _ = req.prompt_chars();
    if let Ok((wire, _ctx)) = sidegate::wire::anthropic::call::to_wire(&req, "claude-fuzz", false, &Options::default())
    {
        let _ = serde_json::to_vec(&wire);
    }
    if let Ok(wire) = sidegate::wire::gemini::call::to_wire(&req) {
        let _ = serde_json::to_vec(&wire);
    }
});
