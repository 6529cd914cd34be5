//! What every section's resolve function shares: the environment (`Env`), whether secrets are
//! read (`Secrets`), and the collector (`ResolveCx`) that records every error and warning at
//! its `file:line:col` and key, so a file's problems are all reported at once. A leaf: it
//! knows no section.

mod error;
mod locate;

use std::cell::OnceCell;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use error::{ConfigError, ConfigErrors, ConfigWarning};
pub use locate::Locator;

/// Environment access, so tests pass an in-memory one.
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
    fn uid(&self) -> u32;
}

/// The process environment.
pub struct OsEnv;

impl Env for OsEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
    fn uid(&self) -> u32 {
        crate::sys::uid()
    }
}

/// Whether a load reads the secrets the config names (`{ env = ... }`, `{ file = ... }`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secrets {
    /// Read them: the snapshot can serve. One that cannot be read is a warning.
    Read,
    /// Leave them unread: for commands that only need paths (`usage`, `status`). Such a
    /// snapshot holds no env or file secret: a provider that needs one is unavailable, as
    /// when its key is missing, so the snapshot cannot send a keyless call; nothing warns.
    Skip,
}

/// The collector one resolve run writes into.
pub(super) struct ResolveCx<'a> {
    file: &'a Path,
    text: &'a str,
    /// Built at the first error or warning: a clean file is parsed only once.
    loc: OnceCell<Locator<'a>>,
    pub env: &'a dyn Env,
    pub secrets: Secrets,
    errors: Vec<ConfigError>,
    warnings: Vec<ConfigWarning>,
    /// Key files read, so a reload can watch them.
    secret_files: Vec<PathBuf>,
    /// FNV-1a over every secret's value: a key rotation changes the config's digest.
    secrets_hash: u64,
    /// Every secret-bearing value seen (keys, header values, URL userinfo): never shown in
    /// an error or a warning.
    sensitive: Vec<String>,
}

/// What a resolve run found besides the settings.
pub(super) struct Findings {
    pub errors: Vec<ConfigError>,
    pub warnings: Vec<ConfigWarning>,
    pub secret_files: Vec<PathBuf>,
    pub secrets_hash: u64,
}

impl<'a> ResolveCx<'a> {
    pub fn new(file: &'a Path, text: &'a str, env: &'a dyn Env, secrets: Secrets) -> Self {
        ResolveCx {
            file,
            text,
            loc: OnceCell::new(),
            env,
            secrets,
            errors: Vec::new(),
            warnings: Vec::new(),
            secret_files: Vec::new(),
            secrets_hash: 0xcbf2_9ce4_8422_2325,
            sensitive: Vec::new(),
        }
    }

    fn located(&self, path: &[&str], message: String) -> ConfigError {
        let loc = self.loc.get_or_init(|| Locator::new(self.text));
        let offset = loc.offset_of(path).unwrap_or(0);
        let (line, col) = loc.line_col(offset);
        ConfigError { file: self.file.to_path_buf(), line, col, key: path.join("."), message }
    }

    /// Records an error at the key `path`.
    pub fn err(&mut self, path: &[&str], message: impl Into<String>) {
        let e = self.located(path, message.into());
        self.errors.push(e);
    }

    /// Records errors found in another file (a prompt file), located there.
    pub fn extend_errors(&mut self, errors: impl IntoIterator<Item = ConfigError>) {
        self.errors.extend(errors);
    }

    /// The config file's path (relative paths in it are relative to its directory).
    pub fn file(&self) -> &Path {
        self.file
    }

    /// Records a warning at the key `path`.
    pub fn warn(&mut self, path: &[&str], message: impl Into<String>) {
        let w = self.located(path, message.into());
        self.warnings.push(ConfigWarning(w));
    }

    pub fn duration(&mut self, path: &[&str], raw: &Option<String>, default: Duration) -> Duration {
        match raw {
            None => default,
            Some(s) => match humantime::parse_duration(s) {
                Ok(d) => d,
                Err(e) => {
                    self.err(path, format!("`{s}` is not a duration ({e}); write e.g. \"30s\", \"800ms\", \"2m\""));
                    default
                }
            },
        }
    }

    /// Names are used in `provider/model` requests and metric labels: keep them simple.
    pub fn check_name(&mut self, path: &[&str], name: &str) {
        let ok =
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
        if !ok {
            self.err(path, format!("name `{name}` may only use letters, digits, '-', '_', '.', ':'"));
        }
    }

    /// A key file the config reads (whether or not it could be read now).
    pub fn note_secret_file(&mut self, path: PathBuf) {
        self.secret_files.push(path);
    }

    /// Folds a secret's value into the digest; it is never shown in a message.
    pub fn note_secret_value(&mut self, value: &str) {
        for b in value.bytes().chain([0u8]) {
            self.secrets_hash = (self.secrets_hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.note_sensitive(value);
    }

    /// A value that carries a secret (a header value, a URL's password): never shown in a
    /// message.
    pub fn note_sensitive(&mut self, value: &str) {
        self.sensitive.push(value.to_string());
    }

    /// The findings, every message scrubbed: known secret values, URL userinfo and words
    /// that look like keys (one put by mistake in a field that is not secret) become `***`.
    pub fn finish(self) -> Findings {
        let redactor = crate::secret::Redactor::new(self.sensitive);
        let scrub = |mut e: ConfigError| {
            e.message = crate::secret::scrub_key_like(&redactor.redact(&e.message));
            e
        };
        Findings {
            errors: self.errors.into_iter().map(scrub).collect(),
            warnings: self.warnings.into_iter().map(|w| ConfigWarning(scrub(w.0))).collect(),
            secret_files: self.secret_files,
            secrets_hash: self.secrets_hash,
        }
    }
}

/// The error of a text toml cannot parse at all, located at the failing span.
pub fn syntax_error(text: &str, file: &Path, e: &toml::de::Error) -> ConfigError {
    let loc = Locator::new(text);
    let offset = e.span().map_or(0, |s| s.start);
    let (line, col) = loc.line_col(offset);
    ConfigError {
        file: file.to_path_buf(),
        line,
        col,
        key: loc.path_at(offset),
        // (toml and serde quote the value they could not take, which may be a key)
        message: crate::secret::scrub_key_like(e.message().trim()),
    }
}
