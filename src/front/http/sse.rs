//! Canonical stream -> OpenAI server-sent events: `data: <chunk>\n\n` per chunk, then
//! `data: [DONE]`. A failure after the stream started is sent as `data: {"error": ...}` and
//! the stream ends without `[DONE]`, so SDKs raise instead of seeing a clean finish.

use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use crate::router::ChatStream;

pub fn encode(stream: ChatStream) -> impl Stream<Item = Bytes> + Send {
    futures_util::stream::unfold(Some(stream), |state| async move {
        let mut stream = state?;
        let mut next = stream.next().await;
        // (the closing events of a stream another dialect's caller shares: nothing for this one)
        while matches!(&next, Some(Ok(c)) if c.is_native_only()) {
            next = stream.next().await;
        }
        match next {
            Some(Ok(chunk)) => Some((event(&chunk.to_json()), Some(stream))),
            Some(Err(e)) => Some((event(&e.openai_body()), None)),
            None => Some((Bytes::from_static(b"data: [DONE]\n\n"), None)),
        }
    })
}

fn event(json: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(json.len() + 8);
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(json);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}
