//! Configuration: where the file is, how it is read and checked, and the built-in default.
//!
//! `file` is the TOML as written (strict: unknown keys are errors), `resolve` turns it into a
//! `Snapshot` (every reference followed, every value checked, all errors reported at once with
//! file:line:col and key), `locate` finds those positions, `defaults` is the no-file config.

pub mod callers;
mod defaults;
mod error;
mod file;
mod locate;
mod resolve;
mod snapshot;
pub mod watch;

use std::path::{Path, PathBuf};

pub use error::{ConfigError, ConfigErrors};
pub use resolve::{Env, OsEnv, default_socket};
pub use snapshot::*;

/// Where the config comes from: `--config`, else `$SIDEGATE_CONFIG`, else the system path.
pub fn config_path(cli: Option<&Path>, env: &dyn Env) -> (PathBuf, bool) {
    match cli {
        Some(p) => (p.to_path_buf(), true),
        None => match env.var("SIDEGATE_CONFIG") {
            Some(p) => (PathBuf::from(p), true),
            None => (PathBuf::from("/etc/sidegate/sidegate.toml"), false),
        },
    }
}

/// Loads the config at `path`. A path the user named must exist; the system default path may
/// be absent, and then the built-in default config is used.
pub fn load(path: &Path, explicit: bool, env: &dyn Env) -> Result<Snapshot, ConfigErrors> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text, path, env),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            let text = defaults::builtin_toml(env);
            let mut snap = parse(&text, Path::new("<built-in default>"), env)?;
            snap.source = ConfigSource::BuiltinDefault;
            snap.digest = snap.digest.replacen(&snap.version, "builtin", 1);
            snap.version = "builtin".into();
            Ok(snap)
        }
        Err(e) => Err(ConfigErrors(vec![ConfigError {
            file: path.to_path_buf(),
            line: 0,
            col: 0,
            key: String::new(),
            message: format!("cannot read config: {e}"),
        }])),
    }
}

/// Parses and resolves config text; `path` is only used in error messages and the snapshot.
pub fn parse(text: &str, path: &Path, env: &dyn Env) -> Result<Snapshot, ConfigErrors> {
    let raw: file::FileConfig = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            let loc = locate::Locator::new(text);
            let offset = e.span().map_or(0, |s| s.start);
            let (line, col) = loc.line_col(offset);
            return Err(ConfigErrors(vec![ConfigError {
                file: path.to_path_buf(),
                line,
                col,
                key: loc.path_at(offset),
                message: e.message().trim().to_string(),
            }]));
        }
    };
    resolve::resolve(raw, text, path, env, content_hash(text.as_bytes()))
}

/// FNV-1a over the file's bytes: a stable, short config version for `status` and logs.
fn content_hash(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests;
