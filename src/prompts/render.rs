//! Using a prompt: the reference a request carries (`"prompt": {"id": "greet@2", "variables":
//! {...}}`), the variables checked against their declared types (unknown, missing and
//! mistyped ones are errors naming the variable), the messages rendered, and the result put in
//! front of the caller's own messages in the canonical request, with what the prompt sets
//! (target, tools, response format) where the caller set nothing.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::{Family, Library, MessageTemplate, Prompt};
use crate::api::ChatRequest;
use crate::api::chat::{Content, Message};

/// What is wrong with a prompt reference or its variables: the caller's error (a 400).
#[derive(Debug, Clone, thiserror::Error)]
pub enum RenderError {
    #[error("`prompt` must be {{\"id\": \"NAME[@VERSION]\", \"variables\": {{...}}}}: {0}")]
    Shape(String),
    #[error("unknown prompt `{id}`{known}")]
    Unknown { id: String, known: String },
    #[error("prompt `{prompt}`: {message}")]
    Variables { prompt: String, message: String },
    #[error("prompt `{prompt}`: cannot render: {message}")]
    Template { prompt: String, message: String },
}

/// A request's reference to a prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptRef {
    /// `name`, `name@version` or `name@HASHPREFIX`.
    pub id: String,
    pub variables: Map<String, Value>,
}

impl PromptRef {
    /// `{"id": "greet@2", "variables": {...}}`, also OpenAI's `{"id": "greet", "version":
    /// "2"}`, or a bare id string.
    pub fn from_json(v: &Value) -> Result<PromptRef, RenderError> {
        match v {
            Value::String(id) => Ok(PromptRef { id: id.clone(), variables: Map::new() }),
            Value::Object(o) => {
                let id = o.get("id").and_then(Value::as_str).ok_or_else(|| RenderError::Shape("no `id`".into()))?;
                let id = match o.get("version") {
                    None | Some(Value::Null) => id.to_string(),
                    Some(Value::String(v)) if !id.contains('@') => format!("{id}@{v}"),
                    Some(Value::String(_)) => {
                        return Err(RenderError::Shape("a version in `id` and in `version`".into()));
                    }
                    Some(_) => return Err(RenderError::Shape("`version` must be a string".into())),
                };
                let variables = match o.get("variables") {
                    None | Some(Value::Null) => Map::new(),
                    Some(Value::Object(m)) => m.clone(),
                    Some(_) => return Err(RenderError::Shape("`variables` must be an object".into())),
                };
                if let Some(k) = o.keys().find(|k| !matches!(k.as_str(), "id" | "version" | "variables")) {
                    return Err(RenderError::Shape(format!("unknown field `{k}`")));
                }
                Ok(PromptRef { id, variables })
            }
            _ => Err(RenderError::Shape("not an object".into())),
        }
    }
}

/// A prompt's messages, and each override family's own.
pub type RenderedMessages = (Vec<Message>, Vec<(Family, Vec<Message>)>);

/// What a request got from its prompt, carried beside it to the deployment that answers: the
/// version used (for the ledger), how many leading messages are the prompt's, and each
/// family's own rendering of them.
#[derive(Debug, Clone)]
pub struct PromptUse {
    /// `name@version`.
    pub id: String,
    pub hash: String,
    /// The first `prefix` messages of the request are the prompt's.
    pub prefix: usize,
    pub overrides: Vec<(Family, Vec<Message>)>,
}

impl PromptUse {
    /// `req` with its prompt messages in `family`'s own phrasing, when the prompt has one.
    pub fn phrased_for(req: &ChatRequest, family: Option<Family>) -> Option<ChatRequest> {
        let used = req.prompt.as_deref()?;
        let own = used.messages_for(family)?;
        let mut r = req.clone();
        let prefix = used.prefix.min(r.messages.len());
        r.messages.splice(0..prefix, own.iter().cloned());
        Some(r)
    }

    /// The prompt's messages as phrased for `family`, when it has its own.
    pub fn messages_for(&self, family: Option<Family>) -> Option<&[Message]> {
        let f = family?;
        self.overrides.iter().find(|(g, _)| *g == f).map(|(_, m)| m.as_slice())
    }
}

impl Prompt {
    /// The messages for `vars`, and each override family's.
    pub fn render(&self, vars: &Map<String, Value>) -> Result<RenderedMessages, RenderError> {
        let ctx = self.context(vars)?;
        let messages = self.render_all(&self.messages, &ctx)?;
        let mut overrides = Vec::with_capacity(self.overrides.len());
        for (f, ts) in &self.overrides {
            overrides.push((*f, self.render_all(ts, &ctx)?));
        }
        Ok((messages, overrides))
    }

    fn context(&self, vars: &Map<String, Value>) -> Result<minijinja::Value, RenderError> {
        let err = |message: String| RenderError::Variables { prompt: self.id(), message };
        if let Some(k) = vars.keys().find(|k| !self.variables.contains_key(*k)) {
            let known: Vec<&str> = self.variables.keys().map(String::as_str).collect();
            return Err(err(format!("`{k}` is not one of its variables ({})", known.join(", "))));
        }
        let mut all = Map::new();
        for (name, decl) in &self.variables {
            let v = match (vars.get(name), &decl.default) {
                (Some(v), _) => v.clone(),
                (None, Some(d)) => d.clone(),
                (None, None) => return Err(err(format!("variable `{name}` ({}) is required", decl.kind.as_str()))),
            };
            if !decl.kind.admits(&v) {
                return Err(err(format!("variable `{name}` must be a {}, not {}", decl.kind.as_str(), type_name(&v))));
            }
            all.insert(name.clone(), v);
        }
        Ok(minijinja::Value::from(minijinja::value::Serde(all)))
    }

    fn render_all(&self, ts: &[MessageTemplate], ctx: &minijinja::Value) -> Result<Vec<Message>, RenderError> {
        ts.iter()
            .map(|t| {
                let text = self
                    .env
                    .get_template(&t.template)
                    .and_then(|tpl| tpl.render(ctx))
                    .map_err(|e| RenderError::Template { prompt: self.id(), message: e.to_string() })?;
                Ok(Message::new(t.role, Some(Content::Text(text))))
            })
            .collect()
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Renders `r` from `lib` into `req`: the prompt's messages before the caller's, its target
/// when the request names no model, its tools and response format when the request has none.
pub fn apply(lib: &Library, r: &PromptRef, req: &mut ChatRequest) -> Result<Arc<PromptUse>, RenderError> {
    let p = lib.get(&r.id).ok_or_else(|| unknown(lib, &r.id))?;
    let (mut messages, overrides) = p.render(&r.variables)?;
    let prefix = messages.len();
    messages.append(&mut req.messages);
    req.messages = messages;
    if req.model.is_empty()
        && let Some(t) = &p.target
    {
        req.model = t.clone();
    }
    if req.tools.is_none()
        && let Some(tools) = &p.tools
    {
        req.tools = serde_json::from_value(Value::Array(tools.clone()))
            .map_err(|e| RenderError::Template { prompt: p.id(), message: format!("its tools: {e}") })?;
    }
    if req.response_format.is_none()
        && let Some(f) = &p.response_format
    {
        req.response_format = serde_json::from_value(f.clone())
            .map_err(|e| RenderError::Template { prompt: p.id(), message: format!("its response_format: {e}") })?;
    }
    Ok(Arc::new(PromptUse { id: p.id(), hash: p.hash.clone(), prefix, overrides }))
}

fn unknown(lib: &Library, id: &str) -> RenderError {
    let name = id.split('@').next().unwrap_or(id);
    let known = if lib.get(name).is_some() {
        let versions: Vec<String> = lib.all().filter(|(p, _)| p.name == name).map(|(p, _)| p.version.clone()).collect();
        format!(" (its versions: {})", versions.join(", "))
    } else if lib.dir.is_none() {
        " (no `[prompts] dir` in the config)".to_string()
    } else {
        String::new()
    };
    RenderError::Unknown { id: id.to_string(), known }
}
