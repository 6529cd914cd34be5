//! The built-in default config (DESIGN.md §3): used when no config file exists, so
//! `sidegate serve` answers at once. A `mock` provider always; an OpenAI account when
//! `OPENAI_API_KEY` is set. Written as TOML and parsed like any file, so it obeys every rule.

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
    if default_targets.is_empty() {
        default_targets.push("mock");
    }
    let list = default_targets
        .iter()
        .map(|t| format!("\"{t}\""))
        .collect::<Vec<_>>()
        .join(", ");
    toml.push_str(&format!("[routes.default]\ntargets = [{list}]\n"));
    toml
}
