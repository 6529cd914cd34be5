//! What the Gemini-shaped fake checks before it answers, as strictly as the Gemini API:
//! unknown fields at every level, empty parts, the JSON Schema subset of function
//! declarations, function names, and function responses that match the calls before them.

use serde_json::Value;

use super::SIGNATURE;

const TOP_LEVEL: &[&str] =
    &["contents", "systemInstruction", "tools", "toolConfig", "generationConfig", "safetySettings", "cachedContent"];
const GEN_CONFIG: &[&str] = &[
    "temperature",
    "topP",
    "topK",
    "maxOutputTokens",
    "stopSequences",
    "candidateCount",
    "seed",
    "presencePenalty",
    "frequencyPenalty",
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "thinkingConfig",
    "responseLogprobs",
    "logprobs",
];
const SCHEMA_KEYS: &[&str] = &[
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
const PART_DATA: &[&str] =
    &["text", "inlineData", "fileData", "functionCall", "functionResponse", "executableCode", "codeExecutionResult"];

pub(super) fn unknown(name: &str, at: &str) -> String {
    format!("Invalid JSON payload received. Unknown name \"{name}\" at '{at}': Cannot find field.")
}

/// The OpenAPI subset: unknown keywords and empty OBJECT properties are 400s.
fn check_schema(s: &Value, at: &str) -> Result<(), String> {
    let Some(o) = s.as_object() else { return Err(format!("{at}: schema must be an object")) };
    if let Some(k) = o.keys().find(|k| !SCHEMA_KEYS.contains(&k.as_str())) {
        return Err(unknown(k, at));
    }
    if let Some(props) = o.get("properties").and_then(Value::as_object) {
        if props.is_empty() {
            return Err(format!("{at}.properties: should be non-empty for OBJECT type"));
        }
        for (k, v) in props {
            check_schema(v, &format!("{at}.properties[{k}]"))?;
        }
    }
    if let Some(items) = o.get("items") {
        check_schema(items, &format!("{at}.items"))?;
    }
    for b in o.get("anyOf").and_then(Value::as_array).into_iter().flatten() {
        check_schema(b, &format!("{at}.anyOf"))?;
    }
    Ok(())
}

fn fn_name_ok(n: &str) -> bool {
    let mut c = n.chars();
    c.next().is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || matches!(x, '_' | '.' | ':' | '-'))
        && n.len() <= 128
}

/// generateContent's request rules (PROVIDERS.md §3.2); the error text is Gemini's.
pub fn validate(model: &str, body: &Value) -> Result<(), String> {
    let Some(obj) = body.as_object() else { return Err("body must be an object".into()) };
    if let Some(k) = obj.keys().find(|k| !TOP_LEVEL.contains(&k.as_str())) {
        return Err(unknown(k, ""));
    }
    if let Some(k) =
        body["generationConfig"].as_object().and_then(|g| g.keys().find(|k| !GEN_CONFIG.contains(&k.as_str())))
    {
        return Err(unknown(k, "generation_config"));
    }
    if let Some(s) = body["generationConfig"].get("responseSchema") {
        check_schema(s, "generation_config.response_schema")?;
    }
    for (i, d) in body["tools"][0]["functionDeclarations"].as_array().into_iter().flatten().enumerate() {
        let at = format!("tools[0].function_declarations[{i}]");
        if !d["name"].as_str().is_some_and(fn_name_ok) {
            return Err(format!("{at}.name: Invalid function name. Must start with a letter or an underscore."));
        }
        if let Some(k) = d.as_object().and_then(|o| {
            o.keys().find(|k| !matches!(k.as_str(), "name" | "description" | "parameters" | "parametersJsonSchema"))
        }) {
            return Err(unknown(k, &at));
        }
        if let Some(p) = d.get("parameters") {
            check_schema(p, &format!("{at}.parameters"))?;
        }
    }
    let Some(contents) = body["contents"].as_array().filter(|c| !c.is_empty()) else {
        return Err("* GenerateContentRequest.contents: contents is not specified".into());
    };
    let mut calls: Vec<String> = Vec::new();
    for (i, c) in contents.iter().enumerate() {
        let role = c["role"].as_str().unwrap_or("");
        if !matches!(role, "user" | "model") {
            return Err(format!("Please use a valid role: user, model. (contents[{i}].role = {role:?})"));
        }
        let Some(parts) = c["parts"].as_array().filter(|p| !p.is_empty()) else {
            return Err(format!("* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty."));
        };
        let responses: Vec<&str> = parts.iter().filter_map(|p| p["functionResponse"]["name"].as_str()).collect();
        if !calls.is_empty() || !responses.is_empty() {
            let want: Vec<&str> = calls.iter().map(String::as_str).collect();
            if role != "user" || responses != want {
                return Err(format!(
                    "Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn. (contents[{i}])"
                ));
            }
        }
        calls.clear();
        for (j, p) in parts.iter().enumerate() {
            let Some(po) = p.as_object() else { return Err(format!("contents[{i}].parts[{j}] must be an object")) };
            if let Some(k) = po
                .keys()
                .find(|k| !PART_DATA.contains(&k.as_str()) && !matches!(k.as_str(), "thought" | "thoughtSignature"))
            {
                return Err(unknown(k, &format!("contents[{i}].parts[{j}]")));
            }
            if po.keys().filter(|k| PART_DATA.contains(&k.as_str())).count() != 1 {
                return Err(format!("contents[{i}].parts[{j}]: exactly one data field must be set"));
            }
            if p.get("text").is_some_and(|t| t.as_str().is_none_or(str::is_empty)) {
                return Err(format!(
                    "* GenerateContentRequest.contents[{i}].parts[{j}].data: required oneof field 'data' must have one initialized field"
                ));
            }
            if p["thoughtSignature"].as_str().is_some_and(|s| s.starts_with("sidegate")) {
                return Err(format!("Corrupted thought signature. (contents[{i}].parts[{j}])"));
            }
            if let Some(fc) = p.get("functionCall") {
                if role != "model" || !fc["args"].is_object() {
                    return Err(format!("contents[{i}].parts[{j}].function_call: invalid"));
                }
                if model == "thinking" && p["thoughtSignature"] != SIGNATURE {
                    return Err(format!(
                        "Function call is missing a thought_signature in functionCall parts. (contents[{i}].parts[{j}])"
                    ));
                }
                calls.push(fc["name"].as_str().unwrap_or("").to_string());
            }
            if let Some(fr) = p.get("functionResponse")
                && (fr["name"].as_str().is_none_or(str::is_empty) || !fr["response"].is_object())
            {
                return Err(format!(
                    "contents[{i}].parts[{j}].function_response: name and an object response are required"
                ));
            }
        }
    }
    if !calls.is_empty() {
        return Err("Please ensure that function call turn comes immediately after a user turn or after a function response turn.".into());
    }
    Ok(())
}
