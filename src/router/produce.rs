//! What a request's answer comes from, in one shape whatever produced it: a whole answer or a
//! stream of chunks, plus who answered. The attempt loop (`direct`, below) and the cache step
//! (`cache_step`) both produce a `Produced`; `deliver` turns it into what the caller asked for.

use std::sync::Arc;

use super::Live;
use super::admit::Admitted;
use super::attempt::{self, Answer, Job};
use super::health::Health;
use super::request::Answerer;
use super::stream::{ChunkItems, vendor_chunks};
use crate::api::error::{AttemptRecord, GatewayError};
use crate::cache::{Body, Origin, Outcome};
use crate::config::ModelSettings;

pub enum Produced {
    /// A complete answer: from a vendor, a stored entry, or a shared call that finished.
    Whole { body: Body, by: Answerer },
    /// A committed stream: a vendor's, or a shared call's still in progress.
    Stream { chunks: ChunkItems, by: Answerer },
}

/// No cache on the way: the attempt loop produces the answer.
pub async fn direct(live: &Live, health: &Health, admitted: &Admitted, job: Job<'_>) -> Result<Produced, GatewayError> {
    let plan = &admitted.plan;
    let out = attempt::run(live, health, plan, &job, admitted.deadline).await?;
    let by = vendor_answerer(&out.deployment, out.attempts, Outcome::Bypass);
    Ok(match out.value {
        Answer::Complete(resp) => Produced::Whole { body: Body::Chat(Box::new(resp)), by },
        Answer::Embed(v) => Produced::Whole { body: Body::Embeddings(v), by },
        Answer::Stream(c) => {
            Produced::Stream { chunks: vendor_chunks(c, plan.timing.stream_idle_timeout, out.ticket), by }
        }
    })
}

/// `dep` answered after `calls`; the answer is priced at its price.
pub fn vendor_answerer(dep: &Arc<ModelSettings>, calls: Vec<AttemptRecord>, cache: Outcome) -> Answerer {
    Answerer { origin: origin_of(dep), cache, calls, priced_by: Some(dep.clone()) }
}

pub fn origin_of(dep: &ModelSettings) -> Origin {
    Origin { provider: dep.provider.name.clone(), deployment: dep.name.clone(), vendor_model: dep.vendor_model.clone() }
}
