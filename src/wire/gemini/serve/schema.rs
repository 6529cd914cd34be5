//! Gemini's OpenAPI 3.0 Schema subset (`parameters`, `responseSchema`) -> JSON Schema, the
//! canonical form: enum-style type names (`OBJECT`) lowercased, `nullable: true` -> a type
//! list with `"null"` (or a `null` branch of `anyOf`), int64 counts sent as strings
//! (`"minItems": "1"`) -> numbers, `format: "enum"` dropped (the `enum` says it),
//! `propertyOrdering` kept (the calling side sends it back). The inverse of
//! `gemini::schema::convert` for everything that function writes.

use serde_json::{Map, Value, json};

use crate::wire::WireError;

const MAX_DEPTH: usize = 48;

/// Counts that proto JSON encodes as strings (int64).
const COUNTS: &[&str] = &["minItems", "maxItems", "minProperties", "maxProperties", "minLength", "maxLength"];

/// Converts a Gemini Schema at `at` (e.g. `tools[0].functionDeclarations[1].parameters`).
pub fn to_json_schema(v: &Value, at: &str) -> Result<Value, WireError> {
    node(v, at, 0)
}

fn node(v: &Value, at: &str, depth: usize) -> Result<Value, WireError> {
    if depth > MAX_DEPTH {
        return Err(WireError::invalid_at(at, "schema nested too deeply"));
    }
    let Value::Object(obj) = v else { return Err(WireError::invalid_at(at, "a schema must be an object")) };
    let mut out = Map::with_capacity(obj.len());
    let mut nullable = false;
    for (k, v) in obj {
        match k.as_str() {
            "type" => {
                let t = v.as_str().ok_or_else(|| WireError::invalid_at(at, "`type` must be a string"))?;
                if t != "TYPE_UNSPECIFIED" {
                    out.insert(k.clone(), Value::String(t.to_ascii_lowercase()));
                }
            }
            "nullable" => nullable = v.as_bool() == Some(true),
            "format" if v == "enum" => {}
            "properties" => {
                let props = v.as_object().ok_or_else(|| WireError::invalid_at(at, "`properties` must be an object"))?;
                let mut p = Map::with_capacity(props.len());
                for (name, s) in props {
                    p.insert(name.clone(), node(s, &format!("{at}.properties.{name}"), depth + 1)?);
                }
                out.insert(k.clone(), Value::Object(p));
            }
            "items" => {
                out.insert(k.clone(), node(v, &format!("{at}.items"), depth + 1)?);
            }
            "anyOf" => {
                let list = v.as_array().ok_or_else(|| WireError::invalid_at(at, "`anyOf` must be a list"))?;
                let mut branches = Vec::with_capacity(list.len() + 1);
                for (i, s) in list.iter().enumerate() {
                    branches.push(node(s, &format!("{at}.anyOf[{i}]"), depth + 1)?);
                }
                out.insert(k.clone(), Value::Array(branches));
            }
            key if COUNTS.contains(&key) => {
                out.insert(k.clone(), count(v, at, key)?);
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    if nullable {
        make_nullable(&mut out);
    }
    Ok(Value::Object(out))
}

/// `"5"` or `5` -> `5`.
fn count(v: &Value, at: &str, key: &str) -> Result<Value, WireError> {
    match v {
        Value::Number(_) => Ok(v.clone()),
        Value::String(s) => s
            .parse::<u64>()
            .map(|n| json!(n))
            .map_err(|_| WireError::invalid_at(at, format!("`{key}` must be a whole number"))),
        _ => Err(WireError::invalid_at(at, format!("`{key}` must be a whole number"))),
    }
}

/// `type: t` -> `type: [t, "null"]`; without a type, a `null` branch of `anyOf`.
fn make_nullable(out: &mut Map<String, Value>) {
    if let Some(Value::String(t)) = out.get("type") {
        let t = t.clone();
        out.insert("type".into(), json!([t, "null"]));
    } else if let Some(Value::Array(branches)) = out.get_mut("anyOf") {
        branches.push(json!({"type": "null"}));
    } else {
        // No type at all: anything, null included. Nothing to add.
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::wire::gemini::schema::convert;

    #[test]
    fn openapi_subset_becomes_json_schema_and_converts_back() {
        let gemini = json!({"type": "OBJECT", "propertyOrdering": ["city", "days"],
            "properties": {
                "city": {"type": "STRING", "nullable": true, "description": "name"},
                "unit": {"type": "STRING", "format": "enum", "enum": ["c", "f"]},
                "days": {"type": "ARRAY", "items": {"type": "INTEGER", "format": "int32"}, "minItems": "1", "maxItems": 7},
                "pick": {"anyOf": [{"type": "NUMBER"}, {"type": "BOOLEAN"}], "nullable": true}},
            "required": ["city"]});
        let js = to_json_schema(&gemini, "p").unwrap();
        assert_eq!(
            js,
            json!({"type": "object", "propertyOrdering": ["city", "days"],
                "properties": {
                    "city": {"type": ["string", "null"], "description": "name"},
                    "unit": {"type": "string", "enum": ["c", "f"]},
                    "days": {"type": "array", "items": {"type": "integer", "format": "int32"}, "minItems": 1, "maxItems": 7},
                    "pick": {"anyOf": [{"type": "number"}, {"type": "boolean"}, {"type": "null"}]}},
                "required": ["city"]})
        );
        // The calling side turns it back into Gemini's subset with the same meaning.
        let back = convert(&js, "p").unwrap();
        assert_eq!(back["properties"]["city"], json!({"type": "string", "nullable": true, "description": "name"}));
        assert_eq!(
            back["properties"]["pick"],
            json!({"nullable": true, "anyOf": [{"type": "number"}, {"type": "boolean"}]})
        );
        assert!(to_json_schema(&json!({"type": "ARRAY", "minItems": "x"}), "p").is_err());
        assert!(to_json_schema(&json!("STRING"), "p").unwrap_err().to_string().starts_with("p: "));
    }
}
