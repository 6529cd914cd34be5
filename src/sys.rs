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

/// The open-file limit before and after [`raise_nofile`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NofileLimit {
    /// The soft limit this process started with (None: unlimited).
    pub was: Option<u64>,
    /// The soft limit now.
    pub now: Option<u64>,
    /// The hard limit, the most the soft one may be raised to.
    pub hard: Option<u64>,
}

/// Raises the soft open-file limit to the hard one (each connection is a file descriptor; a
/// soft limit of 1024 is the usual shell default while systemd's hard one is far higher).
/// A failure leaves the limit as it was and is returned for the caller to log.
pub fn raise_nofile() -> (NofileLimit, Option<std::io::Error>) {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let before = getrlimit(Resource::Nofile);
    let limit = |now| NofileLimit { was: before.current, now, hard: before.maximum };
    if before.current == before.maximum {
        return (limit(before.current), None);
    }
    match setrlimit(Resource::Nofile, Rlimit { current: before.maximum, maximum: before.maximum }) {
        Ok(()) => (limit(getrlimit(Resource::Nofile).current), None),
        Err(e) => (limit(before.current), Some(e.into())),
    }
}
