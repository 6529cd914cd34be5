//! Where a request names a prompt file: the body's `prompt` field (every JSON ingress; for
//! Chat Completions an extension field), the `x-sidegate-prompt` header (with its variables
//! as a JSON object in `x-sidegate-prompt-variables`), or the native `options.prompt`. Read
//! here, checked by the router, so a malformed one is a 400 with its request's log line.

use serde_json::Value;

use crate::prompts::PromptRef;

/// The prompt a request names, from its body field and its headers; `None`: it names none.
pub fn read(
    body: Option<Value>,
    header_id: Option<&str>,
    header_vars: Option<&str>,
) -> Option<Result<PromptRef, String>> {
    match (body, header_id) {
        (Some(_), Some(_)) => {
            Some(Err("the prompt is named twice, in the body's `prompt` and in `x-sidegate-prompt`: give one".into()))
        }
        (Some(_), None) if header_vars.is_some() => {
            Some(Err("`x-sidegate-prompt-variables` goes with `x-sidegate-prompt`, not with a `prompt` field".into()))
        }
        (Some(v), None) => Some(PromptRef::from_json(&v).map_err(|e| e.to_string())),
        (None, Some(id)) => Some(from_header(id, header_vars)),
        (None, None) => header_vars.map(|_| Err("`x-sidegate-prompt-variables` without `x-sidegate-prompt`".into())),
    }
}

fn from_header(id: &str, vars: Option<&str>) -> Result<PromptRef, String> {
    let variables = match vars.map(serde_json::from_str::<Value>) {
        None => serde_json::Map::new(),
        Some(Ok(Value::Object(m))) => m,
        Some(Ok(_)) => return Err("`x-sidegate-prompt-variables` must be a JSON object".into()),
        Some(Err(e)) => return Err(format!("`x-sidegate-prompt-variables` is not JSON: {e}")),
    };
    Ok(PromptRef { id: id.trim().to_string(), variables })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    #[test]
    fn body_header_and_their_conflicts() {
        assert!(read(None, None, None).is_none());
        let r = read(Some(json!({"id": "greet@2", "variables": {"who": "A"}})), None, None).unwrap().unwrap();
        assert_eq!((r.id.as_str(), r.variables["who"].as_str()), ("greet@2", Some("A")));
        let r = read(None, Some("greet"), Some(r#"{"who": "B"}"#)).unwrap().unwrap();
        assert_eq!((r.id.as_str(), r.variables["who"].as_str()), ("greet", Some("B")));
        for (body, id, vars, says) in [
            (Some(json!("greet")), Some("greet"), None, "named twice"),
            (None, Some("greet"), Some("[1]"), "must be a JSON object"),
            (None, Some("greet"), Some("{"), "is not JSON"),
            (None, None, Some("{}"), "without `x-sidegate-prompt`"),
            (Some(json!(5)), None, None, "`prompt` must be"),
        ] {
            let e = read(body, id, vars).unwrap().unwrap_err();
            assert!(e.contains(says), "{e}");
        }
    }
}
