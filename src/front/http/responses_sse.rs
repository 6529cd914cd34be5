//! Canonical stream -> the Responses event stream (`event: <type>` + `data:` per event, no
//! `[DONE]`). The events come from [`EventStream`], which is made when the first chunk arrives
//! (its model and time); a failure after the stream started is `response.failed`. When the
//! first chunk carries a Responses upstream's own events (passthrough), the whole stream is
//! those bytes ([`super::responses_passthrough`]). A finished response is stored if the caller
//! asked for it: sidegate's own under the id it minted, a passthrough one under the vendor's.

use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use super::responses::Keep;
use super::responses_passthrough::Passthrough;
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
    /// The upstream speaks Responses itself: its bytes are relayed.
    native: Option<Passthrough>,
    done: bool,
}

pub fn encode(
    stream: ChatStream,
    response_id: String,
    echo: ResponseEcho,
    keep: Option<Keep>,
) -> impl Stream<Item = Bytes> + Send {
    let st = State { stream, response_id, echo: Some(echo), events: None, keep, native: None, done: false };
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
        let vendor_events = NativeBytes::of(&chunk.native, Dialect::OpenAiResponses);
        if self.events.is_none() && self.native.is_none() && vendor_events.is_some() {
            self.native = Some(Passthrough::default());
        }
        if let Some(relay) = &mut self.native {
            let Some(bytes) = vendor_events else { return Vec::new() };
            relay.observe(bytes, &mut self.keep);
            return bytes.to_vec();
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
        if let Some(relay) = &mut self.native {
            return relay.end(failure);
        }
        let empty = ChatChunk::native_only();
        let events = self.events_for(&empty);
        let mut out = Vec::new();
        match failure {
            Some(e) => events.fail(e, &mut out),
            None => {
                events.finish(&mut out);
                stamp_completion(&mut out, unix_now());
            }
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

/// `completed_at` on the `response.completed` event's response, as a whole answer has it.
fn stamp_completion(events: &mut [StreamEvent], now: u64) {
    for ev in events {
        if let EventBody::Completed { response } = &mut ev.body {
            response.completed_at = Some(now);
        }
    }
}

/// The response a `response.completed` / `response.incomplete` event carries.
fn final_response(ev: &StreamEvent) -> Option<serde_json::Value> {
    let (EventBody::Completed { response } | EventBody::Incomplete { response }) = &ev.body else { return None };
    serde_json::to_value(response).ok()
}

fn frames(events: &[StreamEvent]) -> Vec<u8> {
    events.iter().flat_map(StreamEvent::to_sse).collect()
}
