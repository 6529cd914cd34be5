//! An item and a variant into the Chat Completions body that is sent: the variant's route or
//! model, the item's messages, and when the eval (or the variant) names a prompt, a `prompt`
//! reference pinned to the exact version (`name@version`) so the gateway renders it with each
//! vendor family's own phrasing. The prompt is rendered here too: an item whose variables do
//! not fit fails before any call, and the rendered text is what the judge sees as the
//! question. Each request has a key (its target, body and prompt hash hashed): the same key
//! means the same request, whose stored answer may be reused.

use serde_json::{Value, json};

use super::dataset::Item;
use super::file::{EvalSpec, Variant};
use crate::api::chat::{Message, Role};
use crate::prompts::Library;

/// A request ready to send.
#[derive(Debug, Clone)]
pub struct Built {
    pub body: Value,
    /// Identifies the request across runs (hex).
    pub key: String,
    /// The last user message as rendered: the question a judge is shown.
    pub question: String,
}

/// The body for `item` on `variant`; the message says why it cannot be built (the item's
/// error, with its dataset line).
pub fn build(spec: &EvalSpec, variant: &Variant, item: &Item, lib: &Library) -> Result<Built, String> {
    let mut body = json!({
        "model": variant.target,
        "stream": true,
        "stream_options": {"include_usage": true},
        "messages": item.messages,
    });
    if let Some(n) = spec.max_tokens {
        body["max_tokens"] = json!(n);
    }
    if let Some(t) = spec.temperature {
        body["temperature"] = json!(t);
    }
    if let Some(tools) = &item.tools {
        body["tools"] = json!(tools);
    }
    let mut hashed = String::new();
    let mut question = last_user_text(&item.messages);
    match variant.prompt.as_deref().or(spec.prompt.as_deref()) {
        Some(id) => {
            let p = lib.get(id).ok_or_else(|| match &lib.dir {
                None => format!("prompt `{id}`: the config has no `[prompts] dir`"),
                Some(d) => format!("no prompt `{id}` in {}", d.display()),
            })?;
            let (messages, _) = p.render(&item.vars).map_err(|e| e.to_string())?;
            if question.is_empty() {
                question = rendered_user_text(&messages);
            }
            body["prompt"] = json!({"id": p.id(), "variables": item.vars});
            hashed = p.hash.clone();
        }
        None if !item.vars.is_empty() && item.messages.is_empty() => {
            return Err("the item has `vars` but the eval names no `prompt` to render them".into());
        }
        None => {}
    }
    let mut h = blake3::Hasher::new();
    h.update(variant.target.as_bytes());
    h.update(b"\n");
    h.update(hashed.as_bytes());
    h.update(b"\n");
    h.update(body.to_string().as_bytes());
    Ok(Built { body, key: h.finalize().to_hex()[..32].to_string(), question })
}

fn last_user_text(messages: &[Value]) -> String {
    let Some(m) = messages.iter().rev().find(|m| m["role"] == "user") else { return String::new() };
    match &m["content"] {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect(),
        _ => String::new(),
    }
}

fn rendered_user_text(messages: &[Message]) -> String {
    messages
        .iter()
        .rev()
        .find(|m| m.role == Role::User)
        .and_then(|m| m.content.as_ref())
        .map(|c| c.text())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::path::Path;

    use super::*;
    use crate::eval::dataset::parse_jsonl;
    use crate::eval::file::parse;

    const GREET: &str = "name = \"greet\"\nversion = \"2\"\n[variables.who]\ntype = \"string\"\n[[messages]]\nrole = \"user\"\ncontent = \"Greet {{ who }}.\"\n";

    fn library() -> (tempfile::TempDir, Library) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("greet.toml"), GREET).unwrap();
        let lib = crate::prompts::load_dir(dir.path()).unwrap();
        (dir, lib)
    }

    #[test]
    fn a_prompt_item_is_pinned_and_keyed() {
        let (_d, lib) = library();
        let spec = parse(
            "dataset = \"d.jsonl\"\nprompt = \"greet\"\nvariants = [\"a\", \"b\"]\nmax_tokens = 20\n[[scorers]]\nkind = \"contains\"\n",
            Path::new("/e/x.toml"),
        )
        .unwrap();
        let items = parse_jsonl(
            "{\"vars\": {\"who\": \"Ada\"}}\n{\"vars\": {\"who\": \"Bo\"}}\n{\"vars\": {\"whom\": 1}}\n",
            Path::new("/e/d.jsonl"),
        )
        .unwrap();
        let a = build(&spec, &spec.variants[0], &items[0], &lib).unwrap();
        assert_eq!(a.body["prompt"]["id"], "greet@2");
        assert_eq!(a.body["model"], "a");
        assert_eq!(a.body["max_tokens"], 20);
        assert_eq!(a.question, "Greet Ada.");
        let again = build(&spec, &spec.variants[0], &items[0], &lib).unwrap();
        assert_eq!(a.key, again.key);
        assert_ne!(a.key, build(&spec, &spec.variants[1], &items[0], &lib).unwrap().key);
        assert_ne!(a.key, build(&spec, &spec.variants[0], &items[1], &lib).unwrap().key);
        let e = build(&spec, &spec.variants[0], &items[2], &lib).unwrap_err();
        assert!(e.contains("`whom` is not one of its variables"), "{e}");
    }

    #[test]
    fn vars_without_a_prompt_are_an_error() {
        let spec =
            parse("dataset = \"d.jsonl\"\nvariants = [\"a\"]\n[[scorers]]\nkind = \"exact\"\n", Path::new("/e/x.toml"))
                .unwrap();
        let items = parse_jsonl(
            "{\"vars\": {\"who\": \"Ada\"}}\n{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}\n",
            Path::new("/e/d.jsonl"),
        )
        .unwrap();
        let lib = Library::default();
        assert!(build(&spec, &spec.variants[0], &items[0], &lib).unwrap_err().contains("names no `prompt`"));
        assert_eq!(build(&spec, &spec.variants[0], &items[1], &lib).unwrap().question, "hi");
    }
}
