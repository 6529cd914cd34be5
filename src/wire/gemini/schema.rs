//! JSON Schema (what OpenAI tools and `json_schema` carry) -> the OpenAPI 3.0 subset Gemini
//! accepts in `parameters` and `responseSchema`. Converted: `$ref`/`$defs` inlined, type
//! arrays with "null" -> `nullable`, `const` -> one-value `enum`, `oneOf` -> `anyOf`,
//! single-element `allOf` merged. Dropped (constraints Gemini rejects, logged):
//! `additionalProperties`, `$schema`, `strict`, `exclusiveMinimum`, … Rejected with a clear
//! 400: recursive `$ref`s, external refs, non-string `const`, multi-element `allOf`.

use serde_json::{Map, Value};

use super::DIALECT as VENDOR;
use crate::wire::WireError;
use crate::wire::canonical::unsupported;
const MAX_DEPTH: usize = 48;

/// Keys Gemini's Schema object knows; every other key is dropped.
const KEEP: &[&str] = &[
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "maxItems",
    "minItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "anyOf",
    "propertyOrdering",
    "default",
    "items",
    "minimum",
    "maximum",
];

/// Converts `schema`; `at` names it in errors (e.g. `tools[0].function.parameters`).
pub fn convert(schema: &Value, at: &str) -> Result<Value, WireError> {
    let defs = schema.get("$defs").or_else(|| schema.get("definitions")).and_then(Value::as_object);
    let mut cx = Cx { defs, at, stack: Vec::new(), dropped: Vec::new() };
    let out = cx.node(schema, 0)?;
    if !cx.dropped.is_empty() {
        cx.dropped.sort_unstable();
        cx.dropped.dedup();
        tracing::debug!(at, keys = ?cx.dropped, "JSON Schema keys Gemini does not accept were dropped");
    }
    Ok(out)
}

/// True for `{"type":"object"}` with no properties: Gemini wants `parameters` omitted then.
pub fn is_empty_object(v: &Value) -> bool {
    v.get("type").and_then(Value::as_str) == Some("object")
        && v.get("properties").and_then(Value::as_object).is_none_or(Map::is_empty)
        && v.get("anyOf").is_none()
}

struct Cx<'d> {
    /// The root's `$defs`, where local `$ref`s point.
    defs: Option<&'d Map<String, Value>>,
    at: &'d str,
    /// `$ref` names being inlined (a repeat is a recursive schema).
    stack: Vec<String>,
    dropped: Vec<String>,
}

impl Cx<'_> {
    fn fail(&self, what: impl std::fmt::Display) -> WireError {
        unsupported(VENDOR, format!("{}: {what}", self.at))
    }

    fn node(&mut self, v: &Value, depth: usize) -> Result<Value, WireError> {
        if depth > MAX_DEPTH {
            return Err(self.fail("schema nested too deeply"));
        }
        let obj = match v {
            Value::Object(o) => o,
            Value::Bool(true) => return Ok(Value::Object(Map::new())),
            _ => return Err(self.fail("a schema must be an object")),
        };
        if let Some(r) = obj.get("$ref").and_then(Value::as_str) {
            return self.reference(r, obj, depth);
        }
        // `type: [a, "null"]` -> nullable a; `type: [a, b]` -> anyOf of each.
        if let Some(types) = obj.get("type").and_then(Value::as_array) {
            let names: Vec<&str> = types.iter().filter_map(Value::as_str).collect();
            let nullable = names.contains(&"null");
            let real: Vec<&str> = names.into_iter().filter(|t| *t != "null").collect();
            let with_type = |t: &str| {
                let mut one = obj.clone();
                one.insert("type".into(), Value::String(t.to_string()));
                Value::Object(one)
            };
            let mut out = match real.as_slice() {
                [one] => self.node(&with_type(one), depth + 1)?,
                many => {
                    let mut branches = Vec::new();
                    for t in many {
                        branches.push(self.node(&with_type(t), depth + 1)?);
                    }
                    let mut m = Map::new();
                    m.insert("anyOf".into(), Value::Array(branches));
                    Value::Object(m)
                }
            };
            if nullable && let Some(o) = out.as_object_mut() {
                o.insert("nullable".into(), Value::Bool(true));
            }
            return Ok(out);
        }
        self.object(obj, depth)
    }

    fn reference(&mut self, r: &str, obj: &Map<String, Value>, depth: usize) -> Result<Value, WireError> {
        let name = r
            .strip_prefix("#/$defs/")
            .or_else(|| r.strip_prefix("#/definitions/"))
            .ok_or_else(|| self.fail(format!("`$ref` `{r}` (only local #/$defs refs can be inlined)")))?;
        if self.stack.iter().any(|s| s == name) {
            return Err(self.fail(format!("recursive `$ref` `{r}` cannot be inlined")));
        }
        let target = self.defs.and_then(|d| d.get(name)).ok_or_else(|| self.fail(format!("`$ref` `{r}` not found")))?;
        self.stack.push(name.to_string());
        let mut out = self.node(target, depth + 1)?;
        self.stack.pop();
        // Sibling keys of `$ref` (description, nullable) refine the inlined schema.
        if let Some(o) = out.as_object_mut() {
            for key in ["description", "nullable", "title"] {
                if let Some(v) = obj.get(key) {
                    o.insert(key.into(), v.clone());
                }
            }
        }
        Ok(out)
    }

    fn object(&mut self, obj: &Map<String, Value>, depth: usize) -> Result<Value, WireError> {
        let mut out = Map::new();
        if let Some(all) = obj.get("allOf").and_then(Value::as_array) {
            match all.as_slice() {
                [one] => {
                    if let Value::Object(m) = self.node(one, depth + 1)? {
                        out.extend(m);
                    }
                }
                _ => return Err(self.fail("`allOf` with more than one schema")),
            }
        }
        for (k, v) in obj {
            match k.as_str() {
                "allOf" | "$defs" | "definitions" => {}
                "properties" => self.properties(v, depth, &mut out)?,
                "items" => match v {
                    Value::Object(_) | Value::Bool(true) => {
                        out.insert(k.clone(), self.node(v, depth + 1)?);
                    }
                    _ => return Err(self.fail("tuple `items` (a list of schemas)")),
                },
                "anyOf" | "oneOf" => self.any_of(k, v, depth, &mut out)?,
                "const" => match v {
                    Value::String(_) => {
                        out.insert("enum".into(), Value::Array(vec![v.clone()]));
                        out.entry("type").or_insert(Value::String("string".into()));
                    }
                    _ => return Err(self.fail("non-string `const`")),
                },
                "format" => self.format(obj, v, &mut out),
                key if KEEP.contains(&key) => {
                    out.entry(k.clone()).or_insert_with(|| v.clone());
                }
                other => self.dropped.push(other.to_string()),
            }
        }
        prune_required(&mut out);
        Ok(Value::Object(out))
    }

    /// `properties`, each converted; an empty map is left out (an OBJECT with empty
    /// properties is a 400).
    fn properties(&mut self, v: &Value, depth: usize, out: &mut Map<String, Value>) -> Result<(), WireError> {
        let Some(props) = v.as_object() else { return Err(self.fail("`properties` must be an object")) };
        if props.is_empty() {
            return Ok(());
        }
        let mut p = Map::new();
        for (name, s) in props {
            p.insert(name.clone(), self.node(s, depth + 1)?);
        }
        out.insert("properties".into(), Value::Object(p));
        Ok(())
    }

    /// `anyOf`/`oneOf`: a `null` branch becomes `nullable`; one branch left is merged in.
    fn any_of(&mut self, k: &str, v: &Value, depth: usize, out: &mut Map<String, Value>) -> Result<(), WireError> {
        let Some(list) = v.as_array() else { return Err(self.fail(format!("`{k}` must be a list"))) };
        let mut branches = Vec::new();
        for s in list {
            if s.get("type").and_then(Value::as_str) == Some("null") {
                out.insert("nullable".into(), Value::Bool(true));
            } else {
                branches.push(self.node(s, depth + 1)?);
            }
        }
        if branches.len() == 1 {
            if let Some(Value::Object(m)) = branches.pop() {
                out.extend(m);
            }
        } else if !branches.is_empty() {
            out.insert("anyOf".into(), Value::Array(branches));
        }
        Ok(())
    }

    /// `format`: only the ones Gemini knows for the node's type are kept.
    fn format(&mut self, obj: &Map<String, Value>, v: &Value, out: &mut Map<String, Value>) {
        let ty = obj.get("type").and_then(Value::as_str).unwrap_or("");
        let f = v.as_str().unwrap_or("");
        let ok = match ty {
            "string" => matches!(f, "enum" | "date-time"),
            "number" | "integer" => matches!(f, "float" | "double" | "int32" | "int64"),
            _ => false,
        };
        if ok {
            out.insert("format".into(), v.clone());
        } else {
            self.dropped.push(format!("format:{f}"));
        }
    }
}

/// `required` may only name properties that exist.
fn prune_required(out: &mut Map<String, Value>) {
    if let Some(Value::Array(req)) = out.get("required").cloned() {
        let props = out.get("properties").and_then(Value::as_object);
        let kept: Vec<Value> =
            req.into_iter().filter(|r| r.as_str().is_some_and(|n| props.is_some_and(|p| p.contains_key(n)))).collect();
        if kept.is_empty() {
            out.remove("required");
        } else {
            out.insert("required".into(), Value::Array(kept));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn converts_the_subset_gemini_accepts() {
        let s = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "city": {"type": ["string", "null"], "description": "name"},
                "unit": {"const": "c"},
                "when": {"type": "string", "format": "date-time"},
                "mail": {"type": "string", "format": "email"},
                "tags": {"type": "array", "items": {"$ref": "#/$defs/Tag"}},
                "pick": {"oneOf": [{"type": "integer"}, {"type": "string"}]},
                "maybe": {"anyOf": [{"type": "number"}, {"type": "null"}]},
                "free": {"type": "object"}
            },
            "required": ["city", "ghost"],
            "$defs": {"Tag": {"type": "object", "properties": {"k": {"type": "string"}}, "additionalProperties": false}}
        });
        let g = convert(&s, "t").unwrap();
        assert_eq!(
            g,
            json!({
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "name", "nullable": true},
                    "unit": {"enum": ["c"], "type": "string"},
                    "when": {"type": "string", "format": "date-time"},
                    "mail": {"type": "string"},
                    "tags": {"type": "array", "items": {"type": "object", "properties": {"k": {"type": "string"}}}},
                    "pick": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
                    "maybe": {"type": "number", "nullable": true},
                    "free": {"type": "object"}
                },
                "required": ["city"]
            })
        );
        assert!(is_empty_object(&convert(&json!({"type": "object", "properties": {}}), "t").unwrap()));
    }

    #[test]
    fn rejects_what_cannot_be_expressed() {
        let rec = json!({"$ref": "#/$defs/N", "$defs": {"N": {"type": "object", "properties": {"next": {"$ref": "#/$defs/N"}}}}});
        assert!(convert(&rec, "p").unwrap_err().to_string().contains("recursive"));
        assert!(convert(&json!({"$ref": "https://x/s.json"}), "p").is_err());
        assert!(convert(&json!({"allOf": [{"type": "object"}, {"type": "object"}]}), "p").is_err());
        assert!(convert(&json!({"const": 3}), "p").unwrap_err().to_string().contains("p: non-string"));
    }
}
