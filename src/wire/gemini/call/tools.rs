//! Tools and `tool_choice` as `functionDeclarations` and `toolConfig`.

use super::super::DIALECT as VENDOR;
use super::super::schema;
use super::super::types::{self as wire, GenerateRequest};
use crate::api::ChatRequest;
use crate::wire::WireError;
use crate::wire::canonical::{self as common, ToolMode, invalid, unsupported};

/// Function names: a letter or `_` first, then `[A-Za-z0-9_.:-]`, at most 128.
fn check_name(name: &str, at: &str) -> Result<(), WireError> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-'));
    if first_ok && rest_ok && name.len() <= 128 {
        Ok(())
    } else {
        Err(unsupported(VENDOR, format!("{at}: function name `{name}` (must start with a letter or `_`)")))
    }
}

pub fn tools<'a>(req: &'a ChatRequest, out: &mut GenerateRequest<'a>) -> Result<(), WireError> {
    let choice = common::tool_choice(VENDOR, req.tool_choice.as_ref())?;
    let mut decls = Vec::new();
    for (i, t) in req.tools.iter().flatten().enumerate() {
        let at = format!("tools[{i}]");
        if t.kind != "function" {
            return Err(unsupported(VENDOR, format!("{at}: tool type `{}`", t.kind)));
        }
        let f = t.function.as_ref().ok_or_else(|| invalid(format!("{at}: `function` is missing")))?;
        check_name(&f.name, &at)?;
        let parameters = match &f.parameters {
            None => None,
            Some(p) => {
                Some(schema::convert(p, &format!("{at}.function.parameters"))?).filter(|s| !schema::is_empty_object(s))
            }
        };
        decls.push(wire::FunctionDeclaration { name: &f.name, description: f.description.as_deref(), parameters });
    }
    if decls.is_empty() {
        return Ok(());
    }
    if req.parallel_tool_calls == Some(false) {
        tracing::debug!("parallel_tool_calls=false dropped: Gemini has no such switch");
    }
    let allowed = choice.allowed.clone().unwrap_or_default();
    let (mode, names): (&'static str, Vec<&str>) = match &choice.mode {
        ToolMode::Default => ("AUTO", Vec::new()),
        ToolMode::None => ("NONE", Vec::new()),
        ToolMode::Auto => {
            // Gemini allows allowedFunctionNames only with ANY: narrow the declarations instead.
            if choice.allowed.is_some() {
                decls.retain(|d| allowed.iter().any(|a| a == d.name));
            }
            ("AUTO", Vec::new())
        }
        ToolMode::Required => {
            ("ANY", decls.iter().filter(|d| allowed.iter().any(|a| a == d.name)).map(|d| d.name).collect())
        }
        ToolMode::Named(n) => match decls.iter().find(|d| d.name == n) {
            Some(d) => ("ANY", vec![d.name]),
            None => return Err(invalid(format!("tool_choice names `{n}`, which is not in `tools`"))),
        },
    };
    if !matches!(choice.mode, ToolMode::Default) {
        out.tool_config = Some(wire::ToolConfig {
            function_calling_config: wire::FunctionCallingConfig { mode, allowed_function_names: names },
        });
    }
    out.tools.push(wire::Tools { function_declarations: decls });
    Ok(())
}
