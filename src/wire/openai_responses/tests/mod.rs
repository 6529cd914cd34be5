//! Fixture tests of the Responses dialect, both directions: requests and answers compared as
//! whole JSON documents, streams as event transcripts, every emitted shape checked against the
//! spec's required keys and enums (`schema`).
#![allow(clippy::unwrap_used)]

mod reasoning;
mod request;
mod response;
mod schema;
mod stream;

use serde_json::Value;

use super::types::CreateResponse;
use crate::api::{ChatRequest, ChatResponse};

fn create(v: Value) -> CreateResponse {
    serde_json::from_value(v).expect("a valid Responses request")
}

fn chat(v: Value) -> ChatRequest {
    serde_json::from_value(v).expect("a valid chat request")
}

fn chat_response(v: Value) -> ChatResponse {
    serde_json::from_value(v).expect("a valid chat completion")
}

fn json<T: serde::Serialize>(t: &T) -> Value {
    serde_json::to_value(t).expect("serializes")
}
