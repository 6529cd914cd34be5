//! The config file as written (TOML), strictly: unknown keys are errors. Values that need more
//! than serde to check (durations, references, socket modes) stay raw here and are checked in
//! `resolve`, which knows where each one sits in the file.

use std::collections::BTreeMap;

use serde::Deserialize;

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
    /// Who may call, and how much (see `callers.rs`).
    #[serde(default)]
    pub callers: BTreeMap<String, super::callers::CallerFile>,
    /// The usage ledger.
    #[serde(default)]
    pub ledger: super::callers::LedgerFile,
}

/// Process-wide response-cache limits; they take effect at start.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheFile {
    /// Bytes the memory tier may hold, e.g. "64MiB".
    pub max_memory: Option<SizeFile>,
    /// Bytes of entries the disk tier may hold, e.g. "1GiB".
    pub max_disk: Option<SizeFile>,
}

/// A size: a number of bytes, or a string like "64MiB", "1GB", "512KiB".
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum SizeFile {
    Bytes(u64),
    Text(String),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharedFile {
    /// `redis://[:password@]host:port[/db]`, or `{ env = "VAR" }` / `{ file = "..." }`.
    pub redis: Option<SecretSource>,
    /// Longest wait for one Redis command before the cache goes on without it.
    pub redis_timeout: Option<String>,
}

/// `routes.NAME.cache = { ttl = "10m", tiers = ["memory", "disk", "redis"] }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteCacheFile {
    pub ttl: Option<String>,
    pub tiers: Option<Vec<String>>,
}

/// Circuit-breaker tuning, shared by every deployment.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakerFile {
    /// Failures in a row that open a breaker.
    pub consecutive_failures: Option<u32>,
    /// Failure fraction over `window` that opens a breaker (with at least `min_requests`).
    pub failure_rate: Option<f64>,
    pub min_requests: Option<u32>,
    pub window: Option<String>,
    /// First open period; doubles while probes fail, up to `max_open`.
    pub open_for: Option<String>,
    pub max_open: Option<String>,
    /// Open period after 401/403/quota/unknown-model failures.
    pub account_open_for: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerFile {
    /// Unix socket path (native protocol and HTTP).
    pub socket: Option<String>,
    /// Optional extra OpenAI-compatible listener on loopback TCP, e.g. "127.0.0.1:8040".
    pub http: Option<String>,
    /// Octal permission bits of the socket file, e.g. "0660".
    pub socket_mode: Option<String>,
    /// Largest HTTP request body accepted (bytes); larger gets 413.
    pub max_body_bytes: Option<usize>,
    /// Largest native-protocol frame accepted (bytes).
    pub max_frame_bytes: Option<usize>,
    /// How long SIGTERM waits for requests in flight before cancelling them.
    pub shutdown_grace: Option<String>,
    /// Directory for persistent state (the disk cache tier).
    pub state_dir: Option<String>,
    /// What a connection that matches no `[callers.*]` gets: "allow" (default) or "deny".
    pub unknown_callers: Option<String>,
}

/// A vendor account. `kind` picks the adapter; each kind takes only its own keys.
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ProviderFile {
    Openai(HttpProviderFile),
    OpenaiCompatible(HttpProviderFile),
    /// Azure OpenAI: deployment URLs, `api-version`, `api-key` header.
    Azure(HttpProviderFile),
    /// Anthropic Messages API.
    Anthropic(HttpProviderFile),
    /// Google Gemini API (generateContent).
    Gemini(HttpProviderFile),
    Mock(MockProviderFile),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpProviderFile {
    pub api_key: Option<SecretSource>,
    pub base_url: Option<String>,
    pub region: Option<String>,
    /// Extra headers sent with every call (e.g. an organization id).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// TCP/TLS connect timeout.
    pub connect_timeout: Option<String>,
    /// `openai-compatible` only: the server family ("mistral", "groq", "deepseek", "together",
    /// "vllm", "ollama"), which picks its quirks and a default `base_url`.
    pub preset: Option<String>,
    /// `azure` only: `api-version` for classic deployment URLs; omitted = the v1 API.
    pub api_version: Option<String>,
    /// `anthropic` only: `max_tokens` sent when the caller set none and the model is not in
    /// the built-in table of documented output limits.
    pub default_max_tokens: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MockProviderFile {
    /// "echo" repeats the last user message; anything else is answered verbatim.
    pub reply: Option<String>,
    /// Delay before the first token.
    pub latency: Option<String>,
    /// Delay between stream chunks.
    pub token_interval: Option<String>,
    /// When > 0, the answer is exactly this many tokens (words): the reply repeated or cut.
    pub tokens: Option<u32>,
    /// Fraction (0..=1) of calls that fail with a vendor-style 503.
    pub failure_rate: Option<f64>,
    pub region: Option<String>,
}

/// Where a secret comes from.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum SecretSource {
    Env { env: String },
    File { file: String },
    Inline(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFile {
    pub provider: String,
    pub model: String,
    pub context_window: Option<u64>,
    pub price: Option<PriceFile>,
    #[serde(default)]
    pub capabilities: Vec<String>,
    pub region: Option<String>,
    /// Calls in flight at once to this deployment (client-side limit).
    pub max_concurrent: Option<u32>,
    /// Requests per minute sidegate sends at most (client-side rate limit).
    pub rpm: Option<u32>,
    /// Tokens per minute (estimated prompt + requested output) sidegate sends at most.
    pub tpm: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceFile {
    pub input: f64,
    pub output: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteFile {
    pub strategy: Option<String>,
    pub targets: Vec<String>,
    /// For `strategy = "weighted"`: one weight per target.
    pub weights: Option<Vec<u32>>,
    /// Only deployments tagged with one of these regions serve this route.
    pub regions: Option<Vec<String>>,
    pub timeout: Option<String>,
    pub attempt_timeout: Option<String>,
    pub first_token_timeout: Option<String>,
    /// A committed stream that sends nothing for this long ends with an error event.
    pub stream_idle_timeout: Option<String>,
    /// Start the next candidate if the first has produced nothing by then.
    pub hedge_after: Option<String>,
    /// Response cache for this route; off when absent.
    pub cache: Option<RouteCacheFile>,
}
