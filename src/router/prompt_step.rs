//! The first step of a chat request that names a prompt file: render it from the config's
//! library into the canonical request (and, for a request that came in another dialect, into
//! the body a same-dialect vendor is sent), before it is checked, admitted and routed.

use std::sync::Arc;

use crate::api::ChatRequest;
use crate::prompts::{Family, Library, PromptRef, apply};
use crate::wire::native::Dialect;
use crate::wire::native_prompt::{PromptParts, prepend};

/// Renders `r` into `req`; the message says what is wrong (the caller's 400).
pub fn render(lib: &Library, r: &PromptRef, req: &mut ChatRequest) -> Result<(), String> {
    let used = apply(lib, r, req).map_err(|e| e.to_string())?;
    if let Some(n) = req.native.as_mut() {
        let family = match n.dialect {
            Dialect::AnthropicMessages => Some(Family::Anthropic),
            Dialect::Gemini => Some(Family::Gemini),
            Dialect::OpenAiResponses => Some(Family::OpenAi),
            Dialect::OpenAiChat | Dialect::OpenAiEmbeddings => None,
        };
        // A same-dialect vendor is of this family: it gets the family's own phrasing.
        let messages = used.messages_for(family).unwrap_or(&req.messages[..used.prefix]);
        let p = lib.get(&r.id);
        let parts = PromptParts {
            messages,
            tools: p.and_then(|p| p.tools.as_deref()),
            response_format: p.and_then(|p| p.response_format.as_ref()),
        };
        prepend(Arc::make_mut(n), &parts).map_err(|e| format!("prompt `{}`: {e}", used.id))?;
    }
    req.prompt = Some(used);
    Ok(())
}
