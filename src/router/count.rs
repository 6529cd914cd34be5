//! Counting a request's input tokens without answering it (Anthropic's `POST
//! /v1/messages/count_tokens`, Gemini's `:countTokens`): the caller and route are checked as
//! for a call. The count is the vendor's own when the caller's dialect can count and one of
//! the route's eligible deployments speaks it (an Anthropic deployment for a Messages caller,
//! a Gemini one for a Gemini caller: the caller's request goes as sent, the answer comes back
//! as the vendor wrote it); otherwise the estimate the router uses for limits and context
//! windows (about 4 characters a token plus 4 a message). A vendor count that fails for a
//! reason other than the request falls back to the estimate (logged); a request the vendor
//! rejects is the caller's error. No limit or budget is taken: counting costs nothing.

use std::sync::Arc;

use bytes::Bytes;

use super::request::{End, Tracked};
use super::{CallOptions, Gateway, failed, plan};
use crate::api::ChatRequest;
use crate::api::error::GatewayError;
use crate::config::ModelSettings;
use crate::providers::{Action, Provider, ProviderError};
use crate::wire::native::{Dialect, NativeRequest};

/// A token count: the vendor's answer body as it came, or sidegate's estimate.
#[derive(Debug, Clone, PartialEq)]
pub enum TokenCount {
    /// The vendor's body (`{"input_tokens": N}`, `{"totalTokens": N}`) and the deployment
    /// that counted.
    Vendor {
        body: Bytes,
        deployment: String,
    },
    Estimate(u64),
}

impl Gateway {
    /// The input tokens `req` would take on the route it names.
    pub async fn count_tokens(&self, req: &ChatRequest, mut opts: CallOptions) -> Result<TokenCount, GatewayError> {
        let id = std::mem::take(&mut opts.request_id);
        let mut t = Tracked::start(&self.stats, id, opts.label.take(), false, opts.dialect);
        let live = self.current();
        // A prompt the request names is counted as it would be sent.
        let rendered;
        let req = match opts.prompt.take() {
            None => req,
            Some(r) => {
                let mut with = req.clone();
                let done = r.and_then(|r| super::prompt_step::render(&live.snapshot.prompts, &r, &mut with));
                if let Err(m) = done {
                    return Err(t.fail(GatewayError::invalid(m, Some("prompt"))));
                }
                t.prompt = with.prompt.as_ref().map(|p| p.id.clone());
                rendered = with;
                &rendered
            }
        };
        let name = opts.route.as_deref().unwrap_or(&req.model);
        if let Err(e) = self.accounting.authorize(&live.snapshot, &opts.credential, name, &mut t) {
            return Err(t.fail(e));
        }
        // No output is asked for: the context-window filter must not reserve any.
        let needs = plan::Needs { max_output: Some(0), ..plan::Needs::chat(req, opts.regions.take()) };
        let plan = match plan::plan(&live.snapshot, name, &needs, &self.health) {
            Ok(p) => p,
            Err(e) => return Err(t.fail(e)),
        };
        t.route.clone_from(&plan.route);
        let counter = req.native.as_deref().and_then(|n| {
            plan.candidates
                .iter()
                .find_map(|m| live.provider(&m.provider.name).filter(|p| counts(p, n)).map(|p| (p, m)))
        });
        if let (Some((p, m)), Some(n)) = (counter, req.native.as_deref()) {
            let timeout = opts.timeout.map_or(plan.timing.timeout, |d| d.min(plan.timing.timeout));
            match tokio::time::timeout(timeout, vendor_count(p, n, m)).await {
                Ok(Ok(body)) => {
                    t.deployment.clone_from(&m.name);
                    t.attempts = 1;
                    t.finish(End::Ok);
                    return Ok(TokenCount::Vendor { body, deployment: m.name.clone() });
                }
                Ok(Err(e)) if e.failure.action() == Action::Return => {
                    return Err(t.fail(failed::caller_error(&e, vec![])));
                }
                Ok(Err(e)) => {
                    tracing::warn!(deployment = %m.name, error = %e.message, "token count failed; estimating")
                }
                Err(_) => tracing::warn!(deployment = %m.name, "token count timed out; estimating"),
            }
        }
        t.finish(End::Ok);
        Ok(TokenCount::Estimate(needs.prompt_tokens))
    }
}

/// Whether `p` counts tokens for a caller of `n`'s dialect.
fn counts(p: &Provider, n: &NativeRequest) -> bool {
    matches!(
        (p, n.dialect),
        (Provider::Anthropic(_), Dialect::AnthropicMessages) | (Provider::Gemini(_), Dialect::Gemini)
    )
}

async fn vendor_count(p: &Provider, n: &NativeRequest, m: &Arc<ModelSettings>) -> Result<Bytes, ProviderError> {
    match p {
        Provider::Anthropic(a) => a.count_tokens(n, &m.vendor_model).await,
        Provider::Gemini(g) => g.count_tokens(&n.body, &m.vendor_model).await,
        _ => Err(ProviderError::new(crate::providers::Failure::Unsupported, "this vendor has no token count")),
    }
}
