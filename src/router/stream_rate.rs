//! A route's `min_stream_rate`: before a stream is committed to the caller, it must deliver
//! enough output soon enough. Its chunks are held from the first output until the stream has
//! produced `tokens` (estimated from the text) or ended; if `within` passes first, the stream
//! is dropped (closing the vendor connection) and the attempt fails as a timeout, so the next
//! candidate answers while the caller has still seen nothing.

use std::collections::VecDeque;

use futures_util::StreamExt;
use tokio::time::{Instant, timeout_at};

use super::attempt::Committed;
use crate::api::ChatChunk;
use crate::config::StreamRate;
use crate::providers::{ChunkStream, Failure, ProviderError};

/// Characters per token in the estimate (the usual rule of thumb for English text and code).
const CHARS_PER_TOKEN: usize = 4;

/// `first` and `rest` as one committed stream once it has shown `rate`, or the failure that
/// sends the request to the next candidate. `deadline` is the attempt's own end.
pub async fn prove(
    first: ChatChunk,
    mut rest: ChunkStream,
    rate: StreamRate,
    deadline: Instant,
) -> Result<Committed, ProviderError> {
    let by = (Instant::now() + rate.within).min(deadline);
    let mut chars = output_chars(&first);
    let mut held = VecDeque::new();
    let mut ended = false;
    while tokens(chars) < rate.tokens {
        match timeout_at(by, rest.next()).await {
            Err(_) => {
                let msg = format!(
                    "stream too slow: about {} tokens within {} ms (min_stream_rate needs {})",
                    tokens(chars),
                    rate.within.as_millis(),
                    rate.tokens
                );
                return Err(ProviderError::new(Failure::Timeout, msg));
            }
            // Ended before the rate was shown: the whole answer is here, commit it.
            Ok(None) => {
                ended = true;
                break;
            }
            Ok(Some(Err(e))) => return Err(e),
            Ok(Some(Ok(c))) => {
                chars = chars.saturating_add(output_chars(&c));
                held.push_back(Ok(c));
            }
        }
    }
    // A stream that ended is not polled again (it may not allow it).
    let rest: ChunkStream = match (ended, held.is_empty()) {
        (true, _) => Box::pin(futures_util::stream::iter(held)),
        (false, true) => rest,
        (false, false) => Box::pin(futures_util::stream::iter(held).chain(rest)),
    };
    Ok(Committed { first, rest })
}

fn tokens(chars: usize) -> u64 {
    chars.div_ceil(CHARS_PER_TOKEN) as u64
}

/// The characters of output a chunk carries: text, refusal, reasoning text and tool calls.
fn output_chars(c: &ChatChunk) -> usize {
    c.choices
        .iter()
        .map(|ch| {
            let d = &ch.delta;
            let text = d.content.as_deref().map_or(0, str::len) + d.refusal.as_deref().map_or(0, str::len);
            let reasoning = d.extra.get("reasoning_content").and_then(|v| v.as_str()).map_or(0, str::len);
            let calls: usize = d
                .tool_calls
                .iter()
                .flatten()
                .filter_map(|t| t.function.as_ref())
                .map(|f| f.name.as_deref().map_or(0, str::len) + f.arguments.as_deref().map_or(0, str::len))
                .sum();
            text + reasoning + calls
        })
        .sum()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::time::Duration;

    use super::*;

    fn text(t: &str) -> Result<ChatChunk, ProviderError> {
        Ok(ChatChunk::text("c", 1, "m", false, t))
    }

    fn rate(tokens: u64) -> StreamRate {
        StreamRate { tokens, within: Duration::from_secs(30) }
    }

    async fn texts(c: Committed) -> Vec<String> {
        let mut out = vec![c.first.content().unwrap_or("").to_string()];
        out.extend(c.rest.map(|r| r.unwrap().content().unwrap_or("").to_string()).collect::<Vec<_>>().await);
        out
    }

    #[tokio::test]
    async fn a_stream_that_shows_the_rate_is_committed_with_every_chunk_in_order() {
        let rest: ChunkStream = Box::pin(futures_util::stream::iter(vec![text("bbbb"), text("cccc"), text("dd")]));
        let far = Instant::now() + Duration::from_secs(60);
        let c = prove(ChatChunk::text("c", 1, "m", false, "aaaa"), rest, rate(2), far).await.unwrap();
        assert_eq!(texts(c).await, ["aaaa", "bbbb", "cccc", "dd"]);
    }

    #[tokio::test]
    async fn a_stream_that_ends_early_is_committed_whole() {
        let rest: ChunkStream = Box::pin(futures_util::stream::iter(vec![text("b")]));
        let far = Instant::now() + Duration::from_secs(60);
        let c = prove(ChatChunk::text("c", 1, "m", false, "a"), rest, rate(1000), far).await.unwrap();
        assert_eq!(texts(c).await, ["a", "b"]);
    }

    #[tokio::test]
    async fn a_slow_stream_fails_as_a_timeout_before_anything_is_committed() {
        // A stream that stalls after one chunk: it can never show the rate, whatever the clock.
        let slow = futures_util::stream::iter(vec![text("bbbb")]).chain(futures_util::stream::pending());
        let far = Instant::now() + Duration::from_secs(60);
        let short = StreamRate { tokens: 10, within: Duration::from_millis(50) };
        let e = prove(ChatChunk::text("c", 1, "m", false, "aaaa"), Box::pin(slow), short, far).await.err().unwrap();
        assert_eq!(e.failure, Failure::Timeout);
        assert!(e.message.contains("about 2 tokens"), "{}", e.message);
    }

    #[tokio::test]
    async fn a_vendor_error_before_the_rate_is_shown_is_the_attempt_error() {
        let rest: ChunkStream = Box::pin(futures_util::stream::iter(vec![
            text("b"),
            Err(ProviderError::new(Failure::StreamBroken, "cut")),
        ]));
        let far = Instant::now() + Duration::from_secs(60);
        let e = prove(ChatChunk::text("c", 1, "m", false, "a"), rest, rate(100), far).await.err().unwrap();
        assert_eq!(e.failure, Failure::StreamBroken);
    }
}
