//! OpenAI-compatible server families with known quirks (docs/providers.md).

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
