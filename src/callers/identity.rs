//! Who is on the other end. On the Unix socket the kernel says (SO_PEERCRED: pid, uid, gid),
//! and the peer's cgroup names its systemd unit; over TCP a bearer key does. A caller can add
//! an application label, never change who it is.

use std::sync::Arc;

use crate::config::callers::{CallerSettings, Callers, UnknownCallers};
use crate::secret::Secret;

/// A Unix-socket peer, read once per connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Peer {
    pub pid: Option<u32>,
    pub uid: u32,
    pub gid: u32,
    /// The systemd unit the peer process runs in, e.g. `billing.service`.
    pub unit: Option<String>,
}

impl Peer {
    pub fn new(pid: Option<u32>, uid: u32, gid: u32) -> Self {
        let unit = pid
            .and_then(|p| std::fs::read_to_string(format!("/proc/{p}/cgroup")).ok())
            .and_then(|t| unit_from_cgroup(&t));
        Peer { pid, uid, gid, unit }
    }
}

/// How a request's caller was established.
#[derive(Debug, Clone, Default)]
pub enum Credential {
    /// The kernel's word, on the Unix socket (shared by the connection's requests).
    Peer(std::sync::Arc<Peer>),
    /// `Authorization: Bearer <key>` on the TCP listener.
    Bearer(String),
    /// Nothing (TCP without a key).
    #[default]
    Anonymous,
}

/// The caller a request belongs to: a configured one, or unknown (and then allowed only when
/// `unknown_callers = "allow"`).
#[derive(Debug, Clone)]
pub struct Caller {
    pub settings: Option<Arc<CallerSettings>>,
}

impl Caller {
    /// The caller's name for logs, metrics and the ledger.
    pub fn name(&self) -> &str {
        self.settings.as_ref().map_or("unknown", |s| s.name.as_str())
    }
}

/// Matches a credential against the configured callers. The most specific match wins (more
/// of uid, gid, unit given and equal); ties go to the first name in order.
pub fn identify(cred: &Credential, callers: &Callers) -> Result<Caller, String> {
    let found = match cred {
        Credential::Peer(p) => callers
            .by_name
            .values()
            .filter(|c| c.uid.is_some() || c.gid.is_some() || c.unit.is_some())
            .filter(|c| {
                c.uid.is_none_or(|u| u == p.uid)
                    && c.gid.is_none_or(|g| g == p.gid)
                    && c.unit.as_deref().is_none_or(|u| p.unit.as_deref() == Some(u))
            })
            .max_by(|a, b| a.specificity().cmp(&b.specificity()).then_with(|| b.name.cmp(&a.name)))
            .cloned(),
        Credential::Bearer(key) => callers.by_name.values().find(|c| c.keys.iter().any(|k| key_eq(k, key))).cloned(),
        Credential::Anonymous => None,
    };
    match (found, callers.unknown) {
        (Some(s), _) => Ok(Caller { settings: Some(s) }),
        (None, UnknownCallers::Allow) => Ok(Caller { settings: None }),
        (None, UnknownCallers::Deny) => Err(match cred {
            Credential::Peer(p) => format!(
                "no configured caller matches uid {} gid {}{} and unknown callers are denied",
                p.uid,
                p.gid,
                p.unit.as_deref().map(|u| format!(" unit {u}")).unwrap_or_default()
            ),
            Credential::Bearer(_) => {
                "the bearer key matches no configured caller and unknown callers are denied".into()
            }
            Credential::Anonymous => {
                "no credentials (send Authorization: Bearer <key>) and unknown callers are denied".into()
            }
        }),
    }
}

/// Constant-time key comparison (the time taken does not depend on where they differ).
fn key_eq(secret: &Secret, given: &str) -> bool {
    let (a, b) = (secret.expose().as_bytes(), given.as_bytes());
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        diff |= usize::from(a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0xff));
    }
    diff == 0
}

/// The systemd unit in a `/proc/PID/cgroup` text: the innermost `*.service` or `*.scope`
/// path component (cgroup v2 `0::/system.slice/billing.service`, or a v1 `name=systemd` line).
pub fn unit_from_cgroup(text: &str) -> Option<String> {
    let line =
        text.lines().find(|l| l.starts_with("0::")).or_else(|| text.lines().find(|l| l.contains(":name=systemd:")))?;
    let path = line.splitn(3, ':').nth(2)?;
    path.split('/').rev().find(|c| c.ends_with(".service") || c.ends_with(".scope")).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_from_cgroup_fixtures() {
        assert_eq!(unit_from_cgroup("0::/system.slice/billing.service\n").as_deref(), Some("billing.service"));
        assert_eq!(
            unit_from_cgroup("0::/user.slice/user-1000.slice/user@1000.service/app.slice/report.service\n").as_deref(),
            Some("report.service")
        );
        assert_eq!(
            unit_from_cgroup("0::/user.slice/user-1000.slice/session-3.scope\n").as_deref(),
            Some("session-3.scope")
        );
        // cgroup v1 hierarchy
        let v1 = "12:pids:/system.slice/cron.service\n1:name=systemd:/system.slice/cron.service\n";
        assert_eq!(unit_from_cgroup(v1).as_deref(), Some("cron.service"));
        // containers and plain processes: none
        assert_eq!(unit_from_cgroup("0::/\n"), None);
        assert_eq!(unit_from_cgroup(""), None);
    }

    #[test]
    fn constant_time_compare() {
        let s = Secret::new("k-0123456789abcdef");
        assert!(key_eq(&s, "k-0123456789abcdef"));
        assert!(!key_eq(&s, "k-0123456789abcdeg"));
        assert!(!key_eq(&s, "k-0123456789abcde"));
        assert!(!key_eq(&s, ""));
    }
}
