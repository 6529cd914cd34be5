//! systemd integration: readiness, reload and stop notifications (sd_notify), watchdog pings,
//! and socket activation (taking the listening socket from LISTEN_FDS). Outside systemd,
//! every call here is a no-op.

use std::os::fd::{FromRawFd, OwnedFd};
use std::time::Duration;

use sd_notify::NotifyState;

use crate::front::unix::UdsListener;

pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// Before a reload: `RELOADING=1` with the monotonic timestamp systemd wants with it.
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(_) => send(&[NotifyState::Reloading]),
    }
}

pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("draining requests in flight")]);
}

pub fn status(msg: &str) {
    send(&[NotifyState::Status(msg)]);
}

fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "sd_notify failed");
    }
}

/// How often to ping the watchdog (half its timeout), when systemd asked for pings.
pub fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled().map(|d| d / 2)
}

pub fn watchdog_ping() {
    send(&[NotifyState::Watchdog]);
}

/// The listening Unix socket systemd passed (socket activation), if any. Only the first
/// passed fd is used; sidegate.socket passes exactly one.
pub fn adopted_listener() -> std::io::Result<Option<UdsListener>> {
    let mut fds = sd_notify::listen_fds()?;
    let Some(fd) = fds.next() else { return Ok(None) };
    if fds.len() > 0 {
        tracing::warn!(extra = fds.len(), "systemd passed more than one socket; using the first");
    }
    // SAFETY: sd_notify::listen_fds checked LISTEN_PID against our pid, so this fd was opened
    // by systemd for this process and nothing else in the process owns it; we take it once.
    #[allow(unsafe_code)]
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut listener = UdsListener::try_from(owned)?;
    // systemd owns the socket file: never unlink it.
    interprocess::local_socket::traits::tokio::Listener::do_not_reclaim_name_on_drop(&mut listener);
    Ok(Some(listener))
}
