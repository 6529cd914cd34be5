//! The eval file (TOML): which dataset, which prompt, which variants, which scorers, how many
//! calls at once, the budget cap and the judge. Unknown keys are errors; every error names
//! `file:line:col` and its key. Paths in it are relative to the file's directory.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::EvalError;
use super::scorers::{ScorerSpec, spec};
use crate::config::{ConfigError, Locator, syntax_error};

/// Calls in flight when the file sets no `concurrency`.
pub const DEFAULT_CONCURRENCY: usize = 4;
/// More than this many calls at once is a typo, not a plan.
pub const MAX_CONCURRENCY: usize = 1024;

/// One eval file, checked.
#[derive(Debug)]
pub struct EvalSpec {
    pub file: PathBuf,
    /// The file's own bytes hashed (the dataset's are hashed by [`super::dataset`]).
    pub file_hash: String,
    pub dataset: PathBuf,
    /// The prompt every item's `vars` are rendered through (a variant may name its own).
    pub prompt: Option<String>,
    pub variants: Vec<Variant>,
    pub scorers: Vec<ScorerSpec>,
    pub concurrency: usize,
    /// Stop starting items once what was spent plus what is reserved would pass this.
    pub budget_usd: Option<f64>,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f64>,
}

/// What one column of the report is: a route or model, and the prompt version it uses.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    pub name: String,
    /// The route or model the requests name.
    pub target: String,
    /// Overrides the file's `prompt` for this variant (`name@version`).
    pub prompt: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EvalFile {
    dataset: String,
    prompt: Option<String>,
    variants: Vec<VariantFile>,
    concurrency: Option<i64>,
    budget_usd: Option<f64>,
    max_tokens: Option<u32>,
    temperature: Option<f64>,
    judge: Option<JudgeFile>,
    #[serde(default)]
    scorers: Vec<toml::Table>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum VariantFile {
    Name(String),
    Table(VariantTable),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VariantTable {
    name: Option<String>,
    route: Option<String>,
    model: Option<String>,
    prompt: Option<String>,
}

/// `[judge]`: the defaults of every `judge` scorer.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct JudgeFile {
    pub route: Option<String>,
    pub rubric: Option<String>,
    pub threshold: Option<f64>,
}

/// The errors of one file, each located.
pub struct Cx<'a> {
    pub file: &'a Path,
    pub loc: Locator<'a>,
    pub errors: Vec<ConfigError>,
}

impl Cx<'_> {
    pub fn err(&mut self, path: &[&str], message: impl Into<String>) {
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
}

/// Reads and checks the eval file at `path`.
pub fn load(path: &Path) -> Result<EvalSpec, EvalError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| EvalError::Invalid(format!("{}: cannot read the eval file: {e}", path.display())))?;
    parse(&text, path).map_err(|errors| EvalError::Invalid(joined(&errors)))
}

pub fn joined(errors: &[ConfigError]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
}

/// Checks `text` (the file at `path`): the spec, or every error at once.
pub fn parse(text: &str, path: &Path) -> Result<EvalSpec, Vec<ConfigError>> {
    let raw: EvalFile = toml::from_str(text).map_err(|e| vec![syntax_error(text, path, &e)])?;
    let mut cx = Cx { file: path, loc: Locator::new(text), errors: Vec::new() };
    let base = path.parent().unwrap_or(Path::new("."));
    if raw.dataset.trim().is_empty() {
        cx.err(&["dataset"], "names no file");
    }
    let variants = variants(&mut cx, &raw.variants);
    let judge = raw.judge.clone().unwrap_or_default();
    let mut scorers = Vec::new();
    for (i, t) in raw.scorers.iter().enumerate() {
        if let Some(s) = spec::parse(&mut cx, i, t, &judge, base) {
            scorers.push(s);
        }
    }
    if raw.scorers.is_empty() {
        cx.err(&[], "no `[[scorers]]`: an eval needs at least one");
    }
    let concurrency = match raw.concurrency {
        None => DEFAULT_CONCURRENCY,
        Some(n) if n >= 1 && n as usize <= MAX_CONCURRENCY => n as usize,
        Some(n) => {
            cx.err(&["concurrency"], format!("{n} is not between 1 and {MAX_CONCURRENCY}"));
            DEFAULT_CONCURRENCY
        }
    };
    if let Some(b) = raw.budget_usd
        && !(b.is_finite() && b > 0.0)
    {
        cx.err(&["budget_usd"], format!("{b} is not a positive amount"));
    }
    if let Some(t) = raw.temperature
        && !(0.0..=2.0).contains(&t)
    {
        cx.err(&["temperature"], format!("{t} is not between 0 and 2"));
    }
    if !cx.errors.is_empty() {
        return Err(cx.errors);
    }
    Ok(EvalSpec {
        file: path.to_path_buf(),
        file_hash: blake3::hash(text.as_bytes()).to_hex()[..16].to_string(),
        dataset: base.join(&raw.dataset),
        prompt: raw.prompt,
        variants,
        scorers,
        concurrency,
        budget_usd: raw.budget_usd,
        max_tokens: raw.max_tokens,
        temperature: raw.temperature,
    })
}

fn variants(cx: &mut Cx<'_>, raw: &[VariantFile]) -> Vec<Variant> {
    if raw.is_empty() {
        cx.err(&["variants"], "names no route or model");
    }
    let mut out: Vec<Variant> = Vec::new();
    for (i, v) in raw.iter().enumerate() {
        let at = i.to_string();
        let path = ["variants", at.as_str()];
        let variant = match v {
            VariantFile::Name(n) if n.trim().is_empty() => {
                cx.err(&path, "an empty route or model name");
                continue;
            }
            VariantFile::Name(n) => Variant { name: n.clone(), target: n.clone(), prompt: None },
            VariantFile::Table(t) => {
                let target = match (&t.route, &t.model) {
                    (Some(r), None) => r.clone(),
                    (None, Some(m)) => m.clone(),
                    _ => {
                        cx.err(&path, "a variant table names one of `route` or `model`");
                        continue;
                    }
                };
                let name = t.name.clone().unwrap_or_else(|| match &t.prompt {
                    Some(p) => format!("{target}+{p}"),
                    None => target.clone(),
                });
                Variant { name, target, prompt: t.prompt.clone() }
            }
        };
        if out.iter().any(|o| o.name == variant.name) {
            cx.err(&path, format!("two variants are named `{}`: give one a `name`", variant.name));
            continue;
        }
        out.push(variant);
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const GOOD: &str = r#"
dataset = "cases.jsonl"
prompt = "greet"
variants = ["claude", { name = "old", route = "claude", prompt = "greet@1" }, { model = "gpt" }]
concurrency = 8
budget_usd = 0.5

[judge]
route = "judge"

[[scorers]]
kind = "contains"

[[scorers]]
kind = "judge"
rubric = "Is it polite?"
"#;

    #[test]
    fn a_good_file() {
        let s = parse(GOOD, Path::new("/evals/greet.toml")).unwrap();
        assert_eq!(s.dataset, Path::new("/evals/cases.jsonl"));
        let names: Vec<&str> = s.variants.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["claude", "old", "gpt"]);
        assert_eq!(s.variants[1].prompt.as_deref(), Some("greet@1"));
        assert_eq!((s.concurrency, s.budget_usd), (8, Some(0.5)));
        assert_eq!(s.scorers.len(), 2);
        assert_eq!(s.scorers[1].name, "judge");
    }

    #[test]
    fn errors_are_located() {
        let text =
            "dataset = \"a.jsonl\"\nvariants = [\"a\", \"a\"]\nconcurrency = 0\n\n[[scorers]]\nkind = \"nope\"\n";
        let errs = parse(text, Path::new("/e/x.toml")).unwrap_err();
        let all = joined(&errs);
        assert!(all.contains("/e/x.toml:2:"), "{all}");
        assert!(all.contains("two variants are named `a`"), "{all}");
        assert!(all.contains("/e/x.toml:3:1: concurrency: 0 is not between"), "{all}");
        assert!(all.contains("/e/x.toml:6:"), "{all}");
        assert!(all.contains("unknown scorer kind `nope`"), "{all}");
    }

    #[test]
    fn unknown_keys_and_syntax_errors_are_located() {
        let errs = parse("dataset = \"a\"\nvariants = [\"a\"]\ncolour = 1\n", Path::new("/e/x.toml")).unwrap_err();
        assert!(joined(&errs).contains("/e/x.toml:3:"), "{}", joined(&errs));
        let errs = parse("dataset = \n", Path::new("/e/y.toml")).unwrap_err();
        assert!(joined(&errs).starts_with("/e/y.toml:1:"), "{}", joined(&errs));
        let errs = parse(
            "dataset = \"a\"\nvariants = [{ route = \"a\", model = \"b\" }]\n[[scorers]]\nkind = \"exact\"\n",
            Path::new("/e/z.toml"),
        )
        .unwrap_err();
        assert!(joined(&errs).contains("/e/z.toml:2:"), "{}", joined(&errs));
    }
}
