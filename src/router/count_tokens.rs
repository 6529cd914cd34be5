//! Token counting for a caller's prompt (the Gemini front's `:countTokens`): the caller is
//! identified and its route checked as for any request; when the first deployment the plan
//! picks is Gemini, Gemini counts (the caller's own countTokens body, the answer as Gemini
//! sent it); otherwise, or when that call fails for a reason other than the request, the
//! estimate the router uses for limits answers. No tokens are spent, so no limit or budget
//! is taken, and the ledger row has no usage.

use bytes::Bytes;
use serde_json::{Map, Value};

use super::plan::{self, Needs};
use super::request::{End, Tracked};
use super::{CallOptions, Gateway, failed};
use crate::api::ChatRequest;
use crate::api::error::GatewayError;
use crate::providers::{Action, Provider, ProviderError};

/// A prompt's token count.
#[derive(Debug, Clone, PartialEq)]
pub enum TokenCount {
    /// Gemini's countTokens answer, verbatim.
    Vendor(Bytes),
    /// The router's estimate (about 4 characters a token, plus per-message overhead).
    Estimate(u64),
}

impl Gateway {
    /// Counts `req`'s prompt tokens; `body` is the caller's countTokens body, for a Gemini
    /// deployment.
    pub async fn count_tokens(
        &self,
        req: &ChatRequest,
        body: &Map<String, Value>,
        mut opts: CallOptions,
    ) -> Result<TokenCount, GatewayError> {
        let mut t =
            Tracked::start(&self.stats, std::mem::take(&mut opts.request_id), opts.label.take(), false, opts.dialect);
        let live = self.current();
        let snap = &live.snapshot;
        let needs = Needs { max_output: Some(0), ..Needs::chat(req, opts.regions.take()) };
        let name = opts.route.as_deref().unwrap_or(&req.model);
        if let Err(e) = self.accounting.authorize(snap, &opts.credential, name, &mut t) {
            return Err(t.fail(e));
        }
        let plan = plan::plan(snap, name, &needs, &self.health).map_err(|e| t.fail(e))?;
        t.route.clone_from(&plan.route);
        let first = plan.candidates.first();
        if let Some(dep) = first
            && let Some(Provider::Gemini(g)) = live.provider(&dep.provider.name)
        {
            let timeout = opts.timeout.map_or(plan.timing.timeout, |d| d.min(plan.timing.timeout));
            let call = tokio::time::timeout(timeout, g.count_tokens(body, &dep.vendor_model)).await;
            let call = call.unwrap_or_else(|_| Err(ProviderError::timeout("countTokens", timeout)));
            match call {
                Ok(bytes) => {
                    t.deployment.clone_from(&dep.name);
                    t.attempts = 1;
                    t.finish(End::Ok);
                    return Ok(TokenCount::Vendor(bytes));
                }
                Err(e) if e.failure.action() == Action::Return => return Err(t.fail(failed::caller_error(&e, vec![]))),
                Err(e) => tracing::warn!(deployment = %dep.name, error = %e.message,
                    "countTokens failed at the vendor; answering with the estimate"),
            }
        }
        t.finish(End::Ok);
        Ok(TokenCount::Estimate(needs.prompt_tokens))
    }
}
