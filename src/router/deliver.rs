//! The last step: what was produced, delivered the way the caller asked. The one place where
//! a whole answer and a stream part: a stream request gets a stream (a whole answer is
//! replayed as one), a whole request gets the whole answer. Usage and cost are noted on the
//! request here; a stream's are noted as its usage chunk passes.

use super::produce::Produced;
use super::request::{End, Tracked};
use super::stream::{ChatStream, ChunkItems};
use super::{ChatAnswer, Meta};
use crate::api::error::GatewayError;
use crate::api::{ChatRequest, Usage};
use crate::cache::{Body, Outcome, replay};

pub fn chat(
    mut t: Tracked,
    produced: Produced,
    req: &ChatRequest,
    caller_deadline: Option<tokio::time::Instant>,
) -> Result<ChatAnswer, GatewayError> {
    let (chunks, meta) = match produced {
        Produced::Stream { chunks, by } => (chunks, t.answered(by)),
        Produced::Whole { body: Body::Chat(resp), by } => {
            let mut meta = t.answered(by);
            if !req.is_stream() {
                if meta.cache != Outcome::Hit {
                    t.usage = resp.usage;
                    meta.cost_usd = t.account.cost_of(resp.usage.as_ref());
                }
                t.finish(End::Ok);
                return Ok(ChatAnswer::Full(resp, meta));
            }
            let chunks: ChunkItems = Box::pin(futures_util::stream::iter(replay::replay(&resp).into_iter().map(Ok)));
            (chunks, meta)
        }
        Produced::Whole { body: Body::Embeddings(_), .. } => {
            return Err(t.fail(GatewayError::internal("cache entry is not a chat answer")));
        }
    };
    t.account.ttft = Some(t.started.elapsed());
    Ok(ChatAnswer::Stream(ChatStream::relay(meta, chunks, req.wants_stream_usage(), caller_deadline, t)))
}

pub fn embeddings(mut t: Tracked, produced: Produced) -> Result<(serde_json::Value, Meta), GatewayError> {
    let Produced::Whole { body: Body::Embeddings(value), by } = produced else {
        return Err(t.fail(GatewayError::internal("embeddings were answered with a chat answer")));
    };
    let mut meta = t.answered(by);
    if meta.cache != Outcome::Hit {
        let prompt = value["usage"]["prompt_tokens"].as_u64().unwrap_or(0);
        t.usage = Some(Usage::new(prompt, 0));
        meta.cost_usd = t.account.cost_of(t.usage.as_ref());
    }
    t.finish(End::Ok);
    Ok((value, meta))
}
