//! `sidegate serve`: binds (or adopts) the listeners, serves, and runs the control loop:
//! reloads (file watch, SIGHUP, `sidegate reload`, a periodic check), watchdog pings, and on
//! SIGTERM/SIGINT a drain: stop accepting, let requests in flight finish within the grace
//! period, cut off the rest (native requests get an ERROR frame), exit 0.
//!
//! A reload parses, validates and builds the new state completely (providers, listeners)
//! before one atomic swap; a config that fails any step is reported and never applied.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{self, OsEnv, ServerSettings, Snapshot};
use crate::control::{ReloadCause, ReloadHandle, ReloadRecord, ReloadRequest, ReloadResult};
use crate::front::unix;
use crate::front::{Ctx, listener};
use crate::router::{Gateway, Live};
use crate::systemd;

/// Quiet time after the last file event before a reload (editors write in bursts).
const DEBOUNCE: Duration = Duration::from_millis(50);
/// Safety net for file systems whose change events never arrive.
const POLL: Duration = Duration::from_secs(10);
/// After the grace period: how long cut-off connections get to send their ERROR frames.
const HARD_STOP_FLUSH: Duration = Duration::from_millis(500);

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("cannot listen on {path}: {source}")]
    Bind { path: String, source: std::io::Error },
    #[error("cannot build providers: {0}")]
    Build(String),
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
    #[error("cannot take the socket systemd passed: {0}")]
    Activation(std::io::Error),
}

/// Where the config came from, so reloads read the same place.
pub struct ConfigOrigin {
    pub path: PathBuf,
    /// The user named the path (then it must exist); else the built-in default may stand in.
    pub explicit: bool,
}

/// A running accept loop and how to stop it.
struct Bound<A> {
    addr: A,
    stop: CancellationToken,
}

pub async fn run(snapshot: Snapshot, origin: ConfigOrigin) -> Result<(), DaemonError> {
    let (watch_tx, mut watch_rx) = mpsc::channel::<()>(1);
    let (mut d, mut reload_rx, mut watch) = Daemon::start(snapshot, origin, &watch_tx).await?;
    let mut signals = Signals::install()?;
    let mut poll = tokio::time::interval_at(Instant::now() + POLL, POLL);
    let watchdog = systemd::watchdog_interval();
    let mut watchdog_tick = tokio::time::interval(watchdog.unwrap_or(Duration::from_secs(3600)));
    let mut debounce_at: Option<Instant> = None;
    d.log_start(&watch);
    systemd::ready("serving");
    loop {
        tokio::select! {
            _ = signals.term.recv() => { tracing::info!("SIGTERM: draining"); break; }
            _ = signals.int.recv() => { tracing::info!("SIGINT: draining"); break; }
            _ = signals.hup.recv() => { let rec = d.reload(ReloadCause::Sighup).await; log_reload(&rec); }
            Some(reply) = reload_rx.recv() => {
                let rec = d.reload(ReloadCause::Admin).await;
                log_reload(&rec);
                let _ = reply.send(rec);
            }
            // A burst of events reloads once, DEBOUNCE after its first event (not after its
            // last: a file rewritten non-stop must still be picked up).
            Some(()) = watch_rx.recv() => { debounce_at.get_or_insert_with(|| Instant::now() + DEBOUNCE); }
            _ = tokio::time::sleep_until(debounce_at.unwrap_or_else(Instant::now)), if debounce_at.is_some() => {
                debounce_at = None;
                let rec = d.reload(ReloadCause::File).await;
                log_reload(&rec);
                if rec.result == ReloadResult::Applied {
                    // Key files may have been added or removed: watch what the new config reads.
                    watch = config::watch::watch(&watch_list(&d.origin, &d.gateway), watch_tx.clone());
                }
            }
            // (a file event waiting out its debounce will reload; the poll leaves it to it)
            _ = poll.tick(), if debounce_at.is_none() => {
                let before = d.gateway.last_reload_errors();
                let rec = d.reload(ReloadCause::Poll).await;
                // The same broken file every 10 s is logged once.
                let new_failure = rec.result == ReloadResult::Failed && before.as_ref() != Some(&rec.errors);
                if rec.result == ReloadResult::Applied || new_failure {
                    log_reload(&rec);
                }
            }
            _ = watchdog_tick.tick(), if watchdog.is_some() => systemd::watchdog_ping(),
        }
    }
    drop(watch);
    d.drain(&mut signals).await;
    Ok(())
}

struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> Result<Self, DaemonError> {
        let s = |k| signal(k).map_err(DaemonError::Signals);
        Ok(Signals {
            term: s(SignalKind::terminate())?,
            int: s(SignalKind::interrupt())?,
            hup: s(SignalKind::hangup())?,
        })
    }
}

/// The running daemon: the gateway, the listeners and where the config comes from.
struct Daemon {
    gateway: Arc<Gateway>,
    cx: Ctx,
    origin: ConfigOrigin,
    activated: bool,
    unix_bound: Bound<PathBuf>,
    tcp_bound: Option<Bound<SocketAddr>>,
}

impl Daemon {
    /// Opens the ledger, builds the providers, binds (or adopts) the listeners and starts
    /// serving on them.
    /// Builds the gateway and starts the listeners. The config files are watched before the
    /// socket is bound: an edit made as soon as the socket answers is seen by the watcher, not
    /// left to the 10 s poll.
    async fn start(
        snapshot: Snapshot,
        origin: ConfigOrigin,
        watch_tx: &mpsc::Sender<()>,
    ) -> Result<(Self, mpsc::Receiver<ReloadRequest>, config::watch::ConfigWatch), DaemonError> {
        let server = snapshot.server.clone();
        let max_connections = connection_limit(&server);
        let ledger = open_ledger(&snapshot);
        let live = Live::build(snapshot, None).map_err(|e| DaemonError::Build(e.to_string()))?;
        let responses = crate::response_store::ResponseStore::open(&live.snapshot.responses);
        let gateway = Arc::new(Gateway::new(live, ledger).with_response_store(responses));
        let (reload, reload_rx) = ReloadHandle::channel();
        let tasks = TaskTracker::new();
        let cx = Ctx {
            gateway: gateway.clone(),
            reload,
            shutdown: CancellationToken::new(),
            tasks: tasks.clone(),
            hard_stop: CancellationToken::new(),
            max_connections,
            budget: crate::front::budget::MemoryBudget::new(server.front.max_inflight_body_bytes),
            pressure: Arc::default(),
        };
        let watch = config::watch::watch(&watch_list(&origin, &gateway), watch_tx.clone());
        // Socket activation: systemd owns the socket; otherwise we bind (and later unlink) it.
        let adopted = systemd::adopted_listener().map_err(DaemonError::Activation)?;
        let activated = adopted.is_some();
        let uds = match adopted {
            Some(l) => l,
            None => bind_unix(&server).await?,
        };
        let unix_bound = Bound { addr: server.socket.clone(), stop: CancellationToken::new() };
        tasks.spawn(listener::serve_unix(uds, cx.clone(), unix_bound.stop.clone()));
        let tcp_bound = match server.http {
            Some(addr) => Some(start_tcp(addr, &cx, &tasks).await?),
            None => None,
        };
        Ok((Daemon { gateway, cx, origin, activated, unix_bound, tcp_bound }, reload_rx, watch))
    }

    fn log_start(&self, watch: &config::watch::ConfigWatch) {
        let snap = &self.gateway.current().snapshot;
        let server = &snap.server;
        let config = match snap.source {
            config::ConfigSource::BuiltinDefault => {
                format!("built-in default ({} not found; it is picked up when created)", self.origin.path.display())
            }
            _ => self.origin.path.display().to_string(),
        };
        tracing::info!(socket = %server.socket.display(), activated = self.activated, http = ?server.http,
            config = %config, watching = ?watch.dirs, "sidegate listening");
    }

    async fn reload(&mut self, cause: ReloadCause) -> ReloadRecord {
        let (rec, moved) = reload_once(cause, &self.origin, &self.gateway, &self.cx).await;
        apply_moves(moved, &mut self.unix_bound, &mut self.tcp_bound);
        rec
    }

    /// Stops accepting, lets requests in flight finish within the grace period, cuts off the
    /// rest, then flushes the disk cache and the ledger.
    async fn drain(self, signals: &mut Signals) {
        systemd::stopping();
        let (cx, tasks) = (&self.cx, &self.cx.tasks);
        cx.shutdown.cancel();
        tasks.close();
        let grace = self.gateway.current().snapshot.server.shutdown_grace;
        tokio::select! {
            _ = tasks.wait() => tracing::info!("all requests finished; exiting"),
            _ = tokio::time::sleep(grace) => {
                tracing::warn!(grace_ms = grace.as_millis() as u64, "grace period over; cutting off the requests still running");
                cx.hard_stop.cancel();
                let _ = tokio::time::timeout(HARD_STOP_FLUSH, tasks.wait()).await;
            }
            _ = signals.term.recv() => tracing::warn!("second signal: exiting now"),
            _ = signals.int.recv() => tracing::warn!("second signal: exiting now"),
        }
        if self.activated {
            // systemd owns the socket file; never unlink it.
            tracing::debug!("leaving the activated socket to systemd");
        }
        // Answers stored in the last moments before the signal reach the disk tier, and usage
        // rows the ledger: a clean stop loses nothing.
        // (flush blocks on the disk writer thread: keep it off the runtime's workers)
        let g = self.gateway.clone();
        let flushed = tokio::task::spawn_blocking(move || g.flush_cache(Duration::from_secs(2))).await.unwrap_or(false);
        if !flushed {
            tracing::warn!("the disk cache did not finish writing within 2 s");
        }
        if let Some(l) = &self.gateway.accounting.ledger {
            l.close();
        }
        let g = self.gateway.clone();
        let _ = tokio::task::spawn_blocking(move || g.responses.flush()).await;
    }
}

/// Raises the soft open-file limit to the hard one (logged), and keeps `max_connections`
/// within it: each listener may hold that many connections, and vendor calls, the cache and
/// the ledger need descriptors too. Past the limit, accept would fail with EMFILE instead.
fn connection_limit(server: &ServerSettings) -> usize {
    /// Descriptors kept for everything but client connections: a quarter of the limit, at
    /// most this many.
    const RESERVED_MAX: u64 = 256;
    let (limit, err) = crate::sys::raise_nofile();
    let show = |v: Option<u64>| v.map_or_else(|| "unlimited".to_string(), |n| n.to_string());
    match err {
        None => {
            tracing::info!(was = %show(limit.was), now = %show(limit.now), hard = %show(limit.hard), "open-file limit")
        }
        Some(e) => tracing::warn!(was = %show(limit.was), hard = %show(limit.hard), error = %e,
            "cannot raise the open-file limit"),
    }
    let configured = server.front.max_connections;
    let Some(soft) = limit.now else { return configured };
    let listeners = if server.http.is_some() { 2 } else { 1 };
    let reserved = (soft / 4).min(RESERVED_MAX);
    let room = usize::try_from(soft.saturating_sub(reserved) / listeners).unwrap_or(usize::MAX).max(1);
    if configured > room {
        tracing::warn!(
            max_connections = configured,
            using = room,
            open_file_limit = soft,
            "server.max_connections is more than the open-file limit allows; using less"
        );
        return room;
    }
    configured
}

fn open_ledger(snapshot: &Snapshot) -> Option<crate::usage::Ledger> {
    let path = snapshot.ledger.path.as_ref()?;
    match crate::usage::Ledger::open(path, snapshot.ledger.retention) {
        Ok(l) => Some(l),
        Err(e) => {
            // Serving beats bookkeeping: go on, loudly, without a ledger.
            tracing::error!(error = %e, "usage ledger unavailable; requests are served but not recorded");
            None
        }
    }
}

async fn bind_unix(server: &ServerSettings) -> Result<unix::UdsListener, DaemonError> {
    if server.socket.as_os_str().is_empty() {
        return Err(DaemonError::Bind {
            path: String::new(),
            source: std::io::Error::other(
                "no socket path: set server.socket or SIDEGATE_SOCKET (XDG_RUNTIME_DIR is not set)",
            ),
        });
    }
    unix::bind(&server.socket, server.socket_mode)
        .await
        .map_err(|source| DaemonError::Bind { path: server.socket.display().to_string(), source })
}

async fn start_tcp(addr: SocketAddr, cx: &Ctx, tasks: &TaskTracker) -> Result<Bound<SocketAddr>, DaemonError> {
    let l = TcpListener::bind(addr).await.map_err(|source| DaemonError::Bind { path: addr.to_string(), source })?;
    let stop = CancellationToken::new();
    tasks.spawn(listener::serve_tcp(l, cx.clone(), stop.clone()));
    Ok(Bound { addr, stop })
}

/// Files whose change may change the config: the config itself and the key files it reads.
fn watch_list(origin: &ConfigOrigin, gateway: &Gateway) -> Vec<PathBuf> {
    let mut files = vec![origin.path.clone()];
    let live = gateway.current();
    files.extend(live.snapshot.secret_files.iter().cloned());
    files.extend(live.snapshot.prompts.dir.iter().cloned());
    files
}

/// Listeners a reload replaced: the new ones already run; the old ones must stop.
#[derive(Default)]
struct Moved {
    unix: Option<Bound<PathBuf>>,
    tcp: Option<Option<Bound<SocketAddr>>>,
}

fn apply_moves(m: Moved, unix_bound: &mut Bound<PathBuf>, tcp_bound: &mut Option<Bound<SocketAddr>>) {
    if let Some(new) = m.unix {
        let old = std::mem::replace(unix_bound, new);
        old.stop.cancel();
        tracing::info!(from = %old.addr.display(), to = %unix_bound.addr.display(), "unix socket moved");
    }
    if let Some(new) = m.tcp {
        if let Some(old) = std::mem::replace(tcp_bound, new) {
            old.stop.cancel();
        }
        tracing::info!(http = ?tcp_bound.as_ref().map(|b| b.addr), "tcp listener changed");
    }
}

/// One reload: read, validate, build, bind what moved, swap. Never applies a bad config.
async fn reload_once(cause: ReloadCause, origin: &ConfigOrigin, gateway: &Gateway, cx: &Ctx) -> (ReloadRecord, Moved) {
    let mut rec = ReloadRecord {
        at: crate::api::ids::unix_now(),
        cause,
        result: ReloadResult::Unchanged,
        errors: Vec::new(),
        restart_needed: Vec::new(),
    };
    let current = gateway.current();
    let snapshot = match config::load(&origin.path, origin.explicit, &OsEnv) {
        Ok(s) => s,
        Err(errors) => {
            rec.result = ReloadResult::Failed;
            rec.errors = errors.0.iter().map(|e| e.to_string()).collect();
            gateway.record_reload(rec.clone());
            return (rec, Moved::default());
        }
    };
    if snapshot.digest == current.snapshot.digest {
        // Only an explicit request (SIGHUP, `sidegate reload`) reports "unchanged"; a file
        // event or a poll that changed nothing leaves the last real result in status.
        if matches!(cause, ReloadCause::Sighup | ReloadCause::Admin) {
            gateway.record_reload(rec.clone());
        }
        return (rec, Moved::default());
    }
    systemd::reloading();
    let result = prepare(snapshot, &current, cx).await;
    match result {
        Ok((live, moved)) => {
            live.snapshot.log_warnings();
            rec.restart_needed = current
                .snapshot
                .shared
                .restart_only_changes(&live.snapshot.shared)
                .into_iter()
                .map(String::from)
                .collect();
            if !rec.restart_needed.is_empty() {
                tracing::warn!(keys = %rec.restart_needed.join(", "),
                    "reload: these settings take effect when the daemon restarts; the running values are kept until then");
            }
            let version = live.snapshot.version.clone();
            gateway.swap(live);
            rec.result = ReloadResult::Applied;
            systemd::ready(&format!("serving config {version}"));
            gateway.record_reload(rec.clone());
            (rec, moved)
        }
        Err(e) => {
            rec.result = ReloadResult::Failed;
            rec.errors = vec![e];
            systemd::ready("serving; last reload failed");
            gateway.record_reload(rec.clone());
            (rec, Moved::default())
        }
    }
}

/// Builds everything the new config needs before anything is swapped. Listeners whose
/// address changed are bound here; if the swap does not happen they are dropped unused.
async fn prepare(snapshot: Snapshot, current: &Live, cx: &Ctx) -> Result<(Live, Moved), String> {
    let tasks = &cx.tasks;
    let old = &current.snapshot.server;
    let new = snapshot.server.clone();
    let live = Live::build(snapshot, Some(current)).map_err(|e| e.to_string())?;
    let mut moved = Moved::default();
    if new.socket != old.socket {
        let l = bind_unix(&new).await.map_err(|e| e.to_string())?;
        let stop = CancellationToken::new();
        tasks.spawn(listener::serve_unix(l, cx.clone(), stop.clone()));
        moved.unix = Some(Bound { addr: new.socket.clone(), stop });
    } else if new.socket_mode != old.socket_mode {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&new.socket, std::fs::Permissions::from_mode(new.socket_mode))
            .map_err(|e| format!("cannot change the socket's mode: {e}"))?;
    }
    if new.http != old.http {
        moved.tcp = Some(match new.http {
            Some(addr) => Some(start_tcp(addr, cx, tasks).await.map_err(|e| e.to_string())?),
            None => None,
        });
    }
    Ok((live, moved))
}

fn log_reload(r: &ReloadRecord) {
    let cause = r.cause.as_str();
    match r.result {
        ReloadResult::Failed => {
            for e in &r.errors {
                tracing::error!(cause, "config rejected, keeping the running one: {e}");
            }
        }
        ReloadResult::Unchanged => tracing::debug!(cause, "config unchanged"),
        ReloadResult::Applied => tracing::info!(cause, result = "applied", "config reload"),
    }
}
