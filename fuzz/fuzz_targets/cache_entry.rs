//! Cache entries as read back from the disk or Redis tier: arbitrary bytes decode to an
//! entry or an error (never a panic), and a decoded entry encodes back to bytes that decode.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sidegate::cache::entry::Entry;

fuzz_target!(|data: &[u8]| {
    let _ = Entry::peek_expiry(data);
    if let Ok(entry) = Entry::decode(data) {
        let again = entry.encode();
        assert!(Entry::decode(&again).is_ok(), "a decoded entry did not survive its own encoding");
    }
});
