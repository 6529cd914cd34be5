//! `[server]`: the socket, the optional loopback TCP listener, size limits, the front's
//! connection limit, timeouts and memory budget (docs/operations.md), the shutdown grace and
//! the state directory, with the default rules for the socket and state paths
//! (DESIGN.md §2, §3). `unknown_callers` is read here and resolved with the callers.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::cache::{SizeFile, size};
use super::context::{Env, ResolveCx};

/// How much the front lets connections hold, and for how long (docs/operations.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrontLimits {
    /// Connections each listener holds at most (default 4096).
    pub max_connections: usize,
    /// A new connection's first byte (default 10 s).
    pub first_byte_timeout: Duration,
    /// A request's headers once started, each gap in its body, a native HELLO (default 10 s).
    pub header_timeout: Duration,
    /// Silence on a connection with nothing in flight (default 60 s).
    pub idle_timeout: Duration,
    /// Request-body and frame bytes held at once, process-wide (default 128 MiB).
    pub max_inflight_body_bytes: usize,
}

impl Default for FrontLimits {
    fn default() -> Self {
        FrontLimits {
            max_connections: 4096,
            first_byte_timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_inflight_body_bytes: 128 << 20,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerFile {
    /// Unix socket path (native protocol and HTTP).
    pub socket: Option<String>,
    /// Optional extra OpenAI-compatible listener on loopback TCP, e.g. "127.0.0.1:8040".
    pub http: Option<String>,
    /// Octal permission bits of the socket file, e.g. "0660".
    pub socket_mode: Option<String>,
    /// Largest HTTP request body accepted (bytes); larger gets 413.
    pub max_body_bytes: Option<usize>,
    /// Largest native-protocol frame accepted (bytes).
    pub max_frame_bytes: Option<usize>,
    /// How long SIGTERM waits for requests in flight before cancelling them.
    pub shutdown_grace: Option<String>,
    /// Connections each listener holds at most; past it, new ones wait in the kernel's backlog.
    pub max_connections: Option<usize>,
    /// How long a new connection may take to send its first byte.
    pub first_byte_timeout: Option<String>,
    /// How long a request's headers (and each gap in its body) may take once it has started;
    /// also how long a native connection may take to send HELLO.
    pub header_timeout: Option<String>,
    /// How long a connection with nothing in flight may stay silent (HTTP keep-alive; a native
    /// connection is sent a PING first).
    pub idle_timeout: Option<String>,
    /// Bytes of request bodies and native frames held at once, over all connections.
    pub max_inflight_body_bytes: Option<SizeFile>,
    /// Directory for persistent state (the disk cache tier).
    pub state_dir: Option<String>,
    /// What a connection that matches no `[callers.*]` gets: "allow" (default) or "deny".
    pub unknown_callers: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub socket: PathBuf,
    pub socket_mode: u32,
    pub http: Option<SocketAddr>,
    pub max_body_bytes: usize,
    pub max_frame_bytes: usize,
    pub shutdown_grace: Duration,
    /// The front's limits and timeouts.
    pub front: FrontLimits,
    /// Persistent state (disk cache tier): `state_dir`, else `$STATE_DIRECTORY`, else
    /// `/var/lib/sidegate` (root) or `$XDG_STATE_HOME/sidegate` / `~/.local/state/sidegate`.
    /// None when none of these can be worked out.
    pub state_dir: Option<PathBuf>,
}

pub(super) fn resolve_server(cx: &mut ResolveCx<'_>, s: &ServerFile) -> ServerSettings {
    let socket = match &s.socket {
        Some(p) if p.is_empty() => {
            cx.err(&["server", "socket"], "must not be empty");
            PathBuf::new()
        }
        Some(p) => PathBuf::from(p),
        None => default_socket(cx.env).unwrap_or_default(),
    };
    let socket_mode = match &s.socket_mode {
        None => 0o660,
        Some(m) => match u32::from_str_radix(m.trim_start_matches("0o"), 8) {
            Ok(v) if v <= 0o777 => v,
            _ => {
                cx.err(&["server", "socket_mode"], format!("`{m}` is not an octal permission like \"0660\""));
                0o660
            }
        },
    };
    let http = s.http.as_deref().and_then(|a| loopback_addr(cx, a));
    let max_body_bytes = s.max_body_bytes.unwrap_or(16 * 1024 * 1024);
    let max_frame_bytes = s.max_frame_bytes.unwrap_or(crate::protocol::DEFAULT_MAX_FRAME);
    if max_frame_bytes < 1024 {
        cx.err(&["server", "max_frame_bytes"], "must be at least 1024");
    }
    let shutdown_grace = cx.duration(&["server", "shutdown_grace"], &s.shutdown_grace, Duration::from_secs(30));
    let front = resolve_front(cx, s, max_body_bytes.max(max_frame_bytes));
    let state_dir = match &s.state_dir {
        Some(p) if !Path::new(p).is_absolute() => {
            cx.err(&["server", "state_dir"], format!("`{p}` is not an absolute path"));
            None
        }
        Some(p) => Some(PathBuf::from(p)),
        None => default_state_dir(cx.env),
    };
    ServerSettings { socket, socket_mode, http, max_body_bytes, max_frame_bytes, shutdown_grace, front, state_dir }
}

/// The front's limits: each timeout above zero, the memory budget at least one largest body
/// or frame (`largest`), else such a request could never be served.
fn resolve_front(cx: &mut ResolveCx<'_>, s: &ServerFile, largest: usize) -> FrontLimits {
    let d = FrontLimits::default();
    let max_connections = s.max_connections.unwrap_or(d.max_connections);
    if max_connections == 0 {
        cx.err(&["server", "max_connections"], "must be at least 1");
    }
    let mut timeout = |key: &str, raw: &Option<String>, default: Duration| {
        let t = cx.duration(&["server", key], raw, default);
        if t.is_zero() {
            cx.err(&["server", key], "must be longer than 0s");
        }
        t
    };
    let first_byte_timeout = timeout("first_byte_timeout", &s.first_byte_timeout, d.first_byte_timeout);
    let header_timeout = timeout("header_timeout", &s.header_timeout, d.header_timeout);
    let idle_timeout = timeout("idle_timeout", &s.idle_timeout, d.idle_timeout);
    let path = ["server", "max_inflight_body_bytes"];
    let budget = size(cx, &path, &s.max_inflight_body_bytes, d.max_inflight_body_bytes as u64);
    let max_inflight_body_bytes =
        usize::try_from(budget).unwrap_or(usize::MAX).min(tokio::sync::Semaphore::MAX_PERMITS);
    if max_inflight_body_bytes < largest {
        cx.err(
            &path,
            format!(
                "{budget} is less than one largest body or frame ({largest} bytes, max_body_bytes / max_frame_bytes)"
            ),
        );
    }
    FrontLimits { max_connections, first_byte_timeout, header_timeout, idle_timeout, max_inflight_body_bytes }
}

/// `server.http`: a loopback address only; the TCP listener is for this host.
fn loopback_addr(cx: &mut ResolveCx<'_>, text: &str) -> Option<SocketAddr> {
    match text.parse::<SocketAddr>() {
        Ok(addr) if addr.ip().is_loopback() => Some(addr),
        Ok(addr) => {
            cx.err(
                &["server", "http"],
                format!("{addr} is not a loopback address; the TCP listener is for this host only"),
            );
            None
        }
        Err(_) => {
            cx.err(&["server", "http"], format!("`{text}` is not an address like \"127.0.0.1:8040\""));
            None
        }
    }
}

/// DESIGN.md §2: `$SIDEGATE_SOCKET`, else `$XDG_RUNTIME_DIR/sidegate/sidegate.sock` for
/// non-root users, `/run/sidegate/sidegate.sock` for root.
pub fn default_socket(env: &dyn Env) -> Option<PathBuf> {
    if let Some(p) = env.var("SIDEGATE_SOCKET") {
        return Some(PathBuf::from(p));
    }
    if env.uid() == 0 {
        return Some(PathBuf::from("/run/sidegate/sidegate.sock"));
    }
    env.var("XDG_RUNTIME_DIR").map(|d| Path::new(&d).join("sidegate").join("sidegate.sock"))
}

/// DESIGN.md §3: `$STATE_DIRECTORY` (systemd; the first when it lists several), else
/// `/var/lib/sidegate` for root, else `$XDG_STATE_HOME/sidegate`, else
/// `~/.local/state/sidegate`.
pub fn default_state_dir(env: &dyn Env) -> Option<PathBuf> {
    if let Some(dirs) = env.var("STATE_DIRECTORY")
        && let Some(first) = dirs.split(':').find(|d| !d.is_empty())
    {
        return Some(PathBuf::from(first));
    }
    if env.uid() == 0 {
        return Some(PathBuf::from("/var/lib/sidegate"));
    }
    if let Some(x) = env.var("XDG_STATE_HOME").filter(|x| Path::new(x).is_absolute()) {
        return Some(Path::new(&x).join("sidegate"));
    }
    env.var("HOME").map(|h| Path::new(&h).join(".local").join("state").join("sidegate"))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    struct NoEnv;

    impl Env for NoEnv {
        fn var(&self, name: &str) -> Option<String> {
            (name == "XDG_RUNTIME_DIR").then(|| "/run/user/1000".to_string())
        }
        fn uid(&self) -> u32 {
            1000
        }
    }

    fn server(extra: &str) -> Result<FrontLimits, Vec<String>> {
        let text = format!("[server]\n{extra}\n[providers.mock]\nkind = \"mock\"\n");
        match super::super::parse(&text, Path::new("t.toml"), &NoEnv) {
            Ok(s) => Ok(s.server.front),
            Err(e) => Err(e.0.iter().map(|e| e.to_string()).collect()),
        }
    }

    #[test]
    fn front_limits_default_and_parse() {
        assert_eq!(server(""), Ok(FrontLimits::default()));
        let got = server(
            "max_connections = 10\nfirst_byte_timeout = \"2s\"\nheader_timeout = \"3s\"\nidle_timeout = \"4m\"\n\
             max_inflight_body_bytes = \"1GiB\"",
        );
        let want = FrontLimits {
            max_connections: 10,
            first_byte_timeout: Duration::from_secs(2),
            header_timeout: Duration::from_secs(3),
            idle_timeout: Duration::from_secs(240),
            max_inflight_body_bytes: 1 << 30,
        };
        assert_eq!(got, Ok(want));
    }

    #[test]
    fn front_limits_that_cannot_work_are_refused() {
        let refused = |extra: &str, says: &str| {
            let errs = server(extra).expect_err(extra);
            assert!(errs.iter().any(|e| e.contains(says)), "{extra}: {errs:?}");
        };
        refused("max_connections = 0", "server.max_connections");
        refused("header_timeout = \"0s\"", "server.header_timeout: must be longer than 0s");
        refused("idle_timeout = \"soon\"", "server.idle_timeout");
        refused("first_byte_timeout = \"0ms\"", "server.first_byte_timeout");
        // a budget smaller than one largest body could never serve it
        refused("max_inflight_body_bytes = \"1MiB\"", "less than one largest body or frame");
        refused("max_inflight_body_bytes = \"lots\"", "is not a size");
        assert!(server("max_body_bytes = 1024\nmax_frame_bytes = 1024\nmax_inflight_body_bytes = 2048").is_ok());
    }
}
