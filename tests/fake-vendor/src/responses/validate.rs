//! The Responses API's request rules, with OpenAI's error codes, messages and `param`s: what
//! the real API answers 400 to, so a translation mistake fails here as it would there.

use serde_json::{Map, Value};

/// A 400: `code`, message and the offending `param`.
#[derive(Debug)]
pub struct Invalid {
    pub code: &'static str,
    pub message: String,
    pub param: Option<String>,
}

type Checked = Result<(), Invalid>;

fn invalid(code: &'static str, param: &str, message: String) -> Invalid {
    Invalid { code, message, param: Some(param.to_string()) }
}

fn missing(param: &str) -> Invalid {
    invalid("missing_required_parameter", param, format!("Missing required parameter: '{param}'."))
}

fn unknown(param: &str) -> Invalid {
    invalid("unknown_parameter", param, format!("Unknown parameter: '{param}'."))
}

fn bad_value(param: &str, got: &Value, supported: &[&str]) -> Invalid {
    let list = supported.iter().map(|s| format!("'{s}'")).collect::<Vec<_>>().join(", ");
    invalid("invalid_value", param, format!("Invalid value: {got}. Supported values are: {list}."))
}

fn bad_type(param: &str, want: &str) -> Invalid {
    invalid("invalid_type", param, format!("Invalid type for '{param}': expected {want}."))
}

const TOP_LEVEL: &[&str] = &[
    "model",
    "input",
    "instructions",
    "tools",
    "tool_choice",
    "text",
    "max_output_tokens",
    "max_tool_calls",
    "temperature",
    "top_p",
    "top_logprobs",
    "parallel_tool_calls",
    "metadata",
    "user",
    "safety_identifier",
    "prompt_cache_key",
    "prompt_cache_retention",
    "prompt_cache_options",
    "service_tier",
    "store",
    "previous_response_id",
    "reasoning",
    "stream",
    "stream_options",
    "include",
    "truncation",
    "background",
    "conversation",
    "context_management",
    "prompt",
    "moderation",
];

const FUNCTION_TOOL_KEYS: &[&str] =
    &["type", "name", "description", "parameters", "strict", "output_schema", "defer_loading", "allowed_callers"];

const HOSTED_TOOLS: &[&str] = &[
    "web_search",
    "web_search_preview",
    "file_search",
    "computer_use_preview",
    "code_interpreter",
    "image_generation",
    "mcp",
    "local_shell",
    "shell",
    "apply_patch",
    "custom",
];

pub fn request(body: &Value) -> Checked {
    let Some(obj) = body.as_object() else { return Err(bad_type("body", "an object")) };
    if let Some(k) = obj.keys().find(|k| !TOP_LEVEL.contains(&k.as_str())) {
        return Err(unknown(k));
    }
    if body["model"].as_str().is_none_or(str::is_empty) {
        return Err(missing("model"));
    }
    for key in ["stream", "store", "parallel_tool_calls", "background"] {
        if obj.get(key).is_some_and(|v| !v.is_null() && !v.is_boolean()) {
            return Err(bad_type(key, "a boolean"));
        }
    }
    numbers(body)?;
    let tool_names = tools(&body["tools"])?;
    tool_choice(&body["tool_choice"], &tool_names)?;
    text(&body["text"])?;
    if let Some(e) = body["reasoning"]["effort"].as_str()
        && !["none", "minimal", "low", "medium", "high", "xhigh"].contains(&e)
    {
        return Err(bad_value("reasoning.effort", &body["reasoning"]["effort"], &["low", "medium", "high"]));
    }
    let continues = ["previous_response_id", "conversation", "prompt"].iter().any(|k| !body[*k].is_null());
    match &body["input"] {
        Value::Null if continues => Ok(()),
        Value::Null => Err(missing("input")),
        Value::String(_) => Ok(()),
        Value::Array(items) => input(items, continues),
        _ => Err(bad_type("input", "a string or an array")),
    }
}

fn numbers(body: &Value) -> Checked {
    if let Some(m) = body.get("max_output_tokens").filter(|v| !v.is_null()) {
        let Some(n) = m.as_i64() else { return Err(bad_type("max_output_tokens", "an integer")) };
        if n < 16 {
            return Err(invalid(
                "integer_below_min_value",
                "max_output_tokens",
                format!(
                    "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, but got {n} instead."
                ),
            ));
        }
    }
    for (key, max) in [("temperature", 2.0), ("top_p", 1.0)] {
        let Some(v) = body.get(key).filter(|v| !v.is_null()) else { continue };
        let Some(x) = v.as_f64() else { return Err(bad_type(key, "a number")) };
        if x > max {
            let msg = format!(
                "Invalid '{key}': decimal above maximum value. Expected a value <= {max}, but got {x} instead."
            );
            return Err(invalid("decimal_above_max_value", key, msg));
        }
        if x < 0.0 {
            let msg =
                format!("Invalid '{key}': decimal below minimum value. Expected a value >= 0, but got {x} instead.");
            return Err(invalid("decimal_below_min_value", key, msg));
        }
    }
    Ok(())
}

/// Function tools are flat (`{type, name, parameters}`), not Chat's `{type, function: {…}}`.
fn tools(tools: &Value) -> Result<Vec<String>, Invalid> {
    let list = match tools {
        Value::Null => return Ok(Vec::new()),
        Value::Array(a) => a,
        _ => return Err(bad_type("tools", "an array")),
    };
    let mut names = Vec::new();
    for (i, t) in list.iter().enumerate() {
        let at = format!("tools[{i}]");
        match t["type"].as_str() {
            Some("function") => {}
            Some(h) if HOSTED_TOOLS.contains(&h) => continue,
            _ => return Err(bad_value(&format!("{at}.type"), &t["type"], &["function", "web_search", "file_search"])),
        }
        let Some(name) = t["name"].as_str() else { return Err(missing(&format!("{at}.name"))) };
        let ok = !name.is_empty()
            && name.len() <= 64
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !ok {
            let msg = format!(
                "Invalid '{at}.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'."
            );
            return Err(invalid("invalid_value", &format!("{at}.name"), msg));
        }
        if let Some(k) = t.as_object().and_then(|o| o.keys().find(|k| !FUNCTION_TOOL_KEYS.contains(&k.as_str()))) {
            return Err(unknown(&format!("{at}.{k}")));
        }
        if !(t["parameters"].is_null() || t["parameters"].is_object()) {
            return Err(bad_type(&format!("{at}.parameters"), "an object"));
        }
        names.push(name.to_string());
    }
    Ok(names)
}

fn tool_choice(choice: &Value, names: &[String]) -> Checked {
    match choice {
        Value::Null => Ok(()),
        Value::String(s) if ["none", "auto", "required"].contains(&s.as_str()) => Ok(()),
        Value::String(_) => Err(bad_value("tool_choice", choice, &["none", "auto", "required"])),
        Value::Object(o) => match o.get("type").and_then(Value::as_str) {
            Some("function") => match o.get("name").and_then(Value::as_str) {
                None => Err(missing("tool_choice.name")),
                Some(n) if names.iter().any(|t| t == n) => Ok(()),
                Some(_) => Err(invalid(
                    "invalid_value",
                    "tool_choice",
                    "Tool choice 'function' not found in 'tools' parameter.".into(),
                )),
            },
            Some("allowed_tools") => {
                if !matches!(o.get("mode").and_then(Value::as_str), Some("auto" | "required")) {
                    return Err(bad_value("tool_choice.mode", &o["mode"], &["auto", "required"]));
                }
                if !o.get("tools").is_some_and(Value::is_array) {
                    return Err(missing("tool_choice.tools"));
                }
                Ok(())
            }
            Some(t) if HOSTED_TOOLS.contains(&t) || t.ends_with("_preview") || t == "mcp" => Ok(()),
            _ => Err(bad_value("tool_choice.type", &o["type"], &["function", "allowed_tools"])),
        },
        _ => Err(bad_type("tool_choice", "a string or an object")),
    }
}

fn text(text: &Value) -> Checked {
    let format = &text["format"];
    match format["type"].as_str() {
        None if format.is_null() => Ok(()),
        Some("text" | "json_object") => Ok(()),
        Some("json_schema") if format["name"].as_str().is_none() => Err(missing("text.format.name")),
        Some("json_schema") if !format["schema"].is_object() => Err(missing("text.format.schema")),
        Some("json_schema") => Ok(()),
        _ => Err(bad_value("text.format.type", &format["type"], &["text", "json_object", "json_schema"])),
    }
}

fn input(items: &[Value], continues: bool) -> Checked {
    let mut calls: Vec<&str> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = format!("input[{i}]");
        let Some(obj) = item.as_object() else { return Err(bad_type(&at, "an object")) };
        match item["type"].as_str() {
            None | Some("message") => message(obj, &at)?,
            Some("function_call") => {
                for k in ["call_id", "name", "arguments"] {
                    if item[k].as_str().is_none() {
                        return Err(missing(&format!("{at}.{k}")));
                    }
                }
                calls.push(item["call_id"].as_str().unwrap_or(""));
            }
            Some("function_call_output") => {
                let Some(id) = item["call_id"].as_str() else { return Err(missing(&format!("{at}.call_id"))) };
                if !(item["output"].is_string() || item["output"].is_array()) {
                    return Err(missing(&format!("{at}.output")));
                }
                if !continues && !calls.contains(&id) {
                    let msg = format!("No tool call found for function call output with call_id {id}.");
                    return Err(invalid("invalid_value", "input", msg));
                }
            }
            Some("reasoning") => {
                if !item["summary"].is_array() {
                    return Err(missing(&format!("{at}.summary")));
                }
                if let Some(enc) = item["encrypted_content"].as_str()
                    && enc != super::ENCRYPTED
                {
                    let msg = format!("The encrypted content for item {at} could not be verified.");
                    return Err(invalid("invalid_encrypted_content", "input", msg));
                }
            }
            Some(_) => {
                let supported = ["message", "function_call", "function_call_output", "reasoning", "item_reference"];
                return Err(bad_value(&format!("{at}.type"), &item["type"], &supported));
            }
        }
    }
    Ok(())
}

fn message(obj: &Map<String, Value>, at: &str) -> Checked {
    if let Some(k) = obj.keys().find(|k| !["type", "role", "content", "id", "status", "phase"].contains(&k.as_str())) {
        return Err(unknown(&format!("{at}.{k}")));
    }
    let role = obj.get("role").and_then(Value::as_str);
    let Some(role) = role.filter(|r| ["user", "assistant", "system", "developer"].contains(r)) else {
        let got = obj.get("role").cloned().unwrap_or(Value::Null);
        return Err(bad_value(&format!("{at}.role"), &got, &["user", "assistant", "system", "developer"]));
    };
    let parts = match obj.get("content") {
        Some(Value::String(_)) => return Ok(()),
        Some(Value::Array(p)) => p,
        _ => return Err(missing(&format!("{at}.content"))),
    };
    let allowed: &[&str] =
        if role == "assistant" { &["output_text", "refusal"] } else { &["input_text", "input_image", "input_file"] };
    for (j, p) in parts.iter().enumerate() {
        let pat = format!("{at}.content[{j}]");
        let kind = p["type"].as_str().unwrap_or("");
        if !allowed.contains(&kind) {
            return Err(bad_value(&format!("{pat}.type"), &p["type"], allowed));
        }
        let ok = match kind {
            "input_text" | "output_text" => p["text"].is_string(),
            "refusal" => p["refusal"].is_string(),
            "input_image" => p["image_url"].is_string() || p["file_id"].is_string(),
            _ => ["file_id", "file_data", "file_url"].iter().any(|k| p[*k].is_string()),
        };
        if !ok {
            return Err(missing(&format!("{pat}.{}", if kind == "input_image" { "image_url" } else { "text" })));
        }
        if let Some(d) = p.get("detail")
            && !matches!(d.as_str(), Some("low" | "high" | "auto" | "original"))
        {
            return Err(bad_value(&format!("{pat}.detail"), d, &["low", "high", "auto"]));
        }
    }
    Ok(())
}
