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
}

/// A vendor account. `kind` picks the adapter; each kind takes only its own keys.
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ProviderFile {
    Openai(HttpProviderFile),
    OpenaiCompatible(HttpProviderFile),
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
    pub timeout: Option<String>,
    pub attempt_timeout: Option<String>,
    pub first_token_timeout: Option<String>,
}
