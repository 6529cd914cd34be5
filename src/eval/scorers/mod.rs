//! Scorers: each compares an answer with its item's expectation and yields a score in [0, 1],
//! a pass flag (score at or above the scorer's `threshold`) and a reason for the report.
//! `exact`, `contains`, `regex` and `numeric` read the text ([`text`]); `json_schema`,
//! `json_field` and `tool_call` the structure ([`structured`]); `judge` asks a model through
//! a route ([`judge`], run by the runner since it is a call). How each is configured:
//! [`spec`].

pub mod judge;
pub mod spec;
pub mod structured;
pub mod text;

use std::sync::Arc;

use serde_json::Value;

pub use spec::ScorerSpec;

/// A scorer's verdict on one answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    pub score: f64,
    pub pass: bool,
    pub reason: String,
}

/// What a scorer checks, with its settings.
#[derive(Debug, Clone)]
pub enum Kind {
    Exact {
        case_sensitive: bool,
    },
    /// Every expected string (one, or each of a list) must be in the answer.
    Contains {
        case_sensitive: bool,
    },
    /// The scorer's pattern, or else the item's expectation as the pattern.
    Regex {
        pattern: Option<regex::Regex>,
    },
    JsonSchema {
        validator: Arc<jsonschema::Validator>,
    },
    /// The answer's JSON at `path` (dotted; numbers index arrays) equals `value`, or else the
    /// item's expectation.
    JsonField {
        path: String,
        value: Option<Value>,
    },
    /// The answer calls the expected tool (`{"name", "arguments"}`, or a list of them).
    ToolCall,
    /// The first number in the answer is within `tolerance` of the expected (relative to it
    /// when `relative`).
    Numeric {
        tolerance: f64,
        relative: bool,
    },
    Judge {
        route: String,
        rubric: String,
    },
}

impl Kind {
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Exact { .. } => "exact",
            Kind::Contains { .. } => "contains",
            Kind::Regex { .. } => "regex",
            Kind::JsonSchema { .. } => "json_schema",
            Kind::JsonField { .. } => "json_field",
            Kind::ToolCall => "tool_call",
            Kind::Numeric { .. } => "numeric",
            Kind::Judge { .. } => "judge",
        }
    }
}

/// A tool call in an answer: its name and its arguments (JSON when they parse, else the text).
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub name: String,
    pub arguments: Value,
}

/// What a scorer reads of an answer.
#[derive(Debug, Clone, Copy)]
pub struct Scored<'a> {
    pub text: &'a str,
    pub tool_calls: &'a [ToolCall],
}

impl ScorerSpec {
    /// The verdict on `answer` against `expect`; `None` for `judge` (a call, see [`judge`]).
    pub fn score(&self, answer: Scored<'_>, expect: &Value) -> Option<Score> {
        let (score, reason) = match &self.kind {
            Kind::Exact { case_sensitive } => text::exact(answer.text, expect, *case_sensitive),
            Kind::Contains { case_sensitive } => text::contains(answer.text, expect, *case_sensitive),
            Kind::Regex { pattern } => text::regex(answer.text, pattern.as_ref(), expect),
            Kind::Numeric { tolerance, relative } => text::numeric(answer.text, expect, *tolerance, *relative),
            Kind::JsonSchema { validator } => structured::json_schema(answer.text, validator),
            Kind::JsonField { path, value } => {
                structured::json_field(answer.text, path, value.as_ref().unwrap_or(expect))
            }
            Kind::ToolCall => structured::tool_call(answer.tool_calls, expect),
            Kind::Judge { .. } => return None,
        };
        Some(self.verdict(score, reason))
    }

    /// `score` clamped into [0, 1] with its pass flag.
    pub fn verdict(&self, score: f64, reason: String) -> Score {
        let score = if score.is_finite() { score.clamp(0.0, 1.0) } else { 0.0 };
        Score { score, pass: score >= self.threshold, reason }
    }

    /// The item's expectation this scorer reads: the whole `expect`, or `expect[KEY]` with
    /// `expect = "KEY"` in the scorer.
    pub fn expected<'a>(&self, expect: &'a Value) -> &'a Value {
        match &self.expect_key {
            Some(k) => expect.get(k).unwrap_or(&Value::Null),
            None => expect,
        }
    }
}

/// A JSON value shown short in a reason.
pub(crate) fn short(v: &Value) -> String {
    let s = match v {
        Value::String(s) => format!("{s:?}"),
        v => v.to_string(),
    };
    if s.chars().count() > 80 { format!("{}…", s.chars().take(79).collect::<String>()) } else { s }
}
