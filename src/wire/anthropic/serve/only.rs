//! What a Messages request carries that the canonical form does not, gathered while it is
//! converted ([`Left`]) and written into the native request's `only`: an Anthropic vendor
//! gets all of it in the body it is sent; a vendor of another dialect drops what only
//! refines the answer (with a debug log, `wire::native::check_foreign`) and refuses what it
//! cannot be given without changing the question (the native request's `required`; its
//! value is in `only` under its path), so the router fails over to an Anthropic deployment.
//! `only` is part of the cache key, so two requests that differ in these fields never share
//! an answer.

use serde_json::{Map, Value, json};

use crate::api::Extra;
use crate::wire::native::Required;

/// Replayed thinking blocks (their JSON, in order).
pub const THINKING: &str = "messages.thinking";
/// `tool_use_id`s of tool results marked `is_error`.
pub const IS_ERROR: &str = "messages.is_error";

/// What the conversion could not carry, by request path (`messages[2].content[0]`).
#[derive(Debug, Default)]
pub struct Left {
    /// Paths of replayed `thinking` and `redacted_thinking` blocks.
    pub thinking: Vec<String>,
    /// `tool_use_id`s of tool results marked `is_error`.
    pub errors: Vec<String>,
    /// (path, what): what no other vendor can be given.
    pub unsupported: Vec<(String, String)>,
}

impl Left {
    pub fn unsupported(&mut self, at: &str, what: &str) {
        self.unsupported.push((at.to_string(), what.to_string()));
    }

    /// The `only` map: the unmodelled top-level fields (`extra`, `top_k`) as they are, and
    /// the values at the gathered paths of `body` (the request as sent); and the `required`
    /// list, what no other vendor can be given.
    pub fn into_only(self, extra: Extra, top_k: Option<u64>, body: &Value) -> (Map<String, Value>, Vec<Required>) {
        let mut only: Map<String, Value> = extra.into_iter().collect();
        if let Some(k) = top_k {
            only.insert("top_k".into(), json!(k));
        }
        if !self.thinking.is_empty() {
            let blocks = self.thinking.iter().map(|at| at_path(body, at)).collect();
            only.insert(THINKING.into(), Value::Array(blocks));
        }
        if !self.errors.is_empty() {
            only.insert(IS_ERROR.into(), json!(self.errors));
        }
        let mut required = Vec::with_capacity(self.unsupported.len());
        for (at, what) in self.unsupported {
            only.insert(at.clone(), at_path(body, &at));
            required.push(Required::new(at, what));
        }
        (only, required)
    }
}

/// The value at a request path (`messages[2].content[0]`) of `body`, or null.
fn at_path(body: &Value, at: &str) -> Value {
    let pointer: String = at.split(['.', '[']).map(|seg| format!("/{}", seg.trim_end_matches(']'))).collect();
    body.pointer(&pointer).cloned().unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_find_their_values() {
        let body = json!({"messages": [{"content": [{"type": "text"}, {"type": "thinking", "content": [1, 2]}]}]});
        assert_eq!(at_path(&body, "messages[0].content[1]")["type"], "thinking");
        assert_eq!(at_path(&body, "messages[0].content[1].content[1]"), 2);
        assert_eq!(at_path(&body, "tools[3]"), Value::Null);
    }
}
