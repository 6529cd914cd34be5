//! The config parser and resolver: any text is a snapshot or a list of located errors,
//! never a panic. Secrets are not read (no file named by the input is opened).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sidegate::config::{Env, Secrets, parse_with};

struct NoEnv;

impl Env for NoEnv {
    fn var(&self, _name: &str) -> Option<String> {
        None
    }
    fn uid(&self) -> u32 {
        1000
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Err(errors) = parse_with(text, std::path::Path::new("fuzz.toml"), &NoEnv, Secrets::Skip) {
        assert!(!errors.0.is_empty(), "an error result with no error");
        let _ = errors.to_string();
    }
});
