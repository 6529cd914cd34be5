//! `[server]`: the socket, the optional loopback TCP listener, size limits, the shutdown grace
//! and the state directory, with the default rules for the socket and state paths
//! (DESIGN.md §2, §3). `unknown_callers` is read here and resolved with the callers.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::context::{Env, ResolveCx};

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
    let state_dir = match &s.state_dir {
        Some(p) if !Path::new(p).is_absolute() => {
            cx.err(&["server", "state_dir"], format!("`{p}` is not an absolute path"));
            None
        }
        Some(p) => Some(PathBuf::from(p)),
        None => default_state_dir(cx.env),
    };
    ServerSettings { socket, socket_mode, http, max_body_bytes, max_frame_bytes, shutdown_grace, state_dir }
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
