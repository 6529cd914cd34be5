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
    /// Where it came from: a file path, or the built-in default.
    pub source: ConfigSource,
    /// Hash of the file's bytes (hex, 16 digits), "builtin" for the default.
    pub version: String,
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    OpenAi,
    OpenAiCompatible,
    Mock,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "openai",
            ProviderKind::OpenAiCompatible => "openai-compatible",
            ProviderKind::Mock => "mock",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ProviderSettings {
    pub name: String,
    pub kind: ProviderKind,
    pub region: Option<String>,
    pub http: Option<HttpSettings>,
    pub mock: Option<MockSettings>,
}

#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub base_url: String,
    pub api_key: Option<Secret>,
    pub headers: Vec<(String, String)>,
    pub connect_timeout: Duration,
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    Fallback,
}

#[derive(Debug, Clone)]
pub struct RouteSettings {
    pub name: String,
    pub strategy: Strategy,
    pub targets: Vec<Arc<ModelSettings>>,
    pub timing: Timing,
}

/// Time budgets of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// The whole request, all attempts.
    pub timeout: Duration,
    /// One vendor call.
    pub attempt_timeout: Duration,
    /// No first byte (unary) or first chunk (stream) by then: next candidate.
    pub first_token_timeout: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            timeout: Duration::from_secs(120),
            attempt_timeout: Duration::from_secs(60),
            first_token_timeout: Duration::from_secs(30),
        }
    }
}
