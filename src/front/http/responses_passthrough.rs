//! A Responses upstream's own event stream, relayed to a Responses caller byte for byte
//! (passthrough), and what the front reads of it on the way: the `sequence_number` reached,
//! whether a terminal event went out, and the finished Response object
//! (`response.completed` / `response.incomplete`), which is stored under the vendor's own id
//! when the caller asked for it. A failure after the stream started that the vendor's events
//! did not end (a cut connection, a vendor `error` the decoder stopped at) is closed with an
//! `error` event numbered after the vendor's last, so the caller's SDK sees the stream end.

use serde::Deserialize;
use serde_json::Value;

use super::responses::Keep;
use crate::api::error::GatewayError;
use crate::wire::openai_responses::{EventBody, StreamEvent, response_error};
use crate::wire::sse::SseParser;

/// What every event's `data` is read for (the rest of it is skipped, not built).
#[derive(Deserialize)]
struct Head<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(default)]
    sequence_number: Option<u64>,
}

/// The relay's view of the vendor's events.
#[derive(Default)]
pub struct Passthrough {
    next_seq: u64,
    /// A terminal event (completed, incomplete, failed, error) went out.
    ended: bool,
}

impl Passthrough {
    /// Reads the vendor events in `bytes` (whole SSE frames, as the adapter re-encoded them);
    /// a finished response among them is given to `keep`.
    pub fn observe(&mut self, bytes: &[u8], keep: &mut Option<Keep>) {
        let mut parser = SseParser::default();
        parser.push(bytes);
        while let Ok(Some(ev)) = parser.next_event() {
            let Ok(head) = serde_json::from_str::<Head>(&ev.data) else { continue };
            if let Some(n) = head.sequence_number {
                self.next_seq = self.next_seq.max(n.saturating_add(1));
            }
            match head.kind.as_ref() {
                "response.completed" | "response.incomplete" => {
                    self.ended = true;
                    if let Some(k) = keep.take() {
                        store(k, &ev.data);
                    }
                }
                "response.failed" | "error" => self.ended = true,
                _ => {}
            }
        }
    }

    /// The end of the relayed stream; `failure`: it broke. Returns the `error` event that
    /// closes a stream the vendor's events left open.
    pub fn end(&mut self, failure: Option<&GatewayError>) -> Vec<u8> {
        let Some(e) = failure.filter(|_| !self.ended) else { return Vec::new() };
        self.ended = true;
        let code = response_error(e).code;
        let body = EventBody::Error { code: Some(code), message: e.to_string(), param: None };
        StreamEvent { body, sequence_number: self.next_seq }.to_sse()
    }
}

/// Stores the `response` of a terminal event's `data`.
fn store(keep: Keep, data: &str) {
    match serde_json::from_str::<Value>(data) {
        Ok(Value::Object(mut ev)) => match ev.remove("response") {
            Some(response @ Value::Object(_)) => keep.put(response),
            _ => tracing::warn!("responses passthrough: the terminal event has no response object; not stored"),
        },
        _ => tracing::warn!("responses passthrough: the terminal event is not a JSON object; not stored"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::response_store::ResponseStore;

    fn frame(kind: &str, data: Value) -> Vec<u8> {
        format!("event: {kind}\ndata: {data}\n\n").into_bytes()
    }

    fn keep(store: &Arc<ResponseStore>) -> Option<Keep> {
        Some(Keep { store: store.clone(), owner: "o".into(), input: vec![json!({"role": "user"})], ttl_secs: 60 })
    }

    #[tokio::test]
    async fn a_completed_stream_is_stored_under_the_vendors_id_and_needs_no_closing_event() {
        let store = Arc::new(ResponseStore::in_memory());
        let mut k = keep(&store);
        let mut p = Passthrough::default();
        p.observe(&frame("response.created", json!({"type": "response.created", "sequence_number": 0})), &mut k);
        assert!(k.is_some());
        let response = json!({"id": "resp_v1", "output": [{"type": "message"}], "status": "completed"});
        let done = json!({"type": "response.completed", "sequence_number": 1, "response": response});
        p.observe(&frame("response.completed", done), &mut k);
        assert!(k.is_none(), "kept once");
        let got = store.get("resp_v1", "o", 0).await.unwrap();
        assert_eq!(got.response, response);
        assert_eq!(got.output, vec![json!({"type": "message"})]);
        assert_eq!(got.input, vec![json!({"role": "user"})]);
        assert!(p.end(Some(&GatewayError::internal("late"))).is_empty(), "the vendor already ended it");
    }

    #[test]
    fn a_broken_stream_ends_with_an_error_event_numbered_after_the_vendors_last() {
        let mut k = None;
        let mut p = Passthrough::default();
        let delta = json!({"type": "response.output_text.delta", "sequence_number": 4, "delta": "a"});
        p.observe(
            &[frame("x", json!({"type": "response.created", "sequence_number": 3})), frame("y", delta)].concat(),
            &mut k,
        );
        let out = String::from_utf8(p.end(Some(&GatewayError::internal("vendor stream broke")))).unwrap();
        let data: Value = serde_json::from_str(out.lines().nth(1).unwrap().strip_prefix("data: ").unwrap()).unwrap();
        assert!(out.starts_with("event: error\n"), "{out}");
        assert_eq!(data["sequence_number"], 5);
        assert_eq!(data["code"], "server_error");
        assert!(data["message"].as_str().unwrap().contains("vendor stream broke"));
        assert!(p.end(Some(&GatewayError::internal("again"))).is_empty(), "closed once");
        assert!(Passthrough::default().end(None).is_empty(), "a clean end adds nothing");
    }
}
