//! The scorers that read the answer as text: exact, contains, regex and numeric. Each returns
//! its raw score and why.

use serde_json::Value;

use super::short;

/// The expectation as text: a string as it is, anything else as its JSON.
fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}

fn fold(s: &str, case_sensitive: bool) -> String {
    if case_sensitive { s.to_string() } else { s.to_lowercase() }
}

/// The trimmed answer equals the expectation (a list: any of them).
pub fn exact(answer: &str, expect: &Value, case_sensitive: bool) -> (f64, String) {
    let wanted: Vec<String> = match expect {
        Value::Array(a) => a.iter().map(as_text).collect(),
        v => vec![as_text(v)],
    };
    let got = fold(answer.trim(), case_sensitive);
    match wanted.iter().find(|w| fold(w.trim(), case_sensitive) == got) {
        Some(w) => (1.0, format!("equals {w:?}")),
        None => (0.0, format!("{} is not {}", short(&Value::String(answer.trim().into())), short(expect))),
    }
}

/// Every expected string is in the answer; the score is the share that is.
pub fn contains(answer: &str, expect: &Value, case_sensitive: bool) -> (f64, String) {
    let wanted: Vec<String> = match expect {
        Value::Array(a) => a.iter().map(as_text).collect(),
        v => vec![as_text(v)],
    };
    if wanted.is_empty() {
        return (0.0, "nothing expected to contain".into());
    }
    let hay = fold(answer, case_sensitive);
    let missing: Vec<&String> = wanted.iter().filter(|w| !hay.contains(&fold(w, case_sensitive))).collect();
    let share = (wanted.len() - missing.len()) as f64 / wanted.len() as f64;
    let reason = match missing.as_slice() {
        [] => format!("contains {}", short(expect)),
        m => format!("missing {}", m.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", ")),
    };
    (share, reason)
}

/// The scorer's pattern (else the expectation, as a pattern) matches the answer.
pub fn regex(answer: &str, pattern: Option<&regex::Regex>, expect: &Value) -> (f64, String) {
    let compiled;
    let re = match pattern {
        Some(re) => re,
        None => match regex::Regex::new(&as_text(expect)) {
            Ok(re) => {
                compiled = re;
                &compiled
            }
            Err(e) => return (0.0, format!("the expectation is not a regex: {e}")),
        },
    };
    match re.find(answer) {
        Some(m) => (1.0, format!("/{}/ matches {:?}", re.as_str(), m.as_str())),
        None => (0.0, format!("/{}/ does not match", re.as_str())),
    }
}

/// The first number in `s` (`-1,234.5e3` style; thousands separators dropped).
pub fn first_number(s: &str) -> Option<f64> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let starts = bytes[i].is_ascii_digit()
            || (matches!(bytes[i], b'-' | b'+' | b'.') && bytes.get(i + 1).is_some_and(u8::is_ascii_digit));
        if !starts {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j < bytes.len()
            && (bytes[j].is_ascii_digit()
                || bytes[j] == b'.'
                || (bytes[j] == b',' && bytes.get(j + 1).is_some_and(u8::is_ascii_digit))
                || (matches!(bytes[j], b'e' | b'E')
                    && bytes.get(j + 1).is_some_and(|b| b.is_ascii_digit() || *b == b'-')))
        {
            if matches!(bytes[j], b'e' | b'E') && bytes.get(j + 1) == Some(&b'-') {
                j += 1;
            }
            j += 1;
        }
        let text: String = s[i..j].chars().filter(|c| *c != ',').collect();
        let text = text.trim_end_matches('.');
        if let Ok(v) = text.parse::<f64>() {
            return Some(v);
        }
        i = j;
    }
    None
}

/// The answer's first number is within `tolerance` of the expected one.
pub fn numeric(answer: &str, expect: &Value, tolerance: f64, relative: bool) -> (f64, String) {
    let wanted = match expect {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    let Some(wanted) = wanted else { return (0.0, format!("the expectation {} is not a number", short(expect))) };
    let Some(got) = first_number(answer) else { return (0.0, "no number in the answer".into()) };
    let allowed = if relative { tolerance * wanted.abs() } else { tolerance };
    let off = (got - wanted).abs();
    if off <= allowed {
        (1.0, format!("{got} is within {allowed} of {wanted}"))
    } else {
        (0.0, format!("{got} is {off} off {wanted} (tolerance {allowed})"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    #[test]
    fn exact_trims_and_folds_case_when_asked() {
        assert_eq!(exact("  Paris\n", &json!("Paris"), true).0, 1.0);
        assert_eq!(exact("paris", &json!("Paris"), true).0, 0.0);
        assert_eq!(exact("paris", &json!("Paris"), false).0, 1.0);
        assert_eq!(exact("Lyon", &json!(["Paris", "Lyon"]), true).0, 1.0);
        assert_eq!(exact("42", &json!(42), true).0, 1.0);
        assert!(exact("Rome", &json!("Paris"), true).1.contains("is not"));
    }

    #[test]
    fn contains_scores_the_share_found() {
        assert_eq!(contains("Hello, Ada!", &json!("Ada"), true).0, 1.0);
        assert_eq!(contains("Hello, Ada!", &json!("ada"), true).0, 0.0);
        assert_eq!(contains("Hello, Ada!", &json!("ada"), false).0, 1.0);
        let (s, why) = contains("Hello, Ada!", &json!(["Hello", "Bob"]), true);
        assert_eq!(s, 0.5);
        assert!(why.contains("missing \"Bob\""), "{why}");
        assert_eq!(contains("x", &json!([]), true).0, 0.0);
    }

    #[test]
    fn regex_from_the_scorer_or_the_expectation() {
        let re = regex::Regex::new(r"^\d{3}-\d{4}$").unwrap();
        assert_eq!(regex("555-1234", Some(&re), &Value::Null).0, 1.0);
        assert_eq!(regex("5551234", Some(&re), &Value::Null).0, 0.0);
        assert_eq!(regex("order #A17", None, &json!("#[A-Z]\\d+")).0, 1.0);
        assert!(regex("x", None, &json!("(")).1.contains("not a regex"));
    }

    #[test]
    fn numbers_are_found_and_compared() {
        assert_eq!(first_number("The answer is 1,234.5 units."), Some(1234.5));
        assert_eq!(first_number("about -3e-2 or so"), Some(-0.03));
        assert_eq!(first_number("It is 7."), Some(7.0));
        assert_eq!(first_number("none here"), None);
        assert_eq!(numeric("roughly 2.72", &json!(2.71), 0.015, false).0, 1.0);
        assert_eq!(numeric("roughly 2.8", &json!(2.71), 0.015, false).0, 0.0);
        assert_eq!(numeric("1050", &json!("1000"), 0.05, true).0, 1.0);
        assert_eq!(numeric("1100", &json!(1000), 0.05, true).0, 0.0);
        assert!(numeric("no", &json!(1), 0.1, false).1.contains("no number"));
        assert!(numeric("1", &json!("x"), 0.1, false).1.contains("not a number"));
    }
}
