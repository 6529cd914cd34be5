//! Counting a request's input tokens without answering it (Anthropic's
//! `POST /v1/messages/count_tokens`): the caller and route are checked as for a call; the
//! count is the vendor's own when the route's first eligible deployment that can count is an
//! Anthropic one and the caller spoke Messages (its request is passed through), else the
//! estimate the router uses for limits and context windows (about 4 characters a token plus
//! 4 a message). A failed vendor count falls back to the estimate (logged). No limit or budget
//! is taken: counting costs nothing.

use std::sync::Arc;

use bytes::Bytes;

use super::request::{End, Tracked};
use super::{CallOptions, Gateway, plan};
use crate::api::ChatRequest;
use crate::api::error::GatewayError;
use crate::providers::Provider;
use crate::wire::native::{self, Dialect};

/// A token count: the vendor's answer body as it came, or sidegate's estimate.
#[derive(Debug, Clone, PartialEq)]
pub enum TokenCount {
    /// The vendor's body (`{"input_tokens": N}` for Anthropic) and the deployment that counted.
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
        let name = opts.route.as_deref().unwrap_or(&req.model);
        if let Err(e) = self.accounting.authorize(&live.snapshot, &opts.credential, name, &mut t) {
            return Err(t.fail(e));
        }
        let needs = plan::Needs::chat(req, opts.regions.take());
        let plan = match plan::plan(&live.snapshot, name, &needs, &self.health) {
            Ok(p) => p,
            Err(e) => return Err(t.fail(e)),
        };
        t.route.clone_from(&plan.route);
        let counter = native::of(&req.native, Dialect::AnthropicMessages).and_then(|n| {
            plan.candidates.iter().find_map(|m| match live.provider(&m.provider.name) {
                Some(Provider::Anthropic(p)) => Some((n, p, Arc::clone(m))),
                _ => None,
            })
        });
        if let Some((n, p, m)) = counter {
            let call = tokio::time::timeout(plan.timing.timeout, p.count_tokens(n, &m.vendor_model)).await;
            match call {
                Ok(Ok(body)) => {
                    t.deployment.clone_from(&m.name);
                    t.finish(End::Ok);
                    return Ok(TokenCount::Vendor { body, deployment: m.name.clone() });
                }
                Ok(Err(e)) => {
                    tracing::warn!(deployment = %m.name, error = %e.message, "count_tokens failed; estimating")
                }
                Err(_) => tracing::warn!(deployment = %m.name, "count_tokens timed out; estimating"),
            }
        }
        t.finish(End::Ok);
        Ok(TokenCount::Estimate(needs.prompt_tokens))
    }
}
