//! One prompt file read and checked: its TOML (strict: unknown keys are errors), its
//! variables' types and defaults, its message templates compiled (syntax errors and variables
//! the file does not declare are found here, not at the first request), every error located
//! at `file:line:col` and key.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::{Family, MessageTemplate, Prompt, VarKind, Variable};
use crate::api::chat::Role;
use crate::config::{ConfigError, Locator, syntax_error};

/// Steps a render may take (a loop of 100k items is a mistake, not a prompt).
pub const RENDER_FUEL: u64 = 200_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PromptFile {
    name: String,
    version: String,
    description: Option<String>,
    #[serde(default)]
    variables: BTreeMap<String, VariableFile>,
    route: Option<String>,
    model: Option<String>,
    response_format: Option<toml::Value>,
    tools: Option<Vec<toml::Value>>,
    #[serde(default)]
    messages: Vec<MessageFile>,
    #[serde(default)]
    overrides: BTreeMap<String, OverrideFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VariableFile {
    #[serde(rename = "type")]
    kind: String,
    default: Option<toml::Value>,
    description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageFile {
    role: String,
    content: toml::Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OverrideFile {
    messages: Vec<MessageFile>,
}

/// The errors of one file, each located.
struct Cx<'a> {
    file: &'a Path,
    text: &'a str,
    loc: Locator<'a>,
    errors: Vec<ConfigError>,
}

impl Cx<'_> {
    fn err(&mut self, path: &[&str], message: impl Into<String>) {
        let offset = self.loc.offset_of(path).unwrap_or(0);
        self.err_at(offset, path.join("."), message);
    }

    fn err_at(&mut self, offset: usize, key: String, message: impl Into<String>) {
        let (line, col) = self.loc.line_col(offset);
        self.errors.push(ConfigError { file: self.file.to_path_buf(), line, col, key, message: message.into() });
    }
}

/// Reads the prompt in `text` (from `file`); `expect` is what the file name says: its name,
/// and the version of a `NAME@VERSION.toml`.
pub fn parse(text: &str, file: &Path, expect: (&str, Option<&str>)) -> Result<Prompt, Vec<ConfigError>> {
    let raw: PromptFile = toml::from_str(text).map_err(|e| vec![syntax_error(text, file, &e)])?;
    let mut cx = Cx { file, text, loc: Locator::new(text), errors: Vec::new() };
    check_identity(&mut cx, &raw, expect);
    if raw.route.is_some() && raw.model.is_some() {
        cx.err(&["model"], "give `route` or `model`, not both");
    }
    if raw.messages.is_empty() {
        cx.err(&[], "a prompt needs at least one `[[messages]]`");
    }
    let variables = variables(&mut cx, &raw.variables);
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_fuel(Some(RENDER_FUEL));
    let messages = templates(&mut cx, &mut env, "messages", &raw.messages, &variables);
    let mut overrides = Vec::new();
    for (family, o) in &raw.overrides {
        let Some(f) = Family::parse(family) else {
            cx.err(&["overrides", family], format!("unknown vendor family `{family}` (known: {})", Family::KNOWN));
            continue;
        };
        let at = format!("overrides.{family}.messages");
        overrides.push((f, templates(&mut cx, &mut env, &at, &o.messages, &variables)));
    }
    let response_format = raw.response_format.as_ref().map(json_of);
    let tools = raw.tools.as_ref().map(|t| t.iter().map(json_of).collect::<Vec<_>>());
    if let Some(tools) = &tools {
        check_tools(&mut cx, tools);
    }
    if !cx.errors.is_empty() {
        return Err(cx.errors);
    }
    Ok(Prompt {
        name: raw.name,
        version: raw.version,
        hash: super::content_hash(text.as_bytes()),
        description: raw.description,
        file: file.to_path_buf(),
        variables,
        target: raw.route.or(raw.model),
        response_format,
        tools,
        messages,
        overrides,
        env,
    })
}

fn check_identity(cx: &mut Cx<'_>, raw: &PromptFile, (name, version): (&str, Option<&str>)) {
    if raw.name != name {
        cx.err(&["name"], format!("the file is named for prompt `{name}` but says `name = \"{}\"`", raw.name));
    }
    if let Some(v) = version
        && raw.version != v
    {
        cx.err(&["version"], format!("the file is named for version `{v}` but says `version = \"{}\"`", raw.version));
    }
    if raw.version.is_empty() || raw.version.contains(['@', '/', ' ']) {
        cx.err(&["version"], "a version is a non-empty word without `@`, `/` or spaces, e.g. \"3\" or \"2024-06\"");
    }
}

fn variables(cx: &mut Cx<'_>, raw: &BTreeMap<String, VariableFile>) -> BTreeMap<String, Variable> {
    let mut out = BTreeMap::new();
    for (name, v) in raw {
        let Some(kind) = VarKind::parse(&v.kind) else {
            cx.err(
                &["variables", name, "type"],
                format!("unknown type `{}` (known: string, number, boolean, list, object)", v.kind),
            );
            continue;
        };
        let default = v.default.as_ref().map(json_of);
        if let Some(d) = &default
            && !kind.admits(d)
        {
            cx.err(&["variables", name, "default"], format!("the default is not a {}", kind.as_str()));
        }
        out.insert(name.clone(), Variable { kind, default, description: v.description.clone() });
    }
    out
}

/// Compiles each message's template; checks its role and that it uses only declared variables.
fn templates(
    cx: &mut Cx<'_>,
    env: &mut minijinja::Environment<'static>,
    at: &str,
    raw: &[MessageFile],
    variables: &BTreeMap<String, Variable>,
) -> Vec<MessageTemplate> {
    let mut out = Vec::new();
    for (i, m) in raw.iter().enumerate() {
        let key = format!("{at}.{i}");
        let role = match m.role.as_str() {
            "system" => Role::System,
            "developer" => Role::Developer,
            "user" => Role::User,
            "assistant" => Role::Assistant,
            other => {
                let path: Vec<&str> = key.split('.').chain(["role"]).collect();
                cx.err(&path, format!("unknown role `{other}` (known: system, developer, user, assistant)"));
                continue;
            }
        };
        let name = key.clone();
        let source = m.content.get_ref().clone();
        if let Err(e) = env.add_template_owned(name.clone(), source) {
            let offset = template_offset(cx.text, m.content.span().start, &e);
            cx.err_at(offset, format!("{key}.content"), template_message(&e));
            continue;
        }
        if let Ok(t) = env.get_template(&name) {
            for var in t.undeclared_variables(false) {
                if !variables.contains_key(&var) && !is_global(&var) {
                    let offset = m.content.span().start;
                    cx.err_at(
                        offset,
                        format!("{key}.content"),
                        format!("uses `{var}`, which is not under [variables]"),
                    );
                }
            }
        }
        out.push(MessageTemplate { role, template: name });
    }
    out
}

/// Names a template may use without declaring them (minijinja's built-in globals).
fn is_global(name: &str) -> bool {
    matches!(name, "range" | "dict" | "namespace" | "loop" | "debug" | "true" | "false" | "none")
}

fn check_tools(cx: &mut Cx<'_>, tools: &[Value]) {
    for (i, t) in tools.iter().enumerate() {
        let name = t.get("function").and_then(|f| f.get("name")).and_then(Value::as_str);
        if t.get("type").and_then(Value::as_str) != Some("function") || name.is_none_or(str::is_empty) {
            let i = i.to_string();
            cx.err(
                &["tools", &i],
                "a tool is `{ type = \"function\", function = { name = \"...\", parameters = {...} } }`",
            );
        }
    }
}

/// Where in the file a template error is: the string's start (past its opening quotes and a
/// newline TOML trims) plus the error's offset in the template.
fn template_offset(text: &str, string_start: usize, e: &minijinja::Error) -> usize {
    let rest = text.get(string_start..).unwrap_or("");
    let mut open = if rest.starts_with("'''") || rest.starts_with("\"\"\"") { 3 } else { 1 };
    if open == 3 && rest[3..].starts_with('\n') {
        open += 1;
    }
    string_start + open + e.range().map_or(0, |r| r.start)
}

fn template_message(e: &minijinja::Error) -> String {
    match e.detail() {
        Some(d) => format!("template: {d}"),
        None => format!("template: {}", e.kind()),
    }
}

/// A TOML value as JSON (dates become strings).
pub fn json_of(v: &toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.iter().map(json_of).collect()),
        toml::Value::Table(t) => Value::Object(t.iter().map(|(k, v)| (k.clone(), json_of(v))).collect()),
    }
}
