//! The whole file and the whole resolved config: `FileConfig` is every section as written,
//! `resolve` runs each section's resolve in dependency order (providers before the models
//! that name them, models before routes, routes before callers), and `Snapshot` is the result.
//! A `Snapshot` is immutable; a request holds the one it started with.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use super::breaker::{BreakerFile, BreakerSettings, resolve_breaker};
use super::cache::{CacheFile, CacheSettings, TierBacking, resolve_cache};
use super::callers::{CallerFile, Callers, Routable, resolve_callers};
use super::context::{ConfigErrors, ConfigWarning, Env, ResolveCx, Secrets};
use super::experiments::{Experiment, ExperimentRefs, resolve_experiments, routes_with_experiments};
use super::ledger::{LedgerFile, LedgerSettings, resolve_ledger};
use super::models::{ModelFile, ModelSettings, resolve_models};
use super::prompts::{PromptsFile, resolve_prompts};
use super::providers::{ProviderFile, ProviderSettings, resolve_providers};
use super::responses::{ResponsesFile, ResponsesSettings, resolve_responses};
use super::routes::{RouteFile, RouteRefs, RouteSettings, resolve_routes};
use super::server::{ServerFile, ServerSettings, resolve_server};
use super::shared::{SharedFile, SharedSettings, resolve_shared};

/// The config file as written (TOML), strictly: unknown keys are errors. Values that need more
/// than serde to check (durations, references, socket modes) stay raw and are checked by
/// their section's resolve, which knows where each one sits in the file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub server: ServerFile,
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderFile>,
    #[serde(default)]
    pub models: BTreeMap<String, ModelFile>,
    #[serde(default)]
    pub routes: BTreeMap<String, RouteFile>,
    #[serde(default)]
    pub breaker: BreakerFile,
    /// Response-cache sizes (the per-route switch is `routes.NAME.cache`).
    #[serde(default)]
    pub cache: CacheFile,
    /// State shared by a fleet of hosts (the Redis cache tier).
    #[serde(default)]
    pub shared: SharedFile,
    /// Who may call, and how much.
    #[serde(default)]
    pub callers: BTreeMap<String, CallerFile>,
    /// The usage ledger.
    #[serde(default)]
    pub ledger: LedgerFile,
    /// The store of OpenAI Responses answers.
    #[serde(default)]
    pub responses: ResponsesFile,
    /// The prompt files.
    #[serde(default)]
    pub prompts: PromptsFile,
}

#[derive(Debug)]
pub struct Snapshot {
    pub server: ServerSettings,
    pub providers: BTreeMap<String, Arc<ProviderSettings>>,
    pub models: BTreeMap<String, Arc<ModelSettings>>,
    pub routes: BTreeMap<String, Arc<RouteSettings>>,
    pub breaker: BreakerSettings,
    /// Response-cache sizes (`[cache]`).
    pub cache: CacheSettings,
    /// Fleet-wide state (`[shared]`).
    pub shared: SharedSettings,
    pub callers: Callers,
    pub ledger: LedgerSettings,
    /// The Responses store (`[responses]`).
    pub responses: ResponsesSettings,
    /// The prompt files of `[prompts] dir` (empty without one).
    pub prompts: Arc<crate::prompts::Library>,
    /// Each route's experiment (variants, shadows), by route name; most routes have none.
    pub experiments: BTreeMap<String, Arc<Experiment>>,
    /// Where it came from: a file path, or the built-in default.
    pub source: ConfigSource,
    /// Hash of the file's bytes (hex, 16 digits), "builtin" for the default.
    pub version: String,
    /// `version` plus a hash of every secret's value: equal digests mean nothing to reload.
    pub digest: String,
    /// Key files the config reads (watched for changes along with the config itself).
    pub secret_files: Vec<PathBuf>,
    /// What is off in this config though it is valid: secrets that could not be read.
    pub warnings: Vec<ConfigWarning>,
}

impl Snapshot {
    /// Logs each warning once; the daemon calls it for every config it starts serving.
    pub fn log_warnings(&self) {
        for w in &self.warnings {
            tracing::warn!(config = %self.source, key = %w.0.key, "{}", w.0.message);
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    File(PathBuf),
    BuiltinDefault,
}

impl std::fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigSource::File(p) => write!(f, "{}", p.display()),
            ConfigSource::BuiltinDefault => f.write_str("built-in default"),
        }
    }
}

/// Where `resolve` reads from and how.
pub(super) struct Input<'a> {
    /// The file's content (for locations) and its path.
    pub text: &'a str,
    pub file: &'a Path,
    pub env: &'a dyn Env,
    pub secrets: Secrets,
    /// The file, or the built-in default (whose `version` is "builtin").
    pub source: ConfigSource,
    /// The snapshot's `version`: the content hash of a file.
    pub version: String,
}

/// Resolves a parsed file: every section, then every error at once or the snapshot.
pub(super) fn resolve(raw: &FileConfig, input: Input<'_>) -> Result<Snapshot, ConfigErrors> {
    let mut cx = ResolveCx::new(input.file, input.text, input.env, input.secrets);
    let server = resolve_server(&mut cx, &raw.server);
    let cache = resolve_cache(&mut cx, &raw.cache);
    let shared = resolve_shared(&mut cx, &raw.shared);
    let breaker = resolve_breaker(&mut cx, &raw.breaker);
    let providers = resolve_providers(&mut cx, &raw.providers);
    let models = resolve_models(&mut cx, &raw.models, &raw.providers, &providers);
    let tiers = TierBacking { redis: raw.shared.redis.is_some(), state_dir: server.state_dir.is_some() };
    let refs = RouteRefs { raw_models: &raw.models, models: &models, tiers };
    let routes = resolve_routes(&mut cx, &raw.routes, &refs);
    let routable = Routable { routes: &routes, models: &models };
    let callers = resolve_callers(&mut cx, raw.server.unknown_callers.as_deref(), &raw.callers, &routable);
    let ledger = resolve_ledger(&mut cx, &raw.ledger, server.state_dir.as_deref());
    let responses = resolve_responses(&mut cx, &raw.responses, server.state_dir.as_deref());
    let prompts = resolve_prompts(&mut cx, &raw.prompts);
    let experiments = resolve_experiments(
        &mut cx,
        &raw.routes,
        &ExperimentRefs {
            routes: &routes,
            models: &models,
            prompts: &prompts,
            prompts_broken: raw.prompts.dir.is_some() && prompts.dir.is_none(),
            with_experiments: routes_with_experiments(&raw.routes),
        },
    );
    let found = cx.finish();
    if !found.errors.is_empty() {
        return Err(ConfigErrors(found.errors));
    }
    Ok(Snapshot {
        server,
        providers,
        models,
        routes,
        breaker,
        cache,
        shared,
        callers,
        ledger,
        responses,
        source: input.source,
        digest: match prompts.digest.as_str() {
            "" => format!("{}-{:016x}", input.version, found.secrets_hash),
            p => format!("{}-{:016x}-{p}", input.version, found.secrets_hash),
        },
        prompts,
        experiments,
        version: input.version,
        secret_files: found.secret_files,
        warnings: found.warnings,
    })
}
