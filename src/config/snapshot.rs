//! The resolved config: every value checked, every reference followed, every duration parsed.
//! A `Snapshot` is immutable; a request holds the one it started with.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::secret::Secret;

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
    pub callers: super::callers::Callers,
    pub ledger: super::callers::LedgerSettings,
    /// Where it came from: a file path, or the built-in default.
    pub source: ConfigSource,
    /// Hash of the file's bytes (hex, 16 digits), "builtin" for the default.
    pub version: String,
    /// `version` plus a hash of every secret's value: equal digests mean nothing to reload.
    pub digest: String,
    /// Key files the config reads (watched for changes along with the config itself).
    pub secret_files: Vec<PathBuf>,
}

/// Circuit-breaker tuning (see `router::breaker`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerSettings {
    pub consecutive: u32,
    pub failure_rate: f64,
    pub min_requests: u32,
    /// Rolling window for the failure rate.
    pub window: Duration,
    pub open_base: Duration,
    pub open_max: Duration,
    /// Open time after an account-level failure (401, 403, quota, unknown model).
    pub account_open: Duration,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        BreakerSettings {
            consecutive: 5,
            failure_rate: 0.5,
            min_requests: 20,
            window: Duration::from_secs(30),
            open_base: Duration::from_secs(2),
            open_max: Duration::from_secs(60),
            account_open: Duration::from_secs(60),
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

#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub socket: PathBuf,
    pub socket_mode: u32,
    pub http: Option<SocketAddr>,
    pub max_body_bytes: usize,
    pub max_frame_bytes: usize,
    pub shutdown_grace: Duration,
    /// Persistent state (disk cache tier): `state_dir`, else `$STATE_DIRECTORY`, else
    /// `/var/lib/sidegate` (root) or `$XDG_STATE_HOME/sidegate` / `~/.local/state/sidegate`.
    /// None when none of these can be worked out.
    pub state_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    OpenAi,
    OpenAiCompatible,
    Azure,
    Anthropic,
    Gemini,
    Mock,
}

impl ProviderKind {
    /// Whether the vendor has an embeddings endpoint (Anthropic has none).
    pub fn can_embed(self) -> bool {
        self.as_str() != "anthropic"
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "openai",
            ProviderKind::OpenAiCompatible => "openai-compatible",
            ProviderKind::Azure => "azure",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Gemini => "gemini",
            ProviderKind::Mock => "mock",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProviderSettings {
    pub name: String,
    pub kind: ProviderKind,
    pub region: Option<String>,
    pub http: Option<HttpSettings>,
    pub mock: Option<MockSettings>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HttpSettings {
    pub base_url: String,
    pub api_key: Option<Secret>,
    pub headers: Vec<(String, String)>,
    pub connect_timeout: Duration,
    /// `openai-compatible`: the server family whose quirks the adapter applies.
    pub preset: Option<Preset>,
    /// `azure`: `api-version` (classic deployment URLs); None = the v1 API.
    pub api_version: Option<String>,
    /// `anthropic`: `max_tokens` for models missing from the built-in table.
    pub default_max_tokens: Option<u64>,
}

/// OpenAI-compatible server families with known quirks (docs/providers.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    Mistral,
    Groq,
    DeepSeek,
    Together,
    Vllm,
    Ollama,
}

impl Preset {
    pub const ALL: [Preset; 6] =
        [Preset::Mistral, Preset::Groq, Preset::DeepSeek, Preset::Together, Preset::Vllm, Preset::Ollama];

    pub fn as_str(self) -> &'static str {
        match self {
            Preset::Mistral => "mistral",
            Preset::Groq => "groq",
            Preset::DeepSeek => "deepseek",
            Preset::Together => "together",
            Preset::Vllm => "vllm",
            Preset::Ollama => "ollama",
        }
    }

    pub fn parse(s: &str) -> Option<Preset> {
        Preset::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// The hosted service's URL; None for self-hosted servers (vLLM), whose URL you give.
    pub fn default_base_url(self) -> Option<&'static str> {
        match self {
            Preset::Mistral => Some("https://api.mistral.ai/v1"),
            Preset::Groq => Some("https://api.groq.com/openai/v1"),
            Preset::DeepSeek => Some("https://api.deepseek.com/v1"),
            Preset::Together => Some("https://api.together.xyz/v1"),
            Preset::Vllm => None,
            Preset::Ollama => Some("http://127.0.0.1:11434/v1"),
        }
    }

    /// Hosted services need a key; local servers usually do not.
    pub fn needs_key(self) -> bool {
        !matches!(self, Preset::Vllm | Preset::Ollama)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct MockSettings {
    /// None = echo the last user message.
    pub reply: Option<String>,
    pub latency: Duration,
    pub token_interval: Duration,
    pub tokens: u32,
    pub failure_rate: f64,
}

/// A deployment: a provider account plus the vendor's model id and facts about it.
#[derive(Debug, Clone)]
pub struct ModelSettings {
    pub name: String,
    pub provider: Arc<ProviderSettings>,
    pub vendor_model: String,
    pub context_window: Option<u64>,
    pub price: Option<(f64, f64)>,
    pub capabilities: Vec<String>,
    pub region: Option<String>,
    pub limits: Limits,
}

impl ModelSettings {
    /// Identity of the deployment for its health state: a reload that leaves everything about
    /// it unchanged keeps its breaker, latency estimate and limiter.
    pub fn fingerprint(&self) -> String {
        format!(
            "{}|{}|{:?}|{}|{:?}|{:?}",
            self.name,
            self.provider.name,
            self.provider.kind,
            self.vendor_model,
            self.limits,
            self.provider.http.as_ref().map(|h| &h.base_url)
        )
    }
}

/// Client-side limits of one deployment, so sidegate itself never causes a vendor's 429.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    pub max_concurrent: Option<u32>,
    pub rpm: Option<u32>,
    pub tpm: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Targets in the configured order.
    Fallback,
    /// Random order drawn by weight (first pick by weight, then the rest).
    Weighted,
    /// Lowest moving latency estimate first (time to first token for streams).
    LeastLatency,
    /// Lowest estimated cost first (price table x estimated tokens).
    Cheapest,
}

#[derive(Debug, Clone)]
pub struct RouteSettings {
    pub name: String,
    pub strategy: Strategy,
    pub targets: Vec<Arc<ModelSettings>>,
    /// Same length as `targets` for `Weighted`; empty otherwise.
    pub weights: Vec<u32>,
    pub regions: Vec<String>,
    pub timing: Timing,
    /// Response cache; None = off.
    pub cache: Option<RouteCache>,
}

/// A route's response cache (`routes.NAME.cache`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteCache {
    /// How long a stored answer may be served (by this route).
    pub ttl: Duration,
    pub tiers: CacheTiers,
}

/// Which cache tiers a route reads and fills, nearest first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheTiers {
    pub memory: bool,
    pub disk: bool,
    pub redis: bool,
}

/// Process-wide cache limits; read once at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheSettings {
    /// Bytes the memory tier holds at most (entries weighed by their encoded size).
    pub max_memory: u64,
    /// Bytes of entries the disk tier holds at most.
    pub max_disk: u64,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings { max_memory: 64 << 20, max_disk: 1 << 30 }
    }
}

/// `[shared]`: what hosts of a fleet share.
#[derive(Debug, Clone, Default)]
pub struct SharedSettings {
    pub redis: Option<RedisSettings>,
}

#[derive(Debug, Clone)]
pub struct RedisSettings {
    /// The connection URL; may hold a password, so it is a secret.
    pub url: Secret,
    /// Longest wait for one command; slower counts as "Redis is down".
    pub timeout: Duration,
}

/// Time budgets of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// The whole request, all attempts.
    pub timeout: Duration,
    /// One vendor call.
    pub attempt_timeout: Duration,
    /// No first chunk of a stream by then: next candidate.
    pub first_token_timeout: Duration,
    /// A committed stream silent for this long ends with an error event.
    pub stream_idle_timeout: Duration,
    /// Start the next candidate when the current one produced nothing by then.
    pub hedge_after: Option<Duration>,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            timeout: Duration::from_secs(120),
            attempt_timeout: Duration::from_secs(60),
            first_token_timeout: Duration::from_secs(30),
            stream_idle_timeout: Duration::from_secs(60),
            hedge_after: None,
        }
    }
}
