//! Canonical stream -> the Responses event stream (`event: <type>` + `data:` per event, no
//! `[DONE]`). The events come from [`EventStream`], which is made when the first chunk arrives
//! (its model and time); a failure after the stream started is `response.failed`. When the
//! first chunk carries a Responses upstream's own events (passthrough), the whole stream is
//! those bytes. A finished response is stored if the caller asked for it.

use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use super::responses::Keep;
use crate::api::ChatChunk;
use crate::api::error::GatewayError;
use crate::api::ids::unix_now;
use crate::router::ChatStream;
use crate::wire::native::{Dialect, NativeBytes};
use crate::wire::openai_responses::{EventBody, EventStream, ResponseEcho, StreamEvent};

struct State {
    stream: ChatStream,
    response_id: String,
    echo: Option<ResponseEcho>,
    events: Option<EventStream>,
    keep: Option<Keep>,
    /// The upstream speaks Responses itself: relay its bytes.
    native: bool,
    done: bool,
}

pub fn encode(
    stream: ChatStream,
    response_id: String,
    echo: ResponseEcho,
    keep: Option<Keep>,
) -> impl Stream<Item = Bytes> + Send {
    let st = State { stream, response_id, echo: Some(echo), events: None, keep, native: false, done: false };
    futures_util::stream::unfold(st, |mut st| async move {
        loop {
            if st.done {
                return None;
            }
            let next = st.stream.next().await;
            let bytes = match next {
                Some(Ok(chunk)) => st.on_chunk(chunk),
                Some(Err(e)) => st.end(Some(&e)),
                None => st.end(None),
            };
            if !bytes.is_empty() {
                return Some((Bytes::from(bytes), st));
            }
        }
    })
}

impl State {
    fn on_chunk(&mut self, chunk: ChatChunk) -> Vec<u8> {
        if self.events.is_none() && !self.native && NativeBytes::of(&chunk.native, Dialect::OpenAiResponses).is_some() {
            self.native = true;
        }
        if self.native {
            return NativeBytes::of(&chunk.native, Dialect::OpenAiResponses).map(|b| b.to_vec()).unwrap_or_default();
        }
        if chunk.is_native_only() {
            return Vec::new();
        }
        let mut out = Vec::new();
        let events = self.events_for(&chunk);
        if let Err(e) = events.on_chunk(&chunk, &mut out) {
            events.fail(&e.to_gateway_error(), &mut out);
            self.done = true;
        }
        frames(&out)
    }

    fn events_for(&mut self, first: &ChatChunk) -> &mut EventStream {
        let (id, echo) = (&self.response_id, &mut self.echo);
        self.events.get_or_insert_with(|| {
            let created = if first.created == 0 { unix_now() } else { first.created };
            EventStream::new(id, created, &first.model, echo.take().unwrap_or_default())
        })
    }

    /// The end of the canonical stream, or its failure.
    fn end(&mut self, failure: Option<&GatewayError>) -> Vec<u8> {
        self.done = true;
        if self.native {
            return Vec::new();
        }
        let empty = ChatChunk::native_only();
        let events = self.events_for(&empty);
        let mut out = Vec::new();
        match failure {
            Some(e) => events.fail(e, &mut out),
            None => events.finish(&mut out),
        }
        if failure.is_none()
            && let Some(keep) = self.keep.take()
            && let Some(response) = out.iter().find_map(final_response)
        {
            keep.put(response);
        }
        frames(&out)
    }
}

/// The response a `response.completed` / `response.incomplete` event carries, with its
/// completion time.
fn final_response(ev: &StreamEvent) -> Option<serde_json::Value> {
    let (EventBody::Completed { response } | EventBody::Incomplete { response }) = &ev.body else { return None };
    let mut v = serde_json::to_value(response).ok()?;
    if matches!(ev.body, EventBody::Completed { .. }) {
        v["completed_at"] = unix_now().into();
    }
    Some(v)
}

fn frames(events: &[StreamEvent]) -> Vec<u8> {
    events.iter().flat_map(StreamEvent::to_sse).collect()
}
