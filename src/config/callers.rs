//! `[callers.*]` and `[server] unknown_callers`: who may call (matched per connection on the
//! kernel's peer credentials, the systemd unit, or a TCP bearer key), which routes they may
//! use, and their limits and budgets. A bearer key whose variable or file cannot be read is a
//! warning; that key matches nothing.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;

use super::context::ResolveCx;
use super::models::ModelSettings;
use super::routes::RouteSettings;
use super::secrets::{SecretSource, resolve_secret};
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

/// What a caller's `routes` globs are checked against.
pub(super) struct Routable<'a> {
    pub routes: &'a BTreeMap<String, Arc<RouteSettings>>,
    pub models: &'a BTreeMap<String, Arc<ModelSettings>>,
}

pub(super) fn resolve_callers(
    cx: &mut ResolveCx<'_>,
    unknown_callers: Option<&str>,
    raw: &BTreeMap<String, CallerFile>,
    routable: &Routable<'_>,
) -> Callers {
    let unknown = match unknown_callers {
        None | Some("allow") => UnknownCallers::Allow,
        Some("deny") => UnknownCallers::Deny,
        Some(other) => {
            cx.err(&["server", "unknown_callers"], format!("`{other}` is neither \"allow\" nor \"deny\""));
            UnknownCallers::Allow
        }
    };
    let by_name = raw.iter().map(|(name, c)| (name.clone(), Arc::new(resolve_caller(cx, name, c, routable)))).collect();
    Callers { by_name, unknown }
}

fn resolve_caller(cx: &mut ResolveCx<'_>, name: &str, c: &CallerFile, routable: &Routable<'_>) -> CallerSettings {
    let uid = resolve_id(cx, name, ("uid", c.uid), ("user", c.user.as_deref()), Path::new("/etc/passwd"));
    let gid = resolve_id(cx, name, ("gid", c.gid), ("group", c.group.as_deref()), Path::new("/etc/group"));
    let keys = resolve_keys(cx, name, &c.keys);
    // Only a caller with no selector written is in error here; a written selector that did
    // not resolve (a user not in /etc/passwd, a key not set) is reported where it is written.
    let written = [c.uid.is_some(), c.user.is_some(), c.gid.is_some(), c.group.is_some(), c.unit.is_some()];
    if !written.contains(&true) && c.keys.is_empty() {
        cx.err(&["callers", name], "a caller needs at least one of uid, user, gid, group, unit or keys");
    }
    check_route_globs(cx, name, c.routes.as_deref().unwrap_or_default(), routable);
    let budget = c.budget.as_ref().and_then(|b| resolve_budget(cx, name, b));
    if c.max_concurrent == Some(0) || c.rpm == Some(0) || c.tpm == Some(0) {
        cx.err(&["callers", name], "limits must be above 0 (omit a limit to have none)");
    }
    CallerSettings {
        name: name.to_string(),
        uid,
        gid,
        unit: c.unit.clone(),
        keys,
        routes: c.routes.clone(),
        rpm: c.rpm,
        tpm: c.tpm,
        max_concurrent: c.max_concurrent,
        budget,
    }
}

/// `uid` or `user` (`gid` or `group`): a number, or a name looked up in `table`.
fn resolve_id(
    cx: &mut ResolveCx<'_>,
    caller: &str,
    (num_key, num): (&str, Option<u32>),
    (name_key, named): (&str, Option<&str>),
    table: &Path,
) -> Option<u32> {
    match (num, named) {
        (Some(_), Some(_)) => {
            cx.err(&["callers", caller, name_key], format!("give `{num_key}` or `{name_key}`, not both"));
            None
        }
        (Some(n), None) => Some(n),
        (None, Some(named)) => {
            let found = lookup_id(table, named);
            if found.is_none() {
                cx.err(&["callers", caller, name_key], format!("no {name_key} `{named}` in {}", table.display()));
            }
            found
        }
        (None, None) => None,
    }
}

/// Bearer keys that could be read; one that cannot is a warning and matches nothing.
fn resolve_keys(cx: &mut ResolveCx<'_>, name: &str, raw: &[SecretSource]) -> Vec<Secret> {
    let mut keys = Vec::new();
    for (i, k) in raw.iter().enumerate() {
        let idx = i.to_string();
        let path = ["callers", name, "keys", &idx];
        if let Ok(s) = resolve_secret(cx, &path, k, "this key matches no request") {
            if s.expose().len() < 16 {
                cx.err(&path, "a caller key must be at least 16 characters");
            }
            keys.push(s);
        }
    }
    keys
}

fn check_route_globs(cx: &mut ResolveCx<'_>, name: &str, globs: &[String], routable: &Routable<'_>) {
    for (i, g) in globs.iter().enumerate() {
        let known = g.contains(['*', '?'])
            || routable.routes.contains_key(g)
            || routable.models.contains_key(g)
            || g.contains('/');
        if !known {
            let idx = i.to_string();
            cx.err(
                &["callers", name, "routes", &idx],
                format!("`{g}` is not a route or model (use a glob like \"gpt-*\" for patterns)"),
            );
        }
    }
}

fn resolve_budget(cx: &mut ResolveCx<'_>, name: &str, b: &BudgetFile) -> Option<(f64, BudgetPeriod)> {
    let per = match b.per.as_str() {
        "day" => BudgetPeriod::Day,
        "month" => BudgetPeriod::Month,
        other => {
            cx.err(&["callers", name, "budget"], format!("per = `{other}`: use \"day\" or \"month\""));
            return None;
        }
    };
    if !(b.usd.is_finite() && b.usd >= 0.0) {
        cx.err(&["callers", name, "budget"], "usd must be a non-negative number");
        return None;
    }
    Some((b.usd, per))
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
