//! `[responses]`: the store of OpenAI Responses answers (`store`, `previous_response_id`,
//! `GET /v1/responses/{id}`): where (`<state_dir>/responses.sqlite3`, else in memory), for how
//! long, and how much.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::context::ResolveCx;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponsesFile {
    /// Keep a stored response this long (default "30d", as OpenAI does).
    pub ttl: Option<String>,
    /// At most this many stored responses (default 10000); the oldest go first.
    pub max_entries: Option<u64>,
    /// At most this many bytes of stored conversations (default 256 MiB); the oldest go first.
    pub max_bytes: Option<u64>,
    /// Store on disk under the state directory (default true; false: in memory only).
    pub persist: Option<bool>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ResponsesSettings {
    /// None: in memory (no state directory, or `persist = false`).
    pub path: Option<PathBuf>,
    pub ttl: Duration,
    pub max_entries: u64,
    pub max_bytes: u64,
}

impl Default for ResponsesSettings {
    fn default() -> Self {
        ResponsesSettings {
            path: None,
            ttl: Duration::from_secs(30 * 86_400),
            max_entries: 10_000,
            max_bytes: 256 << 20,
        }
    }
}

pub(super) fn resolve_responses(
    cx: &mut ResolveCx<'_>,
    raw: &ResponsesFile,
    state_dir: Option<&Path>,
) -> ResponsesSettings {
    let d = ResponsesSettings::default();
    let ttl = cx.duration(&["responses", "ttl"], &raw.ttl, d.ttl);
    if ttl.is_zero() {
        cx.err(&["responses", "ttl"], "must be more than zero (to store nothing, callers send `store: false`)");
    }
    let mut positive = |key: &str, v: Option<u64>, default: u64| match v {
        Some(0) => {
            cx.err(&["responses", key], "must be at least 1");
            default
        }
        Some(n) => n,
        None => default,
    };
    let max_entries = positive("max_entries", raw.max_entries, d.max_entries);
    let max_bytes = positive("max_bytes", raw.max_bytes, d.max_bytes);
    let path = if raw.persist == Some(false) { None } else { state_dir.map(|s| s.join("responses.sqlite3")) };
    ResponsesSettings { path, ttl, max_entries, max_bytes }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::path::Path;

    use crate::config::{Env, parse};

    struct NoEnv;

    impl Env for NoEnv {
        fn var(&self, _: &str) -> Option<String> {
            None
        }
        fn uid(&self) -> u32 {
            1000
        }
    }

    const SERVER: &str = "[server]\nsocket = \"/tmp/sg.sock\"\nstate_dir = \"/var/lib/sg\"\n";

    #[test]
    fn defaults_store_under_the_state_dir_for_thirty_days() {
        let s = parse(SERVER, Path::new("t.toml"), &NoEnv).unwrap().responses;
        assert_eq!(s.path.as_deref(), Some(Path::new("/var/lib/sg/responses.sqlite3")));
        assert_eq!(s.ttl.as_secs(), 30 * 86_400);
        assert_eq!((s.max_entries, s.max_bytes), (10_000, 256 << 20));
    }

    #[test]
    fn keys_are_read_and_checked() {
        let text = format!("{SERVER}[responses]\nttl = \"2h\"\nmax_entries = 5\nmax_bytes = 4096\npersist = false\n");
        let s = parse(&text, Path::new("t.toml"), &NoEnv).unwrap().responses;
        assert_eq!((s.path, s.ttl.as_secs(), s.max_entries, s.max_bytes), (None, 7200, 5, 4096));
        let bad = format!("{SERVER}[responses]\nttl = \"soon\"\nmax_entries = 0\nmax_bytes = 0\nkeep = 1\n");
        let e = parse(&bad, Path::new("t.toml"), &NoEnv).unwrap_err().to_string();
        assert!(e.contains("keep"), "{e}");
        let bad = format!("{SERVER}[responses]\nttl = \"soon\"\nmax_entries = 0\nmax_bytes = 0\n");
        let e: Vec<String> =
            parse(&bad, Path::new("t.toml"), &NoEnv).unwrap_err().0.iter().map(|e| e.to_string()).collect();
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(e.iter().any(|m| m.contains("responses.ttl")), "{e:?}");
        assert!(e.iter().any(|m| m.contains("responses.max_entries")), "{e:?}");
    }
}
