//! A `[[scorers]]` table of the eval file read into a [`ScorerSpec`]: its kind and the keys
//! that kind takes (others are errors), a JSON schema compiled (inline or from a file), a
//! regex compiled, every error located in the eval file.

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use super::Kind;
use super::judge::DEFAULT_RUBRIC;
use crate::eval::file::{Cx, JudgeFile};

/// One scorer of an eval.
#[derive(Debug, Clone)]
pub struct ScorerSpec {
    /// Its column in the report: `name`, else its kind.
    pub name: String,
    pub kind: Kind,
    /// Pass when the score is at least this (1 by default; the judge's 0.5).
    pub threshold: f64,
    /// Read `expect[KEY]` of each item instead of the whole `expect`.
    pub expect_key: Option<String>,
}

const COMMON: &[&str] = &["kind", "name", "threshold", "expect"];

fn allowed(kind: &str) -> &'static [&'static str] {
    match kind {
        "exact" | "contains" => &["case_sensitive"],
        "regex" => &["pattern"],
        "json_schema" => &["schema", "schema_file"],
        "json_field" => &["path", "value"],
        "numeric" => &["tolerance", "relative"],
        "judge" => &["route", "rubric"],
        _ => &[],
    }
}

fn json(v: &toml::Value) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// The scorer at `scorers[i]`, or None with its errors in `cx`.
pub fn parse(cx: &mut Cx<'_>, i: usize, t: &toml::Table, judge: &JudgeFile, base: &Path) -> Option<ScorerSpec> {
    let at = i.to_string();
    let key = |k: &'static str| ["scorers", at.as_str(), k];
    let Some(kind) = t.get("kind").and_then(toml::Value::as_str) else {
        cx.err(&["scorers", &at], "a scorer needs a `kind`");
        return None;
    };
    let before = cx.errors.len();
    for k in t.keys() {
        if !COMMON.contains(&k.as_str()) && !allowed(kind).contains(&k.as_str()) {
            cx.err(&["scorers", &at, k], format!("`{k}` is not a setting of a `{kind}` scorer"));
        }
    }
    let text = |k: &str| t.get(k).and_then(toml::Value::as_str).map(str::to_string);
    let flag = |k: &str, default: bool| t.get(k).and_then(toml::Value::as_bool).unwrap_or(default);
    let number = |k: &str| t.get(k).and_then(|v| v.as_float().or_else(|| v.as_integer().map(|n| n as f64)));
    let kind = match kind {
        "exact" => Kind::Exact { case_sensitive: flag("case_sensitive", true) },
        "contains" => Kind::Contains { case_sensitive: flag("case_sensitive", true) },
        "regex" => match text("pattern").map(|p| regex::Regex::new(&p)) {
            None => Kind::Regex { pattern: None },
            Some(Ok(re)) => Kind::Regex { pattern: Some(re) },
            Some(Err(e)) => {
                cx.err(&key("pattern"), format!("not a regex: {e}"));
                return None;
            }
        },
        "json_schema" => Kind::JsonSchema { validator: schema(cx, &at, t, base)? },
        "json_field" => match text("path") {
            Some(path) => Kind::JsonField { path, value: t.get("value").map(json) },
            None => {
                cx.err(&["scorers", &at], "a `json_field` scorer needs a `path` (e.g. \"user.name\")");
                return None;
            }
        },
        "tool_call" => Kind::ToolCall,
        "numeric" => {
            let tolerance = number("tolerance").unwrap_or(0.0);
            if !(tolerance.is_finite() && tolerance >= 0.0) {
                cx.err(&key("tolerance"), "must be a number of at least 0");
            }
            Kind::Numeric { tolerance, relative: flag("relative", false) }
        }
        "judge" => match text("route").or_else(|| judge.route.clone()) {
            Some(route) => Kind::Judge {
                route,
                rubric: text("rubric").or_else(|| judge.rubric.clone()).unwrap_or_else(|| DEFAULT_RUBRIC.into()),
            },
            None => {
                cx.err(&["scorers", &at], "a `judge` scorer needs a `route` (here or in `[judge]`)");
                return None;
            }
        },
        other => {
            cx.err(
                &key("kind"),
                format!("unknown scorer kind `{other}` (known: exact, contains, regex, json_schema, json_field, tool_call, numeric, judge)"),
            );
            return None;
        }
    };
    let default_threshold = if matches!(kind, Kind::Judge { .. }) { judge.threshold.unwrap_or(0.5) } else { 1.0 };
    let threshold = number("threshold").unwrap_or(default_threshold);
    if !(0.0..=1.0).contains(&threshold) {
        cx.err(&key("threshold"), format!("{threshold} is not between 0 and 1"));
    }
    let name = text("name").unwrap_or_else(|| kind.name().to_string());
    (cx.errors.len() == before).then_some(ScorerSpec { name, kind, threshold, expect_key: text("expect") })
}

fn schema(cx: &mut Cx<'_>, at: &str, t: &toml::Table, base: &Path) -> Option<Arc<jsonschema::Validator>> {
    let (doc, key) = match (t.get("schema"), t.get("schema_file").and_then(toml::Value::as_str)) {
        (Some(s), None) => (json(s), "schema"),
        (None, Some(f)) => {
            let path = base.join(f);
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) => {
                    cx.err(&["scorers", at, "schema_file"], format!("cannot read {}: {e}", path.display()));
                    return None;
                }
            };
            match serde_json::from_str(&text) {
                Ok(v) => (v, "schema_file"),
                Err(e) => {
                    cx.err(&["scorers", at, "schema_file"], format!("{} is not JSON: {e}", path.display()));
                    return None;
                }
            }
        }
        _ => {
            cx.err(&["scorers", at], "a `json_schema` scorer needs one of `schema` (inline) or `schema_file`");
            return None;
        }
    };
    match jsonschema::validator_for(&doc) {
        Ok(v) => Some(Arc::new(v)),
        Err(e) => {
            cx.err(&["scorers", at, key], format!("not a valid JSON schema: {e}"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use crate::eval::file::{joined, parse};
    use crate::eval::scorers::{Scored, ToolCall};

    const HEAD: &str = "dataset = \"d.jsonl\"\nvariants = [\"a\"]\n";

    fn one(scorer: &str) -> crate::eval::scorers::ScorerSpec {
        let spec = parse(&format!("{HEAD}[[scorers]]\n{scorer}\n"), std::path::Path::new("/e/x.toml")).unwrap();
        spec.scorers.into_iter().next().unwrap()
    }

    fn err(scorer: &str) -> String {
        joined(&parse(&format!("{HEAD}[[scorers]]\n{scorer}\n"), std::path::Path::new("/e/x.toml")).unwrap_err())
    }

    fn text(t: &str) -> Scored<'_> {
        Scored { text: t, tool_calls: &[] }
    }

    #[test]
    fn each_kind_scores_through_its_spec() {
        let s = one("kind = \"exact\"\ncase_sensitive = false");
        assert!(s.score(text("PARIS"), &json!("paris")).unwrap().pass);
        let s = one("kind = \"regex\"\npattern = \"^H\"");
        assert!(s.score(text("Hi"), &json!(null)).unwrap().pass);
        let s = one("kind = \"json_schema\"\nschema = { type = \"object\", required = [\"a\"] }");
        assert!(s.score(text("{\"a\": 1}"), &json!(null)).unwrap().pass);
        assert!(!s.score(text("{\"b\": 1}"), &json!(null)).unwrap().pass);
        let s = one("kind = \"json_field\"\npath = \"a\"\nvalue = 1");
        assert!(s.score(text("{\"a\": 1}"), &json!(null)).unwrap().pass);
        let s = one("kind = \"numeric\"\ntolerance = 0.5\nthreshold = 1");
        assert!(s.score(text("it is 2.4"), &json!(2)).unwrap().pass);
        let s = one("kind = \"tool_call\"\nexpect = \"call\"");
        let calls = [ToolCall { name: "f".into(), arguments: json!({}) }];
        let expect = json!({"call": {"name": "f"}});
        assert!(s.score(Scored { text: "", tool_calls: &calls }, s.expected(&expect)).unwrap().pass);
        let s = one("kind = \"contains\"\nthreshold = 0.5\nname = \"half\"");
        let half = s.score(text("a"), &json!(["a", "b"])).unwrap();
        assert_eq!((s.name.as_str(), half.score, half.pass), ("half", 0.5, true));
        let s = one("kind = \"judge\"\nroute = \"j\"");
        assert_eq!(s.threshold, 0.5);
        assert!(s.score(text("x"), &json!(null)).is_none());
    }

    #[test]
    fn bad_scorers_are_located() {
        assert!(
            err("kind = \"exact\"\npattern = \"x\"")
                .contains("/e/x.toml:5:1: scorers.0.pattern: `pattern` is not a setting of a `exact` scorer")
        );
        assert!(err("kind = \"regex\"\npattern = \"(\"").contains("/e/x.toml:5:"));
        assert!(err("kind = \"json_schema\"").contains("needs one of `schema`"));
        assert!(err("kind = \"json_schema\"\nschema = { type = 5 }").contains("not a valid JSON schema"));
        assert!(err("kind = \"json_schema\"\nschema_file = \"missing.json\"").contains("cannot read /e/missing.json"));
        assert!(err("kind = \"json_field\"").contains("needs a `path`"));
        assert!(err("kind = \"judge\"").contains("needs a `route`"));
        assert!(
            err("kind = \"exact\"\nthreshold = 2")
                .contains("/e/x.toml:5:1: scorers.0.threshold: 2 is not between 0 and 1")
        );
        assert!(err("name = \"x\"").contains("needs a `kind`"));
    }
}
