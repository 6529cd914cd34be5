//! An answer must have something in it. A vendor's 200 with no choices, or whose choices
//! hold no text, refusal or tool call (and were not cut by the token limit or a filter), is
//! a vendor failure (`BadResponse`): the router fails over, and it is never cached. A
//! stream is held back until its first output, so a stream that fails or ends before any
//! (only a role chunk, then `[DONE]`) fails before it is committed and can fail over too;
//! once output has come, chunks pass as they arrive.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_util::Stream;

use super::{ChunkStream, Failure, ProviderError};
use crate::api::{ChatChunk, ChatResponse};

/// A whole answer, or the failure an empty one is.
pub fn whole(resp: ChatResponse) -> Result<ChatResponse, ProviderError> {
    let output = resp.choices.iter().any(|c| {
        let m = &c.message;
        m.content.as_deref().is_some_and(|t| !t.is_empty())
            || m.refusal.as_deref().is_some_and(|t| !t.is_empty())
            || m.tool_calls.as_ref().is_some_and(|t| !t.is_empty())
            || m.reasoning_content.as_deref().is_some_and(|t| !t.is_empty())
            || m.reasoning_details.as_ref().is_some_and(|d| !d.is_empty())
            || cut(c.finish_reason.as_deref())
    });
    if output {
        return Ok(resp);
    }
    let what = if resp.choices.is_empty() { "no choices" } else { "no text, refusal, tool call or reasoning" };
    Err(ProviderError::new(Failure::BadResponse, format!("vendor answered 200 with {what}")))
}

/// Stopped by the token limit or a content filter: an empty answer is then the answer.
fn cut(finish: Option<&str>) -> bool {
    matches!(finish, Some("length" | "content_filter"))
}

/// Whether a chunk carries output (text, a refusal, a tool call, thinking or reasoning, or
/// a cut finish).
pub fn has_output(c: &ChatChunk) -> bool {
    c.choices.iter().any(|ch| {
        let d = &ch.delta;
        d.content.as_deref().is_some_and(|t| !t.is_empty())
            || d.refusal.as_deref().is_some_and(|t| !t.is_empty())
            || d.tool_calls.as_ref().is_some_and(|t| !t.is_empty())
            || d.reasoning_content.as_deref().is_some_and(|t| !t.is_empty())
            || d.reasoning_details.as_ref().is_some_and(|r| !r.is_empty())
            || cut(ch.finish_reason.as_deref())
    })
}

/// `s`, with its chunks held back until the first one with output.
pub fn stream(s: ChunkStream) -> ChunkStream {
    Box::pin(HeldUntilOutput { inner: s, held: VecDeque::new(), output: false, done: false })
}

/// [`stream`]'s state, polled in place (a stream combinator moved it into a future and back
/// for every chunk of the whole stream; issue 16).
struct HeldUntilOutput {
    inner: ChunkStream,
    held: VecDeque<ChatChunk>,
    output: bool,
    done: bool,
}

impl Stream for HeldUntilOutput {
    type Item = Result<ChatChunk, ProviderError>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let st = &mut *self;
        loop {
            if st.done {
                return Poll::Ready(None);
            }
            if st.output {
                if let Some(c) = st.held.pop_front() {
                    return Poll::Ready(Some(Ok(c)));
                }
                return st.inner.as_mut().poll_next(cx);
            }
            match ready!(st.inner.as_mut().poll_next(cx)) {
                Some(Ok(c)) => {
                    st.output = has_output(&c);
                    st.held.push_back(c);
                }
                Some(Err(e)) => {
                    st.done = true;
                    return Poll::Ready(Some(Err(e)));
                }
                None => {
                    st.done = true;
                    let e = ProviderError::new(
                        Failure::BadResponse,
                        "vendor stream ended with no text or function call (nor a refusal)",
                    );
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use futures_util::StreamExt;
    use serde_json::json;

    fn answer(choices: serde_json::Value) -> ChatResponse {
        serde_json::from_value(json!({"id": "c", "object": "chat.completion", "created": 1, "model": "m",
            "choices": choices}))
        .unwrap()
    }

    #[test]
    fn an_empty_whole_answer_is_a_vendor_failure() {
        for empty in [
            json!([]),
            json!([{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": ""}}]),
            json!([{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": null}}]),
        ] {
            let e = whole(answer(empty.clone())).unwrap_err();
            assert_eq!(e.failure, Failure::BadResponse, "{empty}");
        }
        let text = json!([{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "hi"}}]);
        assert!(whole(answer(text)).is_ok());
        let cut = json!([{"index": 0, "finish_reason": "length", "message": {"role": "assistant", "content": ""}}]);
        assert!(whole(answer(cut)).is_ok(), "a cut answer may be empty");
        let call = json!([{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant",
            "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}}]);
        assert!(whole(answer(call)).is_ok());
    }

    async fn collect(chunks: Vec<Result<ChatChunk, ProviderError>>) -> Vec<Result<ChatChunk, ProviderError>> {
        stream(Box::pin(futures_util::stream::iter(chunks))).collect().await
    }

    #[tokio::test]
    async fn a_stream_is_held_until_its_first_output_and_an_empty_one_fails_before_any_chunk() {
        let role = || Ok(ChatChunk::text("c", 1, "m", true, ""));
        let text = |t: &str| Ok(ChatChunk::text("c", 1, "m", false, t));
        let got = collect(vec![role(), text("a"), text("b")]).await;
        let texts: Vec<String> = got.iter().map(|c| c.as_ref().unwrap().content().unwrap_or("").to_string()).collect();
        assert_eq!(texts, ["", "a", "b"], "held chunks come first, in order");
        let empty = collect(vec![role()]).await;
        assert_eq!(empty.len(), 1);
        assert_eq!(empty[0].as_ref().unwrap_err().failure, Failure::BadResponse, "nothing reached the caller first");
        let broken = collect(vec![role(), Err(ProviderError::new(Failure::StreamBroken, "cut"))]).await;
        assert_eq!(broken.len(), 1);
        assert_eq!(broken[0].as_ref().unwrap_err().failure, Failure::StreamBroken);
    }
}
