//! Portable prompts: a directory of prompt files (`[prompts] dir`), one prompt per
//! `NAME.toml` and older versions beside it as `NAME@VERSION.toml`. A prompt declares typed
//! variables with defaults, its messages as Jinja templates (strict: an undefined variable is
//! an error, never an empty string), optionally the route or model it runs on, a response
//! format and tools, and per-vendor-family messages (`[overrides.anthropic]`) where a family
//! needs other phrasing.
//!
//! The directory is read with the config and is part of its snapshot: validated first (every
//! error at `file:line:col`), reloaded when a file changes, and a broken file keeps the whole
//! previous library serving. Every version whose file is present is addressable as
//! `name@version` (or `name@` plus the first 8+ hex digits of its content hash); `name` alone is
//! the latest: `NAME.toml`, else the highest version.

pub mod cli;
mod file;
mod render;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

pub use render::{PromptRef, PromptUse, RenderError, RenderedMessages, apply};

use crate::api::chat::Role;
use crate::config::{ConfigError, ProviderKind};

/// A vendor family a prompt can phrase differently for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Family {
    OpenAi,
    Anthropic,
    Gemini,
    /// Any OpenAI-compatible server (vLLM, Ollama, Mistral, Groq, ...).
    OpenAiCompatible,
}

impl Family {
    const KNOWN: &'static str = "openai, anthropic, gemini, openai-compatible";

    fn parse(s: &str) -> Option<Family> {
        match s {
            "openai" => Some(Family::OpenAi),
            "anthropic" => Some(Family::Anthropic),
            "gemini" => Some(Family::Gemini),
            "openai-compatible" => Some(Family::OpenAiCompatible),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Family::OpenAi => "openai",
            Family::Anthropic => "anthropic",
            Family::Gemini => "gemini",
            Family::OpenAiCompatible => "openai-compatible",
        }
    }

    /// The family of a provider kind (Azure serves OpenAI's models; the mock has none).
    pub fn of(kind: ProviderKind) -> Option<Family> {
        match kind {
            ProviderKind::OpenAi | ProviderKind::Azure => Some(Family::OpenAi),
            ProviderKind::Anthropic => Some(Family::Anthropic),
            ProviderKind::Gemini => Some(Family::Gemini),
            ProviderKind::OpenAiCompatible => Some(Family::OpenAiCompatible),
            ProviderKind::Mock => None,
        }
    }
}

/// A variable's declared type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarKind {
    String,
    Number,
    Boolean,
    List,
    Object,
}

impl VarKind {
    fn parse(s: &str) -> Option<VarKind> {
        match s {
            "string" => Some(VarKind::String),
            "number" => Some(VarKind::Number),
            "boolean" => Some(VarKind::Boolean),
            "list" => Some(VarKind::List),
            "object" => Some(VarKind::Object),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            VarKind::String => "string",
            VarKind::Number => "number",
            VarKind::Boolean => "boolean",
            VarKind::List => "list",
            VarKind::Object => "object",
        }
    }

    fn admits(self, v: &Value) -> bool {
        matches!(
            (self, v),
            (VarKind::String, Value::String(_))
                | (VarKind::Number, Value::Number(_))
                | (VarKind::Boolean, Value::Bool(_))
                | (VarKind::List, Value::Array(_))
                | (VarKind::Object, Value::Object(_))
        )
    }
}

#[derive(Debug, Clone)]
pub struct Variable {
    pub kind: VarKind,
    /// None: the caller must give it.
    pub default: Option<Value>,
    pub description: Option<String>,
}

/// One message of a prompt: its role and the name of its compiled template.
#[derive(Debug, Clone)]
struct MessageTemplate {
    role: Role,
    template: String,
}

/// One version of a prompt, compiled.
pub struct Prompt {
    pub name: String,
    pub version: String,
    /// Hex digest of the file's bytes (16 digits).
    pub hash: String,
    pub description: Option<String>,
    pub file: PathBuf,
    pub variables: BTreeMap<String, Variable>,
    /// The route or model a request naming the prompt runs on when it names none.
    pub target: Option<String>,
    pub response_format: Option<Value>,
    pub tools: Option<Vec<Value>>,
    messages: Vec<MessageTemplate>,
    overrides: Vec<(Family, Vec<MessageTemplate>)>,
    env: minijinja::Environment<'static>,
}

impl std::fmt::Debug for Prompt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Prompt({}@{} #{})", self.name, self.version, self.hash)
    }
}

impl Prompt {
    /// `name@version`.
    pub fn id(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }

    /// The families this prompt has its own messages for.
    pub fn override_families(&self) -> impl Iterator<Item = Family> + '_ {
        self.overrides.iter().map(|(f, _)| *f)
    }
}

/// Every prompt of the directory, by name, each with its versions (oldest first) and which
/// one is the latest.
#[derive(Debug, Default)]
pub struct Library {
    prompts: BTreeMap<String, Versions>,
    /// Hex digest over every file read: equal digests mean nothing to reload.
    pub digest: String,
    /// The directory read (None: no `[prompts] dir`).
    pub dir: Option<PathBuf>,
}

#[derive(Debug)]
struct Versions {
    all: Vec<Arc<Prompt>>,
    latest: usize,
}

impl Library {
    /// The prompt `id` names: `name` (the latest), `name@version`, or `name@HASHPREFIX`.
    pub fn get(&self, id: &str) -> Option<&Arc<Prompt>> {
        let (name, version) = match id.split_once('@') {
            Some((n, v)) => (n, Some(v)),
            None => (id, None),
        };
        let v = self.prompts.get(name)?;
        match version {
            None => v.all.get(v.latest),
            Some(want) => v
                .all
                .iter()
                .find(|p| p.version == want)
                .or_else(|| (want.len() >= 8).then(|| v.all.iter().find(|p| p.hash.starts_with(want))).flatten()),
        }
    }

    /// Every prompt version, by name then version, with whether it is its name's latest.
    pub fn all(&self) -> impl Iterator<Item = (&Arc<Prompt>, bool)> {
        self.prompts.values().flat_map(|v| v.all.iter().enumerate().map(move |(i, p)| (p, i == v.latest)))
    }

    pub fn is_empty(&self) -> bool {
        self.prompts.is_empty()
    }

    pub fn len(&self) -> usize {
        self.prompts.values().map(|v| v.all.len()).sum()
    }
}

/// Reads every `*.toml` of `dir`; all of its errors at once, or the library.
pub fn load_dir(dir: &Path) -> Result<Library, Vec<ConfigError>> {
    let whole = |message: String| ConfigError { file: dir.to_path_buf(), line: 0, col: 0, key: String::new(), message };
    let entries = std::fs::read_dir(dir).map_err(|e| vec![whole(format!("cannot read the prompts directory: {e}"))])?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
        .collect();
    files.sort();
    let mut errors = Vec::new();
    let mut by_name: BTreeMap<String, Vec<(Arc<Prompt>, bool)>> = BTreeMap::new();
    let mut digest = blake3::Hasher::new();
    for path in &files {
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let (name, version) = match stem.split_once('@') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (stem.clone(), None),
        };
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                errors.push(ConfigError {
                    file: path.clone(),
                    line: 0,
                    col: 0,
                    key: String::new(),
                    message: format!("cannot read: {e}"),
                });
                continue;
            }
        };
        digest.update(path.as_os_str().as_encoded_bytes());
        digest.update(&(text.len() as u64).to_le_bytes());
        digest.update(text.as_bytes());
        match file::parse(&text, path, (&name, version.as_deref())) {
            Ok(p) => by_name.entry(name).or_default().push((Arc::new(p), version.is_none())),
            Err(e) => errors.extend(e),
        }
    }
    let mut prompts = BTreeMap::new();
    for (name, mut versions) in by_name {
        versions.sort_by(|a, b| version_order(&a.0.version, &b.0.version));
        for w in versions.windows(2) {
            if w[0].0.version == w[1].0.version {
                errors.push(ConfigError {
                    file: w[1].0.file.clone(),
                    line: 1,
                    col: 1,
                    key: "version".into(),
                    message: format!("version `{}` of `{name}` is also in {}", w[1].0.version, w[0].0.file.display()),
                });
            }
        }
        let latest = versions.iter().position(|(_, main)| *main).unwrap_or(versions.len().saturating_sub(1));
        prompts.insert(name, Versions { all: versions.into_iter().map(|(p, _)| p).collect(), latest });
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Library { prompts, digest: digest.finalize().to_hex()[..16].to_string(), dir: Some(dir.to_path_buf()) })
}

/// Versions compared number by number where both parts are numbers ("2" < "10", "1.9" <
/// "1.10"), as text otherwise.
fn version_order(a: &str, b: &str) -> std::cmp::Ordering {
    let (mut x, mut y) = (a.split(['.', '-']), b.split(['.', '-']));
    loop {
        match (x.next(), y.next()) {
            (None, None) => return std::cmp::Ordering::Equal,
            (None, Some(_)) => return std::cmp::Ordering::Less,
            (Some(_), None) => return std::cmp::Ordering::Greater,
            (Some(p), Some(q)) => {
                let o = match (p.parse::<u64>(), q.parse::<u64>()) {
                    (Ok(m), Ok(n)) => m.cmp(&n),
                    _ => p.cmp(q),
                };
                if o.is_ne() {
                    return o;
                }
            }
        }
    }
}

fn content_hash(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex()[..16].to_string()
}

#[cfg(test)]
mod tests;
