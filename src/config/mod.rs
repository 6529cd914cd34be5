//! Configuration: where the file is, how it is read and checked, and the built-in default.
//!
//! One module per section of the file, each holding its serde type (strict: unknown keys are
//! errors), its resolved settings and its resolve function: `server`, `providers`, `models`,
//! `routes`, `cache`, `shared`, `breaker`, `callers`, `ledger`, `responses`, `prompts`, `experiments` (a route's variants and shadows); `secrets` reads the keys they
//! name. `context` is the leaf they all share (the error and warning collector with
//! file:line:col and key, the `Env` trait); `snapshot` is the whole file and runs the sections
//! in order; `defaults` is the no-file config; `watch` notices changes.

mod breaker;
mod cache;
pub mod callers;
mod context;
mod defaults;
pub mod experiments;
mod ledger;
mod models;
mod prompts;
mod providers;
mod responses;
mod routes;
mod secrets;
mod server;
mod shared;
mod snapshot;
pub mod watch;

use std::path::{Path, PathBuf};

pub use breaker::BreakerSettings;
pub use cache::{CacheSettings, CacheTiers, RouteCache};
pub use context::{ConfigError, ConfigErrors, ConfigWarning, Env, OsEnv, Secrets};
pub(crate) use context::{Locator, syntax_error};
pub use ledger::LedgerSettings;
pub use models::{Limits, ModelSettings};
pub use providers::{HttpSettings, MockSettings, Preset, ProviderKind, ProviderSettings, UpstreamApi};
pub use responses::ResponsesSettings;
pub use routes::{PromptCache, RouteSettings, Strategy, StreamRate, Timing};
pub use server::{FrontLimits, ServerSettings, default_socket};
pub use shared::{FleetSettings, RedisSettings, SharedSettings, TlsFiles};
pub use snapshot::{ConfigSource, Snapshot};

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

/// Loads the config at `path`, reading its secrets. A path the user named must exist; the
/// system default path may be absent, and then the built-in default config is used.
pub fn load(path: &Path, explicit: bool, env: &dyn Env) -> Result<Snapshot, ConfigErrors> {
    load_with(path, explicit, env, Secrets::Read)
}

/// `load`, choosing whether secrets are read (`Secrets::Skip` for commands that only need
/// paths, so they work in a shell without the vendors' keys).
pub fn load_with(path: &Path, explicit: bool, env: &dyn Env, secrets: Secrets) -> Result<Snapshot, ConfigErrors> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_with(&text, path, env, secrets),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            let text = defaults::builtin_toml(env);
            let file = Path::new("<built-in default>");
            resolve_text(&text, file, env, secrets, ConfigSource::BuiltinDefault, "builtin".into())
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

/// Parses and resolves config text, reading its secrets; `path` is only used in error
/// messages and the snapshot.
pub fn parse(text: &str, path: &Path, env: &dyn Env) -> Result<Snapshot, ConfigErrors> {
    parse_with(text, path, env, Secrets::Read)
}

/// `parse`, choosing whether secrets are read.
pub fn parse_with(text: &str, path: &Path, env: &dyn Env, secrets: Secrets) -> Result<Snapshot, ConfigErrors> {
    resolve_text(text, path, env, secrets, ConfigSource::File(path.to_path_buf()), content_hash(text.as_bytes()))
}

/// Parses `text` and resolves it as the config from `source` with that `version`.
fn resolve_text(
    text: &str,
    file: &Path,
    env: &dyn Env,
    secrets: Secrets,
    source: ConfigSource,
    version: String,
) -> Result<Snapshot, ConfigErrors> {
    let raw: snapshot::FileConfig = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(e) => return Err(ConfigErrors(vec![context::syntax_error(text, file, &e)])),
    };
    snapshot::resolve(&raw, snapshot::Input { text, file, env, secrets, source, version })
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
mod secret_tests;
#[cfg(test)]
mod tests;
