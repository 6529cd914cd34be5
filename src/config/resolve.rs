//! Raw file model -> resolved `Snapshot`. Collects every error at once (not just the first),
//! each located at its key. Reads the environment only through the `Env` trait.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::error::{ConfigError, ConfigErrors};
use super::file::*;
use super::locate::Locator;
use super::snapshot::*;
use crate::secret::Secret;

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

pub(super) struct Ctx<'a> {
    file: &'a Path,
    loc: &'a Locator<'a>,
    errors: Vec<ConfigError>,
    /// Key files read, so a reload can watch them.
    secret_files: Vec<PathBuf>,
    /// FNV-1a over every secret's value: a key rotation changes the config's digest.
    secrets_hash: u64,
}

impl Ctx<'_> {
    pub(super) fn err(&mut self, path: &[&str], message: impl Into<String>) {
        let offset = self.loc.offset_of(path).unwrap_or(0);
        let (line, col) = self.loc.line_col(offset);
        self.errors.push(ConfigError {
            file: self.file.to_path_buf(),
            line,
            col,
            key: path.join("."),
            message: message.into(),
        });
    }

    pub(super) fn duration(&mut self, path: &[&str], raw: &Option<String>, default: Duration) -> Duration {
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
}

/// Resolves a parsed file. `text` is the file's content (for locations), `file` its path.
pub fn resolve(
    raw: FileConfig,
    text: &str,
    file: &Path,
    env: &dyn Env,
    version: String,
) -> Result<Snapshot, ConfigErrors> {
    let loc = Locator::new(text);
    let mut cx =
        Ctx { file, loc: &loc, errors: Vec::new(), secret_files: Vec::new(), secrets_hash: 0xcbf2_9ce4_8422_2325 };

    let server = resolve_server(&mut cx, &raw.server, env);
    let (cache, shared) = resolve_cache(&mut cx, &raw, &server, env);
    let breaker = resolve_breaker(&mut cx, &raw.breaker);

    let mut providers = BTreeMap::new();
    for (name, p) in &raw.providers {
        check_name(&mut cx, &["providers", name], name);
        if let Some(ps) = resolve_provider(&mut cx, name, p, env) {
            providers.insert(name.clone(), Arc::new(ps));
        }
    }

    let mut models = BTreeMap::new();
    for (name, m) in &raw.models {
        check_name(&mut cx, &["models", name], name);
        let Some(provider) = providers.get(&m.provider) else {
            if !raw.providers.contains_key(&m.provider) {
                let known = raw.providers.keys().cloned().collect::<Vec<_>>().join(", ");
                cx.err(&["models", name, "provider"], format!("unknown provider `{}` (known: {known})", m.provider));
            }
            continue;
        };
        if m.model.is_empty() {
            cx.err(&["models", name, "model"], "must not be empty");
        }
        if let Some(price) = &m.price
            && !(price.input >= 0.0 && price.output >= 0.0)
        {
            cx.err(&["models", name, "price"], "prices must be non-negative numbers (USD per 1M tokens)");
        }
        for (i, cap) in m.capabilities.iter().enumerate() {
            if !matches!(cap.as_str(), "tools" | "vision" | "json" | "streaming" | "embeddings") {
                let idx = i.to_string();
                cx.err(
                    &["models", name, "capabilities", &idx],
                    format!("unknown capability `{cap}` (known: tools, vision, json, streaming, embeddings)"),
                );
            }
        }
        models.insert(
            name.clone(),
            Arc::new(ModelSettings {
                name: name.clone(),
                provider: provider.clone(),
                vendor_model: m.model.clone(),
                context_window: m.context_window,
                price: m.price.as_ref().map(|p| (p.input, p.output)),
                capabilities: m.capabilities.clone(),
                region: m.region.clone().or_else(|| provider.region.clone()),
                limits: Limits { max_concurrent: m.max_concurrent, rpm: m.rpm, tpm: m.tpm },
            }),
        );
    }

    let mut routes = BTreeMap::new();
    for (name, r) in &raw.routes {
        check_name(&mut cx, &["routes", name], name);
        if raw.models.contains_key(name) {
            cx.err(
                &["routes", name],
                format!("`{name}` is both a route and a model; a request for it would be ambiguous"),
            );
        }
        if let Some(route) = resolve_route(&mut cx, name, r, &raw, &models) {
            routes.insert(name.clone(), Arc::new(route));
        }
    }

    let callers = super::callers::resolve_callers(&mut cx, &raw, &routes, &models, env);
    let ledger = super::callers::resolve_ledger(&mut cx, &raw.ledger, server.state_dir.as_deref());
    if cx.errors.is_empty() {
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
            source: ConfigSource::File(file.to_path_buf()),
            digest: format!("{version}-{:016x}", cx.secrets_hash),
            version,
            secret_files: cx.secret_files,
        })
    } else {
        Err(ConfigErrors(cx.errors))
    }
}

fn resolve_breaker(cx: &mut Ctx<'_>, b: &BreakerFile) -> BreakerSettings {
    let d = BreakerSettings::default();
    let out = BreakerSettings {
        consecutive: b.consecutive_failures.unwrap_or(d.consecutive),
        failure_rate: b.failure_rate.unwrap_or(d.failure_rate),
        min_requests: b.min_requests.unwrap_or(d.min_requests),
        window: cx.duration(&["breaker", "window"], &b.window, d.window),
        open_base: cx.duration(&["breaker", "open_for"], &b.open_for, d.open_base),
        open_max: cx.duration(&["breaker", "max_open"], &b.max_open, d.open_max),
        account_open: cx.duration(&["breaker", "account_open_for"], &b.account_open_for, d.account_open),
    };
    if out.consecutive == 0 {
        cx.err(&["breaker", "consecutive_failures"], "must be at least 1");
    }
    if out.failure_rate.is_nan() || out.failure_rate <= 0.0 {
        cx.err(&["breaker", "failure_rate"], "must be above 0 (above 1 turns the rate trigger off)");
    }
    if out.window < Duration::from_millis(100) {
        cx.err(&["breaker", "window"], "must be at least 100ms");
    }
    if out.open_max < out.open_base {
        cx.err(&["breaker", "max_open"], "must not be shorter than `open_for`");
    }
    out
}

/// Names are used in `provider/model` requests and metric labels: keep them simple.
fn check_name(cx: &mut Ctx<'_>, path: &[&str], name: &str) {
    let ok = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    if !ok {
        cx.err(path, format!("name `{name}` may only use letters, digits, '-', '_', '.', ':'"));
    }
}

fn resolve_server(cx: &mut Ctx<'_>, s: &ServerFile, env: &dyn Env) -> ServerSettings {
    let socket = match &s.socket {
        Some(p) if p.is_empty() => {
            cx.err(&["server", "socket"], "must not be empty");
            PathBuf::new()
        }
        Some(p) => PathBuf::from(p),
        None => default_socket(env).unwrap_or_default(),
    };
    let socket_mode = match &s.socket_mode {
        None => 0o660,
        Some(m) => match u32::from_str_radix(m.trim_start_matches("0o"), 8) {
            Ok(v) if v <= 0o777 => v,
            _ => {
                cx.err(&["server", "socket_mode"], format!("`{m}` is not an octal permission like \"0660\""));
                0o660
            }
        },
    };
    let http = match &s.http {
        None => None,
        Some(a) => match a.parse::<SocketAddr>() {
            Ok(addr) if addr.ip().is_loopback() => Some(addr),
            Ok(addr) => {
                cx.err(
                    &["server", "http"],
                    format!("{addr} is not a loopback address; the TCP listener is for this host only"),
                );
                None
            }
            Err(_) => {
                cx.err(&["server", "http"], format!("`{a}` is not an address like \"127.0.0.1:8040\""));
                None
            }
        },
    };
    let max_body_bytes = s.max_body_bytes.unwrap_or(16 * 1024 * 1024);
    let max_frame_bytes = s.max_frame_bytes.unwrap_or(crate::protocol::DEFAULT_MAX_FRAME);
    if max_frame_bytes < 1024 {
        cx.err(&["server", "max_frame_bytes"], "must be at least 1024");
    }
    let shutdown_grace = cx.duration(&["server", "shutdown_grace"], &s.shutdown_grace, Duration::from_secs(30));
    let state_dir = match &s.state_dir {
        Some(p) if !Path::new(p).is_absolute() => {
            cx.err(&["server", "state_dir"], format!("`{p}` is not an absolute path"));
            None
        }
        Some(p) => Some(PathBuf::from(p)),
        None => default_state_dir(env),
    };
    ServerSettings { socket, socket_mode, http, max_body_bytes, max_frame_bytes, shutdown_grace, state_dir }
}

/// DESIGN.md §2: `$SIDEGATE_SOCKET`, else `$XDG_RUNTIME_DIR/sidegate/sidegate.sock` for
/// non-root users, `/run/sidegate/sidegate.sock` for root.
pub fn default_socket(env: &dyn Env) -> Option<PathBuf> {
    if let Some(p) = env.var("SIDEGATE_SOCKET") {
        return Some(PathBuf::from(p));
    }
    if env.uid() == 0 {
        return Some(PathBuf::from("/run/sidegate/sidegate.sock"));
    }
    env.var("XDG_RUNTIME_DIR").map(|d| Path::new(&d).join("sidegate").join("sidegate.sock"))
}

pub(super) fn resolve_secret(cx: &mut Ctx<'_>, path: &[&str], src: &SecretSource, env: &dyn Env) -> Option<Secret> {
    let secret = read_secret(cx, path, src, env);
    if let Some(s) = &secret {
        for b in s.expose().bytes().chain([0u8]) {
            cx.secrets_hash = (cx.secrets_hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    secret
}

fn read_secret(cx: &mut Ctx<'_>, path: &[&str], src: &SecretSource, env: &dyn Env) -> Option<Secret> {
    match src {
        SecretSource::Inline(s) => Some(Secret::new(s.clone())),
        SecretSource::Env { env: var } => match env.var(var) {
            Some(v) => Some(Secret::new(v)),
            None => {
                cx.err(path, format!("environment variable `{var}` is not set"));
                None
            }
        },
        SecretSource::File { file } => {
            // systemd LoadCredential= puts keys under $CREDENTIALS_DIRECTORY; a relative
            // path is taken from there when it is set.
            let p = match env.var("CREDENTIALS_DIRECTORY") {
                Some(dir) if Path::new(file).is_relative() => Path::new(&dir).join(file),
                _ => PathBuf::from(file),
            };
            cx.secret_files.push(p.clone());
            match std::fs::read_to_string(&p) {
                Ok(v) if !v.trim().is_empty() => Some(Secret::new(v.trim().to_string())),
                Ok(_) => {
                    cx.err(path, format!("key file {} is empty", p.display()));
                    None
                }
                Err(e) => {
                    cx.err(path, format!("cannot read key file {}: {e}", p.display()));
                    None
                }
            }
        }
    }
}

fn resolve_provider(cx: &mut Ctx<'_>, name: &str, p: &ProviderFile, env: &dyn Env) -> Option<ProviderSettings> {
    let (kind, region) = match p {
        ProviderFile::Openai(h) => (ProviderKind::OpenAi, h.region.clone()),
        ProviderFile::OpenaiCompatible(h) => (ProviderKind::OpenAiCompatible, h.region.clone()),
        ProviderFile::Azure(h) => (ProviderKind::Azure, h.region.clone()),
        ProviderFile::Anthropic(h) => (ProviderKind::Anthropic, h.region.clone()),
        ProviderFile::Gemini(h) => (ProviderKind::Gemini, h.region.clone()),
        ProviderFile::Mock(m) => (ProviderKind::Mock, m.region.clone()),
    };
    let mut out = ProviderSettings { name: name.to_string(), kind, region, http: None, mock: None };
    match p {
        ProviderFile::Openai(h)
        | ProviderFile::OpenaiCompatible(h)
        | ProviderFile::Azure(h)
        | ProviderFile::Anthropic(h)
        | ProviderFile::Gemini(h) => {
            out.http = Some(resolve_http(cx, name, kind, h, env)?);
        }
        ProviderFile::Mock(m) => {
            let failure_rate = m.failure_rate.unwrap_or(0.0);
            if !(0.0..=1.0).contains(&failure_rate) {
                cx.err(&["providers", name, "failure_rate"], "must be between 0 and 1");
            }
            out.mock = Some(MockSettings {
                reply: m.reply.clone().filter(|r| r != "echo"),
                latency: cx.duration(&["providers", name, "latency"], &m.latency, Duration::ZERO),
                token_interval: cx.duration(&["providers", name, "token_interval"], &m.token_interval, Duration::ZERO),
                tokens: m.tokens.unwrap_or(0),
                failure_rate,
            });
        }
    }
    Some(out)
}

/// The settings of a vendor reached over HTTP. Keys that belong to another kind are errors.
fn resolve_http(
    cx: &mut Ctx<'_>,
    name: &str,
    kind: ProviderKind,
    h: &HttpProviderFile,
    env: &dyn Env,
) -> Option<HttpSettings> {
    let only = |cx: &mut Ctx<'_>, key: &str, set: bool, for_kind: ProviderKind| {
        if set && kind != for_kind {
            cx.err(
                &["providers", name, key],
                format!("`{key}` only applies to kind = \"{}\", not \"{}\"", for_kind.as_str(), kind.as_str()),
            );
        }
    };
    only(cx, "preset", h.preset.is_some(), ProviderKind::OpenAiCompatible);
    only(cx, "api_version", h.api_version.is_some(), ProviderKind::Azure);
    only(cx, "default_max_tokens", h.default_max_tokens.is_some(), ProviderKind::Anthropic);
    let preset = match h.preset.as_deref() {
        Some(p) if kind == ProviderKind::OpenAiCompatible => match Preset::parse(p) {
            Some(preset) => Some(preset),
            None => {
                let known = Preset::ALL.map(Preset::as_str).join(", ");
                cx.err(&["providers", name, "preset"], format!("unknown preset `{p}` (known: {known})"));
                None
            }
        },
        _ => None,
    };
    if h.default_max_tokens == Some(0) {
        cx.err(&["providers", name, "default_max_tokens"], "must be at least 1");
    }
    if let Some(v) = &h.api_version
        && (v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
    {
        cx.err(&["providers", name, "api_version"], format!("`{v}` is not an api-version like \"2024-10-21\""));
    }
    let default_url = match kind {
        ProviderKind::OpenAi => Some("https://api.openai.com/v1"),
        ProviderKind::Anthropic => Some("https://api.anthropic.com"),
        ProviderKind::Gemini => Some("https://generativelanguage.googleapis.com"),
        ProviderKind::OpenAiCompatible => preset.and_then(Preset::default_base_url),
        ProviderKind::Azure | ProviderKind::Mock => None,
    };
    let base_url = match (&h.base_url, default_url) {
        (Some(u), _) => u.trim_end_matches('/').to_string(),
        (None, Some(d)) => d.to_string(),
        (None, None) => {
            let example = match kind {
                ProviderKind::Azure => "\"https://my-resource.openai.azure.com\"",
                _ => "\"http://127.0.0.1:8000/v1\"",
            };
            cx.err(&["providers", name], format!("a {} provider needs `base_url` (e.g. {example})", kind.as_str()));
            return None;
        }
    };
    if !(base_url.starts_with("http://") || base_url.starts_with("https://")) || reqwest::Url::parse(&base_url).is_err()
    {
        cx.err(&["providers", name, "base_url"], format!("`{base_url}` is not an http(s) URL"));
    }
    let key_required = match kind {
        ProviderKind::OpenAi | ProviderKind::Azure | ProviderKind::Anthropic | ProviderKind::Gemini => true,
        ProviderKind::OpenAiCompatible => preset.is_some_and(Preset::needs_key),
        ProviderKind::Mock => false,
    };
    let api_key = match &h.api_key {
        Some(src) => resolve_secret(cx, &["providers", name, "api_key"], src, env),
        None if key_required => {
            let var = match kind {
                ProviderKind::Anthropic => "ANTHROPIC_API_KEY",
                ProviderKind::Gemini => "GEMINI_API_KEY",
                ProviderKind::Azure => "AZURE_OPENAI_API_KEY",
                _ => "OPENAI_API_KEY",
            };
            let what = preset.map_or(kind.as_str(), Preset::as_str);
            cx.err(&["providers", name], format!("a {what} provider needs `api_key` (e.g. {{ env = \"{var}\" }})"));
            None
        }
        None => None,
    };
    for k in h.headers.keys() {
        if reqwest::header::HeaderName::from_bytes(k.as_bytes()).is_err() {
            cx.err(&["providers", name, "headers", k], format!("`{k}` is not a valid header name"));
        }
    }
    let connect_timeout =
        cx.duration(&["providers", name, "connect_timeout"], &h.connect_timeout, Duration::from_secs(5));
    let headers = h.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    Some(HttpSettings {
        base_url,
        api_key,
        headers,
        connect_timeout,
        preset,
        api_version: h.api_version.clone(),
        default_max_tokens: h.default_max_tokens,
    })
}

fn resolve_route(
    cx: &mut Ctx<'_>,
    name: &str,
    r: &RouteFile,
    raw: &FileConfig,
    models: &BTreeMap<String, Arc<ModelSettings>>,
) -> Option<RouteSettings> {
    let strategy = match r.strategy.as_deref() {
        None | Some("fallback") => Strategy::Fallback,
        Some("weighted") => Strategy::Weighted,
        Some("least-latency") => Strategy::LeastLatency,
        Some("cheapest") => Strategy::Cheapest,
        Some(other) => {
            cx.err(
                &["routes", name, "strategy"],
                format!("unknown strategy `{other}` (known: fallback, weighted, least-latency, cheapest)"),
            );
            Strategy::Fallback
        }
    };
    let weights = match (&r.weights, strategy) {
        (Some(w), Strategy::Weighted) if w.len() != r.targets.len() => {
            cx.err(
                &["routes", name, "weights"],
                format!("{} weights for {} targets; give one weight per target", w.len(), r.targets.len()),
            );
            Vec::new()
        }
        (Some(w), Strategy::Weighted) if w.iter().all(|x| *x == 0) => {
            cx.err(&["routes", name, "weights"], "at least one weight must be above 0");
            Vec::new()
        }
        (Some(w), Strategy::Weighted) => w.clone(),
        (None, Strategy::Weighted) => vec![1; r.targets.len()],
        (Some(_), _) => {
            cx.err(&["routes", name, "weights"], "weights only apply to strategy = \"weighted\"");
            Vec::new()
        }
        (None, _) => Vec::new(),
    };
    if r.targets.is_empty() {
        cx.err(&["routes", name, "targets"], "a route needs at least one target");
    }
    let mut targets = Vec::new();
    for (i, t) in r.targets.iter().enumerate() {
        match models.get(t) {
            Some(m) => targets.push(m.clone()),
            None if raw.models.contains_key(t) => {} // the model itself is in error; reported there
            None => {
                let known = raw.models.keys().cloned().collect::<Vec<_>>().join(", ");
                let idx = i.to_string();
                cx.err(&["routes", name, "targets", &idx], format!("unknown model `{t}` (known: {known})"));
            }
        }
    }
    let d = Timing::default();
    let timeout = cx.duration(&["routes", name, "timeout"], &r.timeout, d.timeout);
    let attempt_timeout =
        cx.duration(&["routes", name, "attempt_timeout"], &r.attempt_timeout, d.attempt_timeout.min(timeout));
    let first_token_timeout = cx.duration(
        &["routes", name, "first_token_timeout"],
        &r.first_token_timeout,
        d.first_token_timeout.min(attempt_timeout),
    );
    if attempt_timeout > timeout {
        cx.err(&["routes", name, "attempt_timeout"], "must not be longer than the route's `timeout`");
    }
    let stream_idle_timeout =
        cx.duration(&["routes", name, "stream_idle_timeout"], &r.stream_idle_timeout, d.stream_idle_timeout);
    let hedge_after =
        r.hedge_after.as_ref().map(|_| cx.duration(&["routes", name, "hedge_after"], &r.hedge_after, Duration::ZERO));
    if hedge_after.is_some_and(|h| h >= timeout) {
        cx.err(&["routes", name, "hedge_after"], "must be shorter than the route's `timeout`");
    }
    let cache = resolve_route_cache(cx, name, r.cache.as_ref(), raw.shared.redis.is_some());
    let regions = r.regions.clone().unwrap_or_default();
    if r.regions.as_ref().is_some_and(Vec::is_empty) {
        cx.err(&["routes", name, "regions"], "an empty list would exclude every target; omit the key instead");
    }
    Some(RouteSettings {
        name: name.to_string(),
        strategy,
        targets,
        weights,
        regions,
        timing: Timing { timeout, attempt_timeout, first_token_timeout, stream_idle_timeout, hedge_after },
        cache,
    })
}

// === response cache ===

/// DESIGN.md §3: `$STATE_DIRECTORY` (systemd; the first when it lists several), else
/// `/var/lib/sidegate` for root, else `$XDG_STATE_HOME/sidegate`, else
/// `~/.local/state/sidegate`.
pub fn default_state_dir(env: &dyn Env) -> Option<PathBuf> {
    if let Some(dirs) = env.var("STATE_DIRECTORY")
        && let Some(first) = dirs.split(':').find(|d| !d.is_empty())
    {
        return Some(PathBuf::from(first));
    }
    if env.uid() == 0 {
        return Some(PathBuf::from("/var/lib/sidegate"));
    }
    if let Some(x) = env.var("XDG_STATE_HOME").filter(|x| Path::new(x).is_absolute()) {
        return Some(Path::new(&x).join("sidegate"));
    }
    env.var("HOME").map(|h| Path::new(&h).join(".local").join("state").join("sidegate"))
}

/// `[cache]` sizes and `[shared]`; also checks that routes naming the disk tier have a state
/// directory to put it in.
fn resolve_cache(
    cx: &mut Ctx<'_>,
    raw: &FileConfig,
    server: &ServerSettings,
    env: &dyn Env,
) -> (CacheSettings, SharedSettings) {
    let d = CacheSettings::default();
    let max_memory = size(cx, &["cache", "max_memory"], &raw.cache.max_memory, d.max_memory);
    let max_disk = size(cx, &["cache", "max_disk"], &raw.cache.max_disk, d.max_disk);
    if max_memory < 64 << 10 {
        cx.err(&["cache", "max_memory"], "must be at least 64KiB");
    }
    if max_disk < 1 << 20 {
        cx.err(&["cache", "max_disk"], "must be at least 1MiB");
    }
    let timeout = cx.duration(&["shared", "redis_timeout"], &raw.shared.redis_timeout, Duration::from_millis(100));
    if timeout.is_zero() || timeout > Duration::from_secs(10) {
        cx.err(&["shared", "redis_timeout"], "must be above 0 and at most 10s");
    }
    let redis = raw.shared.redis.as_ref().and_then(|src| {
        let url = resolve_secret(cx, &["shared", "redis"], src, env)?;
        let scheme = url.expose().split("://").next().unwrap_or("");
        if !matches!(scheme, "redis" | "unix" | "redis+unix") {
            cx.err(
                &["shared", "redis"],
                format!("unsupported scheme `{scheme}`; write redis://[:password@]host[:port][/db] or unix:///path"),
            );
            return None;
        }
        if let Err(e) = redis::Client::open(url.expose()) {
            cx.err(&["shared", "redis"], format!("not a valid Redis URL: {}", url.redact(&e.to_string())));
            return None;
        }
        Some(RedisSettings { url, timeout })
    });
    if server.state_dir.is_none() {
        for (name, r) in &raw.routes {
            let explicit_disk =
                r.cache.as_ref().and_then(|c| c.tiers.as_ref()).is_some_and(|t| t.iter().any(|t| t == "disk"));
            if explicit_disk {
                cx.err(
                    &["routes", name, "cache", "tiers"],
                    "the disk tier needs a state directory: set server.state_dir (no $STATE_DIRECTORY, $XDG_STATE_HOME or $HOME)",
                );
            }
        }
    }
    (CacheSettings { max_memory, max_disk }, SharedSettings { redis })
}

fn resolve_route_cache(
    cx: &mut Ctx<'_>,
    name: &str,
    rc: Option<&RouteCacheFile>,
    redis_configured: bool,
) -> Option<RouteCache> {
    let rc = rc?;
    let ttl = cx.duration(&["routes", name, "cache", "ttl"], &rc.ttl, Duration::from_secs(3600));
    if ttl.is_zero() {
        cx.err(&["routes", name, "cache", "ttl"], "must be above 0; omit `cache` to turn caching off");
    }
    let Some(list) = &rc.tiers else {
        return Some(RouteCache { ttl, tiers: CacheTiers { memory: true, disk: true, redis: redis_configured } });
    };
    if list.is_empty() {
        cx.err(&["routes", name, "cache", "tiers"], "an empty list caches nothing; omit `cache` instead");
    }
    let mut tiers = CacheTiers::default();
    for (i, t) in list.iter().enumerate() {
        let idx = i.to_string();
        let path = ["routes", name, "cache", "tiers", idx.as_str()];
        let slot = match t.as_str() {
            "memory" => &mut tiers.memory,
            "disk" => &mut tiers.disk,
            "redis" => &mut tiers.redis,
            other => {
                cx.err(&path, format!("unknown tier `{other}` (known: memory, disk, redis)"));
                continue;
            }
        };
        if *slot {
            cx.err(&path, format!("tier `{t}` is listed twice"));
        }
        *slot = true;
        if t == "redis" && !redis_configured {
            cx.err(&path, "the redis tier needs `[shared] redis = \"redis://...\"`");
        }
    }
    Some(RouteCache { ttl, tiers })
}

/// A byte size: a number, or a string like "64MiB", "1GB", "512 KiB" (KB/MB/GB are powers of
/// 1000, KiB/MiB/GiB of 1024).
fn size(cx: &mut Ctx<'_>, path: &[&str], raw: &Option<SizeFile>, default: u64) -> u64 {
    match raw {
        None => default,
        Some(SizeFile::Bytes(n)) => *n,
        Some(SizeFile::Text(t)) => match parse_size(t) {
            Some(n) => n,
            None => {
                cx.err(path, format!("`{t}` is not a size; write e.g. \"64MiB\", \"1GB\" or a number of bytes"));
                default
            }
        },
    }
}

pub(crate) fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mult)
}
