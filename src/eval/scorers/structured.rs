//! The scorers that read the answer's structure: JSON valid against a schema, a JSON field's
//! value, and the tool calls made.

use serde_json::Value;

use super::{ToolCall, short};

/// The answer as JSON: the whole text, else the inside of a ```json fence, else the span from
/// the first `{`/`[` to the last `}`/`]` (models like to talk around their JSON).
pub fn answer_json(text: &str) -> Option<Value> {
    let t = text.trim();
    if let Ok(v) = serde_json::from_str(t) {
        return Some(v);
    }
    if let Some(start) = t.find("```") {
        let body = &t[start + 3..];
        let body = body.strip_prefix("json").unwrap_or(body);
        if let Some(end) = body.find("```")
            && let Ok(v) = serde_json::from_str(body[..end].trim())
        {
            return Some(v);
        }
    }
    let open = t.find(['{', '['])?;
    let close = t.rfind(['}', ']'])?;
    (close > open).then(|| serde_json::from_str(&t[open..=close]).ok()).flatten()
}

pub fn json_schema(text: &str, validator: &jsonschema::Validator) -> (f64, String) {
    let Some(v) = answer_json(text) else { return (0.0, "the answer is not JSON".into()) };
    let errors: Vec<String> =
        validator.iter_errors(&v).take(3).map(|e| format!("{} at `{}`", e, e.instance_path())).collect();
    if errors.is_empty() { (1.0, "valid against the schema".into()) } else { (0.0, errors.join("; ")) }
}

/// The value at a dotted `path` (`a.b.0.c`; an empty path is the whole value).
pub fn at_path<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    if path.is_empty() {
        return Some(v);
    }
    path.split('.').try_fold(v, |v, seg| match v {
        Value::Object(o) => o.get(seg),
        Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    })
}

/// Equal as JSON, with numbers compared by value (`1` equals `1.0`).
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, p)| y.get(k).is_some_and(|q| json_eq(p, q)))
        }
        (a, b) => a == b,
    }
}

pub fn json_field(text: &str, path: &str, wanted: &Value) -> (f64, String) {
    let Some(v) = answer_json(text) else { return (0.0, "the answer is not JSON".into()) };
    match at_path(&v, path) {
        None => (0.0, format!("no `{path}` in the answer")),
        Some(got) if json_eq(got, wanted) => (1.0, format!("`{path}` = {}", short(wanted))),
        Some(got) => (0.0, format!("`{path}` is {}, not {}", short(got), short(wanted))),
    }
}

/// Each expected call (`{"name", "arguments"}`; `arguments` optional, its keys compared) is
/// among the answer's calls. Per call: half for the name, half for the share of expected
/// arguments that match; the score is the mean over the expected calls.
pub fn tool_call(calls: &[ToolCall], expect: &Value) -> (f64, String) {
    let wanted: Vec<&Value> = match expect {
        Value::Array(a) => a.iter().collect(),
        Value::Null => return (0.0, "no tool call expected (set `expect`)".into()),
        v => vec![v],
    };
    if calls.is_empty() {
        return (0.0, "the answer calls no tool".into());
    }
    let mut total = 0.0;
    let mut reasons = Vec::new();
    for w in &wanted {
        let Some(name) = w.get("name").and_then(Value::as_str) else {
            reasons.push(format!("the expectation {} has no `name`", short(w)));
            continue;
        };
        let best = calls
            .iter()
            .filter(|c| c.name == name)
            .map(|c| (0.5 + 0.5 * argument_share(&c.arguments, w.get("arguments")), c))
            .max_by(|a, b| a.0.total_cmp(&b.0));
        match best {
            None => {
                let made: Vec<&str> = calls.iter().map(|c| c.name.as_str()).collect();
                reasons.push(format!("no call to `{name}` (called: {})", made.join(", ")));
            }
            Some((s, _)) if s >= 1.0 => {
                total += s;
                reasons.push(format!("`{name}` called with the expected arguments"));
            }
            Some((s, c)) => {
                total += s;
                reasons.push(format!("`{name}` called with {}", short(&c.arguments)));
            }
        }
    }
    (total / wanted.len() as f64, reasons.join("; "))
}

fn argument_share(got: &Value, wanted: Option<&Value>) -> f64 {
    match wanted {
        None | Some(Value::Null) => 1.0,
        Some(Value::Object(w)) if w.is_empty() => 1.0,
        Some(Value::Object(w)) => {
            let hit = w.iter().filter(|(k, v)| got.get(k.as_str()).is_some_and(|g| json_eq(g, v))).count();
            hit as f64 / w.len() as f64
        }
        Some(w) => f64::from(u8::from(json_eq(got, w))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    #[test]
    fn json_is_found_around_talk_and_fences() {
        assert_eq!(answer_json(" {\"a\": 1} "), Some(json!({"a": 1})));
        assert_eq!(answer_json("Here:\n```json\n{\"a\": [1]}\n```\nDone."), Some(json!({"a": [1]})));
        assert_eq!(answer_json("Sure! {\"a\": 2} Hope it helps."), Some(json!({"a": 2})));
        assert_eq!(answer_json("no json"), None);
    }

    #[test]
    fn schema_valid_and_invalid() {
        let schema = json!({"type": "object", "required": ["name"], "properties": {"age": {"type": "integer"}}});
        let v = jsonschema::validator_for(&schema).unwrap();
        assert_eq!(json_schema("{\"name\": \"Ada\", \"age\": 36}", &v).0, 1.0);
        let (s, why) = json_schema("{\"age\": \"old\"}", &v);
        assert_eq!(s, 0.0);
        assert!(why.contains("name") && why.contains("/age"), "{why}");
        assert_eq!(json_schema("nope", &v), (0.0, "the answer is not JSON".into()));
    }

    #[test]
    fn field_at_a_path() {
        let a = "{\"user\": {\"tags\": [\"x\", \"y\"], \"n\": 2.0}}";
        assert_eq!(json_field(a, "user.tags.1", &json!("y")).0, 1.0);
        assert_eq!(json_field(a, "user.n", &json!(2)).0, 1.0);
        assert!(json_field(a, "user.n", &json!(3)).1.contains("is 2.0, not 3"));
        assert!(json_field(a, "user.missing", &json!(3)).1.contains("no `user.missing`"));
    }

    #[test]
    fn tool_calls_by_name_and_arguments() {
        let calls = vec![ToolCall { name: "weather".into(), arguments: json!({"city": "Paris", "unit": "C"}) }];
        assert_eq!(tool_call(&calls, &json!({"name": "weather", "arguments": {"city": "Paris"}})).0, 1.0);
        assert_eq!(tool_call(&calls, &json!({"name": "weather"})).0, 1.0);
        assert_eq!(tool_call(&calls, &json!({"name": "weather", "arguments": {"city": "Rome", "unit": "C"}})).0, 0.75);
        let (s, why) = tool_call(&calls, &json!({"name": "search"}));
        assert_eq!(s, 0.0);
        assert!(why.contains("no call to `search` (called: weather)"), "{why}");
        assert_eq!(tool_call(&[], &json!({"name": "weather"})).0, 0.0);
        let both = json!([{"name": "weather"}, {"name": "search"}]);
        assert_eq!(tool_call(&calls, &both).0, 0.5);
    }
}
