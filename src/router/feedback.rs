//! `POST /v1/feedback` and the native `feedback` op: an application's outcome for a request
//! it was answered (src/usage/feedback.rs checks it), stored in the usage ledger under the
//! caller who sent it. Unknown callers are refused as for any request; without a ledger
//! (no state directory, or `[ledger] enabled = false`) there is nowhere to keep it: a 503.

use std::borrow::Cow;
use std::time::Instant;

use serde_json::{Value, json};

use super::Gateway;
use crate::api::error::{GatewayError, Refusal};
use crate::callers::{Credential, identify};
use crate::usage::feedback::Feedback;

impl Gateway {
    /// Checks and stores one feedback body; the answer says what was stored. `request_id` is
    /// this call's own id: its log line (one per call, refused ones too) carries it, and the
    /// id of the request the feedback is about as `for_request`.
    pub async fn feedback(&self, body: &Value, cred: &Credential, request_id: &str) -> Result<Value, GatewayError> {
        let started = Instant::now();
        let about = body.get("request_id").and_then(Value::as_str).unwrap_or("").to_string();
        let mut caller = String::from("denied");
        let result = self.store_feedback(body, cred, &mut caller).await;
        let (status, outcome) = match &result {
            Ok(_) => (200, Cow::Borrowed("ok")),
            Err(e) => (e.status(), e.label()),
        };
        tracing::info!(target: "sidegate::request", request_id, op = "feedback", for_request = %about,
            status, outcome = %outcome, caller = %caller,
            latency_ms = started.elapsed().as_secs_f64() * 1000.0, "request");
        result
    }

    async fn store_feedback(
        &self,
        body: &Value,
        cred: &Credential,
        caller_name: &mut String,
    ) -> Result<Value, GatewayError> {
        let caller = identify(cred, &self.current().snapshot.callers)
            .map_err(|message| GatewayError::CallerRefused { refusal: Refusal::UnknownCaller, message })?;
        *caller_name = caller.name().to_string();
        let f = Feedback::from_json(body).map_err(|e| GatewayError::invalid(e.message, Some(e.param)))?;
        if self.accounting.ledger.is_none() {
            return Err(GatewayError::ProviderUnavailable {
                message: "feedback is kept in the usage ledger, and this daemon has none (no state directory, or [ledger] enabled = false)".into(),
            });
        }
        let (acct, name, request_id) = (self.accounting.clone(), caller.name().to_string(), f.request_id.clone());
        let stored = tokio::task::spawn_blocking(move || acct.ledger.as_ref().map(|l| l.record_feedback(&f, &name)))
            .await
            .map_err(|e| GatewayError::internal(format!("feedback write task: {e}")))?;
        match stored {
            Some(Ok(replaced)) => {
                Ok(json!({"object": "feedback", "request_id": request_id, "recorded": true, "replaced": replaced}))
            }
            Some(Err(e)) => Err(GatewayError::internal(e.to_string())),
            None => Err(GatewayError::internal("the usage ledger closed")),
        }
    }
}
