//! The built-in default config (DESIGN.md §3): used when no config file exists, so
//! `sidegate serve` answers at once. A `mock` provider always; an OpenAI, Anthropic or Gemini
//! account when `OPENAI_API_KEY`, `ANTHROPIC_API_KEY` or `GEMINI_API_KEY` is set. Written as
//! TOML and parsed like any file, so it obeys every rule.

use super::context::Env;

pub fn builtin_toml(env: &dyn Env) -> String {
    let mut toml = String::from(
        "# built-in default\n\
         [providers.mock]\nkind = \"mock\"\n\n\
         [models.mock]\nprovider = \"mock\"\nmodel = \"echo\"\ncapabilities = [\"tools\", \"vision\", \"json\", \"streaming\"]\n\n",
    );
    let mut default_targets = Vec::new();
    if env.var("OPENAI_API_KEY").is_some() {
        toml.push_str(
            "[providers.openai]\nkind = \"openai\"\napi_key = { env = \"OPENAI_API_KEY\" }\n\n\
             [models.gpt-4o-mini]\nprovider = \"openai\"\nmodel = \"gpt-4o-mini\"\ncontext_window = 128000\n\
             price = { input = 0.15, output = 0.60 }\ncapabilities = [\"tools\", \"vision\", \"json\", \"streaming\"]\n\n\
             [models.gpt-4o]\nprovider = \"openai\"\nmodel = \"gpt-4o\"\ncontext_window = 128000\n\
             price = { input = 2.50, output = 10.00 }\ncapabilities = [\"tools\", \"vision\", \"json\", \"streaming\"]\n\n",
        );
        default_targets.push("gpt-4o-mini");
    }
    if env.var("ANTHROPIC_API_KEY").is_some() {
        toml.push_str(
            "[providers.anthropic]\nkind = \"anthropic\"\napi_key = { env = \"ANTHROPIC_API_KEY\" }\n\n\
             [models.claude-3-5-haiku]\nprovider = \"anthropic\"\nmodel = \"claude-3-5-haiku-latest\"\ncontext_window = 200000\n\
             price = { input = 0.80, output = 4.00 }\ncapabilities = [\"tools\", \"vision\", \"json\", \"streaming\"]\n\n",
        );
        default_targets.push("claude-3-5-haiku");
    }
    if env.var("GEMINI_API_KEY").is_some() {
        toml.push_str(
            "[providers.gemini]\nkind = \"gemini\"\napi_key = { env = \"GEMINI_API_KEY\" }\n\n\
             [models.\"gemini-2.0-flash\"]\nprovider = \"gemini\"\nmodel = \"gemini-2.0-flash\"\ncontext_window = 1048576\n\
             price = { input = 0.10, output = 0.40 }\ncapabilities = [\"tools\", \"vision\", \"json\", \"streaming\"]\n\n\
             [models.gemini-embedding]\nprovider = \"gemini\"\nmodel = \"gemini-embedding-001\"\ncapabilities = [\"embeddings\"]\n\n",
        );
        default_targets.push("gemini-2.0-flash");
    }
    // Route `default` answers with the first real vendor's model (OpenAI, then Anthropic,
    // then Gemini), falling back to the mock when no key is set.
    default_targets.truncate(1);
    if default_targets.is_empty() {
        default_targets.push("mock");
    }
    let list = default_targets.iter().map(|t| format!("\"{t}\"")).collect::<Vec<_>>().join(", ");
    toml.push_str(&format!("[routes.default]\ntargets = [{list}]\n"));
    toml
}

#[cfg(test)]
mod tests {
    //! The built-in default with vendor keys, and the resolution of the provider kinds and
    //! keys this file's vendors use (anthropic, gemini, azure, presets).

    use std::collections::HashMap;
    use std::path::Path;

    use crate::config::{Env, Preset, ProviderKind, parse};

    struct TestEnv(HashMap<&'static str, &'static str>);

    impl Env for TestEnv {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).map(|s| s.to_string())
        }
        fn uid(&self) -> u32 {
            1000
        }
    }

    fn env(keys: &[&'static str]) -> TestEnv {
        let mut m: HashMap<&'static str, &'static str> = keys.iter().map(|k| (*k, "k-secret")).collect();
        m.insert("XDG_RUNTIME_DIR", "/run/user/1000");
        TestEnv(m)
    }

    fn errors(text: &str) -> Vec<String> {
        match parse(text, Path::new("t.toml"), &env(&["KEY"])) {
            Ok(_) => vec![],
            Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn default_route_uses_the_first_vendor_with_a_key() {
        let route = |keys: &[&'static str]| {
            let e = env(keys);
            let text = super::builtin_toml(&e);
            let s = parse(&text, Path::new("<built-in default>"), &e).unwrap();
            s.routes["default"].targets.iter().map(|t| t.name.clone()).collect::<Vec<_>>()
        };
        assert_eq!(route(&[]), ["mock"]);
        assert_eq!(route(&["GEMINI_API_KEY"]), ["gemini-2.0-flash"]);
        assert_eq!(route(&["ANTHROPIC_API_KEY", "GEMINI_API_KEY"]), ["claude-3-5-haiku"]);
        assert_eq!(route(&["OPENAI_API_KEY", "ANTHROPIC_API_KEY"]), ["gpt-4o-mini"]);
        let e = env(&["ANTHROPIC_API_KEY", "GEMINI_API_KEY"]);
        let s = parse(&super::builtin_toml(&e), Path::new("d"), &e).unwrap();
        assert_eq!(s.providers["anthropic"].kind, ProviderKind::Anthropic);
        assert_eq!(s.models["claude-3-5-haiku"].vendor_model, "claude-3-5-haiku-latest");
        assert_eq!(s.models["gemini-embedding"].capabilities, ["embeddings"]);
    }

    #[test]
    fn vendor_kinds_defaults_and_presets() {
        let text = r#"
[providers.a]
kind = "anthropic"
api_key = { env = "KEY" }
default_max_tokens = 8000

[providers.g]
kind = "gemini"
api_key = "x"

[providers.az]
kind = "azure"
base_url = "https://res.openai.azure.com/"
api_key = "x"
api_version = "2024-10-21"

[providers.m]
kind = "openai-compatible"
preset = "mistral"
api_key = "x"

[providers.o]
kind = "openai-compatible"
preset = "ollama"
"#;
        let s = parse(text, Path::new("t.toml"), &env(&["KEY"])).unwrap();
        let http = |n: &str| s.providers[n].http.clone().unwrap();
        assert_eq!(http("a").base_url, "https://api.anthropic.com");
        assert_eq!(http("a").default_max_tokens, Some(8000));
        assert_eq!(http("g").base_url, "https://generativelanguage.googleapis.com");
        assert_eq!(http("az").base_url, "https://res.openai.azure.com");
        assert_eq!(http("az").api_version.as_deref(), Some("2024-10-21"));
        assert_eq!(
            (http("m").preset, http("m").base_url.as_str()),
            (Some(Preset::Mistral), "https://api.mistral.ai/v1")
        );
        assert_eq!(http("o").base_url, "http://127.0.0.1:11434/v1");
        assert!(http("o").api_key.is_none(), "local servers need no key");
    }

    #[test]
    fn vendor_kind_errors_are_located_and_clear() {
        let e = errors("[providers.a]\nkind = \"anthropic\"\n");
        assert!(
            e[0].contains("providers.a: a anthropic provider needs `api_key`") && e[0].contains("ANTHROPIC_API_KEY"),
            "{e:?}"
        );
        let e = errors("[providers.z]\nkind = \"azure\"\napi_key = \"x\"\n");
        assert!(e[0].contains("needs `base_url`"), "{e:?}");
        let e = errors("[providers.c]\nkind = \"openai-compatible\"\npreset = \"mistrall\"\napi_key = \"x\"\n");
        assert!(e.iter().any(|m| m.contains("providers.c.preset: unknown preset `mistrall`")), "{e:?}");
        let e = errors("[providers.g]\nkind = \"gemini\"\napi_key = \"x\"\npreset = \"groq\"\napi_version = \"1\"\n");
        assert!(
            e.iter().any(|m| m.contains("providers.g.preset: `preset` only applies to kind = \"openai-compatible\"")),
            "{e:?}"
        );
        assert!(e.iter().any(|m| m.contains("`api_version` only applies to kind = \"azure\"")), "{e:?}");
        let e = errors("[providers.m]\nkind = \"openai-compatible\"\npreset = \"groq\"\n");
        assert!(e[0].contains("a groq provider needs `api_key`"), "{e:?}");
        let e = errors("[providers.a]\nkind = \"anthropic\"\napi_key = \"x\"\nregion = \"eu\"\nunknown_key = 1\n");
        assert!(e[0].contains("unknown_key"), "{e:?}");
    }
}
