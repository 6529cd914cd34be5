//! Where a secret comes from (`{ env = "VAR" }`, `{ file = "..." }` or the value itself) and
//! reading it. A secret that cannot be read is not a config error: the config stays valid,
//! a warning names the key and the variable or file, and the section that needed it decides
//! what is off without it (a provider is unavailable, a caller key matches nothing).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::context::{ResolveCx, Secrets};
use crate::secret::Secret;

/// Where a secret comes from.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum SecretSource {
    Env { env: String },
    File { file: String },
    Inline(String),
}

/// What reading a secret gave.
pub(super) enum SecretValue {
    Ready(Secret),
    /// Not readable now; the reason names the variable or the file.
    Missing(String),
    /// Not read: the load skips secrets (`Secrets::Skip`).
    Skipped,
}

/// Reads the secret at key `path`. When it cannot be read, records a warning naming the key
/// and the reason, followed by `effect` (what is off without it).
pub(super) fn resolve_secret(cx: &mut ResolveCx<'_>, path: &[&str], src: &SecretSource, effect: &str) -> SecretValue {
    let value = match src {
        SecretSource::Inline(s) => SecretValue::Ready(Secret::new(s.clone())),
        _ if cx.secrets == Secrets::Skip => SecretValue::Skipped,
        SecretSource::Env { env: var } => match cx.env.var(var) {
            Some(v) => SecretValue::Ready(Secret::new(v)),
            None => SecretValue::Missing(format!("environment variable `{var}` is not set")),
        },
        SecretSource::File { file } => read_key_file(cx, file),
    };
    match &value {
        SecretValue::Ready(s) => cx.note_secret_value(s.expose()),
        SecretValue::Missing(reason) => cx.warn(path, format!("{reason}; {effect}")),
        SecretValue::Skipped => {}
    }
    value
}

fn read_key_file(cx: &mut ResolveCx<'_>, file: &str) -> SecretValue {
    // systemd LoadCredential= puts keys under $CREDENTIALS_DIRECTORY; a relative path is
    // taken from there when it is set.
    let p = match cx.env.var("CREDENTIALS_DIRECTORY") {
        Some(dir) if Path::new(file).is_relative() => Path::new(&dir).join(file),
        _ => PathBuf::from(file),
    };
    cx.note_secret_file(p.clone());
    match std::fs::read_to_string(&p) {
        Ok(v) if !v.trim().is_empty() => SecretValue::Ready(Secret::new(v.trim().to_string())),
        Ok(_) => SecretValue::Missing(format!("key file {} is empty", p.display())),
        Err(e) => SecretValue::Missing(format!("cannot read key file {}: {e}", p.display())),
    }
}
