//! An outcome of an answered request, reported by the application: `POST /v1/feedback`, the
//! native `feedback` op and the shims' `feedback(...)`. `{request_id, score | label,
//! comment}`: the request id is the one every answer carries (`x-sidegate-request-id`, the
//! native meta's `request_id`). Checked here, once for both fronts; stored in the ledger's
//! `feedback` table (one outcome per request: a later one replaces it).
//!
//! A request id the ledger has no row for is accepted, and flagged when read: `sidegate
//! experiments` counts it as unmatched. (A request's row is written just after its answer, so
//! feedback may arrive before its row; matching at read time never loses it.)

use serde_json::Value;

/// Longest accepted request id, label and comment (bytes).
const MAX_ID: usize = 128;
const MAX_LABEL: usize = 64;
const MAX_COMMENT: usize = 4096;

/// One feedback, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Feedback {
    pub request_id: String,
    pub score: Option<f64>,
    pub label: Option<String>,
    pub comment: Option<String>,
}

/// What is wrong with a feedback body: the caller's 400, naming the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct FeedbackError {
    pub message: String,
    /// The field at fault.
    pub param: &'static str,
}

fn bad(param: &'static str, message: impl Into<String>) -> FeedbackError {
    FeedbackError { message: message.into(), param }
}

impl Feedback {
    /// `{"request_id": "...", "score": 0.8, "label": "good", "comment": "..."}`: a score, a
    /// label, or both; unknown fields are errors.
    pub fn from_json(v: &Value) -> Result<Feedback, FeedbackError> {
        let Value::Object(o) = v else {
            return Err(bad("body", "the feedback body must be a JSON object {request_id, score | label, comment}"));
        };
        if let Some(k) = o.keys().find(|k| !matches!(k.as_str(), "request_id" | "score" | "label" | "comment")) {
            return Err(bad("body", format!("unknown field `{k}` (known: request_id, score, label, comment)")));
        }
        let request_id = match o.get("request_id") {
            Some(Value::String(s)) if is_request_id(s) => s.clone(),
            Some(Value::String(_)) => {
                return Err(bad("request_id", format!("`request_id` must be 1 to {MAX_ID} letters, digits or -_.:")));
            }
            Some(_) => return Err(bad("request_id", "`request_id` must be a string")),
            None => return Err(bad("request_id", "`request_id` is required: the id the answer carried")),
        };
        let score = match o.get("score") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => Some(
                n.as_f64().filter(|f| f.is_finite()).ok_or_else(|| bad("score", "`score` must be a finite number"))?,
            ),
            Some(_) => return Err(bad("score", "`score` must be a number")),
        };
        let label = text(o.get("label"), "label", MAX_LABEL)?;
        let comment = text(o.get("comment"), "comment", MAX_COMMENT)?;
        if label.as_deref() == Some("") {
            return Err(bad("label", "`label` must not be empty"));
        }
        if score.is_none() && label.is_none() {
            return Err(bad("score", "give a `score` (a number), a `label` (a string), or both"));
        }
        Ok(Feedback { request_id, score, label, comment })
    }
}

fn text(v: Option<&Value>, param: &'static str, max: usize) -> Result<Option<String>, FeedbackError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.len() <= max => Ok(Some(s.clone())),
        Some(Value::String(_)) => Err(bad(param, format!("`{param}` is longer than {max} bytes"))),
        Some(_) => Err(bad(param, format!("`{param}` must be a string"))),
    }
}

fn is_request_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_ID
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    #[test]
    fn a_score_a_label_or_both_with_a_request_id() {
        let f = Feedback::from_json(&json!({"request_id": "sg-00ff", "score": 0.5})).unwrap();
        assert_eq!((f.score, f.label.as_deref()), (Some(0.5), None));
        let f = Feedback::from_json(&json!({"request_id": "sg-1", "label": "good", "comment": "fine"})).unwrap();
        assert_eq!((f.score, f.label.as_deref(), f.comment.as_deref()), (None, Some("good"), Some("fine")));
    }

    #[test]
    fn each_bad_body_names_its_field() {
        let long = "x".repeat(MAX_COMMENT + 1);
        for (body, param, says) in [
            (json!([1]), "body", "JSON object"),
            (json!({"request_id": "sg-1", "score": 1, "extra": 1}), "body", "unknown field `extra`"),
            (json!({"score": 1}), "request_id", "required"),
            (json!({"request_id": 5, "score": 1}), "request_id", "must be a string"),
            (json!({"request_id": "a b", "score": 1}), "request_id", "letters, digits"),
            (json!({"request_id": "", "score": 1}), "request_id", "letters, digits"),
            (json!({"request_id": "sg-1"}), "score", "give a `score`"),
            (json!({"request_id": "sg-1", "score": "high"}), "score", "must be a number"),
            (json!({"request_id": "sg-1", "label": 3}), "label", "must be a string"),
            (json!({"request_id": "sg-1", "label": ""}), "label", "must not be empty"),
            (json!({"request_id": "sg-1", "label": "ok", "comment": long}), "comment", "longer than"),
        ] {
            let e = Feedback::from_json(&body).unwrap_err();
            assert_eq!(e.param, param, "{body}: {e}");
            assert!(e.message.contains(says), "{body}: {e}");
        }
    }
}
