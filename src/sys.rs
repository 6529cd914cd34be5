//! Small facts about this process that std does not expose directly.

use std::os::unix::fs::MetadataExt;

/// The effective uid of this process (owner of `/proc/self`); 0 when it cannot be read,
/// which only matters for picking default paths.
pub fn uid() -> u32 {
    std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(0)
}

/// Resident set size of this process in bytes, from `/proc/self/statm`.
pub fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}
