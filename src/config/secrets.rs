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

/// Reads the secret at key `path`: the value, or why it is not there (naming the variable or
/// the file). A secret that cannot be read is recorded as a warning naming the key and the
/// reason, followed by `effect` (what is off without it). A load that skips secrets reads no
/// variable or file and warns about nothing: every env or file secret is simply absent.
pub(super) fn resolve_secret(
    cx: &mut ResolveCx<'_>,
    path: &[&str],
    src: &SecretSource,
    effect: &str,
) -> Result<Secret, String> {
    let value = match src {
        SecretSource::Inline(s) => Ok(Secret::new(s.clone())),
        _ if cx.secrets == Secrets::Skip => return Err("not read (this command reads no secrets)".into()),
        SecretSource::Env { env: var } => {
            cx.env.var(var).map(Secret::new).ok_or_else(|| format!("environment variable `{var}` is not set"))
        }
        SecretSource::File { file } => read_key_file(cx, file),
    };
    match &value {
        Ok(s) => cx.note_secret_value(s.expose()),
        Err(reason) => cx.warn(path, format!("{reason}; {effect}")),
    }
    value
}

fn read_key_file(cx: &mut ResolveCx<'_>, file: &str) -> Result<Secret, String> {
    // systemd LoadCredential= puts keys under $CREDENTIALS_DIRECTORY; a relative path is
    // taken from there when it is set.
    let p = match cx.env.var("CREDENTIALS_DIRECTORY") {
        Some(dir) if Path::new(file).is_relative() => Path::new(&dir).join(file),
        _ => PathBuf::from(file),
    };
    cx.note_secret_file(p.clone());
    match std::fs::read_to_string(&p) {
        Ok(v) if !v.trim().is_empty() => Ok(Secret::new(v.trim().to_string())),
        Ok(_) => Err(format!("key file {} is empty", p.display())),
        Err(e) => Err(format!("cannot read key file {}: {e}", p.display())),
    }
}
