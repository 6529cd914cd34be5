//! `[callers.*]`, `[server] unknown_callers` and `[ledger]`: who may call (matched per
//! connection on the kernel's peer credentials, the systemd unit, or a TCP bearer key), which
//! routes they may use, their limits and budgets, and where usage is recorded.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::file::{FileConfig, SecretSource};
use super::resolve::{Ctx, Env, resolve_secret};
use super::snapshot::{ModelSettings, RouteSettings};
use crate::secret::Secret;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallerFile {
    pub uid: Option<u32>,
    pub user: Option<String>,
    pub gid: Option<u32>,
    pub group: Option<String>,
    /// systemd unit of the peer process, e.g. "billing.service".
    pub unit: Option<String>,
    /// Bearer keys for callers on the TCP listener.
    #[serde(default)]
    pub keys: Vec<SecretSource>,
    /// Routes and models this caller may use (globs with `*` and `?`); default: all.
    pub routes: Option<Vec<String>>,
    pub rpm: Option<u32>,
    pub tpm: Option<u64>,
    pub max_concurrent: Option<u32>,
    pub budget: Option<BudgetFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetFile {
    pub usd: f64,
    /// "day" or "month" (UTC calendar periods).
    pub per: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerFile {
    /// Keep records this long (default "90d").
    pub retention: Option<String>,
    /// Record usage at all (default true; needs a state directory).
    pub enabled: Option<bool>,
}

/// Resolved callers.
#[derive(Debug, Clone, Default)]
pub struct Callers {
    pub by_name: BTreeMap<String, Arc<CallerSettings>>,
    pub unknown: UnknownCallers,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UnknownCallers {
    #[default]
    Allow,
    Deny,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetPeriod {
    Day,
    Month,
}

#[derive(Debug, Clone)]
pub struct CallerSettings {
    pub name: String,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub unit: Option<String>,
    pub keys: Vec<Secret>,
    /// None: every route.
    pub routes: Option<Vec<String>>,
    pub rpm: Option<u32>,
    pub tpm: Option<u64>,
    pub max_concurrent: Option<u32>,
    pub budget: Option<(f64, BudgetPeriod)>,
}

impl CallerSettings {
    /// How many selectors (uid, gid, unit) this caller has: more is more specific.
    pub fn specificity(&self) -> usize {
        [self.uid.is_some(), self.gid.is_some(), self.unit.is_some()].iter().filter(|b| **b).count()
    }

    /// Whether this caller may use `name` (a route, model or `provider/model`).
    pub fn allows(&self, name: &str) -> bool {
        self.routes.as_ref().is_none_or(|globs| globs.iter().any(|g| glob_match(g, name)))
    }
}

#[derive(Debug, Clone)]
pub struct LedgerSettings {
    /// None: no ledger (disabled, or no state directory).
    pub path: Option<PathBuf>,
    pub retention: Duration,
}

impl Default for LedgerSettings {
    fn default() -> Self {
        LedgerSettings { path: None, retention: Duration::from_secs(90 * 86_400) }
    }
}

/// `*` matches any run of characters, `?` one character (byte-wise: names are ASCII, and a
/// UTF-8 text only matches a literal pattern byte for byte). No allocation: this runs on
/// every request of a caller with `routes`.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == b'*')
}

pub(super) fn resolve_callers(
    cx: &mut Ctx<'_>,
    raw: &FileConfig,
    routes: &BTreeMap<String, Arc<RouteSettings>>,
    models: &BTreeMap<String, Arc<ModelSettings>>,
    env: &dyn Env,
) -> Callers {
    let unknown = match raw.server.unknown_callers.as_deref() {
        None | Some("allow") => UnknownCallers::Allow,
        Some("deny") => UnknownCallers::Deny,
        Some(other) => {
            cx.err(&["server", "unknown_callers"], format!("`{other}` is neither \"allow\" nor \"deny\""));
            UnknownCallers::Allow
        }
    };
    let mut by_name = BTreeMap::new();
    for (name, c) in &raw.callers {
        let path = |k: &'static str| ["callers", name.as_str(), k];
        let uid = match (&c.uid, &c.user) {
            (Some(_), Some(_)) => {
                cx.err(&path("user"), "give `uid` or `user`, not both");
                None
            }
            (Some(u), None) => Some(*u),
            (None, Some(user)) => match lookup_id(Path::new("/etc/passwd"), user) {
                Some(u) => Some(u),
                None => {
                    cx.err(&path("user"), format!("no user `{user}` in /etc/passwd"));
                    None
                }
            },
            (None, None) => None,
        };
        let gid = match (&c.gid, &c.group) {
            (Some(_), Some(_)) => {
                cx.err(&path("group"), "give `gid` or `group`, not both");
                None
            }
            (Some(g), None) => Some(*g),
            (None, Some(group)) => match lookup_id(Path::new("/etc/group"), group) {
                Some(g) => Some(g),
                None => {
                    cx.err(&path("group"), format!("no group `{group}` in /etc/group"));
                    None
                }
            },
            (None, None) => None,
        };
        let mut keys = Vec::new();
        for (i, k) in c.keys.iter().enumerate() {
            let idx = i.to_string();
            if let Some(s) = resolve_secret(cx, &["callers", name, "keys", &idx], k, env) {
                if s.expose().len() < 16 {
                    cx.err(&["callers", name, "keys", &idx], "a caller key must be at least 16 characters");
                }
                keys.push(s);
            }
        }
        if uid.is_none() && gid.is_none() && c.unit.is_none() && keys.is_empty() && c.uid.is_none() && c.user.is_none()
        {
            cx.err(&["callers", name], "a caller needs at least one of uid, user, gid, group, unit or keys");
        }
        if let Some(globs) = &c.routes {
            for (i, g) in globs.iter().enumerate() {
                let known =
                    g.contains(['*', '?']) || routes.contains_key(g) || models.contains_key(g) || g.contains('/');
                if !known {
                    let idx = i.to_string();
                    cx.err(
                        &["callers", name, "routes", &idx],
                        format!("`{g}` is not a route or model (use a glob like \"gpt-*\" for patterns)"),
                    );
                }
            }
        }
        let budget = c.budget.as_ref().and_then(|b| {
            let per = match b.per.as_str() {
                "day" => BudgetPeriod::Day,
                "month" => BudgetPeriod::Month,
                other => {
                    cx.err(&path("budget"), format!("per = `{other}`: use \"day\" or \"month\""));
                    return None;
                }
            };
            if !(b.usd.is_finite() && b.usd >= 0.0) {
                cx.err(&path("budget"), "usd must be a non-negative number");
                return None;
            }
            Some((b.usd, per))
        });
        if c.max_concurrent == Some(0) || c.rpm == Some(0) || c.tpm == Some(0) {
            cx.err(&["callers", name], "limits must be above 0 (omit a limit to have none)");
        }
        by_name.insert(
            name.clone(),
            Arc::new(CallerSettings {
                name: name.clone(),
                uid,
                gid,
                unit: c.unit.clone(),
                keys,
                routes: c.routes.clone(),
                rpm: c.rpm,
                tpm: c.tpm,
                max_concurrent: c.max_concurrent,
                budget,
            }),
        );
    }
    Callers { by_name, unknown }
}

pub(super) fn resolve_ledger(cx: &mut Ctx<'_>, raw: &LedgerFile, state_dir: Option<&Path>) -> LedgerSettings {
    let d = LedgerSettings::default();
    let retention = cx.duration(&["ledger", "retention"], &raw.retention, d.retention);
    let path = if raw.enabled == Some(false) { None } else { state_dir.map(|s| s.join("usage.sqlite3")) };
    LedgerSettings { path, retention }
}

/// The numeric id of `name` in an /etc/passwd- or /etc/group-style file (`name:x:id:...`).
fn lookup_id(file: &Path, name: &str) -> Option<u32> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let mut f = l.split(':');
        (f.next()? == name).then_some(())?;
        f.nth(1)?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("gpt-*", "gpt-4o-mini"));
        assert!(glob_match("*", "anything"));
        assert!(glob_match("fast", "fast"));
        assert!(!glob_match("fast", "faster"));
        assert!(glob_match("f?st", "fast"));
        assert!(glob_match("*mini", "gpt-4o-mini"));
        assert!(!glob_match("gpt-*", "claude"));
        assert!(glob_match("openai/*", "openai/gpt-4o"));
    }

    #[test]
    fn passwd_lookup() {
        let dir = std::env::temp_dir().join(format!("sg-passwd-{}", std::process::id()));
        std::fs::write(&dir, "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/sh\n").unwrap();
        assert_eq!(lookup_id(&dir, "alice"), Some(1000));
        assert_eq!(lookup_id(&dir, "bob"), None);
        let _ = std::fs::remove_file(dir);
    }
}
