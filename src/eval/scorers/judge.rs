//! The LLM judge: the question, the reference and the answer sent to a model through a route
//! with a rubric, and its verdict read back robustly: `SCORE: 7`, `7/10`, `7 out of 10`,
//! `70%`, a lone number, or PASS/FAIL, whatever the judge wraps around it.

use serde_json::{Value, json};

use super::text::first_number;

/// The scale the judge is asked to answer on.
pub const SCALE: f64 = 10.0;

/// The rubric used when neither the scorer nor `[judge]` gives one.
pub const DEFAULT_RUBRIC: &str =
    "Is the answer correct and complete for the question, and consistent with the reference answer when one is given?";

/// The judge's messages for one answer.
pub fn messages(rubric: &str, question: &str, reference: &Value, answer: &str) -> Vec<Value> {
    let system = format!(
        "You grade answers strictly against a rubric.\nRubric: {rubric}\nReply with a first line `SCORE: N`, N a whole number from 0 (fails the rubric) to {SCALE} (meets it fully), then one short line saying why."
    );
    let reference = match reference {
        Value::Null => "(none)".to_string(),
        Value::String(s) => s.clone(),
        v => v.to_string(),
    };
    let user = format!("Question:\n{question}\n\nReference answer:\n{reference}\n\nAnswer to grade:\n{answer}");
    vec![json!({"role": "system", "content": system}), json!({"role": "user", "content": user})]
}

/// The judge's score in [0, 1], or None when its answer has none.
pub fn parse(answer: &str) -> Option<f64> {
    let lower = answer.to_lowercase();
    // The last `score` with a number after it: judges restate the instruction first.
    let mut found = None;
    for (at, _) in lower.match_indices("score") {
        let after = &answer[at + 5..];
        let head: String = after.chars().take(24).collect();
        let trimmed = head.trim_start_matches(|c: char| c == ':' || c == '=' || c == '*' || c.is_whitespace());
        let trimmed = trimmed.strip_prefix("is").map(str::trim_start).unwrap_or(trimmed);
        if trimmed.starts_with(|c: char| c.is_ascii_digit()) {
            found = scaled(trimmed);
        }
    }
    if found.is_some() {
        return found;
    }
    for marker in ["/", " out of "] {
        if let Some(at) = lower.find(marker) {
            let before = lower[..at].trim_end();
            let start = before.rfind(|c: char| !(c.is_ascii_digit() || c == '.')).map_or(0, |i| i + 1);
            if start < before.len() {
                return scaled(&answer[start..]);
            }
        }
    }
    let t = lower.trim();
    if t.starts_with("pass") {
        return Some(1.0);
    }
    if t.starts_with("fail") {
        return Some(0.0);
    }
    let lone = t.trim_end_matches('.');
    lone.parse::<f64>().ok().and_then(|_| scaled(lone))
}

/// `7`, `7/10`, `7 out of 10`, `0.7`, `70%` as a share of the whole.
fn scaled(s: &str) -> Option<f64> {
    let n = first_number(s)?;
    let digits_end = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let rest = s[digits_end..].trim_start();
    let out_of = if let Some(r) = rest.strip_prefix('/') {
        first_number(r)
    } else if let Some(r) = rest.strip_prefix("out of") {
        first_number(r)
    } else {
        None
    };
    let v = match out_of {
        Some(d) if d > 0.0 => n / d,
        _ if rest.starts_with('%') => n / 100.0,
        _ if n < 1.0 && s[..digits_end].contains('.') => n,
        _ => n / SCALE,
    };
    (0.0..=1.0).contains(&v).then_some(v)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn verdicts_in_their_many_shapes() {
        assert_eq!(parse("SCORE: 7\nMostly right."), Some(0.7));
        assert_eq!(parse("**Score:** 10 — perfect"), Some(1.0));
        assert_eq!(parse("I'd give it 8/10."), Some(0.8));
        assert_eq!(parse("3 out of 5"), Some(0.6));
        assert_eq!(parse("score = 0.25"), Some(0.25));
        assert_eq!(parse("Score: 90%"), Some(0.9));
        assert_eq!(parse("The score is 4"), Some(0.4));
        assert_eq!(parse("6"), Some(0.6));
        assert_eq!(parse("PASS: it is right"), Some(1.0));
        assert_eq!(parse("fail"), Some(0.0));
    }

    #[test]
    fn the_last_score_wins_and_nonsense_is_none() {
        let restated = "You asked for `SCORE: N` from 0 to 10.\nSCORE: 3\nWrong city.";
        assert_eq!(parse(restated), Some(0.3));
        assert_eq!(parse("I cannot grade this."), None);
        assert_eq!(parse("SCORE: 42"), None);
        assert_eq!(parse(""), None);
    }

    #[test]
    fn the_answer_is_in_the_last_user_message() {
        let m = messages("Be polite.", "Greet Ada", &Value::Null, "Hello Ada");
        assert_eq!(m.len(), 2);
        assert!(m[0]["content"].as_str().unwrap().contains("Rubric: Be polite."));
        let user = m[1]["content"].as_str().unwrap();
        assert!(user.contains("Greet Ada") && user.contains("(none)") && user.ends_with("Hello Ada"));
    }
}
