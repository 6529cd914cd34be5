//! The built-in default config (DESIGN.md §3): used when no config file exists, so
//! `sidegate serve` answers at once. A `mock` provider always; an OpenAI, Anthropic or Gemini
//! account when `OPENAI_API_KEY`, `ANTHROPIC_API_KEY` or `GEMINI_API_KEY` is set. Written as
//! TOML and parsed like any file, so it obeys every rule.

use super::resolve::Env;

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
             [models.gemini-2.0-flash]\nprovider = \"gemini\"\nmodel = \"gemini-2.0-flash\"\ncontext_window = 1048576\n\
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
